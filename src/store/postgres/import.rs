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

use super::binary::{BinaryCopy, CopyError};
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
    // Planned once, through the indexes: a batch's identifiers are always few against the devices, and
    // a plan made for each batch's identifiers cost more than running it (the planner estimated every
    // identifier of the batch) and still chose to read the whole table while it was small.
    client
        .batch_execute("SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off; SET enable_hashjoin = off")
        .map_err(db)?;
    let holders = [client.prepare(HOLDERS_BY_IMEI).map_err(db)?, client.prepare(HOLDERS_BY_KEY).map_err(db)?];
    let seen = SeenInFile::default();
    Ok(Box::new(PgImport { client, holders, profile, create, numbers, loader, seen, refused: None }))
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
    /// Why a constraint refused the rows written, once one has: nothing is written, the commit says why.
    refused: Option<postgres::Error>,
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

/// What the loader is sent: rows to write, or the rest of the commit.
enum Load {
    Rows(Vec<Device>),
    Commit(Rest),
}

/// How the loader ended.
enum Loaded {
    /// The import is committed: its profile as it is now.
    Committed(Box<Profile>),
    /// The session was dropped or stopped writing before its commit: nothing was written.
    Stopped,
    /// A constraint refused the rows: someone else saved some of the same devices during the import
    /// (or another import was writing them at the same time). Nothing was written.
    Refused(postgres::Error),
}

/// The thread that holds an import's writing connection, its transaction and its COPY into the devices.
/// Dropped without a commit, it rolls the transaction back: nothing of the import is written.
struct Loader {
    to: Option<SyncSender<Load>>,
    thread: Option<std::thread::JoinHandle<Result<Loaded>>>,
}

impl Loader {
    fn start(client: Client, profile: u32) -> Result<Loader> {
        // Room for a few batches: rows are checked while the server writes the ones before.
        let (to, from) = std::sync::mpsc::sync_channel(16);
        let thread = std::thread::Builder::new()
            .name("kitting-pg-import".into())
            .spawn(move || load(client, profile, from))
            .map_err(|e| StoreError::Backend(format!("cannot start the import's loader: {e}")))?;
        Ok(Loader { to: Some(to), thread: Some(thread) })
    }

    /// Hands the loader rows or the commit; when it has ended instead, how it ended.
    fn send(&mut self, load: Load) -> Result<Option<Loaded>> {
        if self.to.as_ref().is_some_and(|to| to.send(load).is_ok()) {
            return Ok(None);
        }
        self.join().map(Some)
    }

    /// Waits for the loader to end.
    fn join(&mut self) -> Result<Loaded> {
        self.to = None;
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(done)) => done,
            Some(Err(_)) | None => Err(StoreError::Backend("the import's loader stopped".into())),
        }
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        let _ = self.join();
    }
}

/// The loader's thread: the accepted rows streamed into the devices by one COPY in its transaction as
/// they come (the server writes them while the next are checked); at the commit their IMEI rows by a
/// second COPY, then the rest of the commit. The IMEI rows wait for the commit (16 bytes a row) so
/// that an add of one of the file's IMEIs elsewhere does not wait for the import: the commit's COPY
/// finds it instead.
fn load(mut client: Client, profile: u32, from: Receiver<Load>) -> Result<Loaded> {
    let mut tx = client.transaction().map_err(db)?;
    let mut imeis: Vec<(i64, i64)> = Vec::new();
    let (rest, devices) = {
        let table = format!("devices ({DEVICE_COLUMNS})");
        let mut copy = BinaryCopy::start(&mut tx, &table, &DEVICE_TYPES).map_err(CopyError::into_store)?;
        let rest = loop {
            match from.recv() {
                Ok(Load::Rows(devices)) => {
                    for d in &devices {
                        let seq = i64::from(d.seq);
                        imeis.extend(d.ids.imei.iter().chain(&d.ids.imei2).map(|i| (i.as_u64() as i64, seq)));
                        match super::store::with_device_values(profile, d, |values| copy.write(values)) {
                            Ok(()) => {}
                            Err(CopyError::Db(e)) if refused_by_another(&e) => return Ok(Loaded::Refused(e)),
                            Err(e) => return Err(e.into_store()),
                        }
                    }
                }
                Ok(Load::Commit(rest)) => break rest,
                // The session was dropped or stopped writing: the transaction rolls back.
                Err(_) => return Ok(Loaded::Stopped),
            }
        };
        (rest, copy.finish())
    };
    let written = devices.and_then(|_| {
        use postgres::types::Type;
        copy_into(&mut tx, "device_imeis (imei, profile, seq)", &[Type::INT8, Type::INT4, Type::INT8], |copy| {
            imeis.iter().try_for_each(|(imei, seq)| copy.write(&[imei, &(profile as i32), seq]))
        })
    });
    match written {
        Ok(()) => {}
        Err(CopyError::Db(e)) if refused_by_another(&e) => return Ok(Loaded::Refused(e)),
        Err(e) => return Err(e.into_store()),
    }
    let committed = rest(&mut tx)?;
    tx.commit().map_err(db)?;
    Ok(Loaded::Committed(Box::new(committed)))
}

