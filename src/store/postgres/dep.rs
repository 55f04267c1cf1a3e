//! The DEP half of the store contract on PostgreSQL: the catalog, device records (the record as JSON,
//! keyed by its lower-cased identifier, a checked-in serial unique by a partial index) and the check-in
//! email outbox. Each change is one transaction with its audit entry, taking turns with the others
//! through a transaction-wide advisory lock (DEP changes read several tables at once).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use postgres::Transaction;

use super::store::{PgStore, db, json};
use crate::domain::User;
use crate::domain::audit::AuditEntry;
use crate::domain::dep::{CatalogEntry, CatalogKind, DepDevice, DepState, Mail};
use crate::store::dep::{check_device_write, describe, mail_for, users_of_entry};
use crate::store::{DepChange, DepStore, Result, StoreError, Subject, check_user_write, missing_entry, stale};

/// The advisory lock DEP changes take for their transaction.
pub(super) const DEP_LOCK: i64 = 0x6b69_7474_696e_6702;

pub(super) fn kind_name(kind: CatalogKind) -> &'static str {
    match kind {
        CatalogKind::Organization => "organization",
        CatalogKind::Template => "template",
        CatalogKind::Tag => "tag",
    }
}

fn record_of(v: serde_json::Value) -> Result<DepDevice> {
    serde_json::from_value(v).map_err(|e| StoreError::Backend(format!("a stored DEP device that does not decode: {e}")))
}

/// The serial a checked-in record holds, as the unique index compares it.
pub(super) fn checked_in_serial(d: &DepDevice) -> Option<String> {
    match &d.state {
        DepState::CheckedIn { dep_serial: Some(s), .. } => Some(s.trim().to_uppercase()),
        _ => None,
    }
}

fn put_record(tx: &mut Transaction, d: &DepDevice) -> Result<()> {
    tx.execute(
        "INSERT INTO dep_devices (identifier_key, checked_in_serial, record, modified) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (identifier_key) DO UPDATE SET checked_in_serial = $2, record = $3, modified = $4",
        &[&DepDevice::key(&d.identifier), &checked_in_serial(d), &json(d), &d.modified],
    )
    .map_err(db)?;
    Ok(())
}

fn record(tx: &mut Transaction, identifier: &str) -> Result<Option<DepDevice>> {
    let row = tx
        .query_opt("SELECT record FROM dep_devices WHERE identifier_key = $1", &[&DepDevice::key(identifier)])
        .map_err(db)?;
    row.map(|r| record_of(r.get(0))).transpose()
}

fn in_catalog(tx: &mut Transaction, kind: CatalogKind, name: &str) -> Result<bool> {
    Ok(tx
        .query_opt("SELECT 1 FROM catalog WHERE kind = $1 AND name = $2", &[&kind_name(kind), &name])
        .map_err(db)?
        .is_some())
}

fn all_records(tx: &mut Transaction) -> Result<Vec<DepDevice>> {
    tx.query("SELECT record FROM dep_devices ORDER BY identifier_key COLLATE \"C\"", &[])
        .map_err(db)?
        .into_iter()
        .map(|r| record_of(r.get(0)))
        .collect()
}

fn all_users(tx: &mut Transaction) -> Result<Vec<User>> {
    tx.query("SELECT username, name, email, description, organizations FROM users ORDER BY username_key", &[])
        .map_err(db)?
        .iter()
        .map(super::store::user_of)
        .collect()
}

impl PgStore {
    /// A DEP change: `f` in a transaction that holds the DEP lock, with its audit entry.
    fn dep_change<T>(
        &self,
        audit: &AuditEntry,
        subject: Subject,
        f: impl FnOnce(&mut Transaction) -> Result<T>,
    ) -> Result<T> {
        self.change(audit, |tx| {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DEP_LOCK]).map_err(db)?;
            Ok((f(tx)?, subject))
        })
    }
}

impl DepStore for PgStore {
    fn catalog(&self, kind: CatalogKind) -> Result<Vec<CatalogEntry>> {
        let rows = self.read(|c| {
            c.query(
                "SELECT name, description FROM catalog WHERE kind = $1 ORDER BY name COLLATE \"C\"",
                &[&kind_name(kind)],
            )
        })?;
        Ok(rows.iter().map(|r| CatalogEntry { name: r.get(0), description: r.get(1) }).collect())
    }

    fn catalog_entry(&self, kind: CatalogKind, name: &str) -> Result<Option<CatalogEntry>> {
        let row = self.read(|c| {
            c.query_opt(
                "SELECT name, description FROM catalog WHERE kind = $1 AND name = $2",
                &[&kind_name(kind), &name],
            )
        })?;
        Ok(row.map(|r| CatalogEntry { name: r.get(0), description: r.get(1) }))
    }

