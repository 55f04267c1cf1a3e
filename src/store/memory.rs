//! The reference store: everything in memory, the contract's rules written as plainly as possible. It
//! is what `tests/store_contract.rs` measures the other backends against, and a store for tests and
//! tools that need no disk. Nothing survives the process.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use super::chunk::{PreparedRows, RowEncoder};
use super::dep::{DepChange, DepStore, check_device_write, describe, mail_for};
use super::inventory::{Counts, Inventory, refuse_problems, refuse_unless_empty};
use super::{
    Change, Expect, Feed, FieldProblem, ImportSession, ImportTarget, LineProblems, Lookup, Problem, ProfileChange,
    Result, SeenInFile, Store, StoreError, Subject, WriteGuard, WriteLock, already_in, check_user_write, missing_entry,
    next_stamp, refused, stale, taken_meanwhile,
};
use crate::domain::audit::{AuditEntry, AuditQuery};
use crate::domain::dep::{CatalogEntry, CatalogKind, DepDevice, DepState, Mail};
use crate::domain::{Device, DeviceSeq, Field, Identifiers, Imei, NewDevice, Profile, ProfileId, Status, User};

#[derive(Clone, Default)]
struct Data {
    profiles: BTreeMap<ProfileId, Profile>,
    next_seq: HashMap<ProfileId, DeviceSeq>,
    devices: HashMap<ProfileId, BTreeMap<DeviceSeq, Device>>,
    next_profile: ProfileId,
    /// By lower-cased username.
    users: BTreeMap<String, User>,
    catalog: BTreeMap<(u8, String), CatalogEntry>,
    /// By lower-cased identifier.
    dep: BTreeMap<String, DepDevice>,
    mails: BTreeMap<u64, Mail>,
    audit: Vec<AuditEntry>,
}

/// Writers take turns (`WriteLock`, owned, so that an import can hold it from another thread); readers
/// lock the data only for the moment they read.
#[derive(Clone, Default)]
pub struct MemoryStore {
    data: Arc<Mutex<Data>>,
    turn: Arc<WriteLock>,
    feed: Arc<Feed>,
    /// One writing import at a time, held for its whole session; the writers' turn only at its commit.
    importing: Arc<WriteLock>,
    /// The profile a writing import fills: adding to it, or deleting it, waits for that import.
    active: Arc<Mutex<Option<ProfileId>>>,
}

fn serial_upper(d: &Device) -> Option<String> {
    d.ids.serial.as_deref().map(|s| s.trim().to_uppercase())
}

impl Data {
    fn profile_label(&self, id: ProfileId) -> String {
        match self.profiles.get(&id) {
            Some(p) => format!("profile {:?}", p.name),
            None => format!("profile #{id}"),
        }
    }

    fn by_name(&self, name: &str) -> Option<&Profile> {
        let key = name.trim().to_lowercase();
        self.profiles.values().find(|p| p.name.to_lowercase() == key)
    }

    fn all_devices(&self) -> impl Iterator<Item = (ProfileId, &Device)> {
        self.devices.iter().flat_map(|(id, list)| list.values().map(move |d| (*id, d)))
    }

