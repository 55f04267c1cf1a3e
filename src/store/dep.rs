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
    pub devices: Vec<DeviceWrite>,
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
