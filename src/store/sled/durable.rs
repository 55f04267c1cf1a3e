//! Durable commits on sled. sled 0.34 pushes its log to the disk with `sync_file_range`, which flushes
//! neither the disk's write cache nor the file's size, and writes a page too large for its log (a chunk
//! of devices, a full index bucket) as a file of its own under `blobs/` that it never syncs, nor that
//! directory: after a power cut a "committed" change could be gone, or the log could point at an empty
//! blob. `Durable::sync`, called by every commit after sled's own flush and before the commit returns
//! (so before any command or server reply says it is done), syncs the blobs written since the last sync,
//! the `blobs/` directory, the log file, and sled's directory (snapshots are renamed into it).
//!
//! `tests/durable.rs` records the writes and syncs of every committing command under `strace` and fails
//! if anything written is not synced before the command reports.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::files::sync_dir;

pub(super) struct Durable {
    /// sled's directory (`DB/sled`).
    dir: PathBuf,
    /// sled's log (`DB/sled/db`): syncing any descriptor of a file syncs the file.
    log: File,
    /// The blobs known to be synced (those found at open were synced by the process that wrote them,
    /// before it reported the change that wrote them).
    synced: Mutex<HashSet<OsString>>,
}

impl Durable {
    /// After sled opened (and perhaps created) `dir`: its configuration file and the directories are
    /// synced, so that what sled created, and the database directory `db` itself, survive a power cut.
    pub(super) fn open(db: &Path, dir: &Path) -> io::Result<Durable> {
        let log = File::open(dir.join("db"))?;
        // sled writes its configuration once, when it creates the database, and never syncs it.
        File::open(dir.join("conf"))?.sync_data()?;
        let synced = names(&dir.join("blobs"))?;
        let durable = Durable { dir: dir.to_path_buf(), log, synced: Mutex::new(synced) };
        sync_dir(&dir.join("blobs"))?;
        sync_dir(dir)?;
        sync_dir(db)?;
        if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        Ok(durable)
    }

    /// Makes what sled has written so far durable.
    pub(super) fn sync(&self) -> io::Result<()> {
        let blobs = self.dir.join("blobs");
        let mut synced = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        let found = names(&blobs)?;
        for name in found.difference(&synced) {
            match File::open(blobs.join(name)) {
                Ok(f) => f.sync_data()?,
                // Removed meanwhile by sled's own clean-up: nothing left to sync.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        *synced = found;
        // The blobs' names (created, or removed), then the log that points at them, then sled's directory.
        sync_dir(&blobs)?;
        self.log.sync_data()?;
        sync_dir(&self.dir)
    }
}

fn names(dir: &Path) -> io::Result<HashSet<OsString>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.map(|e| e.file_name())).collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(HashSet::new()),
        Err(e) => Err(e),
    }
}