    /// Duplicate checks for identifiers against every stored device but `exclude`.
    fn conflicts(&self, ids: &Identifiers, exclude: Option<(ProfileId, DeviceSeq)>) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        let others = || self.all_devices().filter(|(id, d)| Some((*id, d.seq)) != exclude);
        // Either IMEI of a device against either IMEI of the others: one IMEI, one device.
        for (field, imei) in [(Field::Imei, ids.imei), (Field::Imei2, ids.imei2)] {
            if let Some(imei) = imei
                && let Some((id, d)) = others().find(|(_, d)| d.ids.imeis().any(|i| i == imei))
            {
                let what = format!("IMEI {imei}");
                problems.push((field, already_in(&what, &self.profile_label(id), Some(&d.source))));
            }
        }
        if let (Some(key), Some(serial)) = (ids.serial_key(), &ids.serial)
            && let Some((id, d)) = others().find(|(_, d)| d.ids.serial_key().as_deref() == Some(key.as_str()))
        {
            let what = format!("serial number {serial} ({})", ids.manufacturer.as_deref().unwrap_or(""));
            problems.push((Field::Serial, already_in(&what, &self.profile_label(id), Some(&d.source))));
        }
        problems
    }

    fn user_exists(&self, user: &Option<String>) -> Result<()> {
        if let Some(u) = user
            && !self.users.contains_key(&u.trim().to_lowercase())
        {
            return Err(StoreError::NotFound(format!("no user named {u:?}")));
        }
        Ok(())
    }

    fn in_catalog(&self, kind: CatalogKind, name: &str) -> bool {
        self.catalog.contains_key(&(kind.byte(), name.to_string()))
    }

    fn profile_mut(&mut self, id: ProfileId) -> Result<&mut Profile> {
        self.profiles.get_mut(&id).ok_or_else(|| StoreError::NotFound(format!("no profile with id {id}")))
    }

    fn profile(&self, id: ProfileId) -> Result<&Profile> {
        self.profiles.get(&id).ok_or_else(|| StoreError::NotFound(format!("no profile with id {id}")))
    }

    fn new_profile(&mut self, mut p: Profile) -> Result<Profile> {
        p.name = p.name.trim().to_string();
        if self.by_name(&p.name).is_some() {
            return Err(StoreError::Refused(format!("a profile named {:?} already exists", p.name)));
        }
        self.user_exists(&p.user)?;
        self.next_profile = self.next_profile.max(1);
        p.id = self.next_profile;
        p.device_count = 0;
        Ok(p)
    }

    fn insert_profile(&mut self, p: Profile) {
        // max: an import reserves its new profile's id when it begins, others may be created meanwhile.
        self.next_profile = self.next_profile.max(p.id + 1);
        self.next_seq.insert(p.id, 0);
        self.devices.insert(p.id, BTreeMap::new());
        self.profiles.insert(p.id, p);
    }

    /// Appends the audit entry of a committed change (with the next id), and returns the change to tell.
    fn record(&mut self, audit: &AuditEntry, subject: Subject) -> Change {
        let mut entry = audit.clone();
        entry.id = self.audit.len() as u64 + 1;
        self.audit.push(entry.clone());
        Change { subject, entry }
    }

    /// Creates (`create`) or replaces a user: the username free (or stored), the organizations in the catalog.
    fn put_user(&mut self, mut user: User, create: bool) -> Result<()> {
        user.username = user.username.trim().to_string();
        if let Some(org) = user.organizations.iter().find(|o| !self.in_catalog(CatalogKind::Organization, o)) {
            return Err(missing_entry(CatalogKind::Organization, org));
        }
        let key = user.username.to_lowercase();
        check_user_write(self.users.contains_key(&key), create, &user.username)?;
        self.users.insert(key, user);
        Ok(())
    }

    /// Users and DEP devices that use a catalog entry.
    fn users_of_entry(&self, kind: CatalogKind, name: &str) -> (Vec<User>, Vec<DepDevice>) {
        super::dep::users_of_entry(kind, name, self.users.values().cloned(), self.dep.values().cloned())
    }
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn read(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn turn(&self) -> WriteGuard {
        WriteLock::acquire(&self.turn)
    }

    /// The writers' turn for a change to profile `id`'s device numbers (an add) or to its existence (a
    /// delete): it waits while a writing import fills that profile, whose staged devices take the
    /// numbers after the profile's own. Changes elsewhere never wait for an import.
    fn turn_outside_import(&self, id: ProfileId) -> WriteGuard {
        loop {
            let turn = self.turn();
            if *self.active.lock().unwrap_or_else(|p| p.into_inner()) != Some(id) {
                return turn;
            }
            drop(turn);
            drop(WriteLock::acquire(&self.importing));
        }
    }

    /// Runs a change under the writers' turn on a copy of the data: the copy replaces the data, with the
    /// audit entry, only when `f` succeeds, so every change is all or nothing (a reference store may
    /// copy; readers meanwhile see the data as it was).
    fn change<T>(&self, audit: &AuditEntry, subject: Subject, f: impl FnOnce(&mut Data) -> Result<T>) -> Result<T> {
        self.change_told(audit, |data| Ok((f(data)?, subject)))
    }

    /// `change`, where what was touched is known only once it is done (a new device's number).
    fn change_told<T>(&self, audit: &AuditEntry, f: impl FnOnce(&mut Data) -> Result<(T, Subject)>) -> Result<T> {
        let turn = self.turn();
        self.change_in_turn(turn, audit, f)
    }

    /// `change_told` in a turn already taken.
    fn change_in_turn<T>(
        &self,
        _turn: WriteGuard,
        audit: &AuditEntry,
        f: impl FnOnce(&mut Data) -> Result<(T, Subject)>,
    ) -> Result<T> {
        let mut copy = self.read().clone();
        let (value, subject) = f(&mut copy)?;
        let change = copy.record(audit, subject);
        *self.read() = copy;
        self.feed.publish(change);
        Ok(value)
    }
}

