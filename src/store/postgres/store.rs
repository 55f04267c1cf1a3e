//! The store contract on PostgreSQL: profiles, devices, users, the audit trail
//! and `check`, each change one transaction with its audit entry; imports in `import.rs`, the DEP half
//! in `dep.rs`; the change feed across hosts in `feed.rs`; `Store::load` (db copy) in `load.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use postgres::types::ToSql;
use postgres::{Client, Row, Transaction};

use crate::domain::audit::{AuditEntry, AuditQuery};
use crate::domain::dep::CatalogKind;
use crate::domain::{Device, DeviceSeq, Field, Identifiers, Imei, NewDevice, Profile, ProfileId, Source, Status, User};
use crate::store::{
    Change, Expect, FieldProblem, ImportSession, ImportTarget, Lookup, Problem, ProfileChange, Result, Store,
    StoreError, Subject, already_in, check_user_write, next_stamp, refused, stale,
};

/// A PostgreSQL database as a store: one connection, used by one call at a time (an import opens one
/// of its own).
pub struct PgStore {
    client: Arc<Mutex<Client>>,
    pub(super) target: Arc<super::Target>,
    /// A snapshot's store (see `snapshot`): its connection is inside a read-only transaction that is the
    /// snapshot, so a lost connection is an error rather than opened again, and nothing is changed.
    pinned: bool,
}

/// Whether the error means the connection is gone (closed, cut, or ended by the server shutting down).
fn is_lost(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    let io = std::error::Error::source(e).is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some());
    // The server shutting down (a restart, a crash) ends the connection with one of these.
    let shutdown = [SqlState::ADMIN_SHUTDOWN, SqlState::CRASH_SHUTDOWN, SqlState::CANNOT_CONNECT_NOW];
    e.is_closed() || io || e.code().is_some_and(|c| shutdown.contains(c))
}

pub(super) fn db(e: postgres::Error) -> StoreError {
    if is_lost(&e) {
        return lost(super::with_causes(&e));
    }
    // A constraint that refuses a write another host made first: said as a refusal, not a failure.
    if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) {
        let what = e.as_db_error().and_then(|d| d.constraint()).unwrap_or("a uniqueness rule").to_string();
        return StoreError::Refused(format!("another change saved the same value first ({what})"));
    }
    StoreError::Backend(format!("PostgreSQL: {}", super::with_causes(&e)))
}

fn lost(why: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!(
        "lost the connection to the PostgreSQL database ({why}); the next action connects again"
    ))
}

/// A COPY whose rows could not be sent: the connection is gone.
pub(super) fn copy_failed(e: std::io::Error) -> StoreError {
    lost(format_args!("COPY: {}", super::with_causes(&e)))
}

pub(super) fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).expect("domain values always serialize")
}

fn from_json<T: serde::de::DeserializeOwned>(v: serde_json::Value, what: &str) -> Result<T> {
    serde_json::from_value(v).map_err(|e| StoreError::Backend(format!("a stored {what} that does not decode: {e}")))
}

const PROFILE_COLUMNS: &str =
    "id, name, description, kind, created, modified, username, token, config, device_count, attributes, version";

fn profile_of(r: &Row) -> Result<Profile> {
    Ok(Profile {
        id: r.get::<_, i32>(0) as ProfileId,
        name: r.get(1),
        description: r.get(2),
        kind: r.get(3),
        created: r.get(4),
        modified: r.get(5),
        user: r.get(6),
        token: match r.get::<_, Option<serde_json::Value>>(7) {
            Some(v) => from_json(v, "token")?,
            None => None,
        },
        config: from_json(r.get(8), "configuration")?,
        device_count: r.get::<_, i64>(9) as u64,
        attributes: from_json(r.get(10), "attribute list")?,
        version: r.get::<_, i64>(11) as u64,
    })
}

const DEVICE_COLUMNS: &str = "d.seq, d.imei, d.imei2, d.serial, d.manufacturer, d.attributes, d.status, d.status_ns, d.source_file, \
     d.source_line, d.created, d.modified";

fn device_of(r: &Row) -> Result<Device> {
    device_at(r, 0)
}

/// A device from the row's columns from `at` on (`DEVICE_COLUMNS`, after what the query put first).
fn device_at(r: &Row, at: usize) -> Result<Device> {
    let imei = |i: usize| r.get::<_, Option<i64>>(at + i).map(|v| Imei::from_stored(v as u64));
    let pairs: Vec<(String, String)> = from_json(r.get(at + 5), "attribute set")?;
    let when = r.get::<_, Option<i64>>(at + 7).map(DateTime::from_timestamp_nanos);
    let status = match (r.get::<_, &str>(at + 6), when) {
        ("kitted", Some(t)) => Status::Kitted(t),
        ("registered", Some(t)) => Status::Registered(t),
        _ => Status::Pending,
    };
    let source = match r.get::<_, Option<String>>(at + 8) {
        Some(name) => Source::File { name: Arc::from(name), line: r.get::<_, Option<i64>>(at + 9).unwrap_or(0) as u64 },
        None => Source::Manual,
    };
    Ok(Device {
        seq: r.get::<_, i64>(at) as DeviceSeq,
        ids: Identifiers { imei: imei(1), imei2: imei(2), serial: r.get(at + 3), manufacturer: r.get(at + 4) },
        attributes: pairs.into_iter().map(|(n, v)| (Arc::from(n), v)).collect(),
        status,
        source,
        created: r.get(at + 10),
        modified: r.get(at + 11),
    })
}

