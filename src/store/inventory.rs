//! A whole inventory as plain data, for `kitting db copy`: read from any store through the contract,
//! loaded into an empty one by `Store::load` with every record as it was (profile ids, device numbers,
//! statuses and their times, DEP records, mails and the audit trail).

use serde::{Deserialize, Serialize};

use super::{Result, Store};
use crate::domain::audit::{AuditEntry, AuditQuery};
use crate::domain::dep::{CatalogEntry, CatalogKind, DepDevice, Mail};
use crate::domain::text::quote;
use crate::domain::{Device, Profile, User};

/// Devices are read a page at a time.
const PAGE: usize = 10_000;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub catalog: Vec<(CatalogKind, CatalogEntry)>,
    pub users: Vec<User>,
    /// Each profile with its devices in device-number order.
    pub profiles: Vec<(Profile, Vec<Device>)>,
    pub dep: Vec<DepDevice>,
    pub mails: Vec<Mail>,
    /// Oldest first.
    pub audit: Vec<AuditEntry>,
}

/// How many records of each kind: what a copy compares between its two sides.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub profiles: u64,
    pub devices: u64,
    pub users: u64,
    pub catalog: u64,
    pub dep: u64,
    pub mails: u64,
    pub audit: u64,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} profiles, {} devices, {} users, {} catalog entries, {} DEP devices, {} mails, {} audit entries",
            self.profiles, self.devices, self.users, self.catalog, self.dep, self.mails, self.audit
        )
    }
}

impl Counts {
    /// The kinds of records there are any of, without the audit trail ("1 profiles, 3 devices").
    pub fn held(&self) -> String {
        let parts = [
            (self.profiles, "profiles"),
            (self.devices, "devices"),
            (self.users, "users"),
            (self.catalog, "catalog entries"),
            (self.dep, "DEP devices"),
            (self.mails, "mails"),
        ];
        let held: Vec<String> = parts.iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{n} {what}")).collect();
        if held.is_empty() { "nothing".into() } else { held.join(", ") }
    }
}

impl Inventory {
    /// Everything `store` holds, read through the contract.
    pub fn read(store: &dyn Store) -> Result<Inventory> {
        let mut inv = Inventory::default();
        for kind in CatalogKind::ALL {
            inv.catalog.extend(store.catalog(kind)?.into_iter().map(|e| (kind, e)));
        }
        inv.users = store.users()?;
        for p in store.profiles()? {
            let mut devices = Vec::with_capacity(p.device_count as usize);
            each_page(store, &p, |page| devices.extend(page))?;
            inv.profiles.push((p, devices));
        }
        inv.dep = store.dep_devices()?;
        inv.mails = store.outbox()?;
        inv.audit = store.audit(&AuditQuery::default())?;
        inv.audit.reverse();
        Ok(inv)
    }

    pub fn counts(&self) -> Counts {
        Counts {
            profiles: self.profiles.len() as u64,
            devices: self.profiles.iter().map(|(_, d)| d.len() as u64).sum(),
            users: self.users.len() as u64,
            catalog: self.catalog.len() as u64,
            dep: self.dep.len() as u64,
            mails: self.mails.len() as u64,
            audit: self.audit.len() as u64,
        }
    }
}

/// A profile's devices, a page at a time, in order.
fn each_page(store: &dyn Store, p: &Profile, mut f: impl FnMut(Vec<Device>)) -> Result<()> {
    let mut after = None;
    loop {
        let page = store.devices_page(p.id, after, PAGE)?;
        let done = page.len() < PAGE;
        after = page.last().map(|d| d.seq);
        f(page);
        if done {
            return Ok(());
        }
    }
}

/// What a store holds, counted through the contract (devices counted one by one, not from the profiles'
/// own counts, so that a count that drifted shows).
pub fn count(store: &dyn Store) -> Result<Counts> {
    let mut c = Counts::default();
    for kind in CatalogKind::ALL {
        c.catalog += store.catalog(kind)?.len() as u64;
    }
    c.users = store.users()?.len() as u64;
    for p in store.profiles()? {
        c.profiles += 1;
        each_page(store, &p, |page| c.devices += page.len() as u64)?;
    }
    c.dep = store.dep_devices()?.len() as u64;
    c.mails = store.outbox()?.len() as u64;
    c.audit = store.audit(&AuditQuery::default())?.len() as u64;
    Ok(c)
}

