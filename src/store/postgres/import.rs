//! An import into PostgreSQL: rows are checked as they come (against the stored devices, two prepared
//! queries per batch, and against the file's earlier rows) and, accepted, handed to a thread of the
//! import's own (`Loader`: its connection, its transaction) that writes them a chunk at a time with
//! COPY straight into the devices and their IMEI rows, each chunk under a savepoint, while the file is
//! still being checked; the commit writes the profile's new count and the audit entry in that
//! transaction, all or nothing. A row that another host saved meanwhile makes a constraint refuse its
//! chunk: from then on rows go to a staging table, and the commit is refused naming their lines.

use std::collections::HashMap;

use std::sync::mpsc::{Receiver, SyncSender};

use chrono::Utc;
use postgres::{Client, Transaction};

use super::store::{
    HOLDERS_BY_IMEI, HOLDERS_BY_KEY, Holder, PgStore, append, check_user, db, holders, insert_profile, locked_profile,
    write_profile,
};
use crate::domain::audit::AuditEntry;
use crate::domain::{Device, DeviceSeq, Field, Imei, Profile};
use crate::store::{
    FieldProblem, ImportSession, ImportTarget, LineProblems, PreparedRows, Result, RowEncoder, SeenInFile, StoreError,
    Subject, already_in, next_stamp, taken_meanwhile,
};

pub(super) fn begin(store: &PgStore, target: ImportTarget, write: bool) -> Result<Box<dyn ImportSession>> {
    let mut client = store.target.open()?;
    let (profile, create, numbers) = match target {
        ImportTarget::Existing(id) => {
            let mut tx = client.transaction().map_err(db)?;
            let (p, next_seq) = locked_profile(&mut tx, id)?;
            // Numbers are reserved in the profile as rows are accepted (`PgImport::reserve`).
            (p, false, Numbers { next: next_seq, reserved_end: next_seq, added: 0 })
        }
        ImportTarget::Create(p) => {
            let mut p = *p;
            p.name = p.name.trim().to_string();
            let key = p.name.to_lowercase();
            if client.query_opt("SELECT 1 FROM profiles WHERE name_key = $1", &[&key]).map_err(db)?.is_some() {
                return Err(StoreError::Refused(format!("a profile named {:?} already exists", p.name)));
            }
            let mut tx = client.transaction().map_err(db)?;
            check_user(&mut tx, &p.user)?;
            drop(tx);
            // Reserved now (a sequence never gives a number twice): a profile created meanwhile gets another.
            p.id = client.query_one("SELECT nextval('profile_ids')", &[]).map_err(db)?.get::<_, i64>(0) as u32;
            p.device_count = 0;
            // The profile is the import's own until it commits: its numbers need no reserving.
            (p, true, Numbers { next: 0, reserved_end: i64::MAX, added: 0 })
        }
    };
    let loader = if write { Some(Loader::start(store.target.open()?, profile.id)?) } else { None };
    // Planned for each batch's identifiers (a plan made once for any would not know the table's size).
    client.batch_execute("SET plan_cache_mode = force_custom_plan").map_err(db)?;
    let holders = [client.prepare(HOLDERS_BY_IMEI).map_err(db)?, client.prepare(HOLDERS_BY_KEY).map_err(db)?];
    Ok(Box::new(PgImport { client, holders, profile, create, numbers, loader, seen: SeenInFile::default() }))
}

struct PgImport {
    /// A connection of the import's own, for its checks, and its two queries, prepared once.
    client: Client,
    holders: [postgres::Statement; 2],
    profile: Profile,
    create: bool,
    numbers: Numbers,
    /// Writing the accepted rows (none: a dry run, or writing stopped).
    loader: Option<Loader>,
    seen: SeenInFile,
}

/// An import's device numbers.
#[derive(Clone, Copy)]
struct Numbers {
    /// The next number to give.
    next: i64,
    /// The end of the numbers reserved in an existing profile.
    reserved_end: i64,
    /// The rows accepted.
    added: u64,
}

/// Device numbers an import into an existing profile reserves at a time (the rest goes back at commit).
const RESERVE: i64 = 16_384;

