//! What the store's implementations and callers share beyond the contract itself: the change feed's
//! subscribers, the writers' lock, the modification stamp rule, paging through a profile's devices.

use chrono::{DateTime, Utc};

use std::sync::{Arc, Condvar, Mutex};

use super::{Change, Result, Store};
use crate::domain::{Device, ProfileId};

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
