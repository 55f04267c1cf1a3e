//! One way in to the data: the store contract, as traits and plain data. The trait speaks in domain terms
//! (profiles, devices, users, an import as one unit). Implementations: `memory` (the reference),
//! `sled/` (the embedded default, the only place that names a sled type), `remote/` (a client of a
//! kitting server) and `postgres/` (one inventory for several hosts); each passes
//! `tests/store_contract.rs`. `inventory` is a whole store as plain data, for `kitting db copy`.

mod chunk;
mod dep;
pub mod inventory;
mod memory;
pub mod postgres;
#[cfg(unix)]
pub mod remote;
mod sled;
mod support;

pub use chunk::{PreparedRow, PreparedRows, RowEncoder};
pub use dep::{DepChange, DepStore, DeviceWrite, DeviceWrites};
pub(crate) use dep::{describe as describe_users_of, users_of_entry};
pub use inventory::{Counts, Inventory};
pub use memory::MemoryStore;
#[cfg(unix)]
pub use sled::share;
pub use sled::{SERVER_HOLDER, SledStore};
pub use support::{Feed, each_device, has_dual_sim, next_stamp};
pub(crate) use support::{
    SeenInFile, WriteGuard, WriteLock, already_in, check_user_write, missing_entry, refused, stale, taken_meanwhile,
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::android::AndroidConfig;
use crate::domain::audit::{AuditEntry, AuditQuery};
use crate::domain::{Device, DeviceSeq, Field, Imei, NewDevice, Profile, ProfileId, Status, Token, User};

#[derive(Debug, thiserror::Error, PartialEq, Serialize, Deserialize)]
pub enum StoreError {
    /// The database directory, and who holds it (user, process id, since when).
    #[error("database {0} is in use by another kitting process: {1}")]
    InUse(String, String),
    #[error("{0}")]
    NotFound(String),
    /// A change that would break a rule (a duplicate, a name taken, a reference).
    #[error("{0}")]
    Refused(String),
    /// The change was based on a read that is no longer current: someone changed the record since.
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Backend(String),
    /// The operating system refused this user the database (a shared database's group, a private one).
    #[error("{0}")]
    Denied(String),
}

/// A change of a profile's own fields, as data: `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProfileChange {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub user: Option<Option<String>>,
    pub token: Option<Option<Token>>,
    pub config: Option<AndroidConfig>,
}

impl ProfileChange {
    /// The changed profile (the store keeps id, counts, times and version itself).
    pub fn apply_to(&self, p: &mut Profile) {
        if let Some(n) = &self.name {
            p.name = n.clone();
        }
        if let Some(d) = &self.description {
            p.description = d.clone();
        }
        if let Some(u) = &self.user {
            p.user = u.clone();
        }
        if let Some(t) = &self.token {
            p.token = t.clone();
        }
        if let Some(c) = &self.config {
            p.config = c.clone();
        }
    }
}

/// What a committed change touched, for screens that show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Subject {
    /// The list of profiles (one created or deleted).
    Profiles,
    /// One profile: its fields, or its devices wholesale (an import).
    Profile(ProfileId),
    /// These devices of one profile (added, edited, deleted, registered, kitted) and the profile's record:
    /// a screen that shows them reads just these.
    Devices(ProfileId, Vec<DeviceSeq>),
    Users,
    /// DEP device records (and the users a DEP import wrote).
    Dep,
    Catalog,
    Outbox,
    /// Nothing but the audit trail (a refused command, a dry run).
    Nothing,
}

/// One committed change, as the feed tells it: what, and the audit entry that records it (who, when,
/// which command, with what outcome).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub subject: Subject,
    pub entry: AuditEntry,
}

/// A precondition on a record: the modification stamp (or version) it had when it was read.
pub type Expect<T> = Option<T>;

pub type Result<T> = std::result::Result<T, StoreError>;

/// A problem with one field of a device.
pub type FieldProblem = (Field, String);
/// The problems of one line of an import file.
pub type LineProblems = (u64, Vec<FieldProblem>);

