//! Apple DEP device information: the catalog (organizations, templates, device tags), device records that
//! devices check in against, and the rules of their fields.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::text::check_plain;

/// What a catalog entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CatalogKind {
    Organization,
    Template,
    Tag,
}

impl CatalogKind {
    pub const ALL: [CatalogKind; 3] = [CatalogKind::Organization, CatalogKind::Template, CatalogKind::Tag];

    pub fn title(self) -> &'static str {
        match self {
            CatalogKind::Organization => "organization",
            CatalogKind::Template => "template",
            CatalogKind::Tag => "device tag",
        }
    }

    pub fn byte(self) -> u8 {
        match self {
            CatalogKind::Organization => b'o',
            CatalogKind::Template => b't',
            CatalogKind::Tag => b'g',
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub name: String,
    pub description: Option<String>,
}

/// A catalog name: 1 to 64 printable characters without `|` (the separator of several in a cell).
pub fn check_catalog_name(kind: CatalogKind, raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(format!("{} name is empty", kind.title()));
    }
    check_plain(name, &format!("{} name", kind.title()), 64)?;
    if name.contains('|') {
        return Err(format!("{} name {name:?} contains '|', which separates several names", kind.title()));
    }
    Ok(name.to_string())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DepOs {
    Ios,
    Android,
    Windows,
}

impl DepOs {
    pub fn parse(v: &str) -> Result<DepOs, String> {
        match v {
            "ios" => Ok(DepOs::Ios),
            "android" => Ok(DepOs::Android),
            "windows" => Ok(DepOs::Windows),
            _ => Err(format!("OS must be ios, android or windows (case-sensitive), got {v:?}")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DepOs::Ios => "ios",
            DepOs::Android => "android",
            DepOs::Windows => "windows",
        }
    }
}

/// How a DEP device is matched to its record when it is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DepMethod {
    Serial,
    Keycode,
}

impl DepMethod {
    pub fn parse(v: &str) -> Result<DepMethod, String> {
        match v {
            "Serial" => Ok(DepMethod::Serial),
            "Keycode" => Ok(DepMethod::Keycode),
            _ => Err(format!("DEPMethod must be Serial or Keycode (case-sensitive), got {v:?}")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DepMethod::Serial => "Serial",
            DepMethod::Keycode => "Keycode",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DepState {
    Pending,
    CheckedIn { at: DateTime<Utc>, dep_serial: Option<String>, dep_profile: Option<String> },
    Withdrawn { at: DateTime<Utc> },
}

impl DepState {
    pub fn label(&self) -> &'static str {
        match self {
            DepState::Pending => "pending",
            DepState::CheckedIn { .. } => "checked in",
            DepState::Withdrawn { .. } => "withdrawn",
        }
    }

    /// Why a record in this state cannot be edited, if it cannot.
    pub fn read_only(&self) -> Option<String> {
        match self {
            DepState::Pending => None,
            other => Some(format!("the device is {}; its information cannot be edited", other.label())),
        }
    }
}

/// Days a check-in code stays valid when the file says nothing.
pub const DEFAULT_EXPIRATION_DAYS: u32 = 7;
pub const MAX_EXPIRATION_DAYS: u32 = 365;

/// One device's information record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DepDevice {
    /// As first given; compared case-insensitively.
    pub identifier: String,
    pub template: Option<String>,
    pub code: String,
    pub os: DepOs,
    pub tags: Vec<String>,
    pub wifi_mac: Option<String>,
    pub imei: Option<String>,
    pub meid: Option<String>,
    pub udid: Option<String>,
    pub serial: Option<String>,
    pub expiration_days: u32,
    /// When the check-in code stops working: `expiration_days` after the last create or update.
    #[serde(serialize_with = "rfc3339", deserialize_with = "rfc3339_de")]
    pub expires: DateTime<Utc>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub registration_email: Option<String>,
    /// "Use DEP to Enroll" is on when a method is set.
    pub dep_method: Option<DepMethod>,
    pub user: Option<String>,
    pub state: DepState,
    #[serde(serialize_with = "rfc3339", deserialize_with = "rfc3339_de")]
    pub created: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339", deserialize_with = "rfc3339_de")]
    pub modified: DateTime<Utc>,
}

/// A record's time as chrono's serde writes it (RFC 3339 in UTC with `Z`, as many fractional digits as
/// it needs: the same text, so stored records read as before), but formatted once into a string:
/// chrono hands serde a `Display`, and postcard's `collect_str` runs it twice, a character at a time
/// (a sixth of a 200,000-record DEP import).
///
/// The texts of the last few times written or read are kept (per thread): an import's records share a
/// handful of times (its `now`, the codes' expiry), so each is formatted and parsed about once instead of
/// three times a record (formatting and parsing were a fifth of a 200,000-record DEP import).
fn rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    TIMES.with(|times| {
        let mut times = times.borrow_mut();
        if let Some((_, text)) = times.iter().find(|(at, _)| at == t) {
            return s.serialize_str(text);
        }
        let text = t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        let r = s.serialize_str(&text);
        times.remember((*t, text));
        r
    })
}

/// A record's time as chrono's serde reads it (`DateTime<FixedOffset>`'s relaxed RFC 3339, then UTC),
/// through the same per-thread memory of recent times as `rfc3339`.
fn rfc3339_de<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    struct Visitor;
    impl serde::de::Visitor<'_> for Visitor {
        type Value = DateTime<Utc>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an RFC 3339 date and time")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DateTime<Utc>, E> {
            TIMES.with(|times| {
                let mut times = times.borrow_mut();
                if let Some((at, _)) = times.iter().find(|(_, text)| text == v) {
                    return Ok(*at);
                }
                let at = v.parse::<DateTime<chrono::FixedOffset>>().map_err(E::custom)?.with_timezone(&Utc);
                // Only a text as `rfc3339` writes it stands for its time in the memory (a text in another
                // form still reads, but is not what writing that time gives).
                if at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true) == v {
                    times.remember((at, v.to_string()));
                }
                Ok(at)
            })
        }
    }
    d.deserialize_str(Visitor)
}

