//! Apple DEP device information in the store: the catalog, device records, users' organizations and the
//! check-in email outbox. Every change is one atomic batch, checked again under the write lock.
//!
//! | key                                  | value                         |
//! |--------------------------------------|-------------------------------|
//! | `c` + kind byte + name               | a catalog entry (names are case-sensitive) |
//! | `E` + a lower-cased identifier       | DEP device records from that identifier on, in a chunk (`shelf.rs`) |
//! | `o` + mail id (u64 BE)               | a queued check-in email       |
//! | `mnext_mail`                         | the next mail id (u64 BE)     |

use std::collections::HashSet;
use std::sync::OnceLock;

use rustc_hash::FxHashSet;

use crate::keys::Keys;

use chrono::{DateTime, Utc};

use super::shelf::{Shelf, Writes};
use super::{SledStore, USERS, backend, enc};
use crate::domain::User;
use crate::domain::audit::AuditEntry;
use crate::domain::dep::{CatalogEntry, CatalogKind, DepDevice, DepState, Mail};
use crate::store::dep::{check_write, describe, mail_for};
use crate::store::{DepChange, DepStore, Result, StoreError, Subject, check_user_write, missing_entry, stale};

pub(super) const NEXT_MAIL: &[u8] = b"mnext_mail";

/// A change's record writes (some of them), their mails (by the place of their write) and their owners.
#[derive(Default)]
struct RecordWrites(Writes, Vec<(usize, Mail)>, Keys);

impl RecordWrites {
    /// These, then `other`'s (records after these).
    fn merge(mut self, other: RecordWrites) -> RecordWrites {
        self.0.extend(other.0);
        self.1.extend(other.1);
        other.2.iter().for_each(|k| {
            self.2.push(k);
        });
        self
    }
}

/// The keys of these usernames, in order.
fn user_keys_of<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> Keys {
    let mut keys = Keys::with_capacity(names.len());
    let mut key = String::new();
    for name in names {
        super::user_name_key_into(name, &mut key);
        keys.push(&key);
    }
    keys
}

/// Users and records a change writes at least, for them to be written on two threads.
const PARALLEL: usize = 1024;

pub(super) fn catalog_key(kind: CatalogKind, name: &str) -> Vec<u8> {
    let mut k = vec![b'c', kind.byte()];
    k.extend_from_slice(name.as_bytes());
    k
}

/// DEP device records, by lower-cased identifier (schema 9; before, one `e` + key each).
pub(super) const RECORDS: Shelf<DepDevice> = Shelf { prefix: b'E', what: "DEP device", key: record_key };

fn record_key(d: &DepDevice) -> String {
    DepDevice::key(&d.identifier)
}

/// The catalog's names by kind, read once for a change that checks many references.
pub(super) struct Names([HashSet<String>; 3]);

const KINDS: [CatalogKind; 3] = [CatalogKind::Organization, CatalogKind::Template, CatalogKind::Tag];

impl Names {
    pub(super) fn read(store: &SledStore) -> Result<Names> {
        let mut names: [HashSet<String>; 3] = Default::default();
        for (kind, set) in KINDS.into_iter().zip(&mut names) {
            set.extend(store.catalog(kind)?.into_iter().map(|e| e.name));
        }
        Ok(Names(names))
    }

    fn has(&self, kind: CatalogKind, name: &str) -> bool {
        KINDS.iter().position(|k| *k == kind).is_some_and(|i| self.0[i].contains(name))
    }
}

pub(super) fn mail_key(id: u64) -> [u8; 9] {
    let mut k = [b'o'; 9];
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

impl SledStore {
    /// A user as it may be stored: its organizations are in the catalog (its fields are the core's to check).
    pub(super) fn checked_user(&self, user: User) -> Result<User> {
        checked_user(user, &Names::read(self)?)
    }

    /// Identifiers of the DEP devices a user owns.
    pub(super) fn devices_of_user(&self, username: &str) -> Result<Vec<String>> {
        Ok(self
            .dep_devices()?
            .into_iter()
            .filter(|d| d.user.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(username.trim())))
            .map(|d| d.identifier)
            .collect())
    }

    /// Records that use a catalog entry, as "user NAME" / "device ID".
    fn users_of_entry(&self, kind: CatalogKind, name: &str) -> Result<(Vec<User>, Vec<DepDevice>)> {
        use crate::store::Store;
        let users = if kind == CatalogKind::Organization { self.users()? } else { Vec::new() };
        Ok(crate::store::dep::users_of_entry(kind, name, users, self.dep_devices()?))
    }

    fn next_mail_id(&self) -> Result<u64> {
        Ok(match self.get_raw(NEXT_MAIL)? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(|_| backend("corrupt mail counter"))?),
            None => 1,
        })
    }
}

