//! Pure domain logic: profiles, devices, identifiers, tokens, registration, the Android configuration.
//! Nothing here does I/O.

pub mod android;
pub mod audit;
pub mod dep;
pub mod imei;
pub mod registration;
pub mod scan;
pub mod text;
pub mod token;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use imei::Imei;
pub use token::Token;

/// Identifies a profile inside a store. Stable across renames.
pub type ProfileId = u32;
/// Identifies a device inside its profile (its sequence number there).
pub type DeviceSeq = u32;

pub const DEFAULT_PROFILE_TYPE: &str = "Self Maintained";
pub const MAX_NAME_CHARS: usize = 64;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub id: ProfileId,
    pub name: String,
    pub description: Option<String>,
    pub kind: String,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub created: DateTime<Utc>,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub modified: DateTime<Utc>,
    /// Username of the associated user.
    pub user: Option<String>,
    /// `None` for a profile in the seed's "Assign custom attributes without token" mode.
    pub token: Option<Token>,
    pub config: android::AndroidConfig,
    /// Kept up to date by the store in the same atomic write as the devices.
    pub device_count: u64,
    /// Custom attribute names in the order they first appeared (export column order).
    pub attributes: Vec<String>,
    /// Counts every change of the profile's own fields (name, description, user, token, configuration):
    /// a change made from an older version is refused as a conflict instead of undoing someone's change.
    pub version: u64,
}

impl Profile {
    pub fn without_token(&self) -> bool {
        self.token.is_none()
    }

    /// The name a typed custom attribute name stands for: attribute names compare as CSV headers do
    /// (ignoring case and surrounding spaces), so `department` beside `Department` is `Department`.
    pub fn attribute_name(&self, typed: &str) -> String {
        let typed = typed.trim();
        let key = typed.to_lowercase();
        self.attributes.iter().find(|a| a.trim().to_lowercase() == key).cloned().unwrap_or_else(|| typed.to_string())
    }

    /// Adds attribute names not yet known, keeping the existing order.
    pub fn learn_attributes<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        // Looked up in a set: a file of 40,000 attribute columns is learnt in linear time.
        let mut known: std::collections::HashSet<String> = self.attributes.iter().cloned().collect();
        for n in names {
            if known.insert(n.to_string()) {
                self.attributes.push(n.to_string());
            }
        }
    }
}

/// What a technician supplies to create a profile.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NewProfile {
    pub name: String,
    pub description: Option<String>,
    pub without_token: bool,
    pub user: Option<String>,
    pub token_days: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Status {
    Pending,
    Registered(DateTime<Utc>),
    /// Checked at a scan station's verify mode (in the box, labelled) and not registered yet.
    Kitted(DateTime<Utc>),
}

impl Status {
    pub fn label(&self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Registered(_) => "registered",
            Status::Kitted(_) => "kitted",
        }
    }

    /// When the device was registered or kitted.
    pub fn at(&self) -> Option<DateTime<Utc>> {
        match self {
            Status::Pending => None,
            Status::Registered(t) | Status::Kitted(t) => Some(*t),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Source {
    /// The file's name is shared by every device of one import.
    File {
        name: Arc<str>,
        line: u64,
    },
    Manual,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File { name, line } => write!(f, "{name}:{line}"),
            Source::Manual => f.write_str("added by hand"),
        }
    }
}

/// The identifying part of a device, validated.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identifiers {
    pub imei: Option<Imei>,
    /// A dual-SIM device's second IMEI (only with a first one, never equal to it): unique like the first.
    pub imei2: Option<Imei>,
    pub serial: Option<String>,
    pub manufacturer: Option<String>,
}

/// Validated identifiers borrowing the text they came from (no allocation): what an import checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdentifiersRef<'a> {
    pub imei: Option<Imei>,
    pub imei2: Option<Imei>,
    pub serial: Option<&'a str>,
    pub manufacturer: Option<&'a str>,
}

impl IdentifiersRef<'_> {
    pub fn to_owned(self) -> Identifiers {
        Identifiers {
            imei: self.imei,
            imei2: self.imei2,
            serial: self.serial.map(str::to_string),
            manufacturer: self.manufacturer.map(str::to_string),
        }
    }
}

impl Identifiers {
    /// Validates raw identifier text. Each problem names its field.
    pub fn parse(imei: &str, serial: &str, manufacturer: &str) -> Result<Identifiers, Vec<(Field, String)>> {
        Identifiers::check(imei, serial, manufacturer).map(IdentifiersRef::to_owned)
    }