/// One binary COPY into `table` (with its column list) of the rows `write` writes: the server parses
/// no text (but the attributes' JSON).
fn copy_into(
    tx: &mut Transaction,
    table: &str,
    types: &[postgres::types::Type],
    write: impl FnOnce(&mut BinaryCopy) -> std::result::Result<(), CopyError>,
) -> std::result::Result<(), CopyError> {
    let mut copy = BinaryCopy::start(tx, table, types)?;
    write(&mut copy)?;
    copy.finish().map(|_| ())
}

/// Devices (each with its profile) as rows of the devices table, by one COPY.
pub(super) fn copy_device_rows<'a>(
    tx: &mut Transaction,
    rows: impl IntoIterator<Item = (u32, &'a Device)>,
) -> std::result::Result<(), CopyError> {
    copy_into(tx, &format!("devices ({DEVICE_COLUMNS})"), &DEVICE_TYPES, |copy| {
        rows.into_iter().try_for_each(|(p, d)| super::store::with_device_values(p, d, |values| copy.write(values)))
    })
}

/// A chunk refused because of another transaction's rows: a device saved meanwhile (a constraint), or
/// another import writing some of the same devices at the same time (the server ends the deadlock).
fn refused_by_another(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    matches!(e.code(), Some(c) if *c == SqlState::UNIQUE_VIOLATION || *c == SqlState::T_R_DEADLOCK_DETECTED)
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

pub(super) const DEVICE_COLUMNS: &str = "profile, seq, imei, imei2, serial, manufacturer, serial_key, attributes, status, \
                              status_ns, source_file, source_line, created, modified";
/// The types of `DEVICE_COLUMNS`, in order.
pub(super) const DEVICE_TYPES: [postgres::types::Type; 14] = {
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

impl PgImport {
    /// Why the import is refused after a constraint refused its rows: the accepted rows whose IMEIs or
    /// serial numbers someone else saved during the import, by line (the first 20), or, when none is
    /// found (another import writing some of the same devices had not committed), what happened.
    fn refusal(&mut self, e: postgres::Error) -> StoreError {
        match self.taken_during() {
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

    /// The accepted rows whose identifiers are stored now (the import wrote nothing), by line: each
    /// identifier the file's rows had is asked for again, a batch at a time.
    fn taken_during(&mut self) -> Result<Vec<String>> {
        const BATCH: usize = 4_096;
        let (imeis, keys) = (self.seen.imei_lines(), self.seen.serial_lines());
        let mut found: std::collections::BTreeMap<u64, Vec<FieldProblem>> = Default::default();
        let queries = [&self.holders[0], &self.holders[1]];
        for batch in imeis.chunks(BATCH) {
            let asked: Vec<i64> = batch.iter().map(|&(imei, _)| imei as i64).collect();
            let (by_imei, by_key) = holders(&mut self.client, queries, &asked, &[], None)?;
            for &(imei, line) in batch {
                let problems = taken([(Field::Imei, Some(imei)), (Field::Imei2, None)], "", &by_imei, &by_key);
                if !problems.is_empty() {
                    found.entry(line).or_default().extend(problems);
                }
            }
        }
        for batch in keys.chunks(BATCH) {
            let asked: Vec<String> = batch.iter().map(|(key, _)| key.to_string()).collect();
            let (by_imei, by_key) = holders(&mut self.client, queries, &[], &asked, None)?;
            for &(key, line) in batch {
                let problems = taken([(Field::Imei, None), (Field::Imei2, None)], key, &by_imei, &by_key);
                if !problems.is_empty() {
                    found.entry(line).or_default().extend(problems);
                }
            }
        }
        Ok(found.iter().take(20).map(|(line, p)| taken_meanwhile(*line, p)).collect())
    }

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
            match loader.send(Load::Rows(rows.devices(encoder, &accepted).map_err(StoreError::Backend)?))? {
                None => {}
                // Refused by a constraint: the rows are still checked, the commit says why.
                Some(Loaded::Refused(e)) => {
                    self.refused = Some(e);
                    self.loader = None;
                }
                Some(_) => return Err(StoreError::Backend("the import's loader stopped".into())),
            }
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
        if let Some(e) = self.refused.take() {
            return Err(self.refusal(e));
        }
        let Some(mut loader) = self.loader.take() else {
            return Err(StoreError::Refused(
                "nothing was written: this import is a dry run or had rejected rows".into(),
            ));
        };
        let (create, numbers) = (self.create, self.numbers);
        let (profile, attributes, audit) = (self.profile.clone(), attributes.to_vec(), audit.clone());
        let rest: Rest = Box::new(move |tx| apply(tx, profile, create, numbers, &attributes, &audit));
        let loaded = match loader.send(Load::Commit(rest))? {
            Some(ended) => ended,
            None => loader.join()?,
        };
        match loaded {
            Loaded::Committed(profile) => Ok(*profile),
            Loaded::Refused(e) => Err(self.refusal(e)),
            Loaded::Stopped => Err(StoreError::Backend("the import's loader stopped".into())),
        }
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
