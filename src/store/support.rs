//! What the store's implementations and callers share beyond the contract itself: the change feed's
//! subscribers, the writers' lock, the modification stamp rule, paging through a profile's devices, and
//! the rules and refusals every backend words the same way.

use chrono::{DateTime, Utc};

use std::sync::{Arc, Condvar, Mutex};

use super::{Change, FieldProblem, Result, Store, StoreError};
use crate::domain::dep::CatalogKind;
use crate::domain::{Device, ProfileId, Source};

/// The subscribers of a store's change feed.
#[derive(Default)]
pub struct Feed {
    subscribers: std::sync::Mutex<Vec<std::sync::mpsc::Sender<Change>>>,
}

impl Feed {
    pub fn subscribe(&self) -> std::sync::mpsc::Receiver<Change> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner()).push(tx);
        rx
    }

    /// Tells every subscriber; one that has gone is dropped.
    pub fn publish(&self, change: Change) {
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner()).retain(|s| s.send(change.clone()).is_ok());
    }
}

/// A modification stamp that always moves forward: at least a millisecond after the previous one, so
/// that two changes in the same millisecond still differ and a precondition on it cannot be fooled.
pub fn next_stamp(previous: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    let now = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
    now.max(previous + chrono::Duration::milliseconds(1))
}

/// Visits a profile's devices in order, a page at a time, until `visit` returns false.
pub fn each_device(store: &dyn Store, id: ProfileId, visit: &mut dyn FnMut(Device) -> bool) -> Result<()> {
    const PAGE: usize = 1024;
    let mut after = None;
    loop {
        let page = store.devices_page(id, after, PAGE)?;
        let Some(last) = page.last() else { return Ok(()) };
        after = Some(last.seq);
        let full = page.len() == PAGE;
        for d in page {
            if !visit(d) {
                return Ok(());
            }
        }
        if !full {
            return Ok(());
        }
    }
}

/// Whether any device of the profile has a second IMEI (a listing or an export then has the column).
pub fn has_dual_sim(store: &dyn Store, id: ProfileId) -> Result<bool> {
    let mut dual = false;
    each_device(store, id, &mut |d| {
        dual = d.ids.imei2.is_some();
        !dual
    })?;
    Ok(dual)
}

/// The writers' lock, held by a guard that owns its share of it: a writing import holds one for its whole
/// duration, from another thread than the one that began it. Readers never take it.
#[derive(Default)]
pub struct WriteLock {
    busy: Mutex<bool>,
    free: Condvar,
}

pub struct WriteGuard(Arc<WriteLock>);

impl WriteLock {
    pub fn acquire(lock: &Arc<WriteLock>) -> WriteGuard {
        let mut busy = lock.busy.lock().unwrap_or_else(|p| p.into_inner());
        while *busy {
            busy = lock.free.wait(busy).unwrap_or_else(|p| p.into_inner());
        }
        *busy = true;
        WriteGuard(lock.clone())
    }
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        *self.0.busy.lock().unwrap_or_else(|p| p.into_inner()) = false;
        self.0.free.notify_one();
    }
}

/// A device's problems as one refusal.
pub(crate) fn refused(problems: Vec<FieldProblem>) -> StoreError {
    StoreError::Refused(problems.into_iter().map(|(_, m)| m).collect::<Vec<_>>().join("; "))
}

/// "IMEI … is already in profile "P" (dock3.csv:12)": a device identifier that another device has.
pub(crate) fn already_in(what: &str, place: &str, source: Option<&Source>) -> String {
    match source {
        Some(s) => format!("{what} is already in {place} ({s})"),
        None => format!("{what} is already in {place}"),
    }
}

/// A write based on a read that is no longer current; `by` says who changed the record (or is empty).
pub(crate) fn stale(what: &str, by: &str) -> StoreError {
    StoreError::Conflict(format!("{what} was changed{by} since you read it; read it again and redo your change"))
}