/// The rest of a commit, run in the loader's transaction.
type Rest = Box<dyn FnOnce(&mut Transaction<'_>) -> Result<Profile> + Send>;

/// What the loader is sent: rows to stage, or the rest of the commit.
enum Load {
    Rows(Vec<Device>),
    Commit(Rest),
}

/// The thread that holds an import's writing connection, its transaction and the COPY into `staging`.
/// Dropped without a commit, it rolls the transaction back: nothing of the import is written.
struct Loader {
    to: Option<SyncSender<Load>>,
    thread: Option<std::thread::JoinHandle<Result<Option<Profile>>>>,
}

impl Loader {
    fn start(client: Client, profile: u32) -> Result<Loader> {
        // Room for two chunks: rows are checked while the server writes the chunk before.
        let (to, from) = std::sync::mpsc::sync_channel(2 * CHUNK / 512);
        let thread = std::thread::Builder::new()
            .name("kitting-pg-import".into())
            .spawn(move || load(client, profile, from))
            .map_err(|e| StoreError::Backend(format!("cannot start the import's loader: {e}")))?;
        Ok(Loader { to: Some(to), thread: Some(thread) })
    }

    fn send(&mut self, load: Load) -> Result<()> {
        let sent = self.to.as_ref().is_some_and(|to| to.send(load).is_ok());
        if sent {
            return Ok(());
        }
        // The loader ended (its connection was lost): its error says why.
        Err(self.join().err().unwrap_or_else(|| StoreError::Backend("the import's loader stopped".into())))
    }

    /// Waits for the loader: the committed profile, or none when it was not asked to commit.
    fn join(&mut self) -> Result<Option<Profile>> {
        self.to = None;
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(done)) => done,
            Some(Err(_)) => Err(StoreError::Backend("the import's loader stopped".into())),
            None => Ok(None),
        }
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        let _ = self.join();
    }
}

/// Rows the loader writes at a time: the server writes one chunk while the next is being checked.
const CHUNK: usize = 8_192;

/// The loader's thread: accepted rows written a chunk at a time in its transaction, then the commit.
/// After a constraint refuses a chunk, that chunk and the remaining rows go to a staging table instead,
/// so that the commit can name every clashing line.
fn load(mut client: Client, profile: u32, from: Receiver<Load>) -> Result<Option<Profile>> {
    // A staging table in memory rather than in temporary files (the default is 8 MB); set before the
    // session's first temporary table, as it must be.
    client.batch_execute("SET temp_buffers = '128MB'").map_err(db)?;
    let mut tx = client.transaction().map_err(db)?;
    let mut chunk = Chunk { rows: Vec::with_capacity(CHUNK), refused: None };
    let rest = loop {
        match from.recv() {
            Ok(Load::Rows(devices)) => {
                chunk.rows.extend(devices);
                if chunk.rows.len() >= CHUNK {
                    chunk.write(&mut tx, profile)?;
                }
            }
            Ok(Load::Commit(rest)) => break rest,
            // The session was dropped or stopped writing: the transaction rolls back.
            Err(_) => return Ok(None),
        }
    };
    chunk.write(&mut tx, profile)?;
    if let Some(e) = chunk.refused {
        return Err(refusal(&mut tx, e));
    }
    let committed = rest(&mut tx)?;
    tx.commit().map_err(db)?;
    Ok(Some(committed))
}

/// The rows waiting to be written, and the error of the chunk a constraint refused, if one was.
struct Chunk {
    rows: Vec<Device>,
    refused: Option<postgres::Error>,
}