impl Store for MemoryStore {
    fn profiles(&self) -> Result<Vec<Profile>> {
        let mut out: Vec<Profile> = self.read().profiles.values().cloned().collect();
        out.sort_by_key(|p| p.name.to_lowercase());
        Ok(out)
    }

    fn profile(&self, name: &str) -> Result<Option<Profile>> {
        Ok(self.read().by_name(name).cloned())
    }

    fn profile_by_id(&self, id: ProfileId) -> Result<Option<Profile>> {
        Ok(self.read().profiles.get(&id).cloned())
    }

    fn create_profile(&self, profile: Profile, audit: &AuditEntry) -> Result<Profile> {
        self.change(audit, Subject::Profiles, |d| {
            let p = d.new_profile(profile)?;
            d.insert_profile(p.clone());
            Ok(p)
        })
    }

    fn update_profile(
        &self,
        id: ProfileId,
        change: &ProfileChange,
        expect: Expect<u64>,
        audit: &AuditEntry,
    ) -> Result<Profile> {
        self.change(audit, Subject::Profile(id), |d| {
            let before = d.profile(id)?.clone();
            if expect.is_some_and(|v| v != before.version) {
                return Err(stale(&format!("profile {:?}", before.name), ""));
            }
            let mut p = before.clone();
            change.apply_to(&mut p);
            p.name = p.name.trim().to_string();
            if p.name.to_lowercase() != before.name.to_lowercase() && d.by_name(&p.name).is_some() {
                return Err(StoreError::Refused(format!("a profile named {:?} already exists", p.name)));
            }
            if p.user != before.user {
                d.user_exists(&p.user)?;
            }
            p.modified = next_stamp(before.modified, Utc::now());
            p.version = before.version + 1;
            *d.profile_mut(id)? = p.clone();
            Ok(p)
        })
    }

    fn delete_profile(&self, id: ProfileId, audit: &AuditEntry) -> Result<u64> {
        self.change_in_turn(self.turn_outside_import(id), audit, |d| {
            let p = d.profiles.remove(&id).ok_or_else(|| StoreError::NotFound(format!("no profile with id {id}")))?;
            d.devices.remove(&id);
            d.next_seq.remove(&id);
            Ok((p.device_count, Subject::Profiles))
        })
    }

    fn devices_page(&self, id: ProfileId, after: Option<DeviceSeq>, limit: usize) -> Result<Vec<Device>> {
        let data = self.read();
        data.profile(id)?;
        let list = data.devices.get(&id).map(|l| {
            let from = after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
            l.range((from, std::ops::Bound::Unbounded)).take(limit).map(|(_, d)| d.clone()).collect()
        });
        Ok(list.unwrap_or_default())
    }

    fn device(&self, id: ProfileId, seq: DeviceSeq) -> Result<Option<Device>> {
        Ok(self.read().devices.get(&id).and_then(|l| l.get(&seq)).cloned())
    }

    fn find(&self, lookup: &Lookup) -> Result<Option<(ProfileId, Device)>> {
        let data = self.read();
        let found = match lookup {
            Lookup::Imei(imei) => data.all_devices().find(|(_, d)| d.ids.imeis().any(|i| i == *imei)),
            Lookup::Serial { serial, manufacturer } => {
                let want = crate::domain::serial_key(serial, manufacturer);
                data.all_devices().find(|(_, d)| d.ids.serial_key().as_deref() == Some(want.as_str()))
            }
        };
        Ok(found.map(|(id, d)| (id, d.clone())))
    }

