//! Apple DEP device information in the store: the catalog, device records, users' organizations and the
//! check-in email outbox. Every change is one atomic batch, checked again under the write lock.
//!
//! | key                                  | value                         |
//! |--------------------------------------|-------------------------------|
//! | `c` + kind byte + name               | a catalog entry (names are case-sensitive) |
//! | `e` + lower-cased identifier         | a DEP device record           |
//! | `o` + mail id (u64 BE)               | a queued check-in email       |
//! | `mnext_mail`                         | the next mail id (u64 BE)     |

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{SledStore, backend, enc};
use crate::domain::User;
use crate::domain::audit::AuditEntry;
use crate::domain::dep::{CatalogEntry, CatalogKind, DepDevice, DepState, Mail};
use crate::store::dep::{check_device_write, describe, mail_for};
use crate::store::{DepChange, DepStore, Result, StoreError, Subject, check_user_write, missing_entry, stale};

pub(super) const NEXT_MAIL: &[u8] = b"mnext_mail";

pub(super) fn catalog_key(kind: CatalogKind, name: &str) -> Vec<u8> {
    let mut k = vec![b'c', kind.byte()];
    k.extend_from_slice(name.as_bytes());
    k
}

pub(super) fn device_key(identifier: &str) -> Vec<u8> {
    let mut k = vec![b'e'];
    k.extend_from_slice(DepDevice::key(identifier).as_bytes());
    k
}

pub(super) fn mail_key(id: u64) -> [u8; 9] {
    let mut k = [b'o'; 9];
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

impl SledStore {
    /// A user as it may be stored: its organizations are in the catalog (its fields are the core's to check).
    pub(super) fn checked_user(&self, mut user: User) -> Result<User> {
        user.username = user.username.trim().to_string();
        for org in &user.organizations {
            if self.get_raw(&catalog_key(CatalogKind::Organization, org))?.is_none() {
                return Err(missing_entry(CatalogKind::Organization, org));
            }
        }
        Ok(user)
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

    fn check_references(&self, d: &DepDevice) -> Result<()> {
        let names = d.catalog_names();
        for (kind, name) in names {
            if self.get_raw(&catalog_key(kind, name))?.is_none() {
                return Err(missing_entry(kind, name));
            }
        }
        Ok(())
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
            for mut u in users {
                u.organizations.iter_mut().for_each(rename);
                batch.insert(super::layout::user_key(&u.username), enc(&u));
                changed += 1;
            }
            for mut d in devices {
                d.tags.iter_mut().for_each(rename);
                if let Some(t) = d.template.as_mut() {
                    rename(t);
                }
                batch.insert(device_key(&d.identifier), enc(&d));
                changed += 1;
            }
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
        self.scan(b"e", "DEP device")
    }

    fn dep_devices_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<DepDevice>> {
        // Keys are `e` + the lower-cased identifier; `e\x00` is before every record, the prefix's end
        // (`f`) after them.
        let from = match after {
            Some(a) => {
                let mut k = device_key(a);
                k.push(0);
                k
            }
            None => b"e".to_vec(),
        };
        self.tree
            .range(from..b"f".to_vec())
            .take(limit)
            .map(|kv| super::dec(&kv.map_err(super::backend)?.1, "DEP device"))
            .collect()
    }

    fn dep_device(&self, identifier: &str) -> Result<Option<DepDevice>> {
        self.get(&device_key(identifier), "DEP device")
    }

    fn dep_apply(&self, change: DepChange, audit: &AuditEntry) -> Result<Vec<Mail>> {
        use crate::store::Store;
        let _g = self.lock();
        let mut batch = sled::Batch::default();
        let mut new_users = HashSet::new();
        for (user, create) in change.users {
            let user = self.checked_user(user)?;
            let key = super::layout::user_key(&user.username);
            check_user_write(self.get_raw(&key)?.is_some(), create, &user.username)?;
            new_users.insert(user.username.to_lowercase());
            batch.insert(key, enc(&user));
        }
        let now = Utc::now();
        let mut next_mail = self.next_mail_id()?;
        let mut mails = Vec::new();
        for w in change.devices {
            let d = &w.device;
            self.check_references(d)?;
            if let Some(u) = &d.user
                && !new_users.contains(&u.to_lowercase())
                && self.user(u)?.is_none()
            {
                return Err(StoreError::Refused(format!("user {u:?} does not exist")));
            }
            let key = device_key(&d.identifier);
            let stored: Option<DepDevice> = self.get(&key, "DEP device")?;
            check_device_write(stored.as_ref(), &w)?;
            if let Some(mail) = mail_for(&w, next_mail, now) {
                batch.insert(&mail_key(next_mail), enc(&mail));
                mails.push(mail);
                next_mail += 1;
            }
            batch.insert(key, enc(d));
        }
        batch.insert(NEXT_MAIL, &next_mail.to_be_bytes());
        let change = self.put_audit(&mut batch, audit, Subject::Dep)?;
        self.commit_with(batch, change)?;
        Ok(mails)
    }

    fn dep_put(&self, mut d: DepDevice, expect: DateTime<Utc>, audit: &AuditEntry) -> Result<DepDevice> {
        let _g = self.lock();
        let key = device_key(&d.identifier);
        let stored: DepDevice =
            self.get(&key, "DEP device")?.ok_or_else(|| StoreError::NotFound(format!("no device {}", d.identifier)))?;
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
        batch.insert(key, enc(&d));
        self.commit_with(batch, change)?;
        Ok(d)
    }

    fn dep_delete(&self, identifier: &str, audit: &AuditEntry) -> Result<()> {
        let _g = self.lock();
        let key = device_key(identifier);
        if self.get_raw(&key)?.is_none() {
            return Err(StoreError::NotFound(format!("no device {identifier}")));
        }
        let mut batch = sled::Batch::default();
        let change = self.put_audit(&mut batch, audit, Subject::Dep)?;
        batch.remove(key);
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