impl Chunk {
    /// Writes the rows into the devices and their IMEI rows with COPY, under a savepoint: a row that
    /// someone saved meanwhile (on this host or another) fails a constraint, and the savepoint takes the
    /// chunk back out. From then on rows are staged instead, for `clashes` to name their lines.
    fn write(&mut self, tx: &mut Transaction, profile: u32) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        if self.refused.is_none() {
            tx.batch_execute("SAVEPOINT chunk").map_err(db)?;
            match copy_devices(tx, profile, &self.rows) {
                Ok(()) => {
                    tx.batch_execute("RELEASE SAVEPOINT chunk").map_err(db)?;
                    self.rows.clear();
                    return Ok(());
                }
                Err(e) if refused_by_another(&e) => {
                    tx.batch_execute(&format!(
                        "ROLLBACK TO SAVEPOINT chunk; \
                         CREATE TEMP TABLE staging ON COMMIT DROP AS SELECT {STAGED_COLUMNS} FROM devices WITH NO DATA"
                    ))
                    .map_err(db)?;
                    self.refused = Some(e);
                }
                Err(e) => return Err(db(e)),
            }
        }
        copy_device_rows(tx, "staging", self.rows.iter().map(|d| (profile, d))).map_err(db)?;
        self.rows.clear();
        Ok(())
    }
}

/// One binary COPY into `table` (with its column list) of the rows `write` writes: the server parses
/// no text (but the attributes' JSON).
fn copy_into(
    tx: &mut Transaction,
    table: &str,
    types: &[postgres::types::Type],
    write: impl FnOnce(&mut postgres::binary_copy::BinaryCopyInWriter) -> std::result::Result<(), postgres::Error>,
) -> std::result::Result<(), postgres::Error> {
    let writer = tx.copy_in(&format!("COPY {table} FROM STDIN (FORMAT binary)"))?;
    let mut copy = postgres::binary_copy::BinaryCopyInWriter::new(writer, types);
    write(&mut copy)?;
    copy.finish().map(|_| ())
}

/// Devices (each with its profile) as rows of `table` (`devices` or a copy of its columns).
pub(super) fn copy_device_rows<'a>(
    tx: &mut Transaction,
    table: &str,
    rows: impl IntoIterator<Item = (u32, &'a Device)>,
) -> std::result::Result<(), postgres::Error> {
    copy_into(tx, &format!("{table} ({STAGED_COLUMNS})"), &STAGED_TYPES, |copy| {
        rows.into_iter().try_for_each(|(p, d)| super::store::with_device_values(p, d, |values| copy.write(values)))
    })
}

/// The devices' rows, then their IMEI rows.
fn copy_devices(tx: &mut Transaction, profile: u32, rows: &[Device]) -> std::result::Result<(), postgres::Error> {
    use postgres::types::Type;
    copy_device_rows(tx, "devices", rows.iter().map(|d| (profile, d)))?;
    copy_into(tx, "device_imeis (imei, profile, seq)", &[Type::INT8, Type::INT4, Type::INT8], |copy| {
        for d in rows {
            for imei in d.ids.imei.iter().chain(&d.ids.imei2) {
                copy.write(&[&(imei.as_u64() as i64), &(profile as i32), &i64::from(d.seq)])?;
            }
        }
        Ok(())
    })
}

/// A chunk refused because of another transaction's rows: a device saved meanwhile (a constraint), or
/// another import writing some of the same devices at the same time (the server ends the deadlock).
fn refused_by_another(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    matches!(e.code(), Some(c) if *c == SqlState::UNIQUE_VIOLATION || *c == SqlState::T_R_DEADLOCK_DETECTED)
}

/// Why the import is refused, once every row is staged: the staged rows that clash with stored
/// devices, by line, or, when none does (the other import has not committed), what happened.
fn refusal(tx: &mut Transaction, e: postgres::Error) -> StoreError {
    match clashes(tx) {
        Ok(said) if !said.is_empty() => StoreError::Refused(format!("{}; nothing was imported", said.join("; "))),
        Ok(_) if e.code() == Some(&postgres::error::SqlState::T_R_DEADLOCK_DETECTED) => StoreError::Refused(
            "another import of some of the same devices was being written at the same time; nothing was \
             imported (import the file again once it is done)"
                .into(),
        ),
        Ok(_) => db(e),
        Err(e) => e,
    }
}