/// A status as its two columns: its name, and its time in nanoseconds since 1970.
pub(super) fn status_columns(s: &Status) -> (&'static str, Option<i64>) {
    match s {
        Status::Pending => ("pending", None),
        Status::Kitted(t) => ("kitted", t.timestamp_nanos_opt()),
        Status::Registered(t) => ("registered", t.timestamp_nanos_opt()),
    }
}

/// A device's row as values, in the order of the columns `profile, seq, imei, imei2, serial,
/// manufacturer, serial_key, attributes, status, status_ns, source_file, source_line, created,
/// modified`, handed to `f` (a statement's parameters, a binary COPY's row).
pub(super) fn with_device_values<T>(profile: ProfileId, d: &Device, f: impl FnOnce(&[&(dyn ToSql + Sync)]) -> T) -> T {
    let (status, at) = status_columns(&d.status);
    let (file, line) = match &d.source {
        Source::File { name, line } => (Some(name.as_ref()), Some(*line as i64)),
        Source::Manual => (None, None),
    };
    let pairs: Vec<(&str, &str)> = d.attributes.iter().map(|(n, v)| (n.as_ref(), v.as_str())).collect();
    let imei = |i: Option<Imei>| i.map(|i| i.as_u64() as i64);
    f(&[
        &(profile as i32),
        &i64::from(d.seq),
        &imei(d.ids.imei),
        &imei(d.ids.imei2),
        &d.ids.serial,
        &d.ids.manufacturer,
        &d.ids.serial_key(),
        &postgres::types::Json(&pairs),
        &status,
        &at,
        &file,
        &line,
        &d.created,
        &d.modified,
    ])
}

/// Writes a device's row and its IMEIs' rows (an update deletes its old IMEIs first).
pub(super) fn put_device(tx: &mut Transaction, id: ProfileId, d: &Device, update: bool) -> Result<()> {
    let (pid, seq) = (id as i32, i64::from(d.seq));
    if update {
        delete_rows(tx, "d.profile = $1 AND d.seq = $2", &[&pid, &seq])?;
    }
    with_device_values(id, d, |values| {
        tx.execute(
            "INSERT INTO devices (profile, seq, imei, imei2, serial, manufacturer, serial_key, attributes, status, \
             status_ns, source_file, source_line, created, modified) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            values,
        )
    })
    .map_err(db)?;
    for i in d.ids.imeis() {
        tx.execute(
            "INSERT INTO device_imeis (imei, profile, seq) VALUES ($1, $2, $3)",
            &[&(i.as_u64() as i64), &pid, &seq],
        )
        .map_err(db)?;
    }
    Ok(())
}

/// Deletes the devices `filter` picks (over `devices d`) and their IMEI rows, found by the devices' own
/// IMEIs (the IMEI rows' key).
pub(super) fn delete_rows(tx: &mut Transaction, filter: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
    tx.execute(
        &format!(
            "DELETE FROM device_imeis i USING devices d WHERE {filter} \
             AND i.imei IN (d.imei, d.imei2) AND i.profile = d.profile AND i.seq = d.seq"
        ),
        params,
    )
    .map_err(db)?;
    tx.execute(&format!("DELETE FROM devices d WHERE {filter}"), params).map_err(db)
}

/// The profile, locked for this transaction (changes to one profile take turns, on every host).
pub(super) fn locked_profile(tx: &mut Transaction, id: ProfileId) -> Result<(Profile, i64)> {
    let row = tx
        .query_opt(
            &format!("SELECT {PROFILE_COLUMNS}, next_seq FROM profiles WHERE id = $1 FOR UPDATE"),
            &[&(id as i32)],
        )
        .map_err(db)?
        .ok_or_else(|| StoreError::NotFound(format!("no profile with id {id}")))?;
    Ok((profile_of(&row)?, row.get(12)))
}

/// A new profile's row, with the next device number it will give.
pub(super) fn insert_profile(tx: &mut Transaction, p: &Profile, next_seq: i64) -> Result<()> {
    tx.execute(
        "INSERT INTO profiles (id, name, name_key, kind, created, config, modified, next_seq) \
         VALUES ($1, $2, $3, $4, $5, $6, $5, $7)",
        &[&(p.id as i32), &p.name, &p.name.trim().to_lowercase(), &p.kind, &p.created, &json(&p.config), &next_seq],
    )
    .map_err(db)?;
    write_profile(tx, p)
}