/// Refuses to load into a store that holds anything but an audit trail.
pub(crate) fn refuse_unless_empty(c: &Counts) -> Result<()> {
    if c.profiles + c.users + c.catalog + c.dep + c.mails > 0 {
        return Err(super::StoreError::Refused(format!(
            "the destination is not empty (it holds {}): a copy goes into an empty database only; nothing was copied",
            c.held()
        )));
    }
    Ok(())
}

/// What in an inventory breaks the store's rules (a store loads none that does): an IMEI on two devices
/// (first or second), a serial number and manufacturer twice, a profile name, username or DEP identifier
/// twice ignoring case, a device number twice in a profile, a profile whose count is not its devices.
pub fn problems(inv: &Inventory) -> Vec<String> {
    use std::collections::HashSet;
    let mut out = Vec::new();
    let mut imeis = HashSet::new();
    let mut serials = HashSet::new();
    let mut names = HashSet::new();
    let mut ids = HashSet::new();
    for (p, devices) in &inv.profiles {
        if !names.insert(p.name.trim().to_lowercase()) {
            out.push(format!("profile name {:?} is there twice", p.name));
        }
        if !ids.insert(p.id) {
            out.push(format!("profile id {} is there twice", p.id));
        }
        if p.device_count != devices.len() as u64 {
            out.push(format!("profile {:?} counts {} devices but has {}", p.name, p.device_count, devices.len()));
        }
        if devices.windows(2).any(|w| w[0].seq >= w[1].seq) {
            out.push(format!("profile {:?}: its devices are not in device-number order", p.name));
        }
        for d in devices {
            for i in d.ids.imeis() {
                if !imeis.insert(i) {
                    out.push(format!("IMEI {i} is on two devices"));
                }
            }
            if let Some(k) = d.ids.serial_key()
                && !serials.insert(k)
            {
                out.push(format!("serial number {} is on two devices", d.ids.serial.as_deref().unwrap_or("")));
            }
        }
    }
    let mut users = HashSet::new();
    for u in &inv.users {
        if !users.insert(u.username.trim().to_lowercase()) {
            out.push(format!("username {:?} is there twice", u.username));
        }
    }
    let catalog: HashSet<(CatalogKind, &str)> = inv.catalog.iter().map(|(k, e)| (*k, e.name.as_str())).collect();
    let missing = |kind: CatalogKind, name: &str| !catalog.contains(&(kind, name));
    let has_user = |name: &str| users.contains(&name.trim().to_lowercase());
    for (p, _) in &inv.profiles {
        if let Some(u) = p.user.as_deref().filter(|u| !has_user(u)) {
            out.push(format!("profile {}: its user {} does not exist", quote(&p.name), quote(u)));
        }
    }
    for u in &inv.users {
        for o in u.organizations.iter().filter(|o| missing(CatalogKind::Organization, o)) {
            out.push(format!("user {}: organization {} is not in the catalog", quote(&u.username), quote(o)));
        }
    }
    let mut dep = HashSet::new();
    let mut checked_in = std::collections::HashMap::new();
    for d in &inv.dep {
        if !dep.insert(DepDevice::key(&d.identifier)) {
            out.push(format!("DEP identifier {} is there twice", quote(&d.identifier)));
        }
        if let Some(u) = d.user.as_deref().filter(|u| !has_user(u)) {
            out.push(format!("DEP record {}: its user {} does not exist", quote(&d.identifier), quote(u)));
        }
        for (kind, name) in d.catalog_names().into_iter().filter(|(k, n)| missing(*k, n)) {
            out.push(format!(
                "DEP record {}: {} {} is not in the catalog",
                quote(&d.identifier),
                kind.title(),
                quote(name)
            ));
        }
        if let crate::domain::dep::DepState::CheckedIn { dep_serial: Some(serial), .. } = &d.state
            && let Some(first) = checked_in.insert(serial.trim().to_uppercase(), &d.identifier)
        {
            out.push(format!(
                "serial number {} is checked in on two DEP records ({} and {})",
                quote(serial),
                quote(first),
                quote(&d.identifier)
            ));
        }
    }
    let mut mail_ids = HashSet::new();
    for m in &inv.mails {
        if !mail_ids.insert(m.id) {
            out.push(format!("mail {} is there twice", m.id));
        }
    }
    // The trail, oldest first: each entry after the one before it.
    if let Some(w) = inv.audit.windows(2).find(|w| w[0].id >= w[1].id) {
        out.push(format!("the audit trail is out of order: entry {} comes before entry {}", w[0].id, w[1].id));
    }
    out.truncate(20);
    out
}

