//! The one core: every change a technician can make is a command (plain data, one file per family),
//! executed here. Each is checked with the domain rules, applied to the store atomically and recorded in
//! the audit trail in the same atomic write; a refused command is recorded with its reason. The command
//! line and the workstation only turn input into commands and results into text.
//!
//! | family        | commands                                                                 |
//! |---------------|--------------------------------------------------------------------------|
//! | `profiles`    | create, edit, set user, modify configuration, delete                     |
//! | `tokens`      | refresh, extend                                                          |
//! | `devices`     | add, edit, delete, set or clear an attribute on many                     |
//! | `import`      | Android import and dry run                                               |
//! | `users`       | add, edit, delete                                                        |
//! | `catalog`     | add, rename / describe, delete                                           |
//! | `dep`         | DEP import and dry run, record save, check-in, withdraw, delete, outbox   |
//! | `register`    | a device registering with its token and identifiers                      |
//! | `scan`        | a scan received or verified at a scan station, and its undo              |
//!
//! `find` is a query, not a command: a device by IMEI, serial or DEP identifier, anywhere.

pub mod backup;
pub mod catalog;
pub mod copy;
pub mod dep;
pub mod dep_rows;
pub mod devices;
pub mod find;
pub mod import;
pub mod profiles;
pub mod register;
pub mod scan;
pub mod tokens;
pub mod users;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::audit::{Actor, AuditEntry, AuditOutcome, FrontEnd, ImportCounts, redact};
use crate::domain::{Device, Profile};
use crate::store::{Lookup, Store, StoreError};

pub use register::Registration;

/// Why a command did not happen. A field error names its field (the edges map it to a CSV column, a form
/// field or a command-line flag).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum OpError {
    #[error("{reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("{0}")]
    NotFound(String),
    /// A rule says no: a duplicate, a name taken, a reference, a read-only record.
    #[error("{0}")]
    Refused(String),
    /// Someone changed the record since it was read; nothing was written.
    #[error("{0}")]
    Conflict(String),
    /// The database cannot be reached or used.
    #[error("{0}")]
    Unavailable(String),
    #[error("cancelled; nothing was written")]
    Cancelled,
}

impl OpError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> OpError {
        OpError::Invalid { field, reason: reason.into() }
    }

    /// The field a field error names.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            OpError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> OpError {
        match e {
            StoreError::NotFound(m) => OpError::NotFound(m),
            StoreError::Refused(m) => OpError::Refused(m),
            StoreError::Conflict(m) => OpError::Conflict(m),
            e @ (StoreError::InUse(..) | StoreError::Backend(_) | StoreError::Denied(_)) => {
                OpError::Unavailable(e.to_string())
            }
        }
    }
}

impl From<crate::csv::ImportError> for OpError {
    fn from(e: crate::csv::ImportError) -> OpError {
        match e {
            crate::csv::ImportError::File(m) => OpError::invalid("file", m),
            crate::csv::ImportError::Store(s) => s.into(),
            crate::csv::ImportError::Cancelled => OpError::Cancelled,
        }
    }
}

pub type Result<T> = std::result::Result<T, OpError>;

/// What a command runs with: the store, who runs it, and the time (passed in, so tests pin it).
pub struct Ctx<'a> {
    pub store: &'a dyn Store,
    pub actor: Actor,
    pub now: DateTime<Utc>,
}

impl<'a> Ctx<'a> {
    pub fn new(store: &'a dyn Store, actor: Actor, now: DateTime<Utc>) -> Ctx<'a> {
        Ctx { store, actor, now }
    }

    /// The entry recording a command that is done, to be written with its change.
    pub(crate) fn done(&self, command: &str, profile: Option<&str>, target: &str, what: String) -> AuditEntry {
        self.entry(command, profile, target, AuditOutcome::Done(what), None)
    }

    pub(crate) fn entry(
        &self,
        command: &str,
        profile: Option<&str>,
        target: &str,
        outcome: AuditOutcome,
        counts: Option<ImportCounts>,
    ) -> AuditEntry {
        AuditEntry {
            id: 0,
            at: self.now,
            actor: self.actor.clone(),
            command: command.into(),
            profile: profile.map(str::to_string),
            target: target.into(),
            outcome,
            counts,
        }
    }

    /// Runs `f`; when it fails, records the refusal (the reason with every secret masked) on its own. A
    /// failure to record is not reported over the command's own error.
    pub(crate) fn audited<T>(
        &self,
        command: &str,
        profile: Option<&str>,
        target: &str,
        secrets: &[&str],
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let result = f();
        if let Err(e) = &result
            && !matches!(e, OpError::Unavailable(_))
        {
            let reason = redact(&e.to_string(), secrets);
            let entry = self.entry(command, profile, &redact(target, secrets), AuditOutcome::Refused(reason), None);
            let _ = self.store.append_audit(&entry);
        }
        result
    }
}

/// The actor of this process: its operating-system user, the SSH client address from `SSH_CONNECTION`,
/// the host name, and the front-end.
pub fn actor_of_process(front_end: FrontEnd) -> Actor {
    let ssh_client = std::env::var("SSH_CONNECTION")
        .ok()
        .and_then(|c| c.split_whitespace().next().map(str::to_string))
        .filter(|a| !a.is_empty());
    let mut nonce = [0u8; 6];
    let _ = getrandom::fill(&mut nonce);
    let session = format!("{}-{}", std::process::id(), nonce.iter().map(|b| format!("{b:02x}")).collect::<String>());
    Actor { user: crate::os::user(), ssh_client, host: crate::os::host(), front_end, session }
}

pub fn require_profile(store: &dyn Store, name: &str) -> Result<Profile> {
    store.profile(name)?.ok_or_else(|| OpError::NotFound(format!("no profile named {:?}", name.trim())))
}

/// Finds a device of a profile by IMEI or by serial + manufacturer.
pub fn require_device(store: &dyn Store, profile: &Profile, lookup: &Lookup) -> Result<Device> {
    match store.find(lookup)? {
        Some((id, d)) if id == profile.id => Ok(d),
        Some((id, _)) => {
            let other = store.profile_by_id(id)?.map(|p| p.name).unwrap_or_default();
            Err(OpError::NotFound(format!("{lookup} is not in profile {:?} but in profile {other:?}", profile.name)))
        }
        None => Err(OpError::NotFound(format!("no device with {lookup} in profile {:?}", profile.name))),
    }
}

/// Every command, as data (what a front-end or, later, a client of the kitting server sends).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    CreateProfile(profiles::CreateProfile),
    EditProfile(profiles::EditProfile),
    SetProfileUser(profiles::SetProfileUser),
    ModifyConfiguration(profiles::ModifyConfiguration),
    DeleteProfile(profiles::DeleteProfile),
    RefreshToken(tokens::RefreshToken),
    ExtendToken(tokens::ExtendToken),
    AddDevice(devices::AddDevice),
    EditDevice(devices::EditDevice),
    DeleteDevices(devices::DeleteDevices),
    SetAttribute(devices::SetAttribute),
    Import(import::Import),
    AddUser(users::AddUser),
    EditUser(users::EditUser),
    DeleteUser(users::DeleteUser),
    CatalogAdd(catalog::CatalogAdd),
    CatalogEdit(catalog::CatalogEdit),
    CatalogDelete(catalog::CatalogDelete),
    DepImport(dep::DepImport),
    DepSave(dep::DepSave),
    DepCheckIn(dep::DepCheckIn),
    DepWithdraw(dep::DepWithdraw),
    DepDelete(dep::DepDelete),
    OutboxWritten(dep::OutboxWritten),
    Register(register::Register),
    Scan(scan::Scan),
    UndoScan(scan::UndoScan),
}