pub(super) fn write_profile(tx: &mut Transaction, p: &Profile) -> Result<()> {
    tx.execute(
        "UPDATE profiles SET name = $2, name_key = $3, description = $4, modified = $5, username = $6, token = $7, \
         config = $8, device_count = $9, attributes = $10, version = $11 WHERE id = $1",
        &[
            &(p.id as i32),
            &p.name,
            &p.name.trim().to_lowercase(),
            &p.description,
            &p.modified,
            &p.user,
            &p.token.as_ref().map(json),
            &json(&p.config),
            &(p.device_count as i64),
            &json(&p.attributes),
            &(p.version as i64),
        ],
    )
    .map_err(db)?;
    Ok(())
}

/// Who holds an identifier: the profile's name and the device's source.
pub(super) type Holder = (String, Source);

fn source_of(file: Option<String>, line: Option<i64>) -> Source {
    match file {
        Some(name) => Source::File { name: Arc::from(name), line: line.unwrap_or(0) as u64 },
        None => Source::Manual,
    }
}

/// Who holds IMEIs: `$1` the IMEIs, `$2, $3` a device not to count.
pub(super) const HOLDERS_BY_IMEI: &str = "SELECT i.imei, p.name, d.source_file, d.source_line FROM device_imeis i \
     JOIN devices d ON d.profile = i.profile AND d.seq = i.seq JOIN profiles p ON p.id = d.profile \
     WHERE i.imei = ANY($1) AND NOT (d.profile = $2 AND d.seq = $3)";
/// Who holds serial keys: `$1` the keys, `$2, $3` a device not to count.
pub(super) const HOLDERS_BY_KEY: &str = "SELECT d.serial_key, p.name, d.source_file, d.source_line FROM devices d \
     JOIN profiles p ON p.id = d.profile WHERE d.serial_key = ANY($1) AND NOT (d.profile = $2 AND d.seq = $3)";

/// The stored devices, but `exclude`, that hold any of these IMEIs (first or second) and serial keys:
/// one query for each kind, however many identifiers (an import asks for a batch at once, with the two
/// queries prepared once: `queries` are `HOLDERS_BY_IMEI` and `HOLDERS_BY_KEY`, as text or prepared).
pub(super) fn holders<Q: postgres::ToStatement + ?Sized>(
    c: &mut impl postgres::GenericClient,
    queries: [&Q; 2],
    imeis: &[i64],
    keys: &[String],
    exclude: Option<(ProfileId, DeviceSeq)>,
) -> Result<(HashMap<i64, Holder>, HashMap<String, Holder>)> {
    let (xp, xs) = exclude.map_or((-1i32, -1i64), |(p, s)| (p as i32, i64::from(s)));
    let holder = |r: &Row| (r.get::<_, String>(1), source_of(r.get(2), r.get(3)));
    let by_imei =
        c.query(queries[0], &[&imeis, &xp, &xs]).map_err(db)?.iter().map(|r| (r.get::<_, i64>(0), holder(r))).collect();
    let by_key = c
        .query(queries[1], &[&keys, &xp, &xs])
        .map_err(db)?
        .iter()
        .map(|r| (r.get::<_, String>(0), holder(r)))
        .collect();
    Ok((by_imei, by_key))
}

/// The devices other than `exclude` that have one of these identifiers, as refusals.
fn conflicts(
    tx: &mut Transaction,
    ids: &Identifiers,
    exclude: Option<(ProfileId, DeviceSeq)>,
) -> Result<Vec<FieldProblem>> {
    let imeis: Vec<i64> = ids.imeis().map(|i| i.as_u64() as i64).collect();
    let keys: Vec<String> = ids.serial_key().into_iter().collect();
    let (by_imei, by_key) = holders(tx, [HOLDERS_BY_IMEI, HOLDERS_BY_KEY], &imeis, &keys, exclude)?;
    let mut problems = Vec::new();
    for (field, imei) in [(Field::Imei, ids.imei), (Field::Imei2, ids.imei2)] {
        if let Some(imei) = imei
            && let Some((name, source)) = by_imei.get(&(imei.as_u64() as i64))
        {
            problems.push((field, already_in(&format!("IMEI {imei}"), &format!("profile {name:?}"), Some(source))));
        }
    }
    if let (Some(key), Some(serial)) = (keys.first(), &ids.serial)
        && let Some((name, source)) = by_key.get(key)
    {
        let what = format!("serial number {serial} ({})", ids.manufacturer.as_deref().unwrap_or(""));
        problems.push((Field::Serial, already_in(&what, &format!("profile {name:?}"), Some(source))));
    }
    Ok(problems)
}

impl PgStore {
    /// Connects to the database and brings its schema up to date.
    pub fn open(target: super::Target) -> Result<PgStore> {
        let client = target.open()?;
        Ok(PgStore { client: Arc::new(Mutex::new(client)), target: Arc::new(target), pinned: false })
    }

