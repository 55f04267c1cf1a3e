//! `Store::load` on PostgreSQL: a whole inventory into an empty database in one transaction, the
//! devices, DEP records, mails and audit trail by COPY.

use std::io::Write;

use postgres::Transaction;

use super::dep::{DEP_LOCK, checked_in_serial, kind_name};
use super::import::{IMPORT_LOCK, copy_device_rows};
use super::store::{PgStore, copy_failed, db, insert_profile, json, put_user_row};
use crate::domain::dep::DepDevice;
use crate::store::inventory::{Counts, Inventory, refuse_problems, refuse_unless_empty};
use crate::store::{Result, Subject};

/// Writes COPY's text format to `sql`'s input, a line from each call of `line`.
fn copy<T>(
    tx: &mut Transaction,
    sql: &str,
    items: impl IntoIterator<Item = T>,
    mut line: impl FnMut(&mut Vec<u8>, T),
) -> Result<()> {
    let mut w = tx.copy_in(sql).map_err(db)?;
    let mut buf = Vec::with_capacity(1 << 20);
    for item in items {
        line(&mut buf, item);
        if buf.len() >= 1 << 20 {
            w.write_all(&buf).map_err(copy_failed)?;
            buf.clear();
        }
    }
    w.write_all(&buf).map_err(copy_failed)?;
    w.finish().map_err(db)?;
    Ok(())
}

/// A value in COPY's text format: `\N` for none, and backslash, tab, newline and carriage return
/// escaped.
fn copy_text(out: &mut Vec<u8>, v: Option<&str>) {
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

/// Fields as one line of COPY's text format.
fn fields(out: &mut Vec<u8>, values: &[Option<&str>]) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        copy_text(out, *v);
    }
    out.push(b'\n');
}

fn count(tx: &mut Transaction, table: &str) -> Result<u64> {
    Ok(tx.query_one(&format!("SELECT count(*) FROM {table}"), &[]).map_err(db)?.get::<_, i64>(0) as u64)
}

pub(super) fn load(store: &PgStore, inv: &Inventory, audit: &crate::domain::audit::AuditEntry) -> Result<()> {
    refuse_problems(inv)?;
    store.change(audit, |tx| {
        // No import or DEP change commits meanwhile, on any host, and nobody else writes these tables.
        tx.execute("SELECT pg_advisory_xact_lock($1), pg_advisory_xact_lock($2)", &[&IMPORT_LOCK, &DEP_LOCK])
            .map_err(db)?;
        tx.batch_execute("LOCK TABLE profiles, devices, users, catalog, dep_devices, mails IN SHARE ROW EXCLUSIVE MODE")
            .map_err(db)?;
        refuse_unless_empty(&Counts {
            profiles: count(tx, "profiles")?,
            devices: count(tx, "devices")?,
            users: count(tx, "users")?,
            catalog: count(tx, "catalog")?,
            dep: count(tx, "dep_devices")?,
            mails: count(tx, "mails")?,
            audit: 0,
        })?;
        for (kind, e) in &inv.catalog {
            tx.execute(
                "INSERT INTO catalog (kind, name, description) VALUES ($1, $2, $3)",
                &[&kind_name(*kind), &e.name, &e.description],
            )
            .map_err(db)?;
        }
        for u in &inv.users {
            put_user_row(tx, u)?;
        }
        for (p, devices) in &inv.profiles {
            insert_profile(tx, p, devices.last().map_or(0, |d| i64::from(d.seq) + 1))?;
        }
        let devices = inv.profiles.iter().flat_map(|(p, list)| list.iter().map(|d| (p.id, d)));
        copy_device_rows(tx, devices).map_err(super::binary::CopyError::into_store)?;
        tx.batch_execute(
            "INSERT INTO device_imeis (imei, profile, seq) SELECT imei, profile, seq FROM devices WHERE imei IS NOT NULL \
             UNION ALL SELECT imei2, profile, seq FROM devices WHERE imei2 IS NOT NULL; \
             SELECT setval('profile_ids', greatest((SELECT max(id) FROM profiles), 1));",
        )
        .map_err(db)?;
        let sql = "COPY dep_devices (identifier_key, checked_in_serial, record, modified) FROM STDIN";
        copy(tx, sql, &inv.dep, |out, d: &DepDevice| {
            let record = json(d).to_string();
            let modified = d.modified.to_rfc3339();
            let serial = checked_in_serial(d);
            fields(out, &[Some(&DepDevice::key(&d.identifier)), serial.as_deref(), Some(&record), Some(&modified)]);
        })?;
        copy(tx, "COPY mails (id, mail, written) FROM STDIN", &inv.mails, |out, m| {
            let (id, mail) = (m.id.to_string(), json(m).to_string());
            fields(out, &[Some(&id), Some(&mail), Some(if m.written { "t" } else { "f" })]);
        })?;
        copy(tx, "COPY audit (at, entry) FROM STDIN", &inv.audit, |out, e| {
            let (at, entry) = (e.at.to_rfc3339(), json(e).to_string());
            fields(out, &[Some(&at), Some(&entry)]);
        })?;
        Ok(((), Subject::Profiles))
    })
}
