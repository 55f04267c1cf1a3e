//! An import into PostgreSQL: rows are checked as they come (against the stored devices, one query per
//! batch, and against the file's earlier rows) and kept; the commit loads them with COPY into a
//! staging table and applies them in one transaction with the profile's new count and the audit entry,
//! all or nothing. A row that another host saved meanwhile refuses the commit, naming its line.

use std::collections::HashMap;
use std::io::Write;

use chrono::Utc;
use postgres::Client;

use super::store::{
    Holder, PgStore, append, check_user, copy_failed, db, holders, json, locked_profile, write_profile,
};
use crate::domain::audit::AuditEntry;
use crate::domain::{Device, DeviceSeq, Field, Imei, Profile, Source};
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
    Ok(Box::new(PgImport {
        client,
        profile,
        create,
        writing: write,
        first_seq,
        next_seq: first_seq,
        staged: Vec::new(),
        seen: SeenInFile::default(),
    }))
}

struct PgImport {
    /// A connection of the import's own.
    client: Client,
    profile: Profile,
    create: bool,
    writing: bool,
    first_seq: i64,
    next_seq: i64,
    staged: Vec<Device>,
    seen: SeenInFile,
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

/// A value in COPY's text format: `\N` for none, and backslash, tab, newline and carriage return
/// escaped.
pub(super) fn copy_text(out: &mut Vec<u8>, v: Option<&str>) {
    match v {
        None => out.extend_from_slice(b"\\N"),
        Some(s) => {
            for b in s.bytes() {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b => out.push(b),
                }
            }
        }
    }
}

/// One device as a line of COPY's text format, in `STAGED_COLUMNS` order.
pub(super) fn copy_line(out: &mut Vec<u8>, profile: u32, d: &Device) {
    let (status, at) = super::store::status_columns(&d.status);
    let (file, line) = match &d.source {
        Source::File { name, line } => (Some(name.to_string()), Some(line.to_string())),
        Source::Manual => (None, None),
    };
    let pairs: Vec<(&str, &str)> = d.attributes.iter().map(|(n, v)| (n.as_ref(), v.as_str())).collect();
    let fields: [Option<String>; 14] = [
        Some(profile.to_string()),
        Some(d.seq.to_string()),
        d.ids.imei.map(|i| i.as_u64().to_string()),
        d.ids.imei2.map(|i| i.as_u64().to_string()),
        d.ids.serial.clone(),
        d.ids.manufacturer.clone(),
        d.ids.serial_key(),
        Some(json(&pairs).to_string()),
        Some(status.to_string()),
        at.map(|ns| ns.to_string()),
        file,
        line,
        Some(d.created.to_rfc3339()),
        Some(d.modified.to_rfc3339()),
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        copy_text(out, f.as_deref());
    }
    out.push(b'\n');
}

/// The advisory lock an import's commit takes for its transaction.
pub(super) const IMPORT_LOCK: i64 = 0x6b69_7474_696e_6703;

pub(super) const STAGED_COLUMNS: &str = "profile, seq, imei, imei2, serial, manufacturer, serial_key, attributes, status, \
                              status_ns, source_file, source_line, created, modified";

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
        if self.writing {
            self.staged.extend(rows.devices(encoder, &accepted).map_err(StoreError::Backend)?);
        }
        Ok(rejected)
    }

    fn reserve(&mut self, rows: usize) {
        self.staged.reserve(rows.min(1 << 20));
    }

    fn stop_writing(&mut self) {
        self.writing = false;
        self.staged = Vec::new();
    }

    fn finish(&mut self) -> Result<Vec<LineProblems>> {
        Ok(self.seen.finish())
    }

    fn accepted(&self) -> u64 {
        (self.next_seq - self.first_seq) as u64
    }

    fn commit(mut self: Box<Self>, attributes: &[String], audit: &AuditEntry) -> Result<Profile> {
        if !self.writing {
            return Err(StoreError::Refused(
                "nothing was written: this import is a dry run or had rejected rows".into(),
            ));
        }
        let staged = std::mem::take(&mut self.staged);
        let create = self.create;
        let mut profile = self.profile.clone();
        let id = profile.id;
        let mut tx = self.client.transaction().map_err(db)?;
        // Imports commit one at a time on every host: one that commits second sees the first's rows in
        // its check below, and is refused by line rather than by a constraint.
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
            tx.execute(
                "INSERT INTO profiles (id, name, name_key, kind, created, modified, config) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[&(id as i32), &profile.name, &key, &profile.kind, &profile.created, &profile.modified, &json(&profile.config)],
            )
            .map_err(db)?;
            0
        } else {
            let (current, next_seq) = locked_profile(&mut tx, id)?;
            profile = current;
            next_seq
        };
        tx.batch_execute(&format!(
            "CREATE TEMP TABLE staging ON COMMIT DROP AS SELECT {STAGED_COLUMNS} FROM devices WITH NO DATA"
        ))
        .map_err(db)?;
        {
            let mut copy = tx.copy_in(&format!("COPY staging ({STAGED_COLUMNS}) FROM STDIN")).map_err(db)?;
            let mut buf = Vec::with_capacity(1 << 20);
            for (i, d) in staged.iter().enumerate() {
                let mut d = d.clone();
                d.seq = (next_seq as u64 + i as u64) as DeviceSeq;
                copy_line(&mut buf, id, &d);
                if buf.len() >= 1 << 20 {
                    copy.write_all(&buf).map_err(copy_failed)?;
                    buf.clear();
                }
            }
            copy.write_all(&buf).map_err(copy_failed)?;
            copy.finish().map_err(db)?;
        }
        // Applied under a savepoint: a row that someone saved meanwhile (on this host or another, even
        // one committing as this runs) fails a constraint; the staged rows are then matched against what
        // is stored, and the import refused by line, nothing imported. No query looks first: an import
        // that clashes with nothing pays for none.
        tx.batch_execute("SAVEPOINT apply").map_err(db)?;
        let applied = tx.batch_execute(&format!(
            "INSERT INTO devices ({STAGED_COLUMNS}) SELECT {STAGED_COLUMNS} FROM staging; \
             INSERT INTO device_imeis (imei, profile, seq) SELECT imei, profile, seq FROM staging WHERE imei IS NOT NULL \
             UNION ALL SELECT imei2, profile, seq FROM staging WHERE imei2 IS NOT NULL;"
        ));
        match applied {
            Ok(()) => {}
            Err(e) if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT apply").map_err(db)?;
                let said = clashes(&mut tx)?;
                if said.is_empty() {
                    return Err(db(e));
                }
                return Err(StoreError::Refused(format!("{}; nothing was imported", said.join("; "))));
            }
            Err(e) => return Err(db(e)),
        }
        let added = staged.len() as u64;
        profile.device_count += added;
        profile.learn_attributes(attributes.iter().map(String::as_str));
        if added > 0 || create {
            profile.modified = next_stamp(profile.modified, now);
        }
        write_profile(&mut tx, &profile)?;
        tx.execute("UPDATE profiles SET next_seq = $2 WHERE id = $1", &[&(id as i32), &(next_seq + added as i64)])
            .map_err(db)?;
        let entry = append(&mut tx, audit)?;
        let subject = if create { Subject::Profiles } else { Subject::Profile(id) };
        super::feed::notify(&mut tx, &entry, subject)?;
        tx.commit().map_err(db)?;
        Ok(profile)
    }
}