/// Every rule a store keeps, on any store: its own indexes and counts (`Store::check`), then the whole
/// inventory read as of one moment (`problems`: uniqueness, the references from profiles, users and DEP
/// records to users and catalog entries, one check-in per serial number, the audit trail's order).
pub fn check_all(store: &dyn Store) -> Result<Vec<String>> {
    let mut found: Vec<String> = store.check()?.into_iter().map(|p| p.to_string()).collect();
    if found.is_empty() {
        found = problems(&store.snapshot()?);
    }
    Ok(found)
}

/// `problems`, as a refusal.
pub(crate) fn refuse_problems(inv: &Inventory) -> Result<()> {
    let found = problems(inv);
    if found.is_empty() {
        return Ok(());
    }
    Err(super::StoreError::Refused(format!("the inventory breaks the store's rules: {}", found.join("; "))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::dep::DepState;

    fn record(identifier: &str) -> DepDevice {
        DepDevice { identifier: identifier.into(), ..DepDevice::sample(chrono::Utc::now()) }
    }

    /// Each reference and rule the stores keep, broken once: `problems` names each.
    #[test]
    fn every_broken_reference_and_rule_is_named() {
        let mut inv = Inventory::default();
        inv.catalog.push((CatalogKind::Tag, CatalogEntry { name: "lobby".into(), description: None }));
        inv.users.push(User { username: "taro".into(), organizations: vec!["Sales".into()], ..User::default() });
        let mut a = record("A1");
        a.user = Some("ghost".into());
        a.template = Some("Kiosk".into());
        a.tags = vec!["lobby".into(), "roof".into()];
        let in_state = |serial: &str| DepState::CheckedIn {
            at: chrono::Utc::now(),
            dep_serial: Some(serial.into()),
            dep_profile: None,
        };
        a.state = in_state("SER1");
        let mut b = record("B1");
        b.user = Some("TARO".into());
        b.state = in_state("ser1 ");
        inv.dep = vec![a, b];
        use crate::domain::audit::{Actor, AuditOutcome, FrontEnd};
        let entry = |id: u64| AuditEntry {
            id,
            at: chrono::Utc::now(),
            actor: Actor::named("ann", FrontEnd::Cli),
            command: "x".into(),
            profile: None,
            target: String::new(),
            outcome: AuditOutcome::Done(String::new()),
            counts: None,
        };
        inv.audit = vec![entry(1), entry(3), entry(2)];
        let found = problems(&inv);
        let has = |text: &str| found.iter().any(|p| p.contains(text));
        assert!(has("user \"taro\": organization \"Sales\" is not in the catalog"), "{found:?}");
        assert!(has("DEP record \"A1\": its user \"ghost\" does not exist"), "{found:?}");
        assert!(has("DEP record \"A1\": template \"Kiosk\" is not in the catalog"), "{found:?}");
        assert!(has("DEP record \"A1\": device tag \"roof\" is not in the catalog"), "{found:?}");
        assert!(has("serial number \"ser1 \" is checked in on two DEP records (\"A1\" and \"B1\")"), "{found:?}");
        assert!(has("the audit trail is out of order: entry 3 comes before entry 2"), "{found:?}");
        assert_eq!(found.len(), 6, "a user named in another case is found, the tag that exists too: {found:?}");
    }
}
