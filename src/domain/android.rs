//! "Modify Configuration": vendor keys, the pre-defined Android system extras, custom Android system keys.

use serde::{Deserialize, Serialize};

pub const EXTRA_PREFIX: &str = "android.app.extra.";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtraKind {
    Text,
    Bool,
    /// NONE, WPA, WEP or EAP.
    WifiSecurity,
    /// A locale such as `en_US`.
    Locale,
    /// An IANA time zone name such as `Asia/Tokyo` (the names Android knows).
    TimeZone,
}

/// Every IANA time zone name, for a list to pick from.
pub fn time_zone_names() -> impl Iterator<Item = &'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())
}

/// A pre-defined Android system extra: its short name (CLI and screens), its label, its key and type.
#[derive(Clone, Copy, Debug)]
pub struct SystemExtra {
    pub name: &'static str,
    pub label: &'static str,
    pub key: &'static str,
    pub kind: ExtraKind,
}

pub const SYSTEM_EXTRAS: &[SystemExtra] = &[
    SystemExtra {
        name: "wifi_ssid",
        label: "Wi-Fi SSID",
        key: "android.app.extra.PROVISIONING_WIFI_SSID",
        kind: ExtraKind::Text,
    },
    SystemExtra {
        name: "wifi_password",
        label: "Wi-Fi password",
        key: "android.app.extra.PROVISIONING_WIFI_PASSWORD",
        kind: ExtraKind::Text,
    },
    SystemExtra {
        name: "wifi_security_type",
        label: "Wi-Fi security type",
        key: "android.app.extra.PROVISIONING_WIFI_SECURITY_TYPE",
        kind: ExtraKind::WifiSecurity,
    },
    SystemExtra {
        name: "skip_encryption",
        label: "Skip encryption",
        key: "android.app.extra.PROVISIONING_SKIP_ENCRYPTION",
        kind: ExtraKind::Bool,
    },
    SystemExtra {
        name: "leave_all_system_apps_enabled",
        label: "Leave all system apps enabled",
        key: "android.app.extra.PROVISIONING_LEAVE_ALL_SYSTEM_APPS_ENABLED",
        kind: ExtraKind::Bool,
    },
    SystemExtra {
        name: "use_mobile_data",
        label: "Use mobile data",
        key: "android.app.extra.PROVISIONING_USE_MOBILE_DATA",
        kind: ExtraKind::Bool,
    },
    SystemExtra {
        name: "locale",
        label: "Locale",
        key: "android.app.extra.PROVISIONING_LOCALE",
        kind: ExtraKind::Locale,
    },
    SystemExtra {
        name: "time_zone",
        label: "Time zone",
        key: "android.app.extra.PROVISIONING_TIME_ZONE",
        kind: ExtraKind::TimeZone,
    },
    SystemExtra {
        name: "skip_education_screens",
        label: "Skip education screens",
        key: "android.app.extra.PROVISIONING_SKIP_EDUCATION_SCREENS",
        kind: ExtraKind::Bool,
    },
];

/// Keys the payload builds itself; a custom key may not shadow them.
pub const RESERVED_KEYS: &[&str] = &[
    "android.app.extra.PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME",
    "android.app.extra.PROVISIONING_DEVICE_ADMIN_PACKAGE_DOWNLOAD_LOCATION",
    "android.app.extra.PROVISIONING_DEVICE_ADMIN_SIGNATURE_CHECKSUM",
    "android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE",
];

pub fn system_extra(name: &str) -> Option<&'static SystemExtra> {
    SYSTEM_EXTRAS.iter().find(|e| e.name.eq_ignore_ascii_case(name) || e.key == name)
}

/// A typed value of a system extra.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ExtraValue {
    Text(String),
    Bool(bool),
}

impl ExtraValue {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ExtraValue::Text(s) => serde_json::Value::String(s.clone()),
            ExtraValue::Bool(b) => serde_json::Value::Bool(*b),
        }
    }
}

impl std::fmt::Display for ExtraValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExtraValue::Text(s) => f.write_str(s),
            ExtraValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// Parses text typed for a system extra into its typed value.