/// The last few times and their texts, newest first.
struct Recent([Option<(DateTime<Utc>, String)>; 4]);

impl Recent {
    fn iter(&self) -> impl Iterator<Item = &(DateTime<Utc>, String)> {
        self.0.iter().flatten()
    }

    fn remember(&mut self, entry: (DateTime<Utc>, String)) {
        self.0.rotate_right(1);
        self.0[0] = Some(entry);
    }
}

thread_local! {
    static TIMES: std::cell::RefCell<Recent> = const { std::cell::RefCell::new(Recent([None, None, None, None])) };
}

impl DepDevice {
    /// The catalog entries the record names: its tags, and its template.
    pub fn catalog_names(&self) -> Vec<(CatalogKind, &str)> {
        let mut names: Vec<(CatalogKind, &str)> = self.tags.iter().map(|t| (CatalogKind::Tag, t.as_str())).collect();
        if let Some(t) = &self.template {
            names.push((CatalogKind::Template, t));
        }
        names
    }

    /// The key the identifier is unique by.
    pub fn key(identifier: &str) -> String {
        identifier.trim().to_lowercase()
    }

    /// Checks the fields together: the DEP method's needs.
    pub fn check(&self) -> Result<(), String> {
        if self.dep_method == Some(DepMethod::Serial) && self.serial.is_none() {
            return Err("DEPMethod Serial needs a Serial (the DEP device's serial number)".into());
        }
        Ok(())
    }

    pub fn set_expiration(&mut self, days: u32, now: DateTime<Utc>) {
        self.expiration_days = days;
        self.expires = now + Duration::days(i64::from(days));
    }
}

/// A new identifier: 1 to 20 letters, digits, `.`, `-` or `_`.
pub fn check_identifier(v: &str) -> Result<(), String> {
    let ok =
        (1..=20).contains(&v.len()) && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok { Ok(()) } else { Err(format!("Identifier must be 1 to 20 letters, digits, '.', '-' or '_', got {v:?}")) }
}

