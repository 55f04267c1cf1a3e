//! One way in to the data. The trait speaks in domain terms (profiles, devices, users, an import as one
//! unit); `sled_store` is its only implementation and the only place that names a sled type.

mod chunk;
mod dep;
mod layout;
mod sled_store;

pub use chunk::{PreparedRow, PreparedRows, RowEncoder};
pub use dep::{DepChange, DepStore, DeviceWrite};
pub use sled_store::SledStore;

use crate::domain::{Device, DeviceSeq, Field, Imei, NewDevice, Profile, ProfileId, Status, User};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StoreError {
    #[error("database {0} is in use by another kitting process")]
    InUse(String),
    #[error("{0}")]
    NotFound(String),
    /// A change that would break a rule (a duplicate, a name taken, a reference).
    #[error("{0}")]
    Refused(String),
    #[error("database error: {0}")]
    Backend(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A problem with one field of a device.
pub type FieldProblem = (Field, String);
/// The problems of one line of an import file.
pub type LineProblems = (u64, Vec<FieldProblem>);

/// How to find one device.
#[derive(Clone, Debug, PartialEq)]
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
pub enum ImportTarget {
    Existing(ProfileId),
    /// A profile created by the import itself, atomically with its devices.
    Create(Box<Profile>),
}

/// An import as one unit: rows are checked and staged one by one, then committed in one atomic write.
/// Dropping a session without committing leaves the store exactly as it was.
pub trait ImportSession {
    /// The profile the import goes to, as it will be committed (its id is allocated already).
    fn profile(&self) -> &Profile;
    /// Checks prepared rows against the stored devices (duplicates) and stages the others. Returns the
    /// rejected rows (index into `rows`, problems). Duplicates inside the file are found by `finish`.
    /// All rows of one import come from the same `encoder`.
    fn add_prepared(&mut self, encoder: &RowEncoder, rows: &PreparedRows) -> Result<Vec<(usize, Vec<FieldProblem>)>>;
    /// Makes room for about `rows` more rows (a hint; the import works without it).
    fn reserve(&mut self, rows: usize);
    /// Stops staging (after a rejection in all-or-nothing mode); rows are still checked.
    fn stop_writing(&mut self);
    /// After the last row: the rows that repeat an earlier row of the same import, by line, with their
    /// problems. They are taken out of what `commit` writes.
    fn finish(&mut self) -> Result<Vec<LineProblems>>;
    /// How many rows have been accepted so far.
    fn accepted(&self) -> u64;
    /// Makes every staged device visible at once, with the profile's new count and attributes.
    fn commit(self: Box<Self>, attributes: &[String]) -> Result<Profile>;
}

/// A consistency problem found by `check`.
pub type Problem = String;

/// The whole store: Android profiles and devices, users, and (through `DepStore`) DEP device information.
pub trait Store: DepStore + Send + Sync {
    fn profiles(&self) -> Result<Vec<Profile>>;
    /// By name, case-insensitively.
    fn profile(&self, name: &str) -> Result<Option<Profile>>;
    fn profile_by_id(&self, id: ProfileId) -> Result<Option<Profile>>;
    /// Creates a profile; its `id` is assigned by the store and the name must be free.
    fn create_profile(&self, profile: Profile) -> Result<Profile>;
    /// Applies `change` to the stored profile and saves it (a rename keeps names unique; the device count
    /// and id cannot be changed this way).
    fn update_profile(
        &self,
        id: ProfileId,
        change: &mut dyn FnMut(&mut Profile) -> std::result::Result<(), String>,
    ) -> Result<Profile>;
    /// Deletes a profile with all its devices; returns how many devices went with it.
    fn delete_profile(&self, id: ProfileId) -> Result<u64>;

    /// Visits a profile's devices in the order they were added, until `visit` returns false.
    fn devices(&self, id: ProfileId, visit: &mut dyn FnMut(Device) -> bool) -> Result<()>;
    fn device(&self, id: ProfileId, seq: DeviceSeq) -> Result<Option<Device>>;
    /// Finds a device in any profile.
    fn find(&self, lookup: &Lookup) -> Result<Option<(ProfileId, Device)>>;
    /// Every device, in any profile, that has this IMEI or this serial number (any manufacturer).
    fn candidates(&self, imei: Option<Imei>, serial: Option<&str>) -> Result<Vec<(ProfileId, Device)>>;
    fn add_device(&self, id: ProfileId, device: NewDevice) -> Result<Device>;
    /// Saves a changed device (same profile and seq); changed identifiers are checked for duplicates.
    fn update_device(&self, id: ProfileId, device: Device) -> Result<Device>;
    fn delete_devices(&self, id: ProfileId, seqs: &[DeviceSeq]) -> Result<u64>;
    /// Records a registration (or its reset). Not a change of the inventory: "Last modified" stays.
    fn set_status(&self, id: ProfileId, seq: DeviceSeq, status: Status) -> Result<Device>;

    /// Starts an import. `write: false` checks every row and writes nothing (a dry run).
    fn begin_import(&self, target: ImportTarget, write: bool) -> Result<Box<dyn ImportSession + '_>>;

    fn users(&self) -> Result<Vec<User>>;
    fn user(&self, username: &str) -> Result<Option<User>>;
    /// Creates (`create`) or replaces a user; usernames are unique, compared case-insensitively.
    fn put_user(&self, user: User, create: bool) -> Result<()>;
    /// Deletes a user that no profile references.
    fn delete_user(&self, username: &str) -> Result<()>;

    /// Verifies that device counts, indexes and devices agree. Empty means consistent.
    fn check(&self) -> Result<Vec<Problem>>;
}
