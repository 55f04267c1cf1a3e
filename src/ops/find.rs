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

/// Every device that has `value` as its IMEI (an IMEISV counts as its IMEI) or serial number, in any
/// profile, and every DEP record with it as identifier, serial, IMEI, MEID, UDID or Wi-Fi MAC. The value is
/// read as a scan is (spaces, dashes, an AIM prefix do not matter); what is not an identifier is still
/// looked up as a DEP identifier, as typed.
pub fn find(store: &dyn Store, value: &str) -> Result<Vec<Found>, StoreError> {
    let typed = value.trim();
    let mut out = Vec::new();
    if typed.is_empty() {
        return Ok(out);
    }
    let scanned = scan::parse(typed, ScanRules::default()).ok().and_then(|v| v.into_iter().next());
    let names = |store: &dyn Store, id| store.profile_by_id(id).map(|p| p.map(|p| p.name).unwrap_or_default());
    match scanned.as_ref().map(|s| (s.kind, s)) {
        Some((ScanKind::Imei | ScanKind::Imeisv, s)) => {
            if let Some((id, device)) = store.find(&Lookup::Imei(s.imei.expect("an IMEI scan has it")))? {
                out.push(Found::Android { profile: names(store, id)?, device, matched: "IMEI" });
            }
        }
        _ => {
            let serial = scanned.as_ref().filter(|s| s.kind == ScanKind::Serial).map_or(typed, |s| s.value.as_str());
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
    let normal = scanned.as_ref().map(|s| s.value.to_lowercase());
    let same = |field: &Option<String>| {
        field.as_deref().is_some_and(|f| {
            let f = f.trim().to_lowercase();
            f == typed.to_lowercase() || normal.as_deref().is_some_and(|n| f.replace([':', '-', ' '], "") == n)
        })
    };
    for record in store.dep_devices()? {
        let matched = if DepDevice::key(&record.identifier) == DepDevice::key(typed) {
            Some("identifier")
        } else if same(&record.serial) {
            Some("serial")
        } else if same(&record.imei) {
            Some("IMEI")
        } else if same(&record.meid) {
            Some("MEID")
        } else if same(&record.udid) {
            Some("UDID")
        } else if same(&record.wifi_mac) {
            Some("Wi-Fi MAC")
        } else {
            None
        };
        if let Some(matched) = matched {
            out.push(Found::Dep { record: Box::new(record), matched });
        }
    }
    Ok(out)
}
