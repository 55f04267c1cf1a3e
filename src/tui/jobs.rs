//! The workstation's background jobs: device reads, DEP reads, searches, imports, exports. One runner
//! starts each on a thread of its own with a number and a stop flag, keeps the list of what is running
//! (what the status line and quitting need), and the job's answer comes back to the event loop as a
//! `TaskMsg` carrying its number, so that an answer nobody waits for any more is recognised and dropped.
//!
//! Without a sender (the tests on `TestBackend`) nothing runs in the background: the caller does the work
//! in place.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use std::path::PathBuf;

use super::device_table::DeviceTable;
use crate::csv::android::ImportReport;
use crate::csv::dep::DepReport;
use crate::domain::NewProfile;
use crate::domain::ProfileId;
use crate::ops;

/// What a running job is given: its number, its stop flag (set by `Jobs::stop`), and where to report
/// progress.
pub struct JobCtx {
    pub id: u64,
    pub stop: Arc<AtomicBool>,
    pub tx: Sender<TaskMsg>,
}

impl JobCtx {
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// A started job, as its starter keeps it.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: u64,
    pub stop: Arc<AtomicBool>,
}

/// A running job: its number, what it does, its stop flag.
#[derive(Debug)]
struct Running {
    id: u64,
    what: &'static str,
    stop: Arc<AtomicBool>,
}

#[derive(Debug, Default)]
pub struct Jobs {
    tx: Option<Sender<TaskMsg>>,
    next: u64,
    /// A job takes itself off when it ends.
    running: Arc<Mutex<Vec<Running>>>,
}

impl Jobs {
    pub fn set_sender(&mut self, tx: Sender<TaskMsg>) {
        self.tx = Some(tx);
    }

    /// Whether jobs run in the background (a sender is set).
    pub fn background(&self) -> bool {
        self.tx.is_some()
    }

    /// A fresh number: never one an earlier job had.
    fn next_id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// Starts `work` on a thread of its own; what it returns goes to the event loop. `None` when there is
    /// no background (the caller then works in place).
    pub fn start(&mut self, what: &'static str, work: impl FnOnce(&JobCtx) -> TaskMsg + Send + 'static) -> Option<Job> {
        let tx = self.tx.clone()?;
        let id = self.next_id();
        let stop = Arc::new(AtomicBool::new(false));
        self.running.lock().unwrap_or_else(|e| e.into_inner()).push(Running { id, what, stop: stop.clone() });
        let running = self.running.clone();
        let ctx = JobCtx { id, stop: stop.clone(), tx };
        std::thread::spawn(move || {
            let answer = work(&ctx);
            running.lock().unwrap_or_else(|e| e.into_inner()).retain(|r| r.id != ctx.id);
            let _ = ctx.tx.send(answer);
        });
        Some(Job { id, stop })
    }

    /// Asks a job to stop (it looks at its flag between pages or rows); its answer, if any, is dropped
    /// by whoever no longer waits for it.
    pub fn stop(&self, id: u64) {
        for r in self.running.lock().unwrap_or_else(|e| e.into_inner()).iter().filter(|r| r.id == id) {
            r.stop.store(true, Ordering::Relaxed);
        }
    }

    /// Asks every running job to stop (the workstation quits).
    pub fn stop_all(&self) {
        for r in self.running.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            r.stop.store(true, Ordering::Relaxed);
        }
    }

    /// What is running, oldest first.
    pub fn running(&self) -> Vec<(u64, &'static str)> {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|r| (r.id, r.what)).collect()
    }
}

/// What a wizard imports: a new Android profile's devices, or DEP device information.
#[derive(Clone, Debug)]
pub enum WizardJob {
    Profile(NewProfile),
    Dep,
}

/// A wizard's validation report, or what its import did.
#[derive(Debug)]
pub enum WizardReport {
    Profile(Box<ImportReport>),
    Dep(Box<DepReport>),
}

impl WizardReport {
    pub fn valid(&self) -> u64 {
        match self {
            WizardReport::Profile(r) => r.valid,
            WizardReport::Dep(r) => r.valid(),
        }
    }

    /// The rejected rows held for the report (a DEP import holds the first `rejects::KEPT`).
    pub fn rejected(&self) -> &[crate::csv::Rejected] {
        match self {
            WizardReport::Profile(r) => &r.rejected,
            WizardReport::Dep(r) => r.rejected.kept(),
        }
    }

    /// How many rows were rejected.
    pub fn rejected_count(&self) -> usize {
        match self {
            WizardReport::Profile(r) => r.rejected.len(),
            WizardReport::Dep(r) => r.rejected.len(),
        }
    }

    /// The file read, its rows, encoding and delimiter.
    pub fn file(&self) -> (&str, u64, &'static str, char) {
        match self {
            WizardReport::Profile(r) => (&r.file, r.rows, r.encoding, r.delimiter),
            WizardReport::Dep(r) => (&r.file, r.rows, r.encoding, r.delimiter),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_answers_with_its_number_and_leaves_the_running_list_and_stop_reaches_it() {
        let mut jobs = Jobs::default();
        assert!(jobs.start("nothing", |_| TaskMsg::DepRecords { load: 0, result: Ok(Vec::new()) }).is_none());
        let (tx, rx) = std::sync::mpsc::channel();
        jobs.set_sender(tx);
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let job = jobs
            .start("waits to be stopped", move |ctx| {
                go.send(()).unwrap();
                while !ctx.stopped() {
                    std::thread::yield_now();
                }
                TaskMsg::DepRecords { load: ctx.id, result: Err("stopped".into()) }
            })
            .unwrap();
        wait.recv().unwrap();
        assert_eq!(jobs.running(), [(job.id, "waits to be stopped")]);
        jobs.stop(job.id);
        let TaskMsg::DepRecords { load, result } = rx.recv().unwrap() else { panic!("the job's answer") };
        assert_eq!((load, result.unwrap_err().as_str()), (job.id, "stopped"));
        assert!(jobs.running().is_empty(), "it took itself off");
        assert!(jobs.next_id() > job.id, "numbers are never reused");
    }
}

/// Messages from work running off the UI thread.
#[derive(Debug)]
pub enum TaskMsg {
    Progress {
        rows: u64,
        bytes: u64,
        total_bytes: u64,
        elapsed_ms: u64,
    },
    Validated(Result<WizardReport, String>),
    Imported(Result<WizardReport, String>),
    Exported(Result<(u64, PathBuf), String>),
    /// A change committed by someone else (another workstation, a command, another thread).
    Changed(Box<crate::store::Change>),
    /// The change feed ended (its server stopped): changes are not seen until it is back.
    FeedLost,
    /// The feed is back (a server answers again): what was missed meanwhile must be read again.
    FeedBack,
    /// The rest of a Find: the DEP records whose other fields hold the value (`None`: stopped).
    Found {
        load: u64,
        result: Result<Option<Vec<ops::find::Found>>, String>,
    },
    /// Every DEP record, read in the background after the first page was shown.
    DepRecords {
        load: u64,
        result: Result<Vec<crate::domain::dep::DepDevice>, String>,
    },
    /// All the devices of a profile, read in the background after the first page was shown.
    Devices {
        profile: ProfileId,
        load: u64,
        result: Result<DeviceTable, String>,
    },
}