/// A check-in code: 1 to 32 letters and digits.
pub fn check_code(v: &str) -> Result<(), String> {
    if (1..=32).contains(&v.len()) && v.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(format!("Code must be 1 to 32 letters and digits, got {v:?}"))
    }
}

/// A generated check-in code: 8 characters from the OS random source, without look-alikes (no 0/O, 1/I/L).
pub fn generate_code() -> Result<String, String> {
    let mut code = String::with_capacity(8);
    generate_code_into(&mut code)?;
    Ok(code)
}

/// `generate_code` into a buffer used again.
pub fn generate_code_into(code: &mut String) -> Result<(), String> {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    code.clear();
    random_bytes(|b| {
        // 31 letters: bytes below 248 (8 × 31) map without bias; the rest are drawn again.
        if b < 248 {
            code.push(ALPHABET[usize::from(b) % 31] as char);
        }
        code.len() < 8
    })
}

/// Bytes from the OS random source, handed to `take` until it has enough (returns false). The source is
/// asked for 4 KiB at a time (an import of 200,000 records made 200,000 getrandom calls, 6 % of its time);
/// each byte is used once.
fn random_bytes(mut take: impl FnMut(u8) -> bool) -> Result<(), String> {
    use std::cell::RefCell;
    thread_local! {
        static POOL: RefCell<(Vec<u8>, usize)> = const { RefCell::new((Vec::new(), 0)) };
    }
    POOL.with(|pool| {
        let (bytes, used) = &mut *pool.borrow_mut();
        loop {
            if *used == bytes.len() {
                bytes.resize(4096, 0);
                getrandom::fill(bytes).map_err(|e| format!("the OS random source failed: {e}"))?;
                *used = 0;
            }
            *used += 1;
            if !take(bytes[*used - 1]) {
                return Ok(());
            }
        }
    })
}

fn hex_digits(v: &str) -> impl Iterator<Item = char> + '_ {
    v.chars().filter(|c| !matches!(c, ':' | '-'))
}

/// A Wi-Fi MAC address: six hex pairs separated by `:` or `-` (or none).
pub fn check_wifi_mac(v: &str) -> Result<(), String> {
    let digits: Vec<char> = hex_digits(v).collect();
    let separators_ok = match v.len() {
        12 => true,
        17 => v.char_indices().all(|(i, c)| if i % 3 == 2 { c == ':' || c == '-' } else { c.is_ascii_hexdigit() }),
        _ => false,
    };
    if separators_ok && digits.len() == 12 && digits.iter().all(char::is_ascii_hexdigit) {
        Ok(())
    } else {
        Err(format!("WifiMac must be a MAC address like 00:1A:2B:3C:4D:5E, got {v:?}"))
    }
}

/// A MEID: 14 hex digits.
pub fn check_meid(v: &str) -> Result<(), String> {
    if v.len() == 14 && v.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(format!("MEID must be 14 hex digits, got {v:?}"))
    }
}

/// A UDID: 40 hex digits, or the newer 8 hex digits, '-', 16 hex digits.
pub fn check_udid(v: &str) -> Result<(), String> {
    let hex = |s: &str| s.chars().all(|c| c.is_ascii_hexdigit());
    let ok = match v.split_once('-') {
        None => v.len() == 40 && hex(v),
        Some((a, b)) => a.len() == 8 && b.len() == 16 && hex(a) && hex(b),
    };
    if ok { Ok(()) } else { Err(format!("UDID must be 40 hex digits or 8-16 hex digits with '-', got {v:?}")) }
}

/// A serial number: 1 to 64 letters and digits.
pub fn check_serial(v: &str) -> Result<(), String> {
    if (1..=64).contains(&v.len()) && v.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(format!("Serial must be 1 to 64 letters and digits, got {v:?}"))
    }
}

pub fn check_email(what: &str, v: &str) -> Result<(), String> {
    check_plain(v, what, 254)?;
    match v.split_once('@') {
        Some((local, domain)) if !local.is_empty() && domain.contains('.') && !v.contains(char::is_whitespace) => {
            Ok(())
        }
        _ => Err(format!("{what} {v:?} is not an email address")),
    }
}

