//! The DEP half of the store contract: the catalog, device records, users' organizations and the
//! check-in email outbox, as a trait and plain data. The sled implementation is `sled/dep.rs`.

use chrono::{DateTime, Utc};

use super::{Result, StoreError, stale};
use crate::domain::User;
use crate::domain::audit::AuditEntry;
use crate::domain::dep::{CatalogEntry, CatalogKind, DepDevice, Mail};

/// One device record to write: created (its identifier must be free) or updated (it must still be
/// pending), and whether its check-in email is queued.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct DeviceWrite {
    pub device: DepDevice,
    pub create: bool,
    pub mail: bool,
    /// An update's precondition: the record's modification stamp when it was read.
    pub expect: Option<DateTime<Utc>>,
}

/// Users and devices written together (a DEP import, a form).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct DepChange {
    /// Users with whether each is new.
    pub users: Vec<(User, bool)>,
    pub devices: DeviceWrites,
}

/// Device record writes, in the order given, each held encoded (postcard) after its record's key
/// (`DepDevice::key`): an import of 200,000 records holds about 200 bytes a record instead of the
/// struct and its strings (about 650), and a store can order the writes by key without decoding them.
/// Decoding checks what it reads: a change that came over the network may be anything.
#[derive(Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeviceWrites {
    #[serde(with = "serde_bytes")]
    bytes: Vec<u8>,
    /// Where each write ends in `bytes`.
    ends: Vec<usize>,
}

/// Not the records (they hold check-in codes): how many.
impl std::fmt::Debug for DeviceWrites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceWrites({} records)", self.len())
    }
}