    /// Validates raw identifier text without copying it (values are trimmed).
    pub fn check<'a>(
        imei: &str,
        serial: &'a str,
        manufacturer: &'a str,
    ) -> Result<IdentifiersRef<'a>, Vec<(Field, String)>> {
        let mut problems = Vec::new();
        let imei = match text::trim(imei) {
            "" => None,
            s => match Imei::parse(s) {
                Ok(i) => Some(i),
                Err(e) => {
                    problems.push((Field::Imei, e));
                    None
                }
            },
        };
        let serial = optional_text(serial, "serial number", Field::Serial, &mut problems);
        let manufacturer = optional_text(manufacturer, "manufacturer", Field::Manufacturer, &mut problems);
        if problems.is_empty() && imei.is_none() {
            match (&serial, &manufacturer) {
                (Some(_), Some(_)) => {}
                (Some(_), None) => problems
                    .push((Field::Manufacturer, "a serial number needs a manufacturer when there is no IMEI".into())),
                (None, Some(_)) => {
                    problems.push((Field::Serial, "a manufacturer needs a serial number when there is no IMEI".into()))
                }
                (None, None) => {
                    problems.push((Field::Imei, "a device needs an IMEI, or a serial number and a manufacturer".into()))
                }
            }
        }
        if problems.is_empty() { Ok(IdentifiersRef { imei, imei2: None, serial, manufacturer }) } else { Err(problems) }
    }

    /// Validates a second IMEI's text for identifiers already checked: empty is none; else a valid IMEI,
    /// beside a first one, and not the first one again.
    pub fn check_second(imei: Option<Imei>, text: &str) -> Result<Option<Imei>, String> {
        let second = match text::trim(text) {
            "" => return Ok(None),
            s => Imei::parse(s)?,
        };
        match imei {
            None => Err("a second IMEI needs a first one (the IMEI column)".into()),
            Some(first) if first == second => Err(format!("the second IMEI {second} is the first one again")),
            Some(_) => Ok(Some(second)),
        }
    }

    /// The IMEIs, first and second.
    pub fn imeis(&self) -> impl Iterator<Item = Imei> + '_ {
        self.imei.into_iter().chain(self.imei2)
    }

    /// A short human label: the IMEI, or serial / manufacturer.
    pub fn label(&self) -> String {
        match (&self.imei, &self.serial, &self.manufacturer) {
            (Some(i), _, _) => format!("IMEI {i}"),
            (None, Some(s), Some(m)) => format!("serial {s} ({m})"),
            (None, Some(s), None) => format!("serial {s}"),
            _ => "a device without identifiers".into(),
        }
    }

    /// The serial + manufacturer key used for matching: serial upper-cased, manufacturer lower-cased.
    pub fn serial_key(&self) -> Option<String> {
        match (&self.serial, &self.manufacturer) {
            (Some(s), Some(m)) => Some(serial_key(s, m)),
            _ => None,
        }
    }
}

/// Serial numbers and manufacturers are both compared case-insensitively (see README).
pub fn serial_key(serial: &str, manufacturer: &str) -> String {
    let mut key = String::with_capacity(serial.len() + manufacturer.len() + 1);
    push_serial_key(&mut key, serial, manufacturer);
    key
}

/// Appends the serial + manufacturer key to `out` (no allocation of its own for ASCII text).
pub fn push_serial_key(out: &mut String, serial: &str, manufacturer: &str) {
    let (s, m) = (text::trim(serial), text::trim(manufacturer));
    if s.is_ascii() && m.is_ascii() {
        let start = out.len();
        out.push_str(s);
        out[start..].make_ascii_uppercase();
        out.push('\u{1f}');
        let start = out.len();
        out.push_str(m);
        out[start..].make_ascii_lowercase();
    } else {
        out.push_str(&s.to_uppercase());
        out.push('\u{1f}');
        out.push_str(&m.to_lowercase());
    }
}

fn optional_text<'a>(raw: &'a str, what: &str, field: Field, problems: &mut Vec<(Field, String)>) -> Option<&'a str> {
    let t = text::trim(raw);
    if t.is_empty() {
        return None;
    }
    match text::check_plain(t, what, MAX_NAME_CHARS) {
        Ok(()) => Some(t),
        Err(e) => {
            problems.push((field, e));
            None
        }
    }
}

/// The device fields a technician or a file can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Field {
    Imei,
    Imei2,
    Serial,
    Manufacturer,
    Attribute,
    Status,
    RegisteredAt,
}