    /// The connection; one that was lost (the server restarted, the network cut) is opened again here,
    /// so the action after the one that failed works once the database answers.
    fn client(&self) -> Result<std::sync::MutexGuard<'_, Client>> {
        let mut guard = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_closed() {
            if self.pinned {
                return Err(self.snapshot_lost());
            }
            *guard = self.target.open()?;
        }
        Ok(guard)
    }

    /// One change: `f` in a transaction, its audit entry written in the same one, and the feed told
    /// (NOTIFY, delivered when it commits).
    pub(super) fn change<T>(
        &self,
        audit: &AuditEntry,
        f: impl FnOnce(&mut Transaction) -> Result<(T, Subject)>,
    ) -> Result<T> {
        if self.pinned {
            return Err(StoreError::Refused("a snapshot only reads".into()));
        }
        let mut client = self.client()?;
        // A connection found gone at BEGIN (the server restarted since) is opened again: nothing of the
        // change was sent yet.
        match client.transaction() {
            Ok(tx) => return commit_change(tx, audit, f),
            Err(e) if !is_lost(&e) => return Err(db(e)),
            Err(_) => {}
        }
        drop(client);
        let mut client = self.reconnected()?;
        let tx = client.transaction().map_err(db)?;
        commit_change(tx, audit, f)
    }

    /// A read; one that finds the connection gone (the server restarted, the network cut) connects
    /// again and reads once more: a read changes nothing, so the second is as good as the first.
    pub(super) fn read<T>(&self, f: impl Fn(&mut Client) -> std::result::Result<T, postgres::Error>) -> Result<T> {
        let mut client = self.client()?;
        match f(&mut client) {
            Err(e) if is_lost(&e) && self.pinned => Err(self.snapshot_lost()),
            Err(e) if is_lost(&e) => {
                drop(client);
                f(&mut *self.reconnected()?).map_err(db)
            }
            done => done.map_err(db),
        }
    }

    fn snapshot_lost(&self) -> StoreError {
        StoreError::Backend(self.target.say("the connection was lost during a consistent read; nothing was read"))
    }

    /// The connection opened again (the old one is gone).
    fn reconnected(&self) -> Result<std::sync::MutexGuard<'_, Client>> {
        let mut guard = self.client.lock().unwrap_or_else(|p| p.into_inner());
        *guard = self.target.open()?;
        Ok(guard)
    }
}

/// `f` in the transaction, its audit entry, the feed told, committed.
fn commit_change<T>(
    mut tx: Transaction,
    audit: &AuditEntry,
    f: impl FnOnce(&mut Transaction) -> Result<(T, Subject)>,
) -> Result<T> {
    let (value, subject) = f(&mut tx)?;
    let entry = append(&mut tx, audit)?;
    super::feed::notify(&mut tx, &entry, subject)?;
    tx.commit().map_err(db)?;
    Ok(value)
}

/// Writes an audit entry; returns it with the id the trail gave it.
pub(super) fn append(tx: &mut Transaction, audit: &AuditEntry) -> Result<AuditEntry> {
    let mut entry = audit.clone();
    let id: i64 = tx
        .query_one("INSERT INTO audit (at, entry) VALUES ($1, $2) RETURNING id", &[&entry.at, &json(&entry)])
        .map_err(db)?
        .get(0);
    entry.id = id as u64;
    Ok(entry)
}

impl Store for PgStore {
    fn profiles(&self) -> Result<Vec<Profile>> {
        let rows = self.read(|c| c.query(&format!("SELECT {PROFILE_COLUMNS} FROM profiles ORDER BY name_key"), &[]))?;
        rows.iter().map(profile_of).collect()
    }

    fn profile(&self, name: &str) -> Result<Option<Profile>> {
        let key = name.trim().to_lowercase();
        let row = self
            .read(|c| c.query_opt(&format!("SELECT {PROFILE_COLUMNS} FROM profiles WHERE name_key = $1"), &[&key]))?;
        row.as_ref().map(profile_of).transpose()
    }

    fn profile_by_id(&self, id: ProfileId) -> Result<Option<Profile>> {
        let row = self
            .read(|c| c.query_opt(&format!("SELECT {PROFILE_COLUMNS} FROM profiles WHERE id = $1"), &[&(id as i32)]))?;
        row.as_ref().map(profile_of).transpose()
    }

    fn create_profile(&self, mut profile: Profile, audit: &AuditEntry) -> Result<Profile> {
        self.change(audit, |tx| {
            profile.name = profile.name.trim().to_string();
            let key = profile.name.to_lowercase();
            if tx.query_opt("SELECT 1 FROM profiles WHERE name_key = $1", &[&key]).map_err(db)?.is_some() {
                return Err(StoreError::Refused(format!("a profile named {:?} already exists", profile.name)));
            }
            check_user(tx, &profile.user)?;
            let id: i64 = tx.query_one("SELECT nextval('profile_ids')", &[]).map_err(db)?.get(0);
            profile.id = id as ProfileId;
            profile.device_count = 0;
            insert_profile(tx, &profile, 0)?;
            Ok((profile, Subject::Profiles))
        })
    }