/// How to find one device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Lookup {
    Imei(Imei),
    /// Serial number and manufacturer, both compared case-insensitively.
    Serial {
        serial: String,
        manufacturer: String,
    },
}

impl std::fmt::Display for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lookup::Imei(i) => write!(f, "IMEI {i}"),
            Lookup::Serial { serial, manufacturer } => write!(f, "serial {serial} ({manufacturer})"),
        }
    }
}

/// Where an import goes.
#[derive(Debug, Serialize, Deserialize)]
pub enum ImportTarget {
    Existing(ProfileId),
    /// A profile created by the import itself, atomically with its devices.
    Create(Box<Profile>),
}

/// An import as one unit: rows are checked and staged one by one, then committed in one atomic write.
/// Dropping a session without committing leaves the store exactly as it was.
pub trait ImportSession: Send {
    /// The profile the import goes to, as it will be committed (its id is allocated already).
    fn profile(&self) -> &Profile;
    /// Checks prepared rows against the stored devices (duplicates) and stages the others. Returns
    /// rejected rows (line, problems): these rows' or, where a session answers later (a server's client
    /// keeps batches in flight), earlier batches'; `finish` returns what is left. Duplicates inside the
    /// file are found by `finish`. All rows of one import come from the same `encoder`.
    fn add_prepared(&mut self, encoder: &RowEncoder, rows: &PreparedRows) -> Result<Vec<LineProblems>>;
    /// Makes room for about `rows` more rows (a hint; the import works without it).
    fn reserve(&mut self, rows: usize);
    /// Stops staging (after a rejection in all-or-nothing mode); rows are still checked.
    fn stop_writing(&mut self);
    /// After the last row: the rows that repeat an earlier row of the same import, by line, with their
    /// problems. They are taken out of what `commit` writes.
    fn finish(&mut self) -> Result<Vec<LineProblems>>;
    /// How many rows have been accepted so far.
    fn accepted(&self) -> u64;
    /// Makes every staged device visible at once, with the profile's new count and attributes, and
    /// records `audit` in the same atomic write.
    fn commit(self: Box<Self>, attributes: &[String], audit: &AuditEntry) -> Result<Profile>;
}

/// A consistency problem found by `check`.
pub type Problem = String;

/// The whole store: Android profiles and devices, users, and (through `DepStore`) DEP device information.
///
/// Every method that changes something takes the audit entry that records it and writes both in one
/// atomic write. Domain rules (names, formats) are checked by the caller (`ops`); the store keeps the
/// rules only it can check atomically: uniqueness, references and preconditions.
pub trait Store: DepStore + Send + Sync {
    fn profiles(&self) -> Result<Vec<Profile>>;
    /// By name, case-insensitively.
    fn profile(&self, name: &str) -> Result<Option<Profile>>;
    fn profile_by_id(&self, id: ProfileId) -> Result<Option<Profile>>;
    /// Creates a profile; its `id` is assigned by the store and the name must be free.
    fn create_profile(&self, profile: Profile, audit: &AuditEntry) -> Result<Profile>;
    /// Changes a profile's own fields (a rename keeps names unique). With `expect`, the profile must still
    /// be at that version, else `Conflict`.
    fn update_profile(
        &self,
        id: ProfileId,
        change: &ProfileChange,
        expect: Expect<u64>,
        audit: &AuditEntry,
    ) -> Result<Profile>;
    /// Deletes a profile with all its devices; returns how many devices went with it.
    fn delete_profile(&self, id: ProfileId, audit: &AuditEntry) -> Result<u64>;

