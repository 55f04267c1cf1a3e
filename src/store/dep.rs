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
///
/// A store may take a record's encoding as it is (`DeviceWrites::view`) rather than decode and encode it
/// again: writes pushed in this process are encoded by `push`, and writes read from elsewhere (a client's
/// message) are decoded whole and checked once when they are read (`TryFrom<EncodedWrites>`).
#[derive(Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "EncodedWrites")]
pub struct DeviceWrites {
    #[serde(with = "serde_bytes")]
    bytes: Vec<u8>,
    /// Where each write ends in `bytes`.
    ends: Vec<usize>,
}

/// `DeviceWrites` as they arrive, before they are checked.
#[derive(serde::Deserialize)]
struct EncodedWrites {
    #[serde(with = "serde_bytes")]
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl TryFrom<EncodedWrites> for DeviceWrites {
    type Error = String;

    /// Every write decodes whole, under its record's key, with nothing after it.
    fn try_from(e: EncodedWrites) -> std::result::Result<DeviceWrites, String> {
        let writes = DeviceWrites { bytes: e.bytes, ends: e.ends };
        if writes.ends.last().is_some_and(|&end| end != writes.bytes.len()) {
            return Err("a DEP change with bytes after its last record".into());
        }
        for i in 0..writes.len() {
            let entry = writes.entry(i).map_err(|e| e.to_string())?;
            let (_, rest) =
                postcard::take_from_bytes::<(&str, DeviceWrite)>(entry).map_err(|_| corrupt("a write").to_string())?;
            if !rest.is_empty() {
                return Err(corrupt("a write's length").to_string());
            }
            writes.get(i).map_err(|e| e.to_string())?;
        }
        Ok(writes)
    }
}

/// A write as a store can take it without decoding its record: the record's encoding (postcard,
/// as `DepDevice` encodes), the fields a store checks, and the write's flags.
pub(crate) struct WriteView<'a> {
    pub encoded: &'a [u8],
    pub device: DeviceView<'a>,
    pub create: bool,
    pub mail: bool,
    pub expect: Option<DateTime<Utc>>,
}

/// A `DepDevice` read in place: its text borrowed from the encoding, its times as their text. Field by
/// field what `DepDevice` encodes (a test checks that it reads every byte of a record that has every
/// field set).
#[derive(serde::Deserialize)]
pub(crate) struct DeviceView<'a> {
    pub identifier: &'a str,
    #[serde(borrow)]
    pub template: Option<&'a str>,
    _code: &'a str,
    _os: crate::domain::dep::DepOs,
    #[serde(borrow)]
    pub tags: Vec<&'a str>,
    #[serde(borrow)]
    _ids: [Option<&'a str>; 5],
    _expiration_days: u32,
    _expires: &'a str,
    #[serde(borrow)]
    _texts: [Option<&'a str>; 2],
    #[serde(borrow)]
    pub registration_email: Option<&'a str>,
    _dep_method: Option<crate::domain::dep::DepMethod>,
    #[serde(borrow)]
    pub user: Option<&'a str>,
    _state: crate::domain::dep::DepState,
    _created: &'a str,
    _modified: &'a str,
}

impl DeviceView<'_> {
    /// The catalog entries the record names: its tags, and its template (as `DepDevice::catalog_names`).
    pub fn catalog_names(&self) -> impl Iterator<Item = (CatalogKind, &str)> {
        let tags = self.tags.iter().map(|t| (CatalogKind::Tag, *t));
        tags.chain(self.template.map(|t| (CatalogKind::Template, t)))
    }
}

/// Not the records (they hold check-in codes): how many.
impl std::fmt::Debug for DeviceWrites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceWrites({} records)", self.len())
    }
}

impl DeviceWrites {
    pub fn push(&mut self, w: &DeviceWrite) {
        self.push_parts(&DepDevice::key(&w.device.identifier), &w.device, w.create, w.mail, w.expect);
    }

    /// `push` of a write given by its parts, under the record's key (`DepDevice::key` of its identifier,
    /// which the caller has made already).
    pub(crate) fn push_parts(
        &mut self,
        key: &str,
        device: &DepDevice,
        create: bool,
        mail: bool,
        expect: Option<DateTime<Utc>>,
    ) {
        debug_assert!(crate::keys::is_key_of(key, &device.identifier));
        // What a `DeviceWrite` encodes: its fields in order. Writing into a Vec cannot fail.
        let write = (key, (device, create, mail, expect));
        self.bytes = postcard::to_extend(&write, std::mem::take(&mut self.bytes)).unwrap_or_default();
        self.ends.push(self.bytes.len());
    }

    /// Room for about `writes` more writes of `bytes` bytes each.
    pub(crate) fn reserve(&mut self, writes: usize, bytes: usize) {
        self.ends.reserve(writes);
        self.bytes.reserve(writes.saturating_mul(bytes));
    }