/// A user as it may be stored: its organizations are in the catalog (its fields are the core's to check).
fn checked_user(mut user: User, names: &Names) -> Result<User> {
    user.username = user.username.trim().to_string();
    check_organizations(&user, names)?;
    Ok(user)
}

fn check_organizations(user: &User, names: &Names) -> Result<()> {
    match user.organizations.iter().find(|org| !names.has(CatalogKind::Organization, org)) {
        Some(org) => Err(missing_entry(CatalogKind::Organization, org)),
        None => Ok(()),
    }
}

impl DepStore for SledStore {
    fn catalog(&self, kind: CatalogKind) -> Result<Vec<CatalogEntry>> {
        self.scan(&[b'c', kind.byte()], "catalog entry")
    }

    fn catalog_entry(&self, kind: CatalogKind, name: &str) -> Result<Option<CatalogEntry>> {
        self.get(&catalog_key(kind, name), "catalog entry")
    }

    fn catalog_add(&self, kind: CatalogKind, entry: CatalogEntry, audit: &AuditEntry) -> Result<()> {
        let _g = self.lock();
        let key = catalog_key(kind, &entry.name);
        if self.get_raw(&key)?.is_some() {
            return Err(StoreError::Refused(format!("{} {:?} exists already", kind.title(), entry.name)));
        }
        let mut batch = sled::Batch::default();
        let change = self.put_audit(&mut batch, audit, Subject::Catalog)?;
        batch.insert(key, enc(&entry));
        self.commit_with(batch, change)
    }

    fn catalog_update(&self, kind: CatalogKind, name: &str, entry: CatalogEntry, audit: &AuditEntry) -> Result<u64> {
        let _g = self.lock();
        if self.get_raw(&catalog_key(kind, name))?.is_none() {
            return Err(StoreError::NotFound(format!("no {} named {name:?}", kind.title())));
        }
        let mut batch = sled::Batch::default();
        let mut changed = 0u64;
        if entry.name != name {
            if self.get_raw(&catalog_key(kind, &entry.name))?.is_some() {
                return Err(StoreError::Refused(format!("{} {:?} exists already", kind.title(), entry.name)));
            }
            batch.remove(catalog_key(kind, name));
            let (users, devices) = self.users_of_entry(kind, name)?;
            let rename = |v: &mut String| {
                if v == name {
                    *v = entry.name.clone();
                }
            };
            changed = (users.len() + devices.len()) as u64;
            let users: Vec<User> = users
                .into_iter()
                .map(|mut u| {
                    u.organizations.iter_mut().for_each(rename);
                    u
                })
                .collect();
            let devices: Vec<DepDevice> = devices
                .into_iter()
                .map(|mut d| {
                    d.tags.iter_mut().for_each(rename);
                    if let Some(t) = d.template.as_mut() {
                        rename(t);
                    }
                    d
                })
                .collect();
            USERS.write(&self.tree, &mut batch, users, &[])?;
            RECORDS.write(&self.tree, &mut batch, devices, &[])?;
        }
        batch.insert(catalog_key(kind, &entry.name), enc(&entry));
        let change = self.put_audit(&mut batch, audit, Subject::Catalog)?;
        self.commit_with(batch, change)?;
        Ok(changed)
    }

    fn catalog_delete(&self, kind: CatalogKind, name: &str, audit: &AuditEntry) -> Result<()> {
        let _g = self.lock();
        let key = catalog_key(kind, name);
        if self.get_raw(&key)?.is_none() {
            return Err(StoreError::NotFound(format!("no {} named {name:?}", kind.title())));
        }
        let (users, devices) = self.users_of_entry(kind, name)?;
        if !users.is_empty() || !devices.is_empty() {
            return Err(StoreError::Refused(format!(
                "{} {name:?} is used by {}; change those first",
                kind.title(),
                describe(&users, &devices)
            )));
        }
        let mut batch = sled::Batch::default();
        let change = self.put_audit(&mut batch, audit, Subject::Catalog)?;
        batch.remove(key);
        self.commit_with(batch, change)
    }

    fn dep_devices(&self) -> Result<Vec<DepDevice>> {
        RECORDS.all(&self.tree)
    }

    fn dep_devices_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<DepDevice>> {
        RECORDS.after(&self.tree, after.map(DepDevice::key).as_deref(), limit)
    }

    fn dep_device(&self, identifier: &str) -> Result<Option<DepDevice>> {
        RECORDS.get(&self.tree, &DepDevice::key(identifier))
    }