pub fn check_expiration_days(v: &str) -> Result<u32, String> {
    match v.parse::<u32>() {
        Ok(d) if (1..=MAX_EXPIRATION_DAYS).contains(&d) => Ok(d),
        _ => Err(format!("ExpirationDays must be a number of days from 1 to {MAX_EXPIRATION_DAYS}, got {v:?}")),
    }
}

/// A restricting identifier compared at check-in: hex digits and letters without separators, upper-cased.
pub fn normalized(v: &str) -> String {
    hex_digits(v).collect::<String>().to_uppercase()
}

/// A queued check-in email (there is no mail server: `kitting dep outbox` lists and writes them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mail {
    pub id: u64,
    pub to: String,
    pub identifier: String,
    pub code: String,
    pub expires: DateTime<Utc>,
    pub created: DateTime<Utc>,
    pub written: bool,
}

impl Mail {
    pub fn subject(&self) -> String {
        format!("Device check-in for {}", self.identifier)
    }

    /// The message as an RFC 5322 `.eml` file.
    pub fn eml(&self) -> String {
        format!(
            "From: kitting <kitting@localhost>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: {date}\r\n\
             Message-ID: <kitting-{id}@localhost>\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
             Check in device {identifier} with this code:\r\n\r\n    {code}\r\n\r\n\
             The code works until {expires}.\r\n",
            to = self.to,
            subject = self.subject(),
            date = self.created.to_rfc2822(),
            id = self.id,
            identifier = self.identifier,
            code = self.code,
            expires = self.expires.format("%Y-%m-%d %H:%M UTC"),
        )
    }
}

/// What a device presents when it checks in.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckIn {
    pub code: String,
    pub serial: Option<String>,
    pub imei: Option<String>,
    pub meid: Option<String>,
    pub udid: Option<String>,
    pub wifi_mac: Option<String>,
    pub dep_profile: Option<String>,
}

/// Checks a check-in against a record and, when it is allowed, records it. Each refusal says why.
pub fn check_in(d: &mut DepDevice, c: &CheckIn, now: DateTime<Utc>) -> Result<(), String> {
    if let Some(why) = d.state.read_only() {
        return Err(format!("{} cannot check in: {why}", d.identifier));
    }
    if c.code != d.code {
        return Err(format!("wrong check-in code for {}", d.identifier));
    }
    if now >= d.expires {
        return Err(format!(
            "the check-in code of {} expired on {}",
            d.identifier,
            d.expires.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    let restrictions = [
        ("WifiMac", &d.wifi_mac, &c.wifi_mac),
        ("IMEI", &d.imei, &c.imei),
        ("MEID", &d.meid, &c.meid),
        ("UDID", &d.udid, &c.udid),
    ];
    for (what, want, got) in restrictions {
        if let Some(want) = want {
            match got {
                None => {
                    return Err(format!("{} is restricted to {what} {want}; the device presented none", d.identifier));
                }
                Some(got) if normalized(got) != normalized(want) => {
                    return Err(format!("{} is restricted to {what} {want}; the device presented {got}", d.identifier));
                }
                Some(_) => {}
            }
        }
    }
    if d.dep_method == Some(DepMethod::Serial) {
        let want = d.serial.as_deref().unwrap_or_default();
        match c.serial.as_deref() {
            Some(got) if got.eq_ignore_ascii_case(want) => {}
            got => {
                return Err(format!(
                    "{} enrolls by DEP serial {want}; the device presented {}",
                    d.identifier,
                    got.unwrap_or("none")
                ));
            }
        }
    }
    d.state = DepState::CheckedIn { at: now, dep_serial: c.serial.clone(), dep_profile: c.dep_profile.clone() };
    d.modified = now;
    Ok(())
}

// The device-information CSV's columns: the fields a DEP import, `dep edit` and the workstation's form
// name, in the seed's words.

/// Every column, in the seed's order.
pub const HEADERS: [&str; 20] = [
    "UserName",
    "Name",
    "EmailAddress",
    "UserDescription",
    "Organizations",
    "Identifier",
    "Template",
    "Code",
    "OS",
    "DeviceTags",
    "WifiMac",
    "IMEI",
    "MEID",
    "UDID",
    "Serial",
    "ExpirationDays",
    "DisplayName",
    "Description",
    "RegistrationEmail",
    "DEPMethod",
];

/// A column of the device-information CSV, and the field of a user or DEP record it stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Col {
    UserName,
    Name,
    EmailAddress,
    UserDescription,
    Organizations,
    Identifier,
    Template,
    Code,
    Os,
    DeviceTags,
    WifiMac,
    Imei,
    Meid,
    Udid,
    Serial,
    ExpirationDays,
    DisplayName,
    Description,
    RegistrationEmail,
    DepMethod,
}

pub const COLS: [Col; 20] = [
    Col::UserName,
    Col::Name,
    Col::EmailAddress,
    Col::UserDescription,
    Col::Organizations,
    Col::Identifier,
    Col::Template,
    Col::Code,
    Col::Os,
    Col::DeviceTags,
    Col::WifiMac,
    Col::Imei,
    Col::Meid,
    Col::Udid,
    Col::Serial,
    Col::ExpirationDays,
    Col::DisplayName,
    Col::Description,
    Col::RegistrationEmail,
    Col::DepMethod,
];

impl Col {
    /// The column of an exact, case-sensitive header name.
    pub fn from_name(name: &str) -> Option<Col> {
        HEADERS.iter().position(|h| *h == name).map(|i| COLS[i])
    }

    pub fn name(self) -> &'static str {
        HEADERS[COLS.iter().position(|c| *c == self).expect("every column has a name")]
    }
    pub fn is_user(self) -> bool {
        matches!(self, Col::UserName | Col::Name | Col::EmailAddress | Col::UserDescription | Col::Organizations)
    }
}

/// What the header says the file does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    UsersAndDevices,
    DevicesOnly,
    UsersOnly,
}

