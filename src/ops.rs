//! The operations a technician takes, shared by the command line and the workstation screens.

use chrono::{DateTime, Utc};

use crate::domain::registration::{self, Outcome, Presented};
use crate::domain::{DEFAULT_PROFILE_TYPE, Device, Imei, NewProfile, Profile, Status, Token, token};
use crate::settings::Settings;
use crate::store::{Lookup, Store, StoreError};

/// Builds a profile (not yet stored) from what the technician chose.
pub fn build_profile(settings: &Settings, new: NewProfile, now: DateTime<Utc>) -> Result<Profile, String> {
    let name = crate::domain::check_profile_name(&new.name)?;
    let description = match new.description.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) => {
            crate::domain::text::check_plain(d, "description", 256)?;
            Some(d.to_string())
        }
    };
    let token = if new.without_token {
        if new.token_days.is_some() {
            return Err("a profile without token has no token days".into());
        }
        None
    } else {
        let days = new.token_days.unwrap_or(settings.token_days());
        Some(Token::issue(now, days)?)
    };
    Ok(Profile {
        id: 0,
        name,
        description,
        kind: DEFAULT_PROFILE_TYPE.into(),
        created: now,
        modified: now,
        user: new.user.map(|u| u.trim().to_string()).filter(|u| !u.is_empty()),
        token,
        config: Default::default(),
        device_count: 0,
        attributes: Vec::new(),
    })
}

pub fn require_profile(store: &dyn Store, name: &str) -> Result<Profile, StoreError> {
    store.profile(name)?.ok_or_else(|| StoreError::NotFound(format!("no profile named {:?}", name.trim())))
}

/// Finds a device of a profile by IMEI or by serial + manufacturer.
pub fn require_device(store: &dyn Store, profile: &Profile, lookup: &Lookup) -> Result<Device, StoreError> {
    match store.find(lookup)? {
        Some((id, d)) if id == profile.id => Ok(d),
        Some((id, _)) => {
            let other = store.profile_by_id(id)?.map(|p| p.name).unwrap_or_default();
            Err(StoreError::NotFound(format!("{lookup} is not in profile {:?} but in profile {other:?}", profile.name)))
        }
        None => Err(StoreError::NotFound(format!("no device with {lookup} in profile {:?}", profile.name))),
    }
}

fn no_token(profile: &Profile) -> StoreError {
    StoreError::Refused(format!(
        "profile {:?} enrolls without token (\"Assign custom attributes without token\"); it has no token",
        profile.name
    ))
}

/// Changes a profile's token with `change`; a profile without token has none to change.
fn change_token(
    store: &dyn Store,
    profile: &Profile,
    change: &mut dyn FnMut(&mut Option<Token>) -> Result<(), String>,
) -> Result<Profile, StoreError> {
    if profile.without_token() {
        return Err(no_token(profile));
    }
    store.update_profile(profile.id, &mut |p| change(&mut p.token))
}

/// Issues a new token (the old one stops working), valid for `days` days.
pub fn refresh_token(
    store: &dyn Store,
    profile: &Profile,
    days: u32,
    now: DateTime<Utc>,
) -> Result<Profile, StoreError> {
    let fresh = Token::issue(now, days).map_err(StoreError::Refused)?;
    change_token(store, profile, &mut |t| {
        *t = Some(fresh.clone());
        Ok(())
    })
}

/// Extends the token by `days` days (7 to 99).
pub fn extend_token(
    store: &dyn Store,
    profile: &Profile,
    days: u32,
    now: DateTime<Utc>,
) -> Result<Profile, StoreError> {
    token::check_days(days).map_err(StoreError::Refused)?;
    change_token(store, profile, &mut |t| match t {
        Some(t) => t.extend(now, days),
        None => Err("the profile has no token".into()),
    })
}

pub fn token_of(profile: &Profile) -> Result<&Token, StoreError> {
    profile.token.as_ref().ok_or_else(|| no_token(profile))
}

/// The result of a registration attempt, with the profile and device when one was involved.
#[derive(Debug)]
pub struct Registration {
    pub outcome: Outcome,
    pub profile: Option<Profile>,
    pub device: Option<Device>,
}

/// A device presents a token and its identifiers: decide, and mark the device registered.
pub fn register(
    store: &dyn Store,
    now: DateTime<Utc>,
    token: Option<&str>,
    imei: Option<Imei>,
    serial: Option<&str>,
    manufacturer: Option<&str>,
) -> Result<Registration, StoreError> {
    let token = token.map(str::trim).filter(|t| !t.is_empty());
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
            let by_imei = candidates.iter().find(|(_, d)| imei.is_some() && d.ids.imei == imei);
            match by_imei.or(candidates.first()) {
                Some((id, _)) => store.profile_by_id(*id)?,
                None => None,
            }
        }
    };
    let Some(profile) = profile else {
        let outcome = match token {
            Some(_) => Outcome::NotThisFlow("the enrollment token is not known to any profile".into()),
            None => Outcome::NotRegistered("no profile has a device with these identifiers".into()),
        };
        return Ok(Registration { outcome, profile: None, device: None });
    };
    let mine: Vec<Device> = candidates.into_iter().filter(|(id, _)| *id == profile.id).map(|(_, d)| d).collect();
    let presented = Presented { token, imei, serial, manufacturer };
    let outcome = registration::decide(now, &profile, &presented, &mine);
    let device = match &outcome {
        Outcome::Registered { seq, .. } => Some(store.set_status(profile.id, *seq, Status::Registered(now))?),
        _ => None,
    };
    Ok(Registration { outcome, profile: Some(profile), device })
}

/// Checks a DEP device in as it presents itself: the record's own rules (`dep::check_in`), and a DEP
/// device (serial) checks in on one record only. Decided under the store's write lock.
pub fn dep_check_in(
    store: &dyn Store,
    identifier: &str,
    presented: &crate::domain::dep::CheckIn,
    now: DateTime<Utc>,
) -> Result<crate::domain::dep::DepDevice, StoreError> {
    use crate::domain::dep::{DepDevice, DepState, check_in};
    store.dep_update(identifier, &mut |d| {
        if let Some(serial) = &presented.serial {
            let others = store.dep_devices().map_err(|e| e.to_string())?;
            let taken = others.iter().find(|o| {
                DepDevice::key(&o.identifier) != DepDevice::key(&d.identifier)
                    && matches!(&o.state, DepState::CheckedIn { dep_serial: Some(s), .. } if s.eq_ignore_ascii_case(serial))
            });
            if let Some(o) = taken {
                return Err(format!("DEP device {serial} is already checked in as {}", o.identifier));
            }
        }
        check_in(d, presented, now)
    })
}

/// Withdraws a DEP device: it can no longer check in, and its record becomes read-only.
pub fn dep_withdraw(
    store: &dyn Store,
    identifier: &str,
    now: DateTime<Utc>,
) -> Result<crate::domain::dep::DepDevice, StoreError> {
    use crate::domain::dep::DepState;
    store.dep_update(identifier, &mut |d| {
        if let DepState::Withdrawn { .. } = d.state {
            return Err(format!("{} is withdrawn already", d.identifier));
        }
        d.state = DepState::Withdrawn { at: now };
        d.modified = now;
        Ok(())
    })
}