    fn update_profile(
        &self,
        id: ProfileId,
        change: &ProfileChange,
        expect: Expect<u64>,
        audit: &AuditEntry,
    ) -> Result<Profile> {
        self.change(audit, |tx| {
            let (before, _) = locked_profile(tx, id)?;
            if expect.is_some_and(|v| v != before.version) {
                return Err(stale(&format!("profile {:?}", before.name), ""));
            }
            let mut p = before.clone();
            change.apply_to(&mut p);
            p.name = p.name.trim().to_string();
            let key = p.name.to_lowercase();
            if key != before.name.to_lowercase()
                && tx.query_opt("SELECT 1 FROM profiles WHERE name_key = $1", &[&key]).map_err(db)?.is_some()
            {
                return Err(StoreError::Refused(format!("a profile named {:?} already exists", p.name)));
            }
            if p.user != before.user {
                check_user(tx, &p.user)?;
            }
            p.modified = next_stamp(before.modified, Utc::now());
            p.version = before.version + 1;
            write_profile(tx, &p)?;
            Ok((p, Subject::Profile(id)))
        })
    }

    fn delete_profile(&self, id: ProfileId, audit: &AuditEntry) -> Result<u64> {
        self.change(audit, |tx| {
            let (p, _) = locked_profile(tx, id)?;
            delete_rows(tx, "d.profile = $1", &[&(id as i32)])?;
            tx.execute("DELETE FROM profiles WHERE id = $1", &[&(id as i32)]).map_err(db)?;
            Ok((p.device_count, Subject::Profiles))
        })
    }

    fn devices_page(&self, id: ProfileId, after: Option<DeviceSeq>, limit: usize) -> Result<Vec<Device>> {
        let after = after.map_or(-1i64, i64::from);
        let rows = self.read(|c| {
            c.query(
                &format!(
                    "SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.profile = $1 AND d.seq > $2 ORDER BY d.seq LIMIT $3"
                ),
                &[&(id as i32), &after, &(limit as i64)],
            )
        })?;
        // An empty page is the end, or a profile that is not there: only then is the profile looked up.
        if rows.is_empty() && self.profile_by_id(id)?.is_none() {
            return Err(StoreError::NotFound(format!("no profile with id {id}")));
        }
        rows.iter().map(device_of).collect()
    }

    fn device(&self, id: ProfileId, seq: DeviceSeq) -> Result<Option<Device>> {
        let row = self.read(|c| {
            c.query_opt(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.profile = $1 AND d.seq = $2"),
                &[&(id as i32), &i64::from(seq)],
            )
        })?;
        row.as_ref().map(device_of).transpose()
    }

    fn find(&self, lookup: &Lookup) -> Result<Option<(ProfileId, Device)>> {
        let row = match lookup {
            Lookup::Imei(imei) => self.read(|c| {
                c.query_opt(
                    &format!(
                        "SELECT d.profile, {DEVICE_COLUMNS} FROM device_imeis i JOIN devices d \
                         ON d.profile = i.profile AND d.seq = i.seq WHERE i.imei = $1"
                    ),
                    &[&(imei.as_u64() as i64)],
                )
            })?,
            Lookup::Serial { serial, manufacturer } => {
                let key = crate::domain::serial_key(serial, manufacturer);
                self.read(|c| {
                    c.query_opt(
                        &format!("SELECT d.profile, {DEVICE_COLUMNS} FROM devices d WHERE d.serial_key = $1"),
                        &[&key],
                    )
                })?
            }
        };
        row.map(|r| Ok((r.get::<_, i32>(0) as ProfileId, device_at(&r, 1)?))).transpose()
    }

    fn candidates(&self, imei: Option<Imei>, serial: Option<&str>) -> Result<Vec<(ProfileId, Device)>> {
        let serial = serial.map(|s| s.trim().to_uppercase()).filter(|s| !s.is_empty());
        // The serial + manufacturer keys of a serial number (`domain::serial_key`: the serial trimmed and
        // upper-cased, then U+001F) are the keys from "SERIAL\x1f" up to "SERIAL\x20" (migration 4).
        let from = serial.as_ref().map(|s| format!("{s}\u{1f}"));
        let until = serial.as_ref().map(|s| format!("{s}\u{20}"));
        let imei = imei.map(|i| i.as_u64() as i64);
        let rows = self.read(|c| {
            c.query(
                &format!(
                    "SELECT d.profile, {DEVICE_COLUMNS} FROM devices d WHERE (d.profile, d.seq) IN \
                     (SELECT i.profile, i.seq FROM device_imeis i WHERE i.imei = $1 \
                      UNION SELECT k.profile, k.seq FROM devices k WHERE k.serial_key >= $3 AND k.serial_key < $4 \
                      UNION SELECT s.profile, s.seq FROM devices s \
                      WHERE s.serial IS NOT NULL AND s.serial_key IS NULL AND upper(btrim(s.serial)) = $2) \
                     ORDER BY d.profile, d.seq"
                ),
                &[&imei, &serial, &from, &until],
            )
        })?;
        rows.iter().map(|r| Ok((r.get::<_, i32>(0) as ProfileId, device_at(r, 1)?))).collect()
    }