    fn dep_apply(&self, change: DepChange, audit: &AuditEntry) -> Result<Vec<Mail>> {
        let _g = self.lock();
        let names = Names::read(self)?;
        let DepChange { users, devices } = change;
        // The users' keys, made once into one buffer (by the users' writer, below).
        let user_keys: OnceLock<Keys> = OnceLock::new();
        // Users and records, each in key order and merged into their chunks as they come (a large import is
        // never held twice), each checked against the record it replaces. Their chunks are apart, so a large
        // change writes the users on a second thread while this one writes the records. Users are written in
        // key order, then as given (a username given twice as it was given last, as `write_sorted` keeps it).
        let write_users = || -> Result<(Writes, FxHashSet<&str>)> {
            let keys = user_keys.get_or_init(|| user_keys_of(users.iter().map(|(u, _)| u.username.as_str())));
            let mut order: Vec<usize> = (0..users.len()).collect();
            order.sort_by(|&a, &b| keys.get(a).cmp(keys.get(b)));
            let mut out = Writes::default();
            let puts = order.iter().map(|&i| Ok((keys.get(i), &users[i])));
            USERS.write_sorted(&self.tree, &mut out, puts, |stored, (user, create), buf| {
                check_organizations(user, &names)?;
                check_user_write(stored.is_some(), *create, &user.username)?;
                let trimmed = user.username.trim();
                *buf = if trimmed.len() == user.username.len() {
                    postcard::to_extend(user, std::mem::take(buf))
                } else {
                    postcard::to_extend(&User { username: trimmed.to_string(), ..user.clone() }, std::mem::take(buf))
                }
                .map_err(|e| backend(e.to_string()))?;
                Ok(())
            })?;
            Ok((out, keys.iter().collect()))
        };
        let now = Utc::now();
        // Mails (numbered in the order the writes were given, once all are checked), and the records' owners
        // (those the change does not write are looked up once all are known).
        // The records in key order (made by this thread).
        let order: OnceLock<Vec<(&str, usize)>> = OnceLock::new();
        let make_order = || -> Result<&Vec<(&str, usize)>> {
            let mut sorted: Vec<(&str, usize)> =
                (0..devices.len()).map(|i| Ok((devices.key(i)?, i))).collect::<Result<_>>()?;
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            Ok(order.get_or_init(|| sorted))
        };
        // The records `order[range]`, which touch chunks no other range touches.
        let write_records = |range: std::ops::Range<usize>| -> Result<RecordWrites> {
            let order = order.get().map_or(&[][..], |o| &o[range]);
            let (mut out, mut mails, mut owners, mut owner) =
                (Writes::default(), Vec::new(), Keys::default(), String::new());
            // Each record is taken as it was encoded, read in place for its checks (decoded only for a mail).
            let puts = order.iter().map(|&(key, i)| Ok((key, (i, devices.view(i)?))));
            RECORDS.write_sorted(&self.tree, &mut out, puts, |stored, (i, w), buf| {
                let d = &w.device;
                for (kind, name) in d.catalog_names() {
                    if !names.has(kind, name) {
                        return Err(missing_entry(kind, name));
                    }
                }
                if let Some(u) = d.user {
                    super::user_name_key_into(u, &mut owner);
                    if owners.last() != Some(owner.as_str()) {
                        owners.push(&owner);
                    }
                }
                check_write(stored, d.identifier, w.create, w.expect)?;
                if w.mail && d.registration_email.is_some() {
                    let write = devices.get(i)?;
                    if let Some(mail) = mail_for(&write, 0, now) {
                        mails.push((i, mail));
                    }
                }
                buf.extend_from_slice(w.encoded);
                Ok(())
            })?;
            Ok(RecordWrites(out, mails, owners))
        };
        let (user_writes, records) = if users.len() + devices.len() >= PARALLEL {
            // The second thread writes the users, then the records after `split`; this one makes the order
            // and writes the records before it, about as long as the other thread is busy.
            std::thread::scope(|scope| {
                let (split_tx, split_rx) = std::sync::mpsc::channel::<usize>();
                let (write_users, write_records, records) = (&write_users, &write_records, devices.len());
                let second = std::thread::Builder::new()
                    .name("kitting-users".into())
                    .spawn_scoped(scope, move || {
                        let users = write_users();
                        let upper = match split_rx.recv() {
                            Ok(split) => write_records(split..records),
                            // No order: this thread's refusal says why.
                            Err(_) => Ok(Default::default()),
                        };
                        (users, upper)
                    })
                    .map_err(|e| backend(format!("cannot start a thread: {e}")))?;
                let lower = make_order().and_then(|order| {
                    // A user costs about half a record: each thread about half of the work.
                    let at = ((order.len() + users.len() / 2) / 2).min(order.len());
                    let split = RECORDS.split(&self.tree, order.len(), |i| order[i].0, at)?;
                    let _ = split_tx.send(split);
                    write_records(0..split)
                });
                drop(split_tx);
                let (users, upper) = second.join().map_err(|_| backend("the users' writer failed"))?;
                // As written in key order: the lower records' refusal first.
                let records = lower.and_then(|lower| Ok(lower.merge(upper?)));
                Ok::<_, StoreError>((users, records))
            })?
        } else {
            (write_users(), make_order().and_then(|_| write_records(0..devices.len())))
        };
        // The users' refusal first, as when they were written first.
        let (user_writes, new_users) = user_writes?;
        let RecordWrites(record_writes, mut mails, owners) = records?;
        let owners: FxHashSet<&str> = owners.iter().filter(|k| !new_users.contains(k)).collect();
        let mut batch = sled::Batch::default();
        user_writes.apply(&mut batch);
        record_writes.apply(&mut batch);
        let stored_owners = USERS.get_many(&self.tree, owners.iter().copied())?;
        if let Some(missing) = owners.iter().find(|k| !stored_owners.contains_key(**k)) {
            return Err(StoreError::Refused(format!("user {missing:?} does not exist")));
        }
        mails.sort_by_key(|(i, _)| *i);
        let mut next_mail = self.next_mail_id()?;
        let mails: Vec<Mail> = mails
            .into_iter()
            .map(|(_, mut mail)| {
                mail.id = next_mail;
                next_mail += 1;
                batch.insert(&mail_key(mail.id), enc(&mail));
                mail
            })
            .collect();
        batch.insert(NEXT_MAIL, &next_mail.to_be_bytes());
        let change = self.put_audit(&mut batch, audit, Subject::Dep)?;
        self.commit_with(batch, change)?;
        if users.len() + devices.len() >= PARALLEL {
            // A large change's users are many small values to free: not on the way to the reply.
            crate::os::drop_in_background((users, devices));
        }
        Ok(mails)
    }