/// A catalog entry a record names that does not exist.
pub(crate) fn missing_entry(kind: CatalogKind, name: &str) -> StoreError {
    StoreError::Refused(format!("{} {name:?} does not exist; add it to the catalog first", kind.title()))
}

/// Creating a user needs a free username; replacing one needs it stored.
pub(crate) fn check_user_write(exists: bool, create: bool, username: &str) -> Result<()> {
    match (exists, create) {
        (true, true) => Err(StoreError::Refused(format!("a user named {username:?} already exists"))),
        (false, false) => Err(StoreError::NotFound(format!("no user named {username:?}"))),
        _ => Ok(()),
    }
}

/// A staged import row that a change committed during the import made a duplicate: its line and why.
pub(crate) fn taken_meanwhile(line: u64, problems: &[FieldProblem]) -> String {
    let why = problems.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>().join("; ");
    format!("line {line}: {why} (saved by someone else during this import)")
}

/// The IMEIs and serial keys an import's accepted rows have, each with the first line that had it: a
/// later row that repeats one is a duplicate inside the file (for stores that stage rows as they come).
#[derive(Default)]
pub(crate) struct SeenInFile {
    imeis: std::collections::HashMap<u64, u64>,
    serials: std::collections::HashMap<String, u64>,
    /// The rows found to repeat an earlier one, for `finish`; `None` once it has taken them.
    duplicates: Option<Vec<crate::store::LineProblems>>,
}

impl SeenInFile {
    /// Whether the row repeats an earlier one: then it is kept for `finish` (the session's `finish`).
    pub(crate) fn is_repeat(&mut self, line: u64, imeis: [(crate::domain::Field, Option<u64>); 2], key: &str) -> bool {
        match self.repeat(line, imeis, key) {
            Some(problem) => {
                self.duplicates.get_or_insert_with(Vec::new).push((line, vec![problem]));
                true
            }
            None => false,
        }
    }

    /// The repeated rows, the first time (an import session's `finish` may be called twice).
    pub(crate) fn finish(&mut self) -> Vec<crate::store::LineProblems> {
        self.duplicates.replace(Vec::new()).unwrap_or_default()
    }

    /// Every IMEI of the accepted rows, with the line that had it.
    pub(crate) fn imei_lines(&self) -> Vec<(u64, u64)> {
        self.imeis.iter().map(|(&imei, &line)| (imei, line)).collect()
    }

    /// Every serial key of the accepted rows, with the line that had it.
    pub(crate) fn serial_lines(&self) -> Vec<(&str, u64)> {
        self.serials.iter().map(|(key, &line)| (key.as_str(), line)).collect()
    }

    /// Why a row repeats an earlier one (its IMEIs, then its serial key `serial\u{1f}manufacturer`), if it
    /// does; else notes it as seen at `line`.
    pub(crate) fn repeat(
        &mut self,
        line: u64,
        imeis: [(crate::domain::Field, Option<u64>); 2],
        key: &str,
    ) -> Option<FieldProblem> {
        use crate::domain::{Field, Imei};
        for (field, imei) in imeis {
            if let Some(first) = imei.and_then(|i| self.imeis.get(&i)) {
                let text = Imei::from_stored(imei.unwrap_or_default()).to_string();
                return Some((field, format!("IMEI {text} is already in this file at line {first}")));
            }
        }
        if !key.is_empty()
            && let Some(first) = self.serials.get(key)
        {
            let (serial, manufacturer) = key.split_once('\u{1f}').unwrap_or((key, ""));
            return Some((
                Field::Serial,
                format!("serial number {serial} ({manufacturer}) is already in this file at line {first}"),
            ));
        }
        for imei in imeis.into_iter().filter_map(|(_, i)| i) {
            self.imeis.insert(imei, line);
        }
        if !key.is_empty() {
            self.serials.insert(key.to_string(), line);
        }
        None
    }
}