/// What a command returns.
#[derive(Debug)]
pub enum Done {
    Profile(Profile),
    Device(Device),
    Count(u64),
    Import(Box<crate::csv::ImportReport>),
    DepImport(Box<crate::csv::dep::DepReport>),
    DepDevice(Box<crate::domain::dep::DepDevice>),
    Registration(Box<Registration>),
    /// One result per value of a scan (a code may carry several), the first refusal ending it.
    Scan(Vec<Result<scan::Accepted>>),
    Nothing,
}

/// Executes one command.
pub fn execute(ctx: &Ctx, command: Command) -> Result<Done> {
    Ok(match command {
        Command::CreateProfile(c) => Done::Profile(profiles::create(ctx, c)?),
        Command::EditProfile(c) => Done::Profile(profiles::edit(ctx, c)?),
        Command::SetProfileUser(c) => Done::Profile(profiles::set_user(ctx, c)?),
        Command::ModifyConfiguration(c) => Done::Profile(profiles::modify_configuration(ctx, c)?),
        Command::DeleteProfile(c) => Done::Count(profiles::delete(ctx, c)?),
        Command::RefreshToken(c) => Done::Profile(tokens::refresh(ctx, c)?),
        Command::ExtendToken(c) => Done::Profile(tokens::extend(ctx, c)?),
        Command::AddDevice(c) => Done::Device(devices::add(ctx, c)?),
        Command::EditDevice(c) => Done::Device(devices::edit(ctx, c)?),
        Command::DeleteDevices(c) => Done::Count(devices::delete(ctx, c)?),
        Command::SetAttribute(c) => Done::Count(devices::set_attribute(ctx, c)?),
        Command::Import(c) => Done::Import(Box::new(import::run(ctx, c, &mut |_| true)?)),
        Command::AddUser(c) => {
            users::add(ctx, c)?;
            Done::Nothing
        }
        Command::EditUser(c) => {
            users::edit(ctx, c)?;
            Done::Nothing
        }
        Command::DeleteUser(c) => {
            users::delete(ctx, c)?;
            Done::Nothing
        }
        Command::CatalogAdd(c) => {
            catalog::add(ctx, c)?;
            Done::Nothing
        }
        Command::CatalogEdit(c) => Done::Count(catalog::edit(ctx, c)?),
        Command::CatalogDelete(c) => {
            catalog::delete(ctx, c)?;
            Done::Nothing
        }
        Command::DepImport(c) => Done::DepImport(Box::new(dep::import(ctx, c, &mut |_| true)?)),
        Command::DepSave(c) => Done::DepImport(Box::new(dep::save(ctx, c)?)),
        Command::DepCheckIn(c) => Done::DepDevice(Box::new(dep::check_in(ctx, c)?)),
        Command::DepWithdraw(c) => Done::DepDevice(Box::new(dep::withdraw(ctx, c)?)),
        Command::DepDelete(c) => {
            dep::delete(ctx, c)?;
            Done::Nothing
        }
        Command::OutboxWritten(c) => Done::Count(dep::outbox_written(ctx, c)?),
        Command::Register(c) => Done::Registration(Box::new(register::run(ctx, c)?)),
        Command::Scan(c) => Done::Scan(scan::run(ctx, c)),
        Command::UndoScan(c) => match scan::undo(ctx, c)? {
            Some(d) => Done::Device(d),
            None => Done::Nothing,
        },
    })
}

/// `"s"` for every count but one.
pub(crate) fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub use profiles::build_profile;
pub use tokens::token_of;
