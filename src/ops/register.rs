//! A device registering: it presents a token (or none) and its identifiers; the outcome table decides.

use serde::{Deserialize, Serialize};

use super::{Ctx, OpError, Result};
use crate::domain::audit::{AuditOutcome, redact};
use crate::domain::registration::{self, Outcome, Presented};
use crate::domain::{Device, Imei, Profile, Status};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Register {
    pub token: Option<String>,
    pub imei: Option<String>,
    pub serial: Option<String>,
    pub manufacturer: Option<String>,
}

/// The result of a registration attempt, with the profile and device when one was involved.
#[derive(Debug)]
pub struct Registration {
    pub outcome: Outcome,
    pub profile: Option<Profile>,
    pub device: Option<Device>,
}

/// Decides, and marks the device registered. An attempt that does not register is recorded as refused
/// with the outcome's reason; the token never reaches the audit trail.
pub fn run(ctx: &Ctx, c: Register) -> Result<Registration> {
    let token = c.token.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let secrets: Vec<&str> = token.into_iter().collect();
    let serial = c.serial.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let manufacturer = c.manufacturer.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let mut shown = Vec::new();
    if let Some(i) = c.imei.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        shown.push(format!("IMEI {i}"));
    }
    if let Some(s) = serial {
        shown.push(format!("serial {s}"));
    }
    let target = if shown.is_empty() { "a device".to_string() } else { shown.join(", ") };
    let store = ctx.store;
    ctx.audited("register", None, &target, &secrets, || {
        let imei = match c.imei.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(raw) => Some(Imei::parse(raw).map_err(|e| OpError::invalid("imei", format!("IMEI {raw:?}: {e}")))?),
            None => None,
        };
        let candidates = store.candidates(imei, serial)?;
        let profile: Option<Profile> = match token {
            Some(t) => {
                // Every profile's token is compared, each in constant time.
                let mut found = None;
                for p in store.profiles()? {
                    if p.token.as_ref().is_some_and(|k| k.matches(t)) {
                        found = Some(p);
                    }
                }
                found
            }
            None => {
                let by_imei = candidates.iter().find(|(_, d)| imei.is_some_and(|i| d.ids.imeis().any(|x| x == i)));
                match by_imei.or(candidates.first()) {
                    Some((id, _)) => store.profile_by_id(*id)?,
                    None => None,
                }
            }
        };
        let outcome = match &profile {
            None => match token {
                Some(_) => Outcome::NotThisFlow("the enrollment token is not known to any profile".into()),
                None => Outcome::NotRegistered("no profile has a device with these identifiers".into()),
            },
            Some(p) => {
                let mine: Vec<Device> = candidates.into_iter().filter(|(id, _)| *id == p.id).map(|(_, d)| d).collect();
                let presented = Presented { token, imei, serial, manufacturer };
                registration::decide(ctx.now, p, &presented, &mine)
            }
        };
        let name = profile.as_ref().map(|p| p.name.as_str());
        let device = match (&outcome, &profile) {
            (Outcome::Registered { seq, .. }, Some(p)) => {
                let audit = ctx.done("register", name, &target, "registered".into());
                Some(store.set_status(p.id, *seq, Status::Registered(ctx.now), &audit)?)
            }
            (Outcome::NotThisFlow(why) | Outcome::NotRegistered(why), _) => {
                let kind = if matches!(outcome, Outcome::NotThisFlow(_)) { "not this flow" } else { "not registered" };
                let reason = redact(&format!("{kind}: {why}"), &secrets);
                let _ = store.append_audit(&ctx.entry("register", name, &target, AuditOutcome::Refused(reason), None));
                None
            }
            _ => None,
        };
        Ok(Registration { outcome, profile, device })
    })
}