    fn dep_put(&self, mut d: DepDevice, expect: DateTime<Utc>, audit: &AuditEntry) -> Result<DepDevice> {
        let _g = self.lock();
        let stored: DepDevice = self
            .dep_device(&d.identifier)?
            .ok_or_else(|| StoreError::NotFound(format!("no device {}", d.identifier)))?;
        if stored.modified != expect {
            return Err(stale(&format!("DEP device {}", stored.identifier), ""));
        }
        if let DepState::CheckedIn { dep_serial: Some(serial), .. } = &d.state {
            let mine = DepDevice::key(&d.identifier);
            let taken = self.dep_devices()?.into_iter().find(|o| {
                DepDevice::key(&o.identifier) != mine
                    && matches!(&o.state, DepState::CheckedIn { dep_serial: Some(s), .. } if s.eq_ignore_ascii_case(serial))
            });
            if let Some(o) = taken {
                return Err(StoreError::Refused(format!(
                    "DEP device {serial} is already checked in as {}",
                    o.identifier
                )));
            }
        }
        d.identifier = stored.identifier;
        d.modified = crate::store::next_stamp(stored.modified, d.modified);
        let mut batch = sled::Batch::default();
        let change = self.put_audit(&mut batch, audit, Subject::Dep)?;
        RECORDS.write(&self.tree, &mut batch, vec![d.clone()], &[])?;
        self.commit_with(batch, change)?;
        Ok(d)
    }

    fn dep_delete(&self, identifier: &str, audit: &AuditEntry) -> Result<()> {
        let _g = self.lock();
        if self.dep_device(identifier)?.is_none() {
            return Err(StoreError::NotFound(format!("no device {identifier}")));
        }
        let mut batch = sled::Batch::default();
        let change = self.put_audit(&mut batch, audit, Subject::Dep)?;
        RECORDS.write(&self.tree, &mut batch, Vec::new(), &[DepDevice::key(identifier)])?;
        self.commit_with(batch, change)
    }

    fn outbox(&self) -> Result<Vec<Mail>> {
        self.scan(b"o", "mail")
    }

    fn mark_written(&self, ids: &[u64], audit: &AuditEntry) -> Result<()> {
        let _g = self.lock();
        let mut batch = sled::Batch::default();
        let change = self.put_audit(&mut batch, audit, Subject::Outbox)?;
        for &id in ids {
            if let Some(mut m) = self.get::<Mail>(&mail_key(id), "mail")? {
                m.written = true;
                batch.insert(&mail_key(id), enc(&m));
            }
        }
        self.commit_with(batch, change)
    }
}