    fn candidates(&self, imei: Option<Imei>, serial: Option<&str>) -> Result<Vec<(ProfileId, Device)>> {
        let serial = serial.map(|s| s.trim().to_uppercase()).filter(|s| !s.is_empty());
        let data = self.read();
        let mut out: Vec<(ProfileId, Device)> = data
            .all_devices()
            .filter(|(_, d)| {
                imei.is_some_and(|imei| d.ids.imeis().any(|i| i == imei))
                    || (serial.is_some() && serial_upper(d) == serial)
            })
            .map(|(id, d)| (id, d.clone()))
            .collect();
        out.sort_by_key(|(id, d)| (*id, d.seq));
        Ok(out)
    }

    fn add_device(&self, id: ProfileId, device: NewDevice, audit: &AuditEntry) -> Result<Device> {
        self.change_in_turn(self.turn_outside_import(id), audit, |data| {
            let modified = data.profile(id)?.modified;
            let problems = data.conflicts(&device.ids, None);
            if !problems.is_empty() {
                return Err(refused(problems));
            }
            let now = next_stamp(modified, Utc::now());
            let seq = data.next_seq[&id];
            let d = device.into_device(seq, now);
            data.next_seq.insert(id, seq + 1);
            data.devices.entry(id).or_default().insert(seq, d.clone());
            let p = data.profile_mut(id)?;
            p.device_count += 1;
            p.modified = now;
            p.learn_attributes(d.attributes.iter().map(|(n, _)| n.as_ref()));
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
        self.change(audit, Subject::Devices(id, vec![device.seq]), |data| {
            let name = data.profile(id)?.name.clone();
            let seq = device.seq;
            let old = data
                .devices
                .get(&id)
                .and_then(|l| l.get(&seq))
                .cloned()
                .ok_or_else(|| StoreError::NotFound(format!("no device #{seq} in profile {name:?}")))?;
            if expect.is_some_and(|t| t != old.modified) {
                return Err(stale(&old.label(), ""));
            }
            if old.ids != device.ids {
                let problems = data.conflicts(&device.ids, Some((id, seq)));
                if !problems.is_empty() {
                    return Err(refused(problems));
                }
            }
            device.created = old.created;
            device.modified = next_stamp(old.modified, Utc::now());
            data.devices.entry(id).or_default().insert(seq, device.clone());
            let p = data.profile_mut(id)?;
            p.modified = next_stamp(p.modified, device.modified);
            p.learn_attributes(device.attributes.iter().map(|(n, _)| n.as_ref()));
            Ok(device)
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
        self.change(audit, Subject::Devices(id, seqs.to_vec()), |data| {
            let now = next_stamp(data.profile(id)?.modified, Utc::now());
            let mut n = 0;
            if let Some(list) = data.devices.get_mut(&id) {
                for seq in seqs {
                    if let Some(d) = list.get_mut(seq) {
                        d.set_attribute(name, value);
                        d.modified = next_stamp(d.modified, now);
                        n += 1;
                    }
                }
            }
            let p = data.profile_mut(id)?;
            p.modified = now;
            if value.is_some() {
                p.learn_attributes([name]);
            }
            Ok(n)
        })
    }

    fn delete_devices(&self, id: ProfileId, seqs: &[DeviceSeq], audit: &AuditEntry) -> Result<u64> {
        let present = {
            let data = self.read();
            data.profile(id)?;
            seqs.iter().filter(|s| data.devices.get(&id).is_some_and(|l| l.contains_key(s))).count()
        };
        if present == 0 {
            return Ok(0);
        }
        self.change(audit, Subject::Devices(id, seqs.to_vec()), |data| {
            let mut removed = 0u64;
            if let Some(list) = data.devices.get_mut(&id) {
                for s in seqs {
                    removed += u64::from(list.remove(s).is_some());
                }
            }
            let p = data.profile_mut(id)?;
            p.device_count -= removed;
            p.modified = next_stamp(p.modified, Utc::now());
            Ok(removed)
        })
    }

    fn set_status(&self, id: ProfileId, seq: DeviceSeq, status: Status, audit: &AuditEntry) -> Result<Device> {
        self.change(audit, Subject::Devices(id, vec![seq]), |data| {
            let d = data
                .devices
                .get_mut(&id)
                .and_then(|l| l.get_mut(&seq))
                .ok_or_else(|| StoreError::NotFound(format!("no device #{seq} in profile #{id}")))?;
            d.status = status;
            Ok(d.clone())
        })
    }

    /// A writing import takes the importers' turn for its session (one at a time); the writers' turn
    /// only to begin (a new profile's id is reserved) and to commit, so other writes go on meanwhile.
    fn begin_import(&self, target: ImportTarget, write: bool) -> Result<Box<dyn ImportSession>> {
        let turn = write.then(|| WriteLock::acquire(&self.importing));
        let (profile, create, first_seq) = {
            let _writers = self.turn();
            let mut data = self.read();
            let found = match target {
                ImportTarget::Existing(id) => {
                    let p = data.profile(id)?.clone();
                    let seq = data.next_seq[&id];
                    (p, false, seq)
                }
                ImportTarget::Create(p) => {
                    let p = data.new_profile(*p)?;
                    if write {
                        data.next_profile = p.id + 1;
                    }
                    (p, true, 0)
                }
            };
            // In the writers' turn: an add to this profile either came before (its number is taken)
            // or sees the import and waits.
            if write {
                *self.active.lock().unwrap_or_else(|p| p.into_inner()) = Some(found.0.id);
            }
            found
        };
        Ok(Box::new(MemoryImport {
            store: self.clone(),
            _turn: turn,
            profile,
            create,
            writing: write,
            next_seq: first_seq,
            first_seq,
            staged: Vec::new(),
            seen: SeenInFile::default(),
        }))
    }

    fn users(&self) -> Result<Vec<User>> {
        Ok(self.read().users.values().cloned().collect())
    }

    fn user(&self, username: &str) -> Result<Option<User>> {
        Ok(self.read().users.get(&username.trim().to_lowercase()).cloned())
    }

    fn put_user(&self, user: User, create: bool, audit: &AuditEntry) -> Result<()> {
        self.change(audit, Subject::Users, |data| data.put_user(user, create))
    }

    fn delete_user(&self, username: &str, audit: &AuditEntry) -> Result<()> {
        self.change(audit, Subject::Users, |data| {
            let key = username.trim().to_lowercase();
            if !data.users.contains_key(&key) {
                return Err(StoreError::NotFound(format!("no user named {username:?}")));
            }
            let profiles: Vec<String> = data
                .profiles
                .values()
                .filter(|p| p.user.as_deref().is_some_and(|u| u.to_lowercase() == key))
                .map(|p| format!("{:?}", p.name))
                .collect();
            if !profiles.is_empty() {
                return Err(StoreError::Refused(format!(
                    "user {username:?} is the associated user of profile {}; change those profiles first",
                    profiles.join(", ")
                )));
            }
            let owned: Vec<String> = data
                .dep
                .values()
                .filter(|d| d.user.as_deref().is_some_and(|u| u.to_lowercase() == key))
                .map(|d| d.identifier.clone())
                .collect();
            if !owned.is_empty() {
                return Err(StoreError::Refused(format!(
                    "user {username:?} owns DEP device {}; change or delete those devices first",
                    owned.join(", ")
                )));
            }
            data.users.remove(&key);
            Ok(())
        })
    }

    fn append_audit(&self, audit: &AuditEntry) -> Result<()> {
        self.change(audit, Subject::Nothing, |_| Ok(()))
    }

    fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let data = self.read();
        let matching = data.audit.iter().rev().filter(|e| query.matches(e)).cloned();
        Ok(match query.limit {
            Some(l) => matching.take(l).collect(),
            None => matching.collect(),
        })
    }

    fn subscribe(&self) -> Result<std::sync::mpsc::Receiver<Change>> {
        Ok(self.feed.subscribe())
    }

    fn snapshot(&self) -> Result<Inventory> {
        let _writers = self.turn();
        Inventory::read(self)
    }

    fn load(&self, inv: &Inventory, audit: &AuditEntry) -> Result<()> {
        refuse_problems(inv)?;
        self.change(audit, Subject::Profiles, |data| {
            refuse_unless_empty(&Counts {
                profiles: data.profiles.len() as u64,
                devices: data.devices.values().map(|l| l.len() as u64).sum(),
                users: data.users.len() as u64,
                catalog: data.catalog.len() as u64,
                dep: data.dep.len() as u64,
                mails: data.mails.len() as u64,
                audit: 0,
            })?;
            for (kind, e) in &inv.catalog {
                data.catalog.insert((kind.byte(), e.name.clone()), e.clone());
            }
            for u in &inv.users {
                data.users.insert(u.username.trim().to_lowercase(), u.clone());
            }
            for (p, devices) in &inv.profiles {
                data.profiles.insert(p.id, p.clone());
                data.next_seq.insert(p.id, devices.last().map_or(0, |d| d.seq + 1));
                data.devices.insert(p.id, devices.iter().map(|d| (d.seq, d.clone())).collect());
                data.next_profile = data.next_profile.max(p.id + 1);
            }
            for d in &inv.dep {
                data.dep.insert(DepDevice::key(&d.identifier), d.clone());
            }
            for m in &inv.mails {
                data.mails.insert(m.id, m.clone());
            }
            for e in &inv.audit {
                data.record(e, Subject::Nothing);
            }
            Ok(())
        })
    }

    fn check(&self) -> Result<Vec<Problem>> {
        let data = self.read();
        let mut problems = Vec::new();
        for p in data.profiles.values() {
            let n = data.devices.get(&p.id).map_or(0, |l| l.len() as u64);
            if n != p.device_count {
                problems.push(format!(
                    "profile {:?}: device count says {} but it holds {n} devices",
                    p.name, p.device_count
                ));
            }
        }
        let mut imeis = HashSet::new();
        let mut serials = HashSet::new();
        for (_, d) in data.all_devices() {
            for i in d.ids.imeis() {
                if !imeis.insert(i) {
                    problems.push(format!("IMEI {i} is stored twice"));
                }
            }
            if let Some(k) = d.ids.serial_key()
                && !serials.insert(k.clone())
            {
                problems.push(format!("serial {k} is stored twice"));
            }
        }
        Ok(problems)
    }
}

/// An import into the memory store: rows are decoded into devices and staged in the session; `commit`
/// adds them all at once.
struct MemoryImport {
    store: MemoryStore,
    /// The importers' turn (a writing import): released after `active` is cleared, by `Drop`.
    _turn: Option<WriteGuard>,
    profile: Profile,
    create: bool,
    writing: bool,
    first_seq: DeviceSeq,
    next_seq: DeviceSeq,
    staged: Vec<(u64, Device)>,
    /// The first line of each IMEI and serial key in the file (of the rows accepted so far).
    seen: SeenInFile,
}

impl Drop for MemoryImport {
    fn drop(&mut self) {
        if self._turn.is_some() {
            *self.store.active.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }
}

impl ImportSession for MemoryImport {
    fn profile(&self) -> &Profile {
        &self.profile
    }

    fn add_prepared(&mut self, encoder: &RowEncoder, rows: &PreparedRows) -> Result<Vec<LineProblems>> {
        let mut rejected = Vec::new();
        let mut accepted = Vec::new();
        let data = self.store.read();
        for (i, row) in rows.rows().iter().enumerate() {
            let key = rows.key(row).to_string();
            let (serial, manufacturer) = key.split_once('\u{1f}').unwrap_or((&key, ""));
            let ids = Identifiers {
                imei: row.imei.map(Imei::from_stored),
                imei2: row.imei2.map(Imei::from_stored),
                serial: (!key.is_empty()).then(|| serial.to_string()),
                manufacturer: (!key.is_empty()).then(|| manufacturer.to_string()),
            };
            let problems = data.conflicts(&ids, None);
            if !problems.is_empty() {
                rejected.push((row.line, problems));
                continue;
            }
            if self.seen.is_repeat(row.line, [(Field::Imei, row.imei), (Field::Imei2, row.imei2)], &key) {
                continue;
            }
            accepted.push((i, self.next_seq));
            self.next_seq += 1;
        }
        drop(data);
        if self.writing {
            let devices = rows.devices(encoder, &accepted).map_err(StoreError::Backend)?;
            for ((i, _), d) in accepted.iter().zip(devices) {
                self.staged.push((rows.rows()[*i].line, d));
            }
        }
        Ok(rejected)
    }

    fn reserve(&mut self, rows: usize) {
        self.staged.reserve(rows.min(1 << 20));
    }

    fn stop_writing(&mut self) {
        self.writing = false;
        self.staged.clear();
    }

    fn finish(&mut self) -> Result<Vec<LineProblems>> {
        Ok(self.seen.finish())
    }

    fn accepted(&self) -> u64 {
        u64::from(self.next_seq - self.first_seq)
    }

    fn commit(mut self: Box<Self>, attributes: &[String], audit: &AuditEntry) -> Result<Profile> {
        if !self.writing {
            return Err(StoreError::Refused(
                "nothing was written: this import is a dry run or had rejected rows".into(),
            ));
        }
        let staged = std::mem::take(&mut self.staged);
        let (create, mut profile) = (self.create, self.profile.clone());
        let subject = if create { Subject::Profiles } else { Subject::Profile(profile.id) };
        let store = self.store.clone();
        let next_seq = self.next_seq;
        // The writers' turn for the commit only: others wrote meanwhile, so the staged devices are
        // checked again against what is stored now (a device added elsewhere with one of their IMEIs).
        let _writers = store.turn();
        let mut data = store.read();
        let now = Utc::now();
        let taken: Vec<String> = staged
            .iter()
            .filter_map(|(line, d)| {
                let problems = data.conflicts(&d.ids, None);
                (!problems.is_empty()).then(|| taken_meanwhile(*line, &problems))
            })
            .collect();
        if !taken.is_empty() {
            return Err(StoreError::Refused(format!("{}; nothing was imported", taken.join("; "))));
        }
        if create {
            if data.by_name(&profile.name).is_some() {
                return Err(StoreError::Refused(format!("a profile named {:?} already exists", profile.name)));
            }
            data.insert_profile(profile.clone());
        }
        let id = profile.id;
        let added = staged.len() as u64;
        let list = data.devices.entry(id).or_default();
        for (_, d) in staged {
            list.insert(d.seq, d);
        }
        data.next_seq.insert(id, next_seq);
        let p = data.profile_mut(id)?;
        p.device_count += added;
        p.learn_attributes(attributes.iter().map(String::as_str));
        if added > 0 || create {
            p.modified = next_stamp(p.modified, now);
        }
        profile = p.clone();
        let change = data.record(audit, subject);
        drop(data);
        store.feed.publish(change);
        Ok(profile)
    }
}

impl DepStore for MemoryStore {
    fn catalog(&self, kind: CatalogKind) -> Result<Vec<CatalogEntry>> {
        Ok(self.read().catalog.iter().filter(|((k, _), _)| *k == kind.byte()).map(|(_, e)| e.clone()).collect())
    }

    fn catalog_entry(&self, kind: CatalogKind, name: &str) -> Result<Option<CatalogEntry>> {
        Ok(self.read().catalog.get(&(kind.byte(), name.to_string())).cloned())
    }

    fn catalog_add(&self, kind: CatalogKind, entry: CatalogEntry, audit: &AuditEntry) -> Result<()> {
        self.change(audit, Subject::Catalog, |data| {
            let key = (kind.byte(), entry.name.clone());
            if data.catalog.contains_key(&key) {
                return Err(StoreError::Refused(format!("{} {:?} exists already", kind.title(), entry.name)));
            }
            data.catalog.insert(key, entry);
            Ok(())
        })
    }

    fn catalog_update(&self, kind: CatalogKind, name: &str, entry: CatalogEntry, audit: &AuditEntry) -> Result<u64> {
        self.change(audit, Subject::Catalog, |data| {
            if !data.in_catalog(kind, name) {
                return Err(StoreError::NotFound(format!("no {} named {name:?}", kind.title())));
            }
            let mut changed = 0;
            if entry.name != name {
                if data.in_catalog(kind, &entry.name) {
                    return Err(StoreError::Refused(format!("{} {:?} exists already", kind.title(), entry.name)));
                }
                data.catalog.remove(&(kind.byte(), name.to_string()));
                let rename = |v: &mut String| {
                    if v == name {
                        *v = entry.name.clone();
                    }
                };
                let (users, devices) = data.users_of_entry(kind, name);
                for u in users {
                    let stored = data.users.get_mut(&u.username.to_lowercase()).expect("listed");
                    stored.organizations.iter_mut().for_each(rename);
                    changed += 1;
                }
                for d in devices {
                    let stored = data.dep.get_mut(&DepDevice::key(&d.identifier)).expect("listed");
                    stored.tags.iter_mut().for_each(rename);
                    if let Some(t) = stored.template.as_mut() {
                        rename(t);
                    }
                    changed += 1;
                }
            }
            data.catalog.insert((kind.byte(), entry.name.clone()), entry);
            Ok(changed)
        })
    }

    fn catalog_delete(&self, kind: CatalogKind, name: &str, audit: &AuditEntry) -> Result<()> {
        self.change(audit, Subject::Catalog, |data| {
            if !data.in_catalog(kind, name) {
                return Err(StoreError::NotFound(format!("no {} named {name:?}", kind.title())));
            }
            let (users, devices) = data.users_of_entry(kind, name);
            if !users.is_empty() || !devices.is_empty() {
                return Err(StoreError::Refused(format!(
                    "{} {name:?} is used by {}; change those first",
                    kind.title(),
                    describe(&users, &devices)
                )));
            }
            data.catalog.remove(&(kind.byte(), name.to_string()));
            Ok(())
        })
    }

    fn dep_devices(&self) -> Result<Vec<DepDevice>> {
        Ok(self.read().dep.values().cloned().collect())
    }

    fn dep_devices_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<DepDevice>> {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, |a| Bound::Excluded(DepDevice::key(a)));
        Ok(self.read().dep.range((from, Bound::Unbounded)).take(limit).map(|(_, d)| d.clone()).collect())
    }

    fn dep_device(&self, identifier: &str) -> Result<Option<DepDevice>> {
        Ok(self.read().dep.get(&DepDevice::key(identifier)).cloned())
    }

    fn dep_apply(&self, change: DepChange, audit: &AuditEntry) -> Result<Vec<Mail>> {
        self.change(audit, Subject::Dep, |data| {
            for (user, create) in change.users {
                data.put_user(user, create)?;
            }
            let now = Utc::now();
            let mut next_mail = data.mails.keys().next_back().map_or(1, |k| k + 1);
            let mut mails = Vec::new();
            for w in change.devices.iter() {
                let w = w?;
                let d = &w.device;
                let names = d.catalog_names();
                if let Some((kind, name)) = names.into_iter().find(|(k, n)| !data.in_catalog(*k, n)) {
                    return Err(missing_entry(kind, name));
                }
                if let Some(u) = &d.user
                    && !data.users.contains_key(&u.to_lowercase())
                {
                    return Err(StoreError::Refused(format!("user {u:?} does not exist")));
                }
                let key = DepDevice::key(&d.identifier);
                check_device_write(data.dep.get(&key), &w)?;
                if let Some(mail) = mail_for(&w, next_mail, now) {
                    data.mails.insert(next_mail, mail.clone());
                    mails.push(mail);
                    next_mail += 1;
                }
                data.dep.insert(key, w.device);
            }
            Ok(mails)
        })
    }

    fn dep_put(&self, mut d: DepDevice, expect: DateTime<Utc>, audit: &AuditEntry) -> Result<DepDevice> {
        self.change(audit, Subject::Dep, |data| {
            let key = DepDevice::key(&d.identifier);
            let stored =
                data.dep.get(&key).cloned().ok_or_else(|| StoreError::NotFound(format!("no device {}", d.identifier)))?;
            if stored.modified != expect {
                return Err(stale(&format!("DEP device {}", stored.identifier), ""));
            }
            if let DepState::CheckedIn { dep_serial: Some(serial), .. } = &d.state
                && let Some(o) = data.dep.values().find(|o| {
                    DepDevice::key(&o.identifier) != key
                        && matches!(&o.state, DepState::CheckedIn { dep_serial: Some(s), .. } if s.eq_ignore_ascii_case(serial))
                })
            {
                return Err(StoreError::Refused(format!("DEP device {serial} is already checked in as {}", o.identifier)));
            }
            d.identifier = stored.identifier;
            d.modified = next_stamp(stored.modified, d.modified);
            data.dep.insert(key, d.clone());
            Ok(d)
        })
    }

    fn dep_delete(&self, identifier: &str, audit: &AuditEntry) -> Result<()> {
        self.change(audit, Subject::Dep, |data| {
            data.dep
                .remove(&DepDevice::key(identifier))
                .map(|_| ())
                .ok_or_else(|| StoreError::NotFound(format!("no device {identifier}")))
        })
    }

    fn outbox(&self) -> Result<Vec<Mail>> {
        Ok(self.read().mails.values().cloned().collect())
    }

    fn mark_written(&self, ids: &[u64], audit: &AuditEntry) -> Result<()> {
        self.change(audit, Subject::Outbox, |data| {
            for id in ids {
                if let Some(m) = data.mails.get_mut(id) {
                    m.written = true;
                }
            }
            Ok(())
        })
    }
}