impl DeviceWrites {
    pub fn push(&mut self, w: &DeviceWrite) {
        let key = DepDevice::key(&w.device.identifier);
        // Writing into a Vec cannot fail.
        self.bytes = postcard::to_extend(&(key.as_str(), w), std::mem::take(&mut self.bytes)).unwrap_or_default();
        self.ends.push(self.bytes.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn entry(&self, i: usize) -> Result<&[u8]> {
        let end = *self.ends.get(i).ok_or_else(|| corrupt("a write's number"))?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.bytes.get(start..end).ok_or_else(|| corrupt("a write's bounds"))
    }

    /// The key of write `i`, without decoding its record.
    pub(crate) fn key(&self, i: usize) -> Result<&str> {
        postcard::take_from_bytes::<&str>(self.entry(i)?).map(|(k, _)| k).map_err(|_| corrupt("a key"))
    }

    /// Write `i`, whose record's key is checked against the one it was given with.
    pub(crate) fn get(&self, i: usize) -> Result<DeviceWrite> {
        let (key, w) = postcard::from_bytes::<(&str, DeviceWrite)>(self.entry(i)?).map_err(|_| corrupt("a write"))?;
        if DepDevice::key(&w.device.identifier) != key {
            return Err(corrupt("a write's key"));
        }
        Ok(w)
    }

    /// Every write, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = Result<DeviceWrite>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(format!("a DEP change with a corrupt record list ({what})"))
}

impl FromIterator<DeviceWrite> for DeviceWrites {
    fn from_iter<I: IntoIterator<Item = DeviceWrite>>(iter: I) -> Self {
        let mut writes = DeviceWrites::default();
        iter.into_iter().for_each(|w| writes.push(&w));
        writes
    }
}

impl From<Vec<DeviceWrite>> for DeviceWrites {
    fn from(v: Vec<DeviceWrite>) -> Self {
        v.into_iter().collect()
    }
}

/// The DEP half of the store contract. As in `Store`, every change takes the audit entry that records it.
pub trait DepStore {
    fn catalog(&self, kind: CatalogKind) -> Result<Vec<CatalogEntry>>;
    fn catalog_entry(&self, kind: CatalogKind, name: &str) -> Result<Option<CatalogEntry>>;
    fn catalog_add(&self, kind: CatalogKind, entry: CatalogEntry, audit: &AuditEntry) -> Result<()>;
    /// Renames and/or re-describes an entry; references follow a rename. Returns how many records changed.
    fn catalog_update(&self, kind: CatalogKind, name: &str, entry: CatalogEntry, audit: &AuditEntry) -> Result<u64>;
    /// Deletes an entry nothing refers to; otherwise says which records use it.
    fn catalog_delete(&self, kind: CatalogKind, name: &str, audit: &AuditEntry) -> Result<()>;

    fn dep_devices(&self) -> Result<Vec<DepDevice>>;
    /// Up to `limit` records in the same order as `dep_devices`, after the record whose identifier is
    /// `after` (compared as identifiers are, ignoring case): a list shown a page before it is all read.
    fn dep_devices_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<DepDevice>>;
    /// By identifier, case-insensitively.
    fn dep_device(&self, identifier: &str) -> Result<Option<DepDevice>>;
    /// Writes users and devices at once and queues their mails; returns the mails queued.
    fn dep_apply(&self, change: DepChange, audit: &AuditEntry) -> Result<Vec<Mail>>;
    /// Replaces a stored record whole (check-in, withdraw): it must still have the modification stamp
    /// `expect`, else `Conflict`; a DEP device serial checks in on one record only.
    fn dep_put(&self, device: DepDevice, expect: DateTime<Utc>, audit: &AuditEntry) -> Result<DepDevice>;
    fn dep_delete(&self, identifier: &str, audit: &AuditEntry) -> Result<()>;

    fn outbox(&self) -> Result<Vec<Mail>>;
    fn mark_written(&self, ids: &[u64], audit: &AuditEntry) -> Result<()>;
}

/// The users and DEP records that use a catalog entry (its delete is refused while there are any): users
/// by organization, records by template or device tag.
pub(crate) fn users_of_entry(
    kind: CatalogKind,
    name: &str,
    users: impl IntoIterator<Item = User>,
    devices: impl IntoIterator<Item = DepDevice>,
) -> (Vec<User>, Vec<DepDevice>) {
    let users = match kind {
        CatalogKind::Organization => users.into_iter().filter(|u| u.organizations.iter().any(|o| o == name)).collect(),
        _ => Vec::new(),
    };
    let devices = devices
        .into_iter()
        .filter(|d| match kind {
            CatalogKind::Template => d.template.as_deref() == Some(name),
            CatalogKind::Tag => d.tags.iter().any(|t| t == name),
            CatalogKind::Organization => false,
        })
        .collect();
    (users, devices)
}

/// Who uses a catalog entry, for a refusal: at most ten names, then how many more.
pub(crate) fn describe(users: &[User], devices: &[DepDevice]) -> String {
    let mut used: Vec<String> = users.iter().map(|u| format!("user {}", u.username)).collect();
    used.extend(devices.iter().map(|d| format!("device {}", d.identifier)));
    let more = used.len().saturating_sub(10);
    used.truncate(10);
    let mut s = used.join(", ");
    if more > 0 {
        s.push_str(&format!(" and {more} more"));
    }
    s
}

/// Whether a device record write may go ahead against what is stored: a create needs a free identifier;
/// an update needs the record, still pending, and (with a precondition) unchanged since it was read.
pub(crate) fn check_device_write(stored: Option<&DepDevice>, w: &DeviceWrite) -> Result<()> {
    match (stored, w.create) {
        (Some(s), true) => Err(StoreError::Refused(format!("device {} exists already", s.identifier))),
        (None, false) => Err(StoreError::NotFound(format!("no device {}", w.device.identifier))),
        (Some(s), false) => {
            if let Some(why) = s.state.read_only() {
                return Err(StoreError::Refused(format!("{}: {why}", s.identifier)));
            }
            if w.expect.is_some_and(|t| t != s.modified) {
                return Err(stale(&format!("DEP device {}", s.identifier), ""));
            }
            Ok(())
        }
        (None, true) => Ok(()),
    }
}

/// The check-in email a write queues, numbered `id`: when it asks for one and the record has an address.
pub(crate) fn mail_for(w: &DeviceWrite, id: u64, now: DateTime<Utc>) -> Option<Mail> {
    let d = &w.device;
    let to = d.registration_email.as_ref().filter(|_| w.mail)?;
    Some(Mail {
        id,
        to: to.clone(),
        identifier: d.identifier.clone(),
        code: d.code.clone(),
        expires: d.expires,
        created: now,
        written: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(identifier: &str) -> DeviceWrite {
        let mut device = DepDevice::sample(Utc::now());
        device.identifier = identifier.into();
        DeviceWrite { device, create: true, mail: false, expect: None }
    }

    /// Writes read back as given, with their keys; a list that came over the network with bytes that
    /// are not what it says (cut short, a key that is not its record's, bounds past the end) is an
    /// error, never a panic or a write under the wrong key.
    #[test]
    fn device_writes_read_back_and_refuse_what_is_corrupt() {
        let writes: DeviceWrites = vec![write("Apple01"), write("apple02")].into();
        assert_eq!(writes.len(), 2);
        assert_eq!((writes.key(0).unwrap(), writes.key(1).unwrap()), ("apple01", "apple02"));
        let back: Vec<DeviceWrite> = writes.iter().collect::<Result<_>>().unwrap();
        assert_eq!((back[0].device.identifier.as_str(), back[1].device.identifier.as_str()), ("Apple01", "apple02"));
        assert_eq!(back[0].device.code, writes.get(0).unwrap().device.code);
        assert!(format!("{writes:?}").contains("2 records") && !format!("{writes:?}").contains(&back[0].device.code));
        let mut cut = writes.clone();
        cut.bytes.truncate(cut.bytes.len() - 5);
        assert!(cut.get(1).is_err() && cut.get(0).is_ok());
        let mut wrong_key = DeviceWrites::default();
        wrong_key.bytes = postcard::to_stdvec(&("apple09", &write("apple01"))).unwrap();
        wrong_key.ends = vec![wrong_key.bytes.len()];
        assert!(wrong_key.get(0).is_err());
        let mut past = writes.clone();
        past.ends[1] = usize::MAX;
        assert!(past.get(1).is_err() && past.get(2).is_err());
        past.ends[0] = past.bytes.len() + 1;
        assert!(past.get(0).is_err() && past.get(1).is_err());
    }
}