    fn add_device(&self, id: ProfileId, device: NewDevice, audit: &AuditEntry) -> Result<Device> {
        self.change(audit, |tx| {
            let (mut p, next_seq) = locked_profile(tx, id)?;
            let problems = conflicts(tx, &device.ids, None)?;
            if !problems.is_empty() {
                return Err(refused(problems));
            }
            let now = next_stamp(p.modified, Utc::now());
            let seq = next_seq as DeviceSeq;
            let d = device.into_device(seq, now);
            put_device(tx, id, &d, false)?;
            p.device_count += 1;
            p.modified = now;
            p.learn_attributes(d.attributes.iter().map(|(n, _)| n.as_ref()));
            write_profile(tx, &p)?;
            tx.execute("UPDATE profiles SET next_seq = $2 WHERE id = $1", &[&(id as i32), &(next_seq + 1)])
                .map_err(db)?;
            Ok((d, Subject::Devices(id, vec![seq])))
        })
    }

    fn update_device(
        &self,
        id: ProfileId,
        mut device: Device,
        expect: Expect<DateTime<Utc>>,
        audit: &AuditEntry,
    ) -> Result<Device> {
        self.change(audit, |tx| {
            let (mut p, _) = locked_profile(tx, id)?;
            let seq = device.seq;
            let row = tx
                .query_opt(
                    &format!("SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.profile = $1 AND d.seq = $2 FOR UPDATE"),
                    &[&(id as i32), &i64::from(seq)],
                )
                .map_err(db)?
                .ok_or_else(|| StoreError::NotFound(format!("no device #{seq} in profile {:?}", p.name)))?;
            let old = device_of(&row)?;
            if expect.is_some_and(|t| t != old.modified) {
                return Err(stale(&old.label(), ""));
            }
            if old.ids != device.ids {
                let problems = conflicts(tx, &device.ids, Some((id, seq)))?;
                if !problems.is_empty() {
                    return Err(refused(problems));
                }
            }
            device.created = old.created;
            device.modified = next_stamp(old.modified, Utc::now());
            put_device(tx, id, &device, true)?;
            p.modified = next_stamp(p.modified, device.modified);
            p.learn_attributes(device.attributes.iter().map(|(n, _)| n.as_ref()));
            write_profile(tx, &p)?;
            Ok((device, Subject::Devices(id, vec![seq])))
        })
    }

    fn set_attribute(
        &self,
        id: ProfileId,
        seqs: &[DeviceSeq],
        name: &str,
        value: Option<&str>,
        audit: &AuditEntry,
    ) -> Result<u64> {
        self.change(audit, |tx| {
            let (mut p, _) = locked_profile(tx, id)?;
            let now = next_stamp(p.modified, Utc::now());
            let mut n = 0;
            for &seq in seqs {
                let row = tx
                    .query_opt(
                        &format!(
                            "SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.profile = $1 AND d.seq = $2 FOR UPDATE"
                        ),
                        &[&(id as i32), &i64::from(seq)],
                    )
                    .map_err(db)?;
                if let Some(row) = row {
                    let mut d = device_of(&row)?;
                    d.set_attribute(name, value);
                    d.modified = next_stamp(d.modified, now);
                    put_device(tx, id, &d, true)?;
                    n += 1;
                }
            }
            p.modified = now;
            if value.is_some() {
                p.learn_attributes([name]);
            }
            write_profile(tx, &p)?;
            Ok((n, Subject::Devices(id, seqs.to_vec())))
        })
    }

    fn delete_devices(&self, id: ProfileId, seqs: &[DeviceSeq], audit: &AuditEntry) -> Result<u64> {
        let wanted: Vec<i64> = seqs.iter().map(|&s| i64::from(s)).collect();
        let present: i64 = self
            .read(|c| {
                c.query_one(
                    "SELECT count(*) FROM devices WHERE profile = $1 AND seq = ANY($2)",
                    &[&(id as i32), &wanted],
                )
            })?
            .get(0);
        if self.profile_by_id(id)?.is_none() {
            return Err(StoreError::NotFound(format!("no profile with id {id}")));
        }
        if present == 0 {
            return Ok(0);
        }
        self.change(audit, |tx| {
            let (mut p, _) = locked_profile(tx, id)?;
            let removed = delete_rows(tx, "d.profile = $1 AND d.seq = ANY($2)", &[&(id as i32), &wanted])?;
            p.device_count -= removed;
            p.modified = next_stamp(p.modified, Utc::now());
            write_profile(tx, &p)?;
            Ok((removed, Subject::Devices(id, seqs.to_vec())))
        })
    }

