//! Profiles: create, edit (name and description), set the associated user, Modify Configuration, delete.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Ctx, OpError, Result, plural, require_profile};
use crate::domain::android::AndroidConfig;
use crate::domain::{DEFAULT_PROFILE_TYPE, NewProfile, Profile, Token, check_profile_name, text};
use crate::settings::Settings;
use crate::store::ProfileChange;

pub const MAX_DESCRIPTION_CHARS: usize = 256;

/// A description as stored: trimmed, empty is none, at most 256 characters, no control characters.
pub fn check_description(raw: &str) -> Result<Option<String>> {
    match raw.trim() {
        "" => Ok(None),
        d => {
            text::check_plain(d, "description", MAX_DESCRIPTION_CHARS)
                .map_err(|e| OpError::invalid("description", e))?;
            Ok(Some(d.to_string()))
        }
    }
}

/// Builds a profile (not yet stored) from what the technician chose; `default_days` is the token
/// lifetime when none is given.
pub fn new_profile(new: NewProfile, default_days: u32, now: DateTime<Utc>) -> Result<Profile> {
    let name = check_profile_name(&new.name).map_err(|e| OpError::invalid("name", e))?;
    let description = check_description(new.description.as_deref().unwrap_or(""))?;
    let token = if new.without_token {
        if new.token_days.is_some() {
            return Err(OpError::invalid("token_days", "a profile without token has no token days"));
        }
        None
    } else {
        let days = new.token_days.unwrap_or(default_days);
        Some(Token::issue(now, days).map_err(|e| OpError::invalid("token_days", e))?)
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
        version: 1,
    })
}

/// `new_profile` with the configured default token lifetime.
pub fn build_profile(settings: &Settings, new: NewProfile, now: DateTime<Utc>) -> Result<Profile> {
    new_profile(new, settings.token_days(), now)
}

/// What a new profile's audit entry says (never the token itself).
pub(crate) fn created_text(p: &Profile) -> String {
    match &p.token {
        Some(t) => format!("profile created, token expires {}", t.expires.format("%Y-%m-%d")),
        None => "profile created without token".into(),
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreateProfile {
    pub profile: NewProfile,
    /// The token lifetime when `profile.token_days` is not given (the site's setting).
    pub default_token_days: u32,
}

pub fn create(ctx: &Ctx, c: CreateProfile) -> Result<Profile> {
    let name = c.profile.name.trim().to_string();
    let target = format!("profile {name:?}");
    ctx.audited("profile.create", Some(&name), &target, &[], || {
        let profile = new_profile(c.profile, c.default_token_days, ctx.now)?;
        let audit = ctx.done("profile.create", Some(&profile.name), &target, created_text(&profile));
        Ok(ctx.store.create_profile(profile, &audit)?)
    })
}

/// Rename and/or change the description (`Some("")` clears it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EditProfile {
    pub profile: String,
    pub rename: Option<String>,
    pub description: Option<String>,
    /// The version the technician saw (a conflict if it changed since).
    pub expect: Option<u64>,
}

pub fn edit(ctx: &Ctx, c: EditProfile) -> Result<Profile> {
    let target = format!("profile {:?}", c.profile.trim());
    ctx.audited("profile.edit", Some(c.profile.trim()), &target, &[], || {
        let p = require_profile(ctx.store, &c.profile)?;
        let mut change = ProfileChange::default();
        let mut said = Vec::new();
        if let Some(n) = &c.rename {
            let n = check_profile_name(n).map_err(|e| OpError::invalid("name", e))?;
            if n != p.name {
                said.push(format!("renamed to {n:?}"));
            }
            change.name = Some(n);
        }
        if let Some(d) = &c.description {
            let d = check_description(d)?;
            if d != p.description {
                said.push(if d.is_some() { "description changed".into() } else { "description cleared".into() });
            }
            change.description = Some(d);
        }
        if said.is_empty() {
            said.push("nothing changed".into());
        }
        let audit = ctx.done("profile.edit", Some(&p.name), &target, said.join(", "));
        Ok(ctx.store.update_profile(p.id, &change, c.expect, &audit)?)
    })
}

/// Modify the associated user (`None` removes it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SetProfileUser {
    pub profile: String,
    pub user: Option<String>,
    pub expect: Option<u64>,
}

pub fn set_user(ctx: &Ctx, c: SetProfileUser) -> Result<Profile> {
    let target = format!("profile {:?}", c.profile.trim());
    ctx.audited("profile.set_user", Some(c.profile.trim()), &target, &[], || {
        let p = require_profile(ctx.store, &c.profile)?;
        let user = c.user.as_deref().map(str::trim).filter(|u| !u.is_empty());
        let user = match user {
            Some(u) => Some(
                ctx.store
                    .user(u)?
                    .ok_or_else(|| OpError::Invalid { field: "user", reason: format!("no user named {u:?}") })?
                    .username,
            ),
            None => None,
        };
        let said = match &user {
            Some(u) => format!("associated user set to {u}"),
            None => "associated user removed".into(),
        };
        let change = ProfileChange { user: Some(user), ..ProfileChange::default() };
        let audit = ctx.done("profile.set_user", Some(&p.name), &target, said);
        Ok(ctx.store.update_profile(p.id, &change, c.expect, &audit)?)
    })
}