pub fn parse_extra(extra: &SystemExtra, raw: &str) -> Result<ExtraValue, String> {
    let v = raw.trim();
    let bad = |what: &str| Err(format!("{} ({}): {what}, got {v:?}", extra.label, extra.name));
    match extra.kind {
        ExtraKind::Text => {
            if v.is_empty() {
                return bad("a value is needed (use unset to remove it)");
            }
            super::text::check_plain(v, extra.label, 256)?;
            Ok(ExtraValue::Text(v.to_string()))
        }
        ExtraKind::Bool => match v.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(ExtraValue::Bool(true)),
            "false" | "no" | "off" | "0" => Ok(ExtraValue::Bool(false)),
            _ => bad("expected true or false"),
        },
        ExtraKind::WifiSecurity => match v.to_ascii_uppercase().as_str() {
            s @ ("NONE" | "WPA" | "WEP" | "EAP") => Ok(ExtraValue::Text(s.to_string())),
            _ => bad("expected NONE, WPA, WEP or EAP"),
        },
        ExtraKind::Locale => {
            let ok = match v.split_once('_') {
                Some((l, c)) => {
                    l.len() == 2
                        && l.chars().all(|c| c.is_ascii_lowercase())
                        && c.len() == 2
                        && c.chars().all(|c| c.is_ascii_uppercase())
                }
                None => false,
            };
            if ok { Ok(ExtraValue::Text(v.to_string())) } else { bad("expected a locale like en_US") }
        }
        // Android refuses a provisioning code whose time zone it does not know: only IANA names pass,
        // spelt as the database spells them (asia/tokyo is taken as Asia/Tokyo).
        ExtraKind::TimeZone => match v.parse::<chrono_tz::Tz>() {
            Ok(tz) => Ok(ExtraValue::Text(tz.name().to_string())),
            Err(_) => match time_zone_names().find(|n| n.eq_ignore_ascii_case(v)) {
                Some(n) => Ok(ExtraValue::Text(n.to_string())),
                None => bad("not an IANA time zone name such as Asia/Tokyo or Europe/Berlin"),
            },
        },
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AndroidConfig {
    /// Vendor keys, carried in the admin extras bundle, in order.
    pub vendor: Vec<(String, String)>,
    /// Pre-defined system extras by short name, in the order of `SYSTEM_EXTRAS`.
    pub system: Vec<(String, ExtraValue)>,
    /// Custom `android.app.extra.*` keys, in order.
    pub custom: Vec<(String, String)>,
}

fn upsert<V>(list: &mut Vec<(String, V)>, key: &str, value: V) {
    match list.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => list.push((key.to_string(), value)),
    }
}

impl AndroidConfig {
    pub fn set_vendor(&mut self, key: &str, value: &str) -> Result<(), String> {
        let k = key.trim();
        if k.is_empty() {
            return Err("vendor key is empty".into());
        }
        super::text::check_plain(k, "vendor key", 128)?;
        super::text::check_plain(value, "vendor value", 1024)?;
        if matches!(k, "server_url" | "enrollment_token") {
            return Err(format!("vendor key {k:?} is set by kitting itself"));
        }
        upsert(&mut self.vendor, k, value.to_string());
        Ok(())
    }

    pub fn set_system(&mut self, name: &str, raw: &str) -> Result<(), String> {
        let extra = system_extra(name).ok_or_else(|| {
            let names: Vec<&str> = SYSTEM_EXTRAS.iter().map(|e| e.name).collect();
            format!("unknown system extra {name:?}; known: {}", names.join(", "))
        })?;
        let value = parse_extra(extra, raw)?;
        upsert(&mut self.system, extra.name, value);
        let order = |n: &str| SYSTEM_EXTRAS.iter().position(|e| e.name == n).unwrap_or(usize::MAX);
        self.system.sort_by_key(|(n, _)| order(n));
        Ok(())
    }

    pub fn set_custom(&mut self, key: &str, value: &str) -> Result<(), String> {
        let k = key.trim();
        let Some(rest) = k.strip_prefix(EXTRA_PREFIX) else {
            return Err(format!("custom key {k:?} must start with {EXTRA_PREFIX}"));
        };
        if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            return Err(format!("custom key {k:?} may hold only letters, digits, '_' and '.' after the prefix"));
        }
        if RESERVED_KEYS.contains(&k) || SYSTEM_EXTRAS.iter().any(|e| e.key == k) {
            return Err(format!("{k} is set elsewhere (admin settings or a pre-defined system extra)"));
        }
        super::text::check_plain(value, "custom key value", 1024)?;
        upsert(&mut self.custom, k, value.to_string());
        Ok(())
    }

    /// Removes a key from whichever group holds it. Returns whether anything was removed.
    pub fn unset(&mut self, key: &str) -> bool {
        let before = self.vendor.len() + self.system.len() + self.custom.len();
        let sys = system_extra(key).map(|e| e.name);
        self.vendor.retain(|(k, _)| k != key);
        self.system.retain(|(k, _)| Some(k.as_str()) != sys);
        self.custom.retain(|(k, _)| k != key);
        before != self.vendor.len() + self.system.len() + self.custom.len()
    }
}

/// Which free-form group a list of `key = value` lines fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum KeyGroup {
    Vendor,
    Custom,
}

impl KeyGroup {
    pub fn title(self) -> &'static str {
        match self {
            KeyGroup::Vendor => "vendor keys",
            KeyGroup::Custom => "custom keys",
        }
    }
}

impl AndroidConfig {
    /// The keys of a free-form group as `key = value` lines (what the workstation's form shows).
    pub fn lines(&self, group: KeyGroup) -> String {
        let list = match group {
            KeyGroup::Vendor => &self.vendor,
            KeyGroup::Custom => &self.custom,
        };
        list.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join("\n")
    }