    fn set_status(&self, id: ProfileId, seq: DeviceSeq, status: Status, audit: &AuditEntry) -> Result<Device> {
        self.change(audit, |tx| {
            let (s, at) = status_columns(&status);
            let row = tx
                .query_opt(
                    &format!(
                        "UPDATE devices d SET status = $3, status_ns = $4 WHERE d.profile = $1 AND d.seq = $2 \
                         RETURNING {DEVICE_COLUMNS}"
                    ),
                    &[&(id as i32), &i64::from(seq), &s, &at],
                )
                .map_err(db)?
                .ok_or_else(|| StoreError::NotFound(format!("no device #{seq} in profile #{id}")))?;
            Ok((device_of(&row)?, Subject::Devices(id, vec![seq])))
        })
    }

    fn begin_import(&self, target: ImportTarget, write: bool) -> Result<Box<dyn ImportSession>> {
        super::import::begin(self, target, write)
    }

    fn users(&self) -> Result<Vec<User>> {
        let rows = self.read(|c| {
            c.query("SELECT username, name, email, description, organizations FROM users ORDER BY username_key", &[])
        })?;
        rows.iter().map(user_of).collect()
    }

    fn user(&self, username: &str) -> Result<Option<User>> {
        let key = username.trim().to_lowercase();
        let row = self.read(|c| {
            c.query_opt(
                "SELECT username, name, email, description, organizations FROM users WHERE username_key = $1",
                &[&key],
            )
        })?;
        row.as_ref().map(user_of).transpose()
    }

    fn put_user(&self, mut user: User, create: bool, audit: &AuditEntry) -> Result<()> {
        self.change(audit, |tx| {
            user.username = user.username.trim().to_string();
            for org in &user.organizations {
                let known = tx
                    .query_opt("SELECT 1 FROM catalog WHERE kind = 'organization' AND name = $1", &[org])
                    .map_err(db)?
                    .is_some();
                if !known {
                    return Err(crate::store::missing_entry(CatalogKind::Organization, org));
                }
            }
            let key = user.username.to_lowercase();
            let exists = tx.query_opt("SELECT 1 FROM users WHERE username_key = $1", &[&key]).map_err(db)?.is_some();
            check_user_write(exists, create, &user.username)?;
            put_user_row(tx, &user)?;
            Ok(((), Subject::Users))
        })
    }

    fn delete_user(&self, username: &str, audit: &AuditEntry) -> Result<()> {
        self.change(audit, |tx| {
            let key = username.trim().to_lowercase();
            if tx.query_opt("SELECT 1 FROM users WHERE username_key = $1", &[&key]).map_err(db)?.is_none() {
                return Err(StoreError::NotFound(format!("no user named {username:?}")));
            }
            let profiles: Vec<String> = tx
                .query("SELECT name FROM profiles WHERE lower(username) = $1 ORDER BY name_key", &[&key])
                .map_err(db)?
                .iter()
                .map(|r| format!("{:?}", r.get::<_, String>(0)))
                .collect();
            if !profiles.is_empty() {
                return Err(StoreError::Refused(format!(
                    "user {username:?} is the associated user of profile {}; change those profiles first",
                    profiles.join(", ")
                )));
            }
            let owned: Vec<String> = tx
                .query(
                    "SELECT record->>'identifier' FROM dep_devices WHERE lower(record->>'user') = $1 \
                     ORDER BY identifier_key COLLATE \"C\"",
                    &[&key],
                )
                .map_err(db)?
                .iter()
                .map(|r| r.get::<_, String>(0))
                .collect();
            if !owned.is_empty() {
                return Err(StoreError::Refused(format!(
                    "user {username:?} owns DEP device {}; change or delete those devices first",
                    owned.join(", ")
                )));
            }
            tx.execute("DELETE FROM users WHERE username_key = $1", &[&key]).map_err(db)?;
            Ok(((), Subject::Users))
        })
    }

    fn append_audit(&self, audit: &AuditEntry) -> Result<()> {
        self.change(audit, |_| Ok(((), Subject::Nothing)))
    }

