//! An import into PostgreSQL: rows are checked as they come (against the stored devices, one query per
//! batch, and against the file's earlier rows) and, accepted, loaded at once with COPY into a staging
//! table by a thread of the import's own (`Loader`: its connection, its transaction), so that the
//! server loads rows while the file is still being checked; the commit applies them in that
//! transaction with the profile's new count and the audit entry, all or nothing. A row that another
//! host saved meanwhile refuses the commit, naming its line.

use std::collections::HashMap;

use std::sync::mpsc::{Receiver, SyncSender};

use chrono::Utc;
use postgres::{Client, Transaction};

use super::store::{Holder, PgStore, append, check_user, db, holders, insert_profile, locked_profile, write_profile};
use crate::domain::audit::AuditEntry;
use crate::domain::{Device, DeviceSeq, Field, Imei, Profile};
use crate::store::{
    FieldProblem, ImportSession, ImportTarget, LineProblems, PreparedRows, Result, RowEncoder, SeenInFile, StoreError,
    Subject, already_in, next_stamp, taken_meanwhile,
};

pub(super) fn begin(store: &PgStore, target: ImportTarget, write: bool) -> Result<Box<dyn ImportSession>> {
    let mut client = store.target.open()?;
    let (profile, create, first_seq) = match target {
        ImportTarget::Existing(id) => {
            let mut tx = client.transaction().map_err(db)?;
            let (p, next_seq) = locked_profile(&mut tx, id)?;
            (p, false, next_seq)
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
            (p, true, 0)
        }
    };
    let loader = if write { Some(Loader::start(store.target.open()?, profile.id)?) } else { None };
    Ok(Box::new(PgImport {
        client,
        profile,
        create,
        first_seq,
        next_seq: first_seq,
        loader,
        seen: SeenInFile::default(),
    }))
}

struct PgImport {
    /// A connection of the import's own, for its checks.
    client: Client,
    profile: Profile,
    create: bool,
    first_seq: i64,
    next_seq: i64,
    /// Staging the accepted rows (none: a dry run, or writing stopped).
    loader: Option<Loader>,
    seen: SeenInFile,
}

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
        let (to, from) = std::sync::mpsc::sync_channel(4);
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