    /// Replaces a free-form group with `key = value` lines (blank lines are skipped). An error names the
    /// line; the group is left as it was.
    pub fn set_lines(&mut self, group: KeyGroup, text: &str) -> Result<(), String> {
        let mut scratch = AndroidConfig::default();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = |e: String| format!("{}, line {}: {e}", group.title(), n + 1);
            let (k, v) = line.split_once('=').ok_or_else(|| at(format!("expected key = value, got {line:?}")))?;
            match group {
                KeyGroup::Vendor => scratch.set_vendor(k.trim(), v.trim()),
                KeyGroup::Custom => scratch.set_custom(k.trim(), v.trim()),
            }
            .map_err(at)?;
        }
        match group {
            KeyGroup::Vendor => self.vendor = scratch.vendor,
            KeyGroup::Custom => self.custom = scratch.custom,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_extras_are_typed() {
        let mut c = AndroidConfig::default();
        c.set_system("skip_encryption", "yes").unwrap();
        c.set_system("wifi_security_type", "wpa").unwrap();
        c.set_system("wifi_ssid", "Warehouse 5").unwrap();
        c.set_system("locale", "ja_JP").unwrap();
        assert_eq!(c.system[0], ("wifi_ssid".into(), ExtraValue::Text("Warehouse 5".into())));
        assert!(c.system.contains(&("wifi_security_type".into(), ExtraValue::Text("WPA".into()))));
        assert!(c.system.contains(&("skip_encryption".into(), ExtraValue::Bool(true))));
        assert!(c.set_system("skip_encryption", "maybe").unwrap_err().contains("true or false"));
        assert!(c.set_system("wifi_security_type", "WPA3").unwrap_err().contains("NONE, WPA, WEP or EAP"));
        assert!(c.set_system("locale", "english").is_err());
        assert!(c.set_system("nope", "1").unwrap_err().contains("known: wifi_ssid"));
        // The full key works as well as the short name.
        c.set_system("android.app.extra.PROVISIONING_TIME_ZONE", "Asia/Tokyo").unwrap();
        // Only IANA names pass (Android refuses a code with a zone it does not know); case is forgiven.
        let tz = SYSTEM_EXTRAS.iter().find(|e| e.name == "time_zone").unwrap();
        assert_eq!(parse_extra(tz, "asia/tokyo"), Ok(ExtraValue::Text("Asia/Tokyo".into())));
        assert!(parse_extra(tz, "Asia/Tokio").unwrap_err().contains("not an IANA time zone"));
        assert!(parse_extra(tz, "JST+9").is_err());
        assert!(c.unset("time_zone"));
        assert!(!c.unset("time_zone"));
    }

    #[test]
    fn custom_keys_need_the_prefix_and_may_not_shadow() {
        let mut c = AndroidConfig::default();
        c.set_custom("android.app.extra.PROVISIONING_WIFI_HIDDEN", "true").unwrap();
        assert!(c.set_custom("com.example.x", "1").unwrap_err().contains("must start with"));
        assert!(c.set_custom("android.app.extra.PROVISIONING_WIFI_SSID", "x").is_err());
        assert!(c.set_custom("android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE", "x").is_err());
        assert!(c.set_vendor("enrollment_token", "x").is_err());
        c.set_vendor("tenant", "acme").unwrap();
        c.set_vendor("tenant", "acme2").unwrap();
        assert_eq!(c.vendor, vec![("tenant".to_string(), "acme2".to_string())]);
    }

    #[test]
    fn key_value_lines_replace_a_group_or_name_the_bad_line() {
        let mut c = AndroidConfig::default();
        c.set_vendor("old", "1").unwrap();
        c.set_lines(KeyGroup::Vendor, "tenant = acme\n\n  site=Osaka 2 \n").unwrap();
        assert_eq!(c.vendor, vec![("tenant".into(), "acme".into()), ("site".into(), "Osaka 2".into())]);
        assert_eq!(c.lines(KeyGroup::Vendor), "tenant = acme\nsite = Osaka 2");
        let before = c.clone();
        let e = c.set_lines(KeyGroup::Vendor, "a = 1\nno equals sign").unwrap_err();
        assert!(e.contains("vendor keys, line 2") && e.contains("key = value"), "{e}");
        let e = c.set_lines(KeyGroup::Custom, "android.app.extra.PROVISIONING_WIFI_SSID = x").unwrap_err();
        assert!(e.contains("custom keys, line 1") && e.contains("set elsewhere"), "{e}");
        assert_eq!(c, before, "a refused list changes nothing");
        c.set_lines(KeyGroup::Custom, "android.app.extra.PROVISIONING_WIFI_HIDDEN = true").unwrap();
        assert_eq!(c.custom.len(), 1);
        c.set_lines(KeyGroup::Custom, "").unwrap();
        assert!(c.custom.is_empty(), "an empty list clears the group");
    }
}