    /// Newest first, a page at a time by id (the time range in SQL, on the `at` index) until `limit`
    /// entries match: the workstation's audit screen reads its last entries, not the trail. Pages by key
    /// rather than through a portal, so that it needs no transaction of its own and reads inside a
    /// snapshot's (see `snapshot`).
    fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        const PAGE: i64 = 500;
        let found = self.read(|c| {
            let mut out: Vec<Result<AuditEntry>> = Vec::new();
            let mut before: Option<i64> = None;
            loop {
                let rows = c.query(
                    "SELECT id, entry FROM audit WHERE ($1::timestamptz IS NULL OR at >= $1) \
                     AND ($2::timestamptz IS NULL OR at < $2) AND ($3::bigint IS NULL OR id < $3) \
                     ORDER BY id DESC LIMIT $4",
                    &[&query.since, &query.until, &before, &PAGE],
                )?;
                for r in &rows {
                    let entry = from_json::<AuditEntry>(r.get(1), "audit entry").map(|mut e| {
                        e.id = r.get::<_, i64>(0) as u64;
                        e
                    });
                    match entry {
                        Ok(e) if !query.matches(&e) => {}
                        Ok(e) => out.push(Ok(e)),
                        Err(e) => {
                            out.push(Err(e));
                            return Ok(out);
                        }
                    }
                    if query.limit.is_some_and(|l| out.len() >= l) {
                        return Ok(out);
                    }
                }
                before = rows.last().map(|r| r.get::<_, i64>(0));
                if rows.len() < PAGE as usize {
                    return Ok(out);
                }
            }
        })?;
        found.into_iter().collect()
    }

    /// Every change committed from now on, by any kitting on any host (LISTEN on a connection of its
    /// own; see `feed.rs`).
    fn subscribe(&self) -> Result<std::sync::mpsc::Receiver<Change>> {
        super::feed::listen(self.target.open()?)
    }

    /// Everything, as one moment saw it while other hosts keep changing the database: the reads run
    /// on a connection of their own inside one `REPEATABLE READ, READ ONLY` transaction, PostgreSQL's
    /// own snapshot (what `pg_dump` uses), so a busy site's backup neither retries nor is refused.
    fn snapshot(&self) -> Result<crate::store::Inventory> {
        let mut client = self.target.open()?;
        client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").map_err(db)?;
        let pinned = PgStore { client: Arc::new(Mutex::new(client)), target: self.target.clone(), pinned: true };
        let inventory = crate::store::Inventory::read(&pinned)?;
        pinned.client()?.batch_execute("COMMIT").map_err(db)?;
        Ok(inventory)
    }

    fn load(&self, inventory: &crate::store::Inventory, audit: &AuditEntry) -> Result<()> {
        super::load::load(self, inventory, audit)
    }

    fn check(&self) -> Result<Vec<Problem>> {
        let mut problems = Vec::new();
        let counts = self.read(|c| {
            c.query(
                "SELECT p.name, p.device_count, (SELECT count(*) FROM devices d WHERE d.profile = p.id) FROM profiles p",
                &[],
            )
        })?;
        for r in counts {
            let (name, said, held): (String, i64, i64) = (r.get(0), r.get(1), r.get(2));
            if said != held {
                problems.push(format!("profile {name:?}: device count says {said} but it holds {held} devices"));
            }
        }
        let missing: i64 = self
            .read(|c| {
                c.query_one(
                    "SELECT count(*) FROM devices d, LATERAL (VALUES (d.imei), (d.imei2)) AS v(imei) \
                     WHERE v.imei IS NOT NULL AND NOT EXISTS (SELECT 1 FROM device_imeis i \
                     WHERE i.imei = v.imei AND i.profile = d.profile AND i.seq = d.seq)",
                    &[],
                )
            })?
            .get(0);
        if missing > 0 {
            problems.push(format!("{missing} device IMEIs are missing from the IMEI index"));
        }
        // The references kitting keeps itself (schema 3 has no foreign keys for them).
        let (orphan_imeis, orphan_devices): (i64, i64) = self
            .read(|c| {
                c.query_one(
                    "SELECT (SELECT count(*) FROM device_imeis i WHERE NOT EXISTS (SELECT 1 FROM devices d \
                     WHERE d.profile = i.profile AND d.seq = i.seq AND i.imei IN (d.imei, d.imei2))), \
                     (SELECT count(*) FROM devices d WHERE NOT EXISTS (SELECT 1 FROM profiles p WHERE p.id = d.profile))",
                    &[],
                )
            })
            .map(|r| (r.get(0), r.get(1)))?;
        if orphan_imeis > 0 {
            problems.push(format!("{orphan_imeis} rows of the IMEI index belong to no device"));
        }
        if orphan_devices > 0 {
            problems.push(format!("{orphan_devices} devices belong to no profile"));
        }
        Ok(problems)
    }
}

pub(super) fn user_of(r: &Row) -> Result<User> {
    Ok(User {
        username: r.get(0),
        name: r.get(1),
        email: r.get(2),
        description: r.get(3),
        organizations: from_json(r.get(4), "organization list")?,
    })
}

pub(super) fn check_user(tx: &mut Transaction, user: &Option<String>) -> Result<()> {
    if let Some(u) = user
        && tx
            .query_opt("SELECT 1 FROM users WHERE username_key = $1", &[&u.trim().to_lowercase()])
            .map_err(db)?
            .is_none()
    {
        return Err(StoreError::NotFound(format!("no user named {u:?}")));
    }
    Ok(())
}

/// Writes a user's row (created or replaced).
pub(super) fn put_user_row(tx: &mut Transaction, user: &User) -> Result<()> {
    tx.execute(
        "INSERT INTO users (username_key, username, name, email, description, organizations) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (username_key) DO UPDATE SET username = $2, name = $3, \
         email = $4, description = $5, organizations = $6",
        &[
            &user.username.trim().to_lowercase(),
            &user.username,
            &user.name,
            &user.email,
            &user.description,
            &json(&user.organizations),
        ],
    )
    .map_err(db)?;
    Ok(())
}