    /// A page of a profile's devices in the order they were added: those after `after` (from the first
    /// when `None`), at most `limit`. An empty page is the end.
    fn devices_page(&self, id: ProfileId, after: Option<DeviceSeq>, limit: usize) -> Result<Vec<Device>>;
    fn device(&self, id: ProfileId, seq: DeviceSeq) -> Result<Option<Device>>;
    /// Finds a device in any profile.
    fn find(&self, lookup: &Lookup) -> Result<Option<(ProfileId, Device)>>;
    /// Every device, in any profile, that has this IMEI or this serial number (any manufacturer).
    fn candidates(&self, imei: Option<Imei>, serial: Option<&str>) -> Result<Vec<(ProfileId, Device)>>;
    fn add_device(&self, id: ProfileId, device: NewDevice, audit: &AuditEntry) -> Result<Device>;
    /// Saves a changed device (same profile and seq); changed identifiers are checked for duplicates.
    /// With `expect`, the stored device must still have that modification stamp, else `Conflict`.
    fn update_device(
        &self,
        id: ProfileId,
        device: Device,
        expect: Expect<DateTime<Utc>>,
        audit: &AuditEntry,
    ) -> Result<Device>;
    /// Sets (`Some`) or clears (`None`) one custom attribute on several devices in one atomic write;
    /// returns how many devices there were.
    fn set_attribute(
        &self,
        id: ProfileId,
        seqs: &[DeviceSeq],
        name: &str,
        value: Option<&str>,
        audit: &AuditEntry,
    ) -> Result<u64>;
    fn delete_devices(&self, id: ProfileId, seqs: &[DeviceSeq], audit: &AuditEntry) -> Result<u64>;
    /// Records a registration (or its reset). Not a change of the inventory: "Last modified" stays.
    fn set_status(&self, id: ProfileId, seq: DeviceSeq, status: Status, audit: &AuditEntry) -> Result<Device>;

    /// Starts an import. `write: false` checks every row and writes nothing (a dry run).
    /// The session owns what it needs (it may outlive the borrow and move to another thread); a dry run
    /// takes no writer lock.
    fn begin_import(&self, target: ImportTarget, write: bool) -> Result<Box<dyn ImportSession>>;

    fn users(&self) -> Result<Vec<User>>;
    fn user(&self, username: &str) -> Result<Option<User>>;
    /// Creates (`create`) or replaces a user; usernames are unique, compared case-insensitively; the
    /// organizations must be in the catalog.
    fn put_user(&self, user: User, create: bool, audit: &AuditEntry) -> Result<()>;
    /// Deletes a user that no profile or DEP device references.
    fn delete_user(&self, username: &str, audit: &AuditEntry) -> Result<()>;

    /// Records a command that changed nothing (refused, or a dry run), on its own.
    fn append_audit(&self, audit: &AuditEntry) -> Result<()>;
    /// Audit entries, newest first.
    fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>>;

    /// A feed of every change committed from now on, in commit order, by any process using this store.
    /// It ends (the receiver disconnects) when the store can no longer tell: a server's client whose
    /// server stopped; subscribing again then fails until a server answers.
    fn subscribe(&self) -> Result<std::sync::mpsc::Receiver<Change>>;

    /// Verifies that device counts, indexes and devices agree. Empty means consistent.
    fn check(&self) -> Result<Vec<Problem>>;

    /// Writes a whole inventory into this store in one atomic write, every record as given (profile ids,
    /// device numbers, statuses and times, mail ids), and `audit` with it: the writing half of
    /// `kitting db copy`. Refused unless the store holds no profile, user, catalog entry, DEP record or
    /// mail; the inventory's audit entries follow any the store has, oldest first.
    fn load(&self, inventory: &Inventory, audit: &AuditEntry) -> Result<()>;

    /// Everything the store holds as of one moment (a backup): no change commits half-way into it.
    /// The embedded stores read it holding the writers' lock (writers wait for the read); a server
    /// reads it so for its clients; PostgreSQL reads it again until no change overtook the read.
    fn snapshot(&self) -> Result<Inventory>;

    /// What a technician is told when the change feed ended: the kitting server stopped, or the
    /// connection to the database was lost (the workstation then subscribes again until it can).
    fn feed_lost(&self) -> &'static str {
        "lost the database"
    }
}