/// One key to set in Modify Configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ConfigKey {
    Vendor(String, String),
    /// A pre-defined system extra by its short name (`wifi_ssid`), with its raw value.
    System(String, String),
    /// A custom `android.app.extra.*` key.
    Custom(String, String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ConfigChange {
    /// The whole configuration, as the workstation's form gives it.
    Replace(AndroidConfig),
    /// Keys to remove, then keys to set (the command line).
    Edit { set: Vec<ConfigKey>, unset: Vec<String> },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModifyConfiguration {
    pub profile: String,
    pub change: ConfigChange,
    pub expect: Option<u64>,
}

/// The key names of a configuration (never its values: a Wi-Fi password is one).
fn key_names(c: &AndroidConfig) -> Vec<String> {
    let mut names: Vec<String> = c.vendor.iter().map(|(k, _)| k.clone()).collect();
    names.extend(c.system.iter().map(|(k, _)| k.clone()));
    names.extend(c.custom.iter().map(|(k, _)| k.clone()));
    names
}

/// A key's value as text, from whichever group holds it.
fn value_of(c: &AndroidConfig, key: &str) -> Option<String> {
    let find = |list: &[(String, String)]| list.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    find(&c.vendor)
        .or_else(|| c.system.iter().find(|(k, _)| k == key).map(|(_, v)| v.to_string()))
        .or_else(|| find(&c.custom))
}

/// The values of a change that must not reach the audit trail or a message (the Wi-Fi password).
fn config_secrets(c: &ModifyConfiguration) -> Vec<String> {
    match &c.change {
        ConfigChange::Replace(config) => {
            config.system.iter().filter(|(k, _)| k == "wifi_password").map(|(_, v)| v.to_string()).collect()
        }
        ConfigChange::Edit { set, .. } => set
            .iter()
            .filter_map(|k| match k {
                ConfigKey::System(n, v) if n == "wifi_password" => Some(v.clone()),
                _ => None,
            })
            .collect(),
    }
}

pub fn modify_configuration(ctx: &Ctx, c: ModifyConfiguration) -> Result<Profile> {
    let target = format!("profile {:?}", c.profile.trim());
    let secrets = config_secrets(&c);
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    ctx.audited("profile.configure", Some(c.profile.trim()), &target, &secrets, || {
        let p = require_profile(ctx.store, &c.profile)?;
        let invalid = |e: String| OpError::invalid("configuration", e);
        let config = match &c.change {
            ConfigChange::Replace(config) => config.clone(),
            ConfigChange::Edit { set, unset } => {
                let mut config = p.config.clone();
                for k in unset {
                    if !config.unset(k) {
                        return Err(invalid(format!("{k:?} is not set")));
                    }
                }
                for k in set {
                    match k {
                        ConfigKey::Vendor(k, v) => config.set_vendor(k, v),
                        ConfigKey::System(k, v) => config.set_system(k, v),
                        ConfigKey::Custom(k, v) => config.set_custom(k, v),
                    }
                    .map_err(invalid)?;
                }
                config
            }
        };
        let (before, after) = (key_names(&p.config), key_names(&config));
        let set: Vec<&String> = after.iter().filter(|k| value_of(&p.config, k) != value_of(&config, k)).collect();
        let removed: Vec<&String> = before.iter().filter(|k| !after.contains(k)).collect();
        let mut said = Vec::new();
        if !set.is_empty() {
            said.push(format!("set {}", set.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")));
        }
        if !removed.is_empty() {
            said.push(format!("removed {}", removed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")));
        }
        if said.is_empty() {
            said.push("nothing changed".into());
        }
        let change = ProfileChange { config: Some(config), ..ProfileChange::default() };
        let audit =
            ctx.done("profile.configure", Some(&p.name), &target, format!("configuration: {}", said.join("; ")));
        Ok(ctx.store.update_profile(p.id, &change, c.expect, &audit)?)
    })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeleteProfile {
    pub profile: String,
}

/// Deletes a profile with its devices; returns how many devices went with it.
pub fn delete(ctx: &Ctx, c: DeleteProfile) -> Result<u64> {
    let target = format!("profile {:?}", c.profile.trim());
    ctx.audited("profile.delete", Some(c.profile.trim()), &target, &[], || {
        let p = require_profile(ctx.store, &c.profile)?;
        let n = p.device_count;
        let audit =
            ctx.done("profile.delete", Some(&p.name), &target, format!("deleted with its {n} device{}", plural(n)));
        Ok(ctx.store.delete_profile(p.id, &audit)?)
    })
}