/// Why identifiers are taken, as the other stores say it.
fn taken(
    imeis: [(Field, Option<u64>); 2],
    key: &str,
    by_imei: &HashMap<i64, Holder>,
    by_key: &HashMap<String, Holder>,
) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    for (field, imei) in imeis {
        if let Some(imei) = imei
            && let Some((name, source)) = by_imei.get(&(imei as i64))
        {
            let what = format!("IMEI {}", Imei::from_stored(imei));
            problems.push((field, already_in(&what, &format!("profile {name:?}"), Some(source))));
        }
    }
    if !key.is_empty()
        && let Some((name, source)) = by_key.get(key)
    {
        let (serial, manufacturer) = key.split_once('\u{1f}').unwrap_or((key, ""));
        let what = format!("serial number {serial} ({manufacturer})");
        problems.push((Field::Serial, already_in(&what, &format!("profile {name:?}"), Some(source))));
    }
    problems
}

/// The advisory lock an import's commit takes for its transaction.
pub(super) const IMPORT_LOCK: i64 = 0x6b69_7474_696e_6703;

pub(super) const STAGED_COLUMNS: &str = "profile, seq, imei, imei2, serial, manufacturer, serial_key, attributes, status, \
                              status_ns, source_file, source_line, created, modified";
/// The types of `STAGED_COLUMNS`, in order.
pub(super) const STAGED_TYPES: [postgres::types::Type; 14] = {
    use postgres::types::Type;
    [
        Type::INT4,
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::JSONB,
        Type::TEXT,
        Type::INT8,
        Type::TEXT,
        Type::INT8,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
    ]
};

/// The staged rows that clash with stored devices, by line (at most 20).
fn clashes(tx: &mut postgres::Transaction) -> Result<Vec<String>> {
    let rows = tx
        .query(
            "SELECT s.source_line, p.name, v.imei, NULL::text FROM staging s \
             CROSS JOIN LATERAL (VALUES (s.imei), (s.imei2)) AS v(imei) \
             JOIN device_imeis i ON i.imei = v.imei JOIN profiles p ON p.id = i.profile \
             UNION ALL SELECT s.source_line, p.name, NULL, s.serial || ' (' || s.manufacturer || ')' \
             FROM staging s JOIN devices d ON d.serial_key = s.serial_key JOIN profiles p ON p.id = d.profile \
             ORDER BY 1 LIMIT 20",
            &[],
        )
        .map_err(db)?;
    Ok(rows
        .iter()
        .map(|r| {
            let line = r.get::<_, Option<i64>>(0).unwrap_or(0) as u64;
            let name: String = r.get(1);
            let (field, what) = match r.get::<_, Option<i64>>(2) {
                Some(imei) => (Field::Imei, format!("IMEI {}", Imei::from_stored(imei as u64))),
                None => (Field::Serial, format!("serial number {}", r.get::<_, Option<String>>(3).unwrap_or_default())),
            };
            taken_meanwhile(line, &[(field, format!("{what} is already in profile {name:?}"))])
        })
        .collect())
}

impl PgImport {
    /// Reserves the next `RESERVE` device numbers of the existing profile, in a short transaction of
    /// their own (like a sequence: a number reserved is never given twice), so that the rows can be
    /// written with their numbers as they come without locking the profile for the whole import. Its
    /// commit need not wait for the disk: the import's own commit, later in the log, makes it durable.
    fn reserve(&mut self) -> Result<()> {
        let mut tx = self.client.transaction().map_err(db)?;
        tx.batch_execute("SET LOCAL synchronous_commit = off").map_err(db)?;
        let end: i64 = tx
            .query_opt(
                "UPDATE profiles SET next_seq = next_seq + $2 WHERE id = $1 RETURNING next_seq",
                &[&(self.profile.id as i32), &RESERVE],
            )
            .map_err(db)?
            .ok_or_else(|| {
                StoreError::NotFound(format!("profile {:?} was deleted during this import", self.profile.name))
            })?
            .get(0);
        tx.commit().map_err(db)?;
        self.numbers.next = end - RESERVE;
        self.numbers.reserved_end = end;
        Ok(())
    }
}

impl ImportSession for PgImport {
    fn profile(&self) -> &Profile {
        &self.profile
    }