    fn catalog_add(&self, kind: CatalogKind, entry: CatalogEntry, audit: &AuditEntry) -> Result<()> {
        self.dep_change(audit, Subject::Catalog, |tx| {
            if in_catalog(tx, kind, &entry.name)? {
                return Err(StoreError::Refused(format!("{} {:?} exists already", kind.title(), entry.name)));
            }
            tx.execute(
                "INSERT INTO catalog (kind, name, description) VALUES ($1, $2, $3)",
                &[&kind_name(kind), &entry.name, &entry.description],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn catalog_update(&self, kind: CatalogKind, name: &str, entry: CatalogEntry, audit: &AuditEntry) -> Result<u64> {
        self.dep_change(audit, Subject::Catalog, |tx| {
            if !in_catalog(tx, kind, name)? {
                return Err(StoreError::NotFound(format!("no {} named {name:?}", kind.title())));
            }
            let mut changed = 0u64;
            if entry.name != name {
                if in_catalog(tx, kind, &entry.name)? {
                    return Err(StoreError::Refused(format!("{} {:?} exists already", kind.title(), entry.name)));
                }
                let users = if kind == CatalogKind::Organization { all_users(tx)? } else { Vec::new() };
                let (users, devices) = users_of_entry(kind, name, users, all_records(tx)?);
                let rename = |v: &mut String| {
                    if v == name {
                        *v = entry.name.clone();
                    }
                };
                for mut u in users {
                    u.organizations.iter_mut().for_each(rename);
                    tx.execute(
                        "UPDATE users SET organizations = $2 WHERE username_key = $1",
                        &[&u.username.trim().to_lowercase(), &json(&u.organizations)],
                    )
                    .map_err(db)?;
                    changed += 1;
                }
                for mut d in devices {
                    d.tags.iter_mut().for_each(rename);
                    if let Some(t) = d.template.as_mut() {
                        rename(t);
                    }
                    put_record(tx, &d)?;
                    changed += 1;
                }
            }
            tx.execute(
                "UPDATE catalog SET name = $3, description = $4 WHERE kind = $1 AND name = $2",
                &[&kind_name(kind), &name, &entry.name, &entry.description],
            )
            .map_err(db)?;
            Ok(changed)
        })
    }

    fn catalog_delete(&self, kind: CatalogKind, name: &str, audit: &AuditEntry) -> Result<()> {
        self.dep_change(audit, Subject::Catalog, |tx| {
            if !in_catalog(tx, kind, name)? {
                return Err(StoreError::NotFound(format!("no {} named {name:?}", kind.title())));
            }
            let users = if kind == CatalogKind::Organization { all_users(tx)? } else { Vec::new() };
            let (users, devices) = users_of_entry(kind, name, users, all_records(tx)?);
            if !users.is_empty() || !devices.is_empty() {
                return Err(StoreError::Refused(format!(
                    "{} {name:?} is used by {}; change those first",
                    kind.title(),
                    describe(&users, &devices)
                )));
            }
            tx.execute("DELETE FROM catalog WHERE kind = $1 AND name = $2", &[&kind_name(kind), &name]).map_err(db)?;
            Ok(())
        })
    }

    fn dep_devices(&self) -> Result<Vec<DepDevice>> {
        let rows =
            self.read(|c| c.query("SELECT record FROM dep_devices ORDER BY identifier_key COLLATE \"C\"", &[]))?;
        rows.into_iter().map(|r| record_of(r.get(0))).collect()
    }

    fn dep_devices_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<DepDevice>> {
        let after = after.map(DepDevice::key);
        let rows = self.read(|c| {
            c.query(
                "SELECT record FROM dep_devices WHERE $1::text IS NULL OR identifier_key COLLATE \"C\" > $1 \
                 ORDER BY identifier_key COLLATE \"C\" LIMIT $2",
                &[&after, &(limit as i64)],
            )
        })?;
        rows.into_iter().map(|r| record_of(r.get(0))).collect()
    }

    fn dep_device(&self, identifier: &str) -> Result<Option<DepDevice>> {
        let row = self.read(|c| {
            c.query_opt("SELECT record FROM dep_devices WHERE identifier_key = $1", &[&DepDevice::key(identifier)])
        })?;
        row.map(|r| record_of(r.get(0))).transpose()
    }

    fn dep_apply(&self, change: DepChange, audit: &AuditEntry) -> Result<Vec<Mail>> {
        self.dep_change(audit, Subject::Dep, |tx| {
            let mut new_users = HashSet::new();
            for (mut user, create) in change.users {
                user.username = user.username.trim().to_string();
                for org in &user.organizations {
                    if !in_catalog(tx, CatalogKind::Organization, org)? {
                        return Err(missing_entry(CatalogKind::Organization, org));
                    }
                }
                let key = user.username.to_lowercase();
                let exists =
                    tx.query_opt("SELECT 1 FROM users WHERE username_key = $1", &[&key]).map_err(db)?.is_some();
                check_user_write(exists, create, &user.username)?;
                super::store::put_user_row(tx, &user)?;
                new_users.insert(key);
            }
            let now = Utc::now();
            let mut next_mail: i64 =
                tx.query_one("SELECT coalesce(max(id), 0) + 1 FROM mails", &[]).map_err(db)?.get(0);
            let mut mails = Vec::new();
            for w in change.devices.iter() {
                let w = w?;
                let d = &w.device;
                let names = d.catalog_names();
                for (kind, name) in names {
                    if !in_catalog(tx, kind, name)? {
                        return Err(missing_entry(kind, name));
                    }
                }
                if let Some(u) = &d.user
                    && !new_users.contains(&u.to_lowercase())
                    && tx
                        .query_opt("SELECT 1 FROM users WHERE username_key = $1", &[&u.trim().to_lowercase()])
                        .map_err(db)?
                        .is_none()
                {
                    return Err(StoreError::Refused(format!("user {u:?} does not exist")));
                }
                let stored = record(tx, &d.identifier)?;
                check_device_write(stored.as_ref(), &w)?;
                if let Some(mail) = mail_for(&w, next_mail as u64, now) {
                    tx.execute("INSERT INTO mails (id, mail) VALUES ($1, $2)", &[&next_mail, &json(&mail)])
                        .map_err(db)?;
                    mails.push(mail);
                    next_mail += 1;
                }
                put_record(tx, d)?;
            }
            Ok(mails)
        })
    }

    fn dep_put(&self, mut d: DepDevice, expect: DateTime<Utc>, audit: &AuditEntry) -> Result<DepDevice> {
        self.dep_change(audit, Subject::Dep, |tx| {
            let stored = record(tx, &d.identifier)?
                .ok_or_else(|| StoreError::NotFound(format!("no device {}", d.identifier)))?;
            if stored.modified != expect {
                return Err(stale(&format!("DEP device {}", stored.identifier), ""));
            }
            if let Some(serial) = checked_in_serial(&d) {
                let row = tx
                    .query_opt(
                        "SELECT record FROM dep_devices WHERE checked_in_serial = $1 AND identifier_key <> $2",
                        &[&serial, &DepDevice::key(&d.identifier)],
                    )
                    .map_err(db)?;
                if let Some(other) = row.map(|r| record_of(r.get(0))).transpose()? {
                    let shown = match &d.state {
                        DepState::CheckedIn { dep_serial: Some(s), .. } => s.clone(),
                        _ => serial,
                    };
                    return Err(StoreError::Refused(format!(
                        "DEP device {shown} is already checked in as {}",
                        other.identifier
                    )));
                }
            }
            d.identifier = stored.identifier;
            d.modified = crate::store::next_stamp(stored.modified, d.modified);
            put_record(tx, &d)?;
            Ok(d)
        })
    }

    fn dep_delete(&self, identifier: &str, audit: &AuditEntry) -> Result<()> {
        self.dep_change(audit, Subject::Dep, |tx| {
            let n = tx
                .execute("DELETE FROM dep_devices WHERE identifier_key = $1", &[&DepDevice::key(identifier)])
                .map_err(db)?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("no device {identifier}")));
            }
            Ok(())
        })
    }

    fn outbox(&self) -> Result<Vec<Mail>> {
        let rows = self.read(|c| c.query("SELECT mail, written FROM mails ORDER BY id", &[]))?;
        rows.iter()
            .map(|r| {
                let mut m: Mail = serde_json::from_value(r.get(0))
                    .map_err(|e| StoreError::Backend(format!("a stored mail that does not decode: {e}")))?;
                m.written = r.get(1);
                Ok(m)
            })
            .collect()
    }

    fn mark_written(&self, ids: &[u64], audit: &AuditEntry) -> Result<()> {
        let ids: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        self.dep_change(audit, Subject::Outbox, |tx| {
            tx.execute("UPDATE mails SET written = true WHERE id = ANY($1)", &[&ids]).map_err(db)?;
            Ok(())
        })
    }
}