impl Mode {
    /// What a set of columns does: user columns need UserName, device columns need Identifier.
    pub fn of(cols: &[Col]) -> Result<Mode, String> {
        let user_cols = cols.iter().any(|c| c.is_user());
        let device_cols = cols.iter().any(|c| !c.is_user());
        if user_cols && !cols.contains(&Col::UserName) {
            return Err("user columns need the UserName column".into());
        }
        if device_cols && !cols.contains(&Col::Identifier) {
            return Err("device columns need the Identifier column".into());
        }
        match (user_cols, device_cols) {
            (true, true) => Ok(Mode::UsersAndDevices),
            (false, true) => Ok(Mode::DevicesOnly),
            (true, false) => Ok(Mode::UsersOnly),
            (false, false) => Err(format!("no columns; valid headers: {}", HEADERS.join(", "))),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Mode::UsersAndDevices => "users and devices (linked)",
            Mode::DevicesOnly => "devices only",
            Mode::UsersOnly => "users only",
        }
    }
}

/// A record for tests: `apple001`, iOS, serial `AAABBBCCCDDD`, pending.
#[cfg(test)]
impl DepDevice {
    pub(crate) fn sample(now: DateTime<Utc>) -> DepDevice {
        DepDevice {
            identifier: "apple001".into(),
            template: None,
            code: "123".into(),
            os: DepOs::Ios,
            tags: vec![],
            wifi_mac: None,
            imei: None,
            meid: None,
            udid: None,
            serial: Some("AAABBBCCCDDD".into()),
            expiration_days: 7,
            expires: now + Duration::days(7),
            display_name: None,
            description: None,
            registration_email: None,
            dep_method: Some(DepMethod::Serial),
            user: None,
            state: DepState::Pending,
            created: now,
            modified: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn device(now: DateTime<Utc>) -> DepDevice {
        DepDevice::sample(now)
    }

    /// A record's times are written exactly as chrono's own serde writes them, in postcard (sled's chunks,
    /// the server's messages) and in JSON, whatever their fraction of a second: records stored before
    /// read the same, and what is written now reads back equal.
    #[test]
    fn times_are_written_as_chronos_serde_writes_them() {
        use chrono::TimeZone;
        let base = Utc.with_ymd_and_hms(2026, 12, 2, 18, 7, 53).unwrap();
        for nanos in [0, 123_000_000, 123_456_000, 123_456_789, 1, 999_999_999] {
            let t = base + chrono::Duration::nanoseconds(nanos);
            let mut d = DepDevice::sample(t);
            d.expires = t + chrono::Duration::days(7);
            #[derive(Serialize)]
            struct Chrono {
                expires: DateTime<Utc>,
                created: DateTime<Utc>,
                modified: DateTime<Utc>,
            }
            let theirs = Chrono { expires: d.expires, created: d.created, modified: d.modified };
            let ours = postcard::to_stdvec(&(&d.expires, &d.created, &d.modified)).unwrap();
            let mut mine = Vec::new();
            for t in [d.expires, d.created, d.modified] {
                mine.extend(postcard::to_stdvec(&Rfc(t)).unwrap());
            }
            assert_eq!(mine, ours, "{t}");
            let json = serde_json::to_value(&d).unwrap();
            let chrono_json = serde_json::to_value(&theirs).unwrap();
            for f in ["expires", "created", "modified"] {
                assert_eq!(json[f], chrono_json[f], "{f} at {t}");
            }
            let back: DepDevice = postcard::from_bytes(&postcard::to_stdvec(&d).unwrap()).unwrap();
            assert_eq!(back, d);
        }
    }

    /// Times read back through `rfc3339_de` are what chrono's serde reads, in postcard and JSON, the first
    /// time and again (from the memory of recent times), whatever form the text is in; a text that is not
    /// a time is refused, also after a valid one was read.
    #[test]
    fn times_are_read_as_chronos_serde_reads_them() {
        #[derive(Serialize, Deserialize)]
        struct Chrono(DateTime<Utc>);
        #[derive(Deserialize)]
        struct Ours(#[serde(deserialize_with = "rfc3339_de")] DateTime<Utc>);
        let texts = [
            "2026-12-02T18:07:53Z",
            "2026-12-02T18:07:53.123456789Z",
            "2026-12-02T18:07:53.1Z",
            "2026-12-03T03:07:53+09:00",
            "2026-12-02T18:07:53.100+00:00",
            "2026-12-02 18:07:53Z",
        ];
        for _ in 0..2 {
            for text in texts {
                let theirs: Chrono = serde_json::from_value(serde_json::json!(text)).unwrap();
                let json: Ours = serde_json::from_value(serde_json::json!(text)).unwrap();
                let bytes = postcard::to_stdvec(text).unwrap();
                let ours: Ours = postcard::from_bytes(&bytes).unwrap();
                assert_eq!((json.0, ours.0), (theirs.0, theirs.0), "{text}");
            }
        }
        for bad in ["", "2026-12-02", "2026-13-02T18:07:53Z", "2026-12-02T18:07:53Z trailing"] {
            let bytes = postcard::to_stdvec(bad).unwrap();
            assert!(postcard::from_bytes::<Ours>(&bytes).is_err(), "{bad:?}");
            assert!(postcard::from_bytes::<Chrono>(&bytes).is_err(), "{bad:?}");
        }
    }

    /// A time through `rfc3339`.
    struct Rfc(DateTime<Utc>);

    impl Serialize for Rfc {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            rfc3339(&self.0, s)
        }
    }

    #[test]
    fn field_formats() {
        assert!(check_identifier("DEVICE01").is_ok() && check_identifier("a.b-c_d").is_ok());
        assert!(check_identifier("").is_err() && check_identifier("x".repeat(21).as_str()).is_err());
        assert!(check_identifier("dev 01").is_err() && check_identifier("dév").is_err());
        assert!(check_meid("A0000012345678").is_ok() && check_meid("A000001234567").is_err());
        assert!(check_meid("G0000012345678").is_err());
        assert!(check_wifi_mac("00:1a:2B:3c:4D:5e").is_ok() && check_wifi_mac("001A2B3C4D5E").is_ok());
        assert!(check_wifi_mac("00-1A-2B-3C-4D-5E").is_ok() && check_wifi_mac("00:1A:2B:3C:4D").is_err());
        assert!(check_wifi_mac("001A:2B3C:4D5E:").is_err());
        assert!(check_udid(&"a".repeat(40)).is_ok() && check_udid("00008020-000A1C2E0C38002E").is_ok());
        assert!(check_udid("00008020000A1C2E0C38002E").is_err());
        assert!(DepOs::parse("iOS").unwrap_err().contains("case-sensitive"));
        assert_eq!(DepMethod::parse("Keycode"), Ok(DepMethod::Keycode));
        assert!(DepMethod::parse("KeyCode").is_err());
        assert!(check_email("RegistrationEmail", "a@example.com").is_ok());
        assert!(check_email("RegistrationEmail", "a@b").is_err());
        assert_eq!(check_expiration_days("123"), Ok(123));
        assert!(check_expiration_days("0").is_err() && check_expiration_days("366").is_err());
        let code = generate_code().unwrap();
        assert!(check_code(&code).is_ok() && code.len() == 8 && !code.contains(['0', 'O', '1', 'I', 'L']));
        assert!(check_catalog_name(CatalogKind::Tag, "a|b").unwrap_err().contains("'|'"));
    }

    /// Generated codes (8 letters from a pool of OS random bytes shared by the thread) differ, use the
    /// whole alphabet, and never a look-alike, across many pool refills.
    #[test]
    fn generated_codes_differ_and_use_the_whole_alphabet() {
        let codes: Vec<String> = (0..3000).map(|_| generate_code().unwrap()).collect();
        let distinct: std::collections::HashSet<&String> = codes.iter().collect();
        assert_eq!(distinct.len(), codes.len());
        let seen: std::collections::HashSet<char> = codes.iter().flat_map(|c| c.chars()).collect();
        assert_eq!(seen.len(), 31, "{seen:?}");
        assert!(codes.iter().all(|c| c.len() == 8 && check_code(c).is_ok() && !c.contains(['0', 'O', '1', 'I', 'L'])));
    }

    #[test]
    fn serial_method_needs_a_serial() {
        let now = Utc::now();
        let mut d = device(now);
        assert!(d.check().is_ok());
        d.serial = None;
        assert!(d.check().unwrap_err().contains("needs a Serial"));
        d.dep_method = Some(DepMethod::Keycode);
        assert!(d.check().is_ok());
    }

    #[test]
    fn check_in_needs_the_code_in_time_and_the_restricted_identifiers() {
        let now = Utc::now();
        let good = CheckIn { code: "123".into(), serial: Some("aaabbbcccddd".into()), ..Default::default() };
        let mut d = device(now);
        assert!(check_in(&mut d, &CheckIn { code: "124".into(), ..good.clone() }, now).unwrap_err().contains("wrong"));
        let later = now + Duration::days(8);
        assert!(check_in(&mut d, &good, later).unwrap_err().contains("expired"));
        let no_serial = CheckIn { serial: None, ..good.clone() };
        assert!(check_in(&mut d, &no_serial, now).unwrap_err().contains("presented none"));
        d.wifi_mac = Some("00:1A:2B:3C:4D:5E".into());
        assert!(check_in(&mut d, &good, now).unwrap_err().contains("WifiMac"));
        let wrong_mac = CheckIn { wifi_mac: Some("00:1A:2B:3C:4D:5F".into()), ..good.clone() };
        assert!(check_in(&mut d, &wrong_mac, now).unwrap_err().contains("presented 00:1A:2B:3C:4D:5F"));
        let same_mac = CheckIn { wifi_mac: Some("001a2b3c4d5e".into()), dep_profile: Some("Corp".into()), ..good };
        check_in(&mut d, &same_mac, now).unwrap();
        assert!(matches!(&d.state, DepState::CheckedIn { dep_profile: Some(p), dep_serial: Some(s), .. }
            if p == "Corp" && s == "aaabbbcccddd"));
        assert!(check_in(&mut d, &same_mac, now).unwrap_err().contains("checked in"));
    }
}