/// The loader's thread: the staging table filled as rows come, then the commit.
fn load(mut client: Client, profile: u32, from: Receiver<Load>) -> Result<Option<Profile>> {
    // The staging table in memory rather than in temporary files (a 200,000-row import stages about
    // 40 MB; the default is 8 MB); set before the session's first temporary table, as it must be.
    client.batch_execute("SET temp_buffers = '128MB'").map_err(db)?;
    let mut tx = client.transaction().map_err(db)?;
    tx.batch_execute(&format!(
        "CREATE TEMP TABLE staging ON COMMIT DROP AS SELECT {STAGED_COLUMNS} FROM devices WITH NO DATA"
    ))
    .map_err(db)?;
    // COPY in binary: the server parses no text (the JSON of the attributes aside).
    let writer = tx.copy_in(&format!("COPY staging ({STAGED_COLUMNS}) FROM STDIN (FORMAT binary)")).map_err(db)?;
    let mut copy = postgres::binary_copy::BinaryCopyInWriter::new(writer, &STAGED_TYPES);
    let rest = loop {
        match from.recv() {
            Ok(Load::Rows(devices)) => {
                for d in &devices {
                    copy_row(&mut copy, profile, d)?;
                }
            }
            Ok(Load::Commit(rest)) => break rest,
            // The session was dropped or stopped writing: the transaction rolls back.
            Err(_) => return Ok(None),
        }
    };
    copy.finish().map_err(db)?;
    let committed = rest(&mut tx)?;
    tx.commit().map_err(db)?;
    Ok(Some(committed))
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

/// One device as a row of the binary COPY, in `STAGED_COLUMNS` order.
pub(super) fn copy_row(copy: &mut postgres::binary_copy::BinaryCopyInWriter, profile: u32, d: &Device) -> Result<()> {
    super::store::with_device_values(profile, d, |values| copy.write(values)).map_err(db)
}

/// `STAGED_COLUMNS` after `profile, seq`.
const STAGED_AFTER_SEQ: &str = "imei, imei2, serial, manufacturer, serial_key, attributes, status, status_ns, \
                                source_file, source_line, created, modified";

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

impl ImportSession for PgImport {
    fn profile(&self) -> &Profile {
        &self.profile
    }

    fn add_prepared(&mut self, encoder: &RowEncoder, rows: &PreparedRows) -> Result<Vec<LineProblems>> {
        let imeis: Vec<i64> =
            rows.rows().iter().flat_map(|r| r.imei.into_iter().chain(r.imei2)).map(|i| i as i64).collect();
        let keys: Vec<String> =
            rows.rows().iter().map(|r| rows.key(r)).filter(|k| !k.is_empty()).map(str::to_string).collect();
        let (by_imei, by_key) = holders(&mut self.client, &imeis, &keys, None)?;
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
            accepted.push((i, self.next_seq as DeviceSeq));
            self.next_seq += 1;
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
        (self.next_seq - self.first_seq) as u64
    }

    fn commit(mut self: Box<Self>, attributes: &[String], audit: &AuditEntry) -> Result<Profile> {
        let Some(mut loader) = self.loader.take() else {
            return Err(StoreError::Refused(
                "nothing was written: this import is a dry run or had rejected rows".into(),
            ));
        };
        let (create, first_seq, added) = (self.create, self.first_seq, self.accepted());
        let (profile, attributes, audit) = (self.profile.clone(), attributes.to_vec(), audit.clone());
        loader.send(Load::Commit(Box::new(move |tx| {
            apply(tx, profile, create, first_seq, added, &attributes, &audit)
        })))?;
        loader.join()?.ok_or_else(|| StoreError::Backend("the import's loader stopped".into()))
    }
}

/// The commit, in the loader's transaction once every row is staged: the staged rows numbered after the
/// profile's devices as they are now, applied, the profile and the audit entry written.
fn apply(
    tx: &mut Transaction,
    mut profile: Profile,
    create: bool,
    first_seq: i64,
    added: u64,
    attributes: &[String],
    audit: &AuditEntry,
) -> Result<Profile> {
    let id = profile.id;
    // Imports commit one at a time on every host: one that commits second meets the first's rows.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&IMPORT_LOCK]).map_err(db)?;
    let now = Utc::now();
    // The profile as it is now: its devices are numbered after the ones added since the import began.
    let next_seq = if create {
        let key = profile.name.to_lowercase();
        if tx.query_opt("SELECT 1 FROM profiles WHERE name_key = $1", &[&key]).map_err(db)?.is_some() {
            return Err(StoreError::Refused(format!(
                "a profile named {:?} was created during this import; nothing was imported",
                profile.name
            )));
        }
        insert_profile(tx, &profile, 0)?;
        0
    } else {
        let (current, next_seq) = locked_profile(tx, id)?;
        profile = current;
        next_seq
    };
    let shift = next_seq - first_seq;
    // Applied under a savepoint: a row that someone saved meanwhile (on this host or another, even one
    // committing as this runs) fails a constraint; the staged rows are then matched against what is
    // stored, and the import refused by line, nothing imported. No query looks first: an import that
    // clashes with nothing pays for none.
    tx.batch_execute("SAVEPOINT apply").map_err(db)?;
    let applied = tx.batch_execute(&format!(
        "INSERT INTO devices ({STAGED_COLUMNS}) SELECT profile, seq + {shift}, {STAGED_AFTER_SEQ} FROM staging; \
         INSERT INTO device_imeis (imei, profile, seq) SELECT imei, profile, seq + {shift} FROM staging \
         WHERE imei IS NOT NULL UNION ALL SELECT imei2, profile, seq + {shift} FROM staging WHERE imei2 IS NOT NULL;"
    ));
    match applied {
        Ok(()) => {}
        Err(e) if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) => {
            tx.batch_execute("ROLLBACK TO SAVEPOINT apply").map_err(db)?;
            let said = clashes(tx)?;
            if said.is_empty() {
                return Err(db(e));
            }
            return Err(StoreError::Refused(format!("{}; nothing was imported", said.join("; "))));
        }
        Err(e) => return Err(db(e)),
    }
    profile.device_count += added;
    profile.learn_attributes(attributes.iter().map(String::as_str));
    if added > 0 || create {
        profile.modified = next_stamp(profile.modified, now);
    }
    write_profile(tx, &profile)?;
    tx.execute("UPDATE profiles SET next_seq = $2 WHERE id = $1", &[&(id as i32), &(next_seq + added as i64)])
        .map_err(db)?;
    let entry = append(tx, audit)?;
    let subject = if create { Subject::Profiles } else { Subject::Profile(id) };
    super::feed::notify(tx, &entry, subject)?;
    Ok(profile)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_columns_after_seq_are_the_staged_columns_after_profile_and_seq() {
        let words = |s: &str| s.split(',').map(|w| w.trim().to_string()).collect::<Vec<_>>();
        assert_eq!(words(super::STAGED_COLUMNS)[2..], words(super::STAGED_AFTER_SEQ)[..]);
    }
}
