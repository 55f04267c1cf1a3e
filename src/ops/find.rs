//! Find a device anywhere: by IMEI, serial number or DEP identifier, across every profile and every DEP
//! record. A query, not a change: nothing is written or audited.

use crate::domain::Device;
use crate::domain::dep::DepDevice;
use crate::domain::scan::{self, ScanKind, ScanRules};
use crate::store::{Lookup, Store, StoreError};

/// Where a device was found.
#[derive(Clone, Debug, PartialEq)]
pub enum Found {
    Android {
        profile: String,
        device: Device,
        matched: &'static str,
    },
    /// A DEP record, and which of its fields matched.
    Dep {
        record: Box<DepDevice>,
        matched: &'static str,
    },
}

impl Found {
    /// One line naming where it lives and what it is.
    pub fn describe(&self) -> String {
        match self {
            Found::Android { profile, device, .. } => {
                format!("profile {profile:?}: {} ({})", device.label(), device.status.label())
            }
            Found::Dep { record, matched } => {
                format!("DEP record {:?} ({matched}, {})", record.identifier, record.state.label())
            }
        }
    }
}

/// A value to find, read once: as typed, and as a scan reads it.
pub struct Query {
    typed: String,
    scanned: Option<scan::Scanned>,
}

impl Query {
    pub fn new(value: &str) -> Query {
        let typed = value.trim().to_string();
        let scanned = scan::parse(&typed, ScanRules::default()).ok().and_then(|v| v.into_iter().next());
        Query { typed, scanned }
    }

    pub fn is_empty(&self) -> bool {
        self.typed.is_empty()
    }

    /// What the indexes answer at once: the Android devices with it as IMEI or serial number, and the DEP
    /// record with it as identifier.
    pub fn indexed(&self, store: &dyn Store) -> Result<Vec<Found>, StoreError> {
        let mut out = Vec::new();
        if self.is_empty() {
            return Ok(out);
        }
        let typed = self.typed.as_str();
        let scanned = self.scanned.as_ref();
        let names = |store: &dyn Store, id| store.profile_by_id(id).map(|p| p.map(|p| p.name).unwrap_or_default());
        match scanned.map(|s| (s.kind, s)) {
            Some((ScanKind::Imei | ScanKind::Imeisv, s)) => {
                if let Some((id, device)) = store.find(&Lookup::Imei(s.imei.expect("an IMEI scan has it")))? {
                    out.push(Found::Android { profile: names(store, id)?, device, matched: "IMEI" });
                }
            }
            _ => {
                let serial = scanned.filter(|s| s.kind == ScanKind::Serial).map_or(typed, |s| s.value.as_str());
                let mut seen = Vec::new();
                for candidate in [typed, serial] {
                    for (id, device) in store.candidates(None, Some(candidate))? {
                        if !seen.contains(&(id, device.seq)) {
                            seen.push((id, device.seq));
                            out.push(Found::Android { profile: names(store, id)?, device, matched: "serial number" });
                        }
                    }
                }
            }
        }
        if let Some(record) = store.dep_device(typed)? {
            out.push(Found::Dep { record: Box::new(record), matched: "identifier" });
        }
        Ok(out)
    }

    /// The DEP records with it as serial, IMEI, MEID, UDID or Wi-Fi MAC (not indexed: every record is
    /// read), `PAGE` records at a time after `after`; the identifier of the last record read, or `None`
    /// when every record has been read.
    pub fn dep_fields(
        &self,
        store: &dyn Store,
        after: Option<&str>,
        found: &mut Vec<Found>,
    ) -> Result<Option<String>, StoreError> {
        let page = store.dep_devices_page(after, PAGE)?;
        let last = (page.len() == PAGE).then(|| page.last().map(|d| d.identifier.clone())).flatten();
        for record in page {
            if let Some(matched) = self.dep_field(&record) {
                found.push(Found::Dep { record: Box::new(record), matched });
            }
        }
        Ok(last)
    }

    /// Which field of a record other than its identifier holds the value.
    fn dep_field(&self, record: &DepDevice) -> Option<&'static str> {
        if self.is_empty() || DepDevice::key(&record.identifier) == DepDevice::key(&self.typed) {
            return None;
        }
        let normal = self.scanned.as_ref().map(|s| s.value.as_str());
        // Compared ignoring case, and, as scanned, ignoring the separators of a MAC or an IMEI.
        let same = |field: &Option<String>| {
            field.as_deref().is_some_and(|f| {
                let f = f.trim();
                f.eq_ignore_ascii_case(&self.typed)
                    || (!f.is_ascii() && f.to_lowercase() == self.typed.to_lowercase())
                    || normal.is_some_and(|n| {
                        let bare = f.bytes().filter(|b| !matches!(b, b':' | b'-' | b' '));
                        bare.clone().count() == n.len() && bare.zip(n.bytes()).all(|(a, b)| a.eq_ignore_ascii_case(&b))
                    })
            })
        };
        [
            (&record.serial, "serial"),
            (&record.imei, "IMEI"),
            (&record.meid, "MEID"),
            (&record.udid, "UDID"),
            (&record.wifi_mac, "Wi-Fi MAC"),
        ]
        .into_iter()
        .find(|(field, _)| same(field))
        .map(|(_, name)| name)
    }
}

/// DEP records read at a time by a search (between two looks at whether it was cancelled).
pub const PAGE: usize = 1024;

/// Every device that has `value` as its IMEI (an IMEISV counts as its IMEI) or serial number, in any
/// profile, and every DEP record with it as identifier, serial, IMEI, MEID, UDID or Wi-Fi MAC. The value is
/// read as a scan is (spaces, dashes, an AIM prefix do not matter); what is not an identifier is still
/// looked up as a DEP identifier, as typed.
pub fn find(store: &dyn Store, value: &str) -> Result<Vec<Found>, StoreError> {
    let query = Query::new(value);
    let mut out = query.indexed(store)?;
    let mut after = None;
    while !query.is_empty() {
        after = query.dep_fields(store, after.as_deref(), &mut out)?;
        if after.is_none() {
            break;
        }
    }
    Ok(out)
}