    fn add_prepared(&mut self, encoder: &RowEncoder, rows: &PreparedRows) -> Result<Vec<LineProblems>> {
        let imeis: Vec<i64> =
            rows.rows().iter().flat_map(|r| r.imei.into_iter().chain(r.imei2)).map(|i| i as i64).collect();
        let keys: Vec<String> =
            rows.rows().iter().map(|r| rows.key(r)).filter(|k| !k.is_empty()).map(str::to_string).collect();
        let (by_imei, by_key) = holders(&mut self.client, [&self.holders[0], &self.holders[1]], &imeis, &keys, None)?;
        let mut rejected = Vec::new();
        let mut accepted = Vec::new();
        for (i, row) in rows.rows().iter().enumerate() {
            let key = rows.key(row);
            let ids = [(Field::Imei, row.imei), (Field::Imei2, row.imei2)];
            let problems = taken(ids, key, &by_imei, &by_key);
            if !problems.is_empty() {
                rejected.push((row.line, problems));
                continue;
            }
            if self.seen.is_repeat(row.line, ids, key) {
                continue;
            }
            if self.loader.is_some() && self.numbers.next == self.numbers.reserved_end {
                self.reserve()?;
            }
            accepted.push((i, self.numbers.next as DeviceSeq));
            self.numbers.next += 1;
            self.numbers.added += 1;
        }
        if let Some(loader) = &mut self.loader
            && !accepted.is_empty()
        {
            loader.send(Load::Rows(rows.devices(encoder, &accepted).map_err(StoreError::Backend)?))?;
        }
        Ok(rejected)
    }

    fn reserve(&mut self, _rows: usize) {}

    fn stop_writing(&mut self) {
        self.loader = None;
    }

    fn finish(&mut self) -> Result<Vec<LineProblems>> {
        Ok(self.seen.finish())
    }

    fn accepted(&self) -> u64 {
        self.numbers.added
    }

    fn commit(mut self: Box<Self>, attributes: &[String], audit: &AuditEntry) -> Result<Profile> {
        let Some(mut loader) = self.loader.take() else {
            return Err(StoreError::Refused(
                "nothing was written: this import is a dry run or had rejected rows".into(),
            ));
        };
        let (create, numbers) = (self.create, self.numbers);
        let (profile, attributes, audit) = (self.profile.clone(), attributes.to_vec(), audit.clone());
        loader.send(Load::Commit(Box::new(move |tx| apply(tx, profile, create, numbers, &attributes, &audit))))?;
        loader.join()?.ok_or_else(|| StoreError::Backend("the import's loader stopped".into()))
    }
}

/// The commit, in the loader's transaction once every row is written: the profile (created, or as it
/// is now, locked) with its new count, its device numbers, and the audit entry.
fn apply(
    tx: &mut Transaction,
    mut profile: Profile,
    create: bool,
    numbers: Numbers,
    attributes: &[String],
    audit: &AuditEntry,
) -> Result<Profile> {
    let id = profile.id;
    // An inventory being loaded (`db copy`) takes this lock too: no import commits into it meanwhile.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&IMPORT_LOCK]).map_err(db)?;
    let now = Utc::now();
    let next_seq = if create {
        let key = profile.name.to_lowercase();
        if tx.query_opt("SELECT 1 FROM profiles WHERE name_key = $1", &[&key]).map_err(db)?.is_some() {
            return Err(StoreError::Refused(format!(
                "a profile named {:?} was created during this import; nothing was imported",
                profile.name
            )));
        }
        insert_profile(tx, &profile, numbers.next)?;
        numbers.next
    } else {
        let (current, next_seq) = locked_profile(tx, id)?;
        profile = current;
        // The numbers reserved and not used go back, unless another change reserved some after them.
        if next_seq == numbers.reserved_end { numbers.next } else { next_seq }
    };
    profile.device_count += numbers.added;
    profile.learn_attributes(attributes.iter().map(String::as_str));
    if numbers.added > 0 || create {
        profile.modified = next_stamp(profile.modified, now);
    }
    write_profile(tx, &profile)?;
    tx.execute("UPDATE profiles SET next_seq = $2 WHERE id = $1", &[&(id as i32), &next_seq]).map_err(db)?;
    let entry = append(tx, audit)?;
    let subject = if create { Subject::Profiles } else { Subject::Profile(id) };
    super::feed::notify(tx, &entry, subject)?;
    Ok(profile)
}