    /// The average size of a write so far.
    pub(crate) fn average(&self) -> Option<usize> {
        (!self.is_empty()).then(|| self.bytes.len() / self.len())
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

    /// Write `i` read in place: its record's encoding is taken as it is, not decoded and encoded again.
    pub(crate) fn view(&self, i: usize) -> Result<WriteView<'_>> {
        let entry = self.entry(i)?;
        let (key, after_key) = postcard::take_from_bytes::<&str>(entry).map_err(|_| corrupt("a key"))?;
        let (device, rest) = postcard::take_from_bytes::<DeviceView>(after_key).map_err(|_| corrupt("a record"))?;
        let encoded = &after_key[..after_key.len() - rest.len()];
        let ((create, mail, expect), rest) =
            postcard::take_from_bytes::<(bool, bool, Option<DateTime<Utc>>)>(rest).map_err(|_| corrupt("a write"))?;
        if !rest.is_empty() || !crate::keys::is_key_of(key, device.identifier) {
            return Err(corrupt("a write's key"));
        }
        Ok(WriteView { encoded, device, create, mail, expect })
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
    check_write(stored, &w.device.identifier, w.create, w.expect)
}

/// `check_device_write` for a write of the record `identifier` (a create or not, with its precondition).
pub(crate) fn check_write(
    stored: Option<&DepDevice>,
    identifier: &str,
    create: bool,
    expect: Option<DateTime<Utc>>,
) -> Result<()> {
    match (stored, create) {
        (Some(s), true) => Err(StoreError::Refused(format!("device {} exists already", s.identifier))),
        (None, false) => Err(StoreError::NotFound(format!("no device {identifier}"))),
        (Some(s), false) => {
            if let Some(why) = s.state.read_only() {
                return Err(StoreError::Refused(format!("{}: {why}", s.identifier)));
            }
            if expect.is_some_and(|t| t != s.modified) {
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

    /// A write read in place gives the record's encoding exactly as `DepDevice` encodes it, and the
    /// fields a store checks, for a record with every field set (a field `DeviceView` did not read would
    /// leave bytes over, or take the write's flags for record bytes).
    #[test]
    fn a_write_read_in_place_is_the_record_as_encoded() {
        use crate::domain::dep::{DepMethod, DepOs, DepState};
        let now = Utc::now();
        let full = DepDevice {
            identifier: "Apple-07".into(),
            template: Some("Sales".into()),
            code: "ABC123".into(),
            os: DepOs::Android,
            tags: vec!["red".into(), "blue".into()],
            wifi_mac: Some("00:1A:2B:3C:4D:5E".into()),
            imei: Some("490154203237518".into()),
            meid: Some("A0000012345678".into()),
            udid: Some("00008020-000A1C2E0C38002E".into()),
            serial: Some("C02XYZ".into()),
            expiration_days: 30,
            expires: now + chrono::Duration::days(30),
            display_name: Some("Phone".into()),
            description: Some("Desk 4".into()),
            registration_email: Some("a@example.com".into()),
            dep_method: Some(DepMethod::Keycode),
            user: Some("alice".into()),
            state: DepState::CheckedIn { at: now, dep_serial: Some("C02XYZ".into()), dep_profile: Some("P".into()) },
            created: now - chrono::Duration::days(1),
            modified: now,
        };
        let expect = Some(now - chrono::Duration::hours(2));
        let writes: DeviceWrites =
            vec![DeviceWrite { device: full.clone(), create: false, mail: true, expect }, write("plain")].into();
        let v = writes.view(0).unwrap();
        assert_eq!(v.encoded, postcard::to_stdvec(&full).unwrap().as_slice());
        assert_eq!((v.create, v.mail, v.expect), (false, true, expect));
        let d = &v.device;
        assert_eq!((d.identifier, d.template, d.user), ("Apple-07", Some("Sales"), Some("alice")));
        assert_eq!((d.tags.as_slice(), d.registration_email), (&["red", "blue"][..], Some("a@example.com")));
        let names: Vec<_> = d.catalog_names().collect();
        assert_eq!(names, full.catalog_names());
        let plain = writes.view(1).unwrap();
        assert_eq!(plain.encoded, postcard::to_stdvec(&writes.get(1).unwrap().device).unwrap().as_slice());
        assert!(plain.create && !plain.mail && plain.expect.is_none() && plain.device.user.is_none());
    }

    /// Writes read from a message are checked whole when read: each decodes under its record's key with
    /// nothing left over; anything else is refused before a store sees it.
    #[test]
    fn writes_read_from_a_message_are_checked_when_read() {
        let writes: DeviceWrites = vec![write("Apple01"), write("apple02")].into();
        let back: DeviceWrites = postcard::from_bytes(&postcard::to_stdvec(&writes).unwrap()).unwrap();
        assert!(back == writes);
        let refused =
            |w: &DeviceWrites| postcard::from_bytes::<DeviceWrites>(&postcard::to_stdvec(w).unwrap()).is_err();
        let mut wrong_key = writes.clone();
        wrong_key.bytes = postcard::to_stdvec(&("apple09", &write("apple01"))).unwrap();
        wrong_key.ends = vec![wrong_key.bytes.len()];
        assert!(refused(&wrong_key));
        let mut trailing = writes.clone();
        trailing.bytes.push(0);
        assert!(refused(&trailing));
        let mut inner = writes.clone();
        let end = inner.ends[0];
        inner.bytes.insert(end, 0);
        inner.ends[0] += 1;
        inner.ends[1] += 1;
        assert!(refused(&inner), "a byte after a record, inside the list");
        let mut bad_time = DeviceWrites::default();
        let mut d = write("apple03");
        let t = chrono::DateTime::parse_from_rfc3339("2031-01-02T03:04:05Z").unwrap().with_timezone(&Utc);
        (d.device.expires, d.device.created, d.device.modified) = (t, t, t);
        bad_time.push(&d);
        let at = bad_time.bytes.windows(4).position(|w| w == b"2031").unwrap();
        bad_time.bytes[at] = b'x';
        assert!(bad_time.get(0).is_err());
        assert!(refused(&bad_time), "a time that is not one");
    }
}