impl Field {
    pub fn header(self) -> &'static str {
        match self {
            Field::Imei => "IMEI",
            Field::Imei2 => "IMEI 2",
            Field::Serial => "Serial Number",
            Field::Manufacturer => "Manufacturer",
            Field::Attribute => "custom attribute",
            Field::Status => "Status",
            Field::RegisteredAt => "Registered At",
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Device {
    pub seq: DeviceSeq,
    pub ids: Identifiers,
    /// Custom attributes, name → value, in order (names shared between devices).
    pub attributes: Vec<(Arc<str>, String)>,
    pub status: Status,
    pub source: Source,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

impl Device {
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(n, _)| n.as_ref() == name).map(|(_, v)| v.as_str())
    }

    pub fn set_attribute(&mut self, name: &str, value: Option<&str>) {
        match (self.attributes.iter().position(|(n, _)| n.as_ref() == name), value) {
            (Some(i), Some(v)) => self.attributes[i].1 = v.to_string(),
            (Some(i), None) => {
                self.attributes.remove(i);
            }
            (None, Some(v)) => self.attributes.push((Arc::from(name), v.to_string())),
            (None, None) => {}
        }
    }

    /// A short human label: the IMEI, or serial / manufacturer.
    pub fn label(&self) -> String {
        match (&self.ids.imei, &self.ids.serial, &self.ids.manufacturer) {
            (Some(i), _, _) => format!("IMEI {i}"),
            (None, Some(s), Some(m)) => format!("serial {s} ({m})"),
            _ => format!("device #{}", self.seq),
        }
    }
}

/// A device before the store gives it a sequence number.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewDevice {
    pub ids: Identifiers,
    pub attributes: Vec<(Arc<str>, String)>,
    pub status: Status,
    pub source: Source,
}

impl NewDevice {
    pub fn into_device(self, seq: DeviceSeq, now: DateTime<Utc>) -> Device {
        Device {
            seq,
            ids: self.ids,
            attributes: self.attributes,
            status: self.status,
            source: self.source,
            created: now,
            modified: now,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub username: String,
    pub name: String,
    pub email: String,
    /// UserDescription of the DEP device-information CSV.
    pub description: String,
    /// Organizations (catalog names) the user belongs to.
    pub organizations: Vec<String>,
}

/// Validates a profile name: trimmed, 1 to 64 characters, no control characters.
pub fn check_profile_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("profile name is empty".into());
    }
    text::check_plain(name, "profile name", MAX_NAME_CHARS)?;
    Ok(name.to_string())
}

pub fn check_username(raw: &str) -> Result<String, String> {
    valid_username(raw).map(str::to_string)
}

/// `check_username` without making a copy: the name trimmed.
pub fn valid_username(raw: &str) -> Result<&str, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("username is empty".into());
    }
    text::check_plain(name, "username", MAX_NAME_CHARS)?;
    Ok(name)
}

/// A custom attribute name or value: no control characters in the name; values may hold anything
/// printable up to 1,024 characters (they are escaped on screen and in exports).
pub fn check_attribute(name: &str, value: &str) -> Result<(), String> {
    check_attribute_name(name)?;
    check_attribute_value(name, value)
}

/// Column names kitting's own files use (imports, exports, rejects files, listings), in any case: never
/// a custom attribute's, or an export would not import again.
pub const RESERVED_COLUMNS: [&str; 12] = [
    "IMEI",
    "IMEI 2",
    "IMEI2",
    "Serial Number",
    "Serial",
    "SerialNumber",
    "Manufacturer",
    "Status",
    "Registered At",
    "Line",
    "Reason",
    "Source",
];

pub fn check_attribute_name(name: &str) -> Result<(), String> {
    let n = name.trim();
    if n.is_empty() {
        return Err("custom attribute name is empty".into());
    }
    if let Some(r) = RESERVED_COLUMNS.iter().find(|r| r.eq_ignore_ascii_case(n)) {
        return Err(format!(
            "{} cannot name a custom attribute: kitting uses the column {r:?} itself (reserved: {})",
            text::quote(n),
            RESERVED_COLUMNS.join(", ")
        ));
    }
    text::check_plain(n, "custom attribute name", MAX_NAME_CHARS)
}

pub const MAX_ATTRIBUTE_CHARS: usize = 1024;

pub fn check_attribute_value(name: &str, value: &str) -> Result<(), String> {
    if value.len() > MAX_ATTRIBUTE_CHARS && value.chars().count() > MAX_ATTRIBUTE_CHARS {
        return Err(format!("custom attribute {:?} is longer than 1,024 characters", name.trim()));
    }
    Ok(())
}

#[cfg(test)]
mod key_tests {
    use super::*;

    #[test]
    fn serial_keys_ignore_case_and_surrounding_space() {
        assert_eq!(serial_key(" r58m-12abc ", "  SamSung"), "R58M-12ABC\u{1f}samsung");
        assert_eq!(serial_key("ß1", "ÄPFEL"), "SS1\u{1f}äpfel", "non-ASCII uses Unicode case rules");
        let mut out = String::from("x");
        push_serial_key(&mut out, "a", "B");
        assert_eq!(out, "xA\u{1f}b", "appends without touching what is there");
    }
}
