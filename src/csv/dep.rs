//! The Apple DEP device-information CSV: a header of exact, case-sensitive names decides what the file
//! does (users and devices together, devices only, users only); blank cells mean "no value" on create and
//! "clear" on update; a column left out of the header leaves that field alone.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::android::{
    ImportError, ImportOptions, Progress, Rejected, RowProblem, cell, csv_reader, is_blank, read_record,
};
use super::decode;
use crate::domain::User;
use crate::domain::dep::{self as rules, CatalogKind, DepDevice, DepMethod, DepOs, DepState};
use crate::domain::text::{check_plain, escape_formula};
use crate::store::{DepChange, DeviceWrite, Store};

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

/// The template: the header and the seed's first example.
pub const TEMPLATE: &str = "UserName,Name,EmailAddress,UserDescription,Organizations,Identifier,Template,Code,OS,\
DeviceTags,WifiMac,IMEI,MEID,UDID,Serial,ExpirationDays,DisplayName,Description,RegistrationEmail,DEPMethod\r\n\
user0001,Test User 1,,User description 1,,apple001,,,ios,,,,,,AAABBBCCCDDD,,iOS Device 1,,,Serial\r\n";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Col {
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

const COLS: [Col; 20] = [
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
    fn name(self) -> &'static str {
        HEADERS[COLS.iter().position(|c| *c == self).expect("every column has a name")]
    }
    fn is_user(self) -> bool {
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
    pub fn describe(self) -> &'static str {
        match self {
            Mode::UsersAndDevices => "users and devices (linked)",
            Mode::DevicesOnly => "devices only",
            Mode::UsersOnly => "users only",
        }
    }
}

/// A stored value that a row clears.
#[derive(Clone, Debug, PartialEq)]
pub struct Cleared {
    pub line: u64,
    pub record: String,
    pub field: &'static str,
    pub old: String,
}

#[derive(Debug, Default)]
pub struct DepReport {
    pub file: String,
    pub encoding: &'static str,
    pub delimiter: char,
    pub header: Vec<String>,
    pub mode: Option<Mode>,
    pub rows: u64,
    pub users_created: u64,
    pub users_updated: u64,
    pub devices_created: u64,
    pub devices_updated: u64,
    /// Rows (or parts of rows) that change nothing.
    pub unchanged: u64,
    pub cleared: Vec<Cleared>,
    pub rejected: Vec<Rejected>,
    /// Check-in emails queued (or that would be).
    pub mails: u64,
    pub committed: bool,
    /// What the import writes, when it is to write anything (not a dry run, and no rejected row unless
    /// rejected rows are skipped): the core applies it with its audit entry and sets `committed`.
    pub pending: Option<DepChange>,
}

impl DepReport {
    pub fn valid(&self) -> u64 {
        self.rows - self.rejected.len() as u64
    }
}

struct Header {
    names: Vec<String>,
    cols: Vec<Col>,
    mode: Mode,
}

impl Header {
    fn parse(file: &str, record: &csv::StringRecord) -> Result<Header, ImportError> {
        let mut cols = Vec::new();
        let mut names = Vec::new();
        for (i, raw) in record.iter().enumerate() {
            let name = raw.trim_start_matches('\u{feff}');
            let Some(pos) = HEADERS.iter().position(|h| *h == name) else {
                return Err(ImportError::File(format!(
                    "{file}:1:{}: unknown header {name:?} (header names are exact and case-sensitive, without \
                     spaces); valid: {}",
                    i + 1,
                    HEADERS.join(", ")
                )));
            };
            if cols.contains(&COLS[pos]) {
                return Err(ImportError::File(format!("{file}:1:{}: header {name} appears twice", i + 1)));
            }
            cols.push(COLS[pos]);
            names.push(name.to_string());
        }
        let has = |c: Col| cols.contains(&c);
        let user_cols = cols.iter().any(|c| c.is_user());
        let device_cols = cols.iter().any(|c| !c.is_user());
        if user_cols && !has(Col::UserName) {
            return Err(ImportError::File(format!("{file}:1: user columns need the UserName column")));
        }
        if device_cols && !has(Col::Identifier) {
            return Err(ImportError::File(format!("{file}:1: device columns need the Identifier column")));
        }
        let mode = match (user_cols, device_cols) {
            (true, true) => Mode::UsersAndDevices,
            (false, true) => Mode::DevicesOnly,
            (true, false) => Mode::UsersOnly,
            (false, false) => {
                return Err(ImportError::File(format!("{file}:1: no columns; valid headers: {}", HEADERS.join(", "))));
            }
        };
        Ok(Header { names, cols, mode })
    }
}

/// One row's cells by column.
struct Row<'a> {
    cells: HashMap<Col, (usize, &'a str)>,
    problems: Vec<RowProblem>,
}

impl<'a> Row<'a> {
    /// The cell of a column in the header (None: the column is not in the file).
    fn get(&self, c: Col) -> Option<&'a str> {
        self.cells.get(&c).map(|(_, v)| *v)
    }
    fn problem(&mut self, c: Col, reason: impl Into<String>) {
        let (i, v) = self.cells.get(&c).copied().unwrap_or((0, ""));
        self.problems.push(RowProblem {
            column: (i > 0).then(|| (i, c.name().to_string())),
            value: v.to_string(),
            reason: reason.into(),
        });
    }
    /// Checks a cell: Ok(None) for blank, the checked value, or a problem recorded.
    fn checked<T>(&mut self, c: Col, check: impl Fn(&str) -> Result<T, String>) -> Option<Option<T>> {
        let v = self.get(c)?;
        if v.is_empty() {
            return Some(None);
        }
        match check(v) {
            Ok(t) => Some(Some(t)),
            Err(e) => {
                self.problem(c, e);
                None
            }
        }
    }
}

fn text(max: usize) -> impl Fn(&str) -> Result<String, String> {
    move |v| check_plain(v, "value", max).map(|()| v.to_string())
}

fn names(v: &str) -> Vec<String> {
    v.split('|').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

/// A field format check.
type Check = fn(&str) -> Result<(), String>;

/// The import's memory of what earlier rows of the same file did.
#[derive(Default)]
struct Plan {
    users: HashMap<String, (User, bool, u64)>,
    devices: HashMap<String, u64>,
    writes: Vec<DeviceWrite>,
    user_order: Vec<String>,
}

/// A row's device: the record as it will be, whether it is created, whether it changes, and the stored
/// record's modification stamp (the write's precondition).
type DevicePart = (DepDevice, bool, bool, Option<DateTime<Utc>>);

struct Ctx<'s> {
    store: &'s dyn Store,
    now: DateTime<Utc>,
    /// Catalog entries known to exist (each looked up in the store once).
    catalog: HashSet<(CatalogKind, String)>,
}

impl Ctx<'_> {
    fn exists(&mut self, kind: CatalogKind, name: &str) -> Result<bool, ImportError> {
        if self.catalog.contains(&(kind, name.to_string())) {
            return Ok(true);
        }
        let found = self.store.catalog_entry(kind, name)?.is_some();
        if found {
            self.catalog.insert((kind, name.to_string()));
        }
        Ok(found)
    }

    fn catalog_names(&mut self, row: &mut Row, c: Col, kind: CatalogKind) -> Result<Option<Vec<String>>, ImportError> {
        let Some(v) = row.get(c) else { return Ok(None) };
        let list = names(v);
        for n in &list {
            if !self.exists(kind, n)? {
                row.problem(c, format!("{} {n:?} does not exist; add it to the catalog first", kind.title()));
            }
        }
        Ok(Some(list))
    }
}

fn clear_note(report: &mut Vec<Cleared>, line: u64, record: &str, field: &'static str, old: &str, new_blank: bool) {
    if new_blank && !old.is_empty() {
        report.push(Cleared { line, record: record.to_string(), field, old: old.to_string() });
    }
}

/// The user part of a row. Returns the user to write (None: no user part, or unchanged).
fn user_part(
    ctx: &mut Ctx,
    plan: &Plan,
    row: &mut Row,
    line: u64,
    cleared: &mut Vec<Cleared>,
) -> Result<Option<(User, bool, bool)>, ImportError> {
    let username = row.get(Col::UserName).unwrap_or("");
    if username.is_empty() {
        for c in [Col::Name, Col::EmailAddress, Col::UserDescription, Col::Organizations] {
            if row.get(c).is_some_and(|v| !v.is_empty()) {
                row.problem(c, format!("{} is given without a UserName", c.name()));
            }
        }
        return Ok(None);
    }
    if let Err(e) = crate::domain::check_username(username) {
        row.problem(Col::UserName, e);
        return Ok(None);
    }
    let key = username.to_lowercase();
    if let Some((first, _, first_line)) = plan.users.get(&key) {
        // The same user on several lines: later lines may repeat the values or leave them blank.
        for (c, stored) in [
            (Col::Name, first.name.clone()),
            (Col::EmailAddress, first.email.clone()),
            (Col::UserDescription, first.description.clone()),
            (Col::Organizations, first.organizations.join("|")),
        ] {
            if !row.get(c).is_none_or(|v| v.is_empty() || v == stored) {
                row.problem(c, format!("user {username} is on line {first_line} with {} {stored:?}", c.name()));
            }
        }
        return Ok(None);
    }
    let stored = ctx.store.user(username)?;
    let create = stored.is_none();
    let mut u = stored.clone().unwrap_or(User { username: username.to_string(), ..User::default() });
    let record = format!("user {}", u.username);
    if let Some(v) = row.checked(Col::Name, text(128)) {
        clear_note(cleared, line, &record, "Name", &u.name, v.is_none());
        u.name = v.unwrap_or_default();
    }
    if let Some(v) = row.checked(Col::EmailAddress, |v| rules::check_email("EmailAddress", v).map(|()| v.to_string())) {
        clear_note(cleared, line, &record, "EmailAddress", &u.email, v.is_none());
        u.email = v.unwrap_or_default();
    }
    if let Some(v) = row.checked(Col::UserDescription, text(1024)) {
        clear_note(cleared, line, &record, "UserDescription", &u.description, v.is_none());
        u.description = v.unwrap_or_default();
    }
    if let Some(orgs) = ctx.catalog_names(row, Col::Organizations, CatalogKind::Organization)? {
        clear_note(cleared, line, &record, "Organizations", &u.organizations.join("|"), orgs.is_empty());
        u.organizations = orgs;
    }
    let changed = stored.as_ref() != Some(&u);
    Ok(Some((u, create, changed)))
}

/// The device part of a row: the record to write, whether it is new, whether it changed.
fn device_part(
    ctx: &mut Ctx,
    plan: &Plan,
    mode: Mode,
    row: &mut Row,
    line: u64,
    cleared: &mut Vec<Cleared>,
) -> Result<Option<DevicePart>, ImportError> {
    let identifier = row.get(Col::Identifier).unwrap_or("");
    if identifier.is_empty() {
        let stray = COLS.iter().filter(|c| !c.is_user()).find(|c| row.get(**c).is_some_and(|v| !v.is_empty()));
        if let Some(&c) = stray {
            row.problem(c, format!("{} is given without an Identifier", c.name()));
        }
        return Ok(None);
    }
    let key = DepDevice::key(identifier);
    if let Some(first) = plan.devices.get(&key) {
        row.problem(Col::Identifier, format!("device {identifier} is also on line {first} (identifiers ignore case)"));
        return Ok(None);
    }
    let stored = ctx.store.dep_device(identifier)?;
    let create = stored.is_none();
    if create && let Err(e) = rules::check_identifier(identifier) {
        row.problem(Col::Identifier, e);
        return Ok(None);
    }
    let now = ctx.now;
    let mut d = match &stored {
        Some(s) => s.clone(),
        None => DepDevice {
            identifier: identifier.to_string(),
            template: None,
            code: String::new(),
            os: DepOs::Ios,
            tags: Vec::new(),
            wifi_mac: None,
            imei: None,
            meid: None,
            udid: None,
            serial: None,
            expiration_days: rules::DEFAULT_EXPIRATION_DAYS,
            expires: now + chrono::Duration::days(i64::from(rules::DEFAULT_EXPIRATION_DAYS)),
            display_name: None,
            description: None,
            registration_email: None,
            dep_method: None,
            user: None,
            state: DepState::Pending,
            created: now,
            modified: now,
        },
    };
    let record = format!("device {}", d.identifier);
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    // Template and tags must exist in the catalog.
    if let Some(v) = row.get(Col::Template) {
        if !v.is_empty() && !ctx.exists(CatalogKind::Template, v)? {
            row.problem(Col::Template, format!("template {v:?} does not exist; add it to the catalog first"));
        }
        clear_note(cleared, line, &record, "Template", &opt(&d.template), v.is_empty());
        d.template = Some(v.to_string()).filter(|v| !v.is_empty());
    }
    if let Some(tags) = ctx.catalog_names(row, Col::DeviceTags, CatalogKind::Tag)? {
        clear_note(cleared, line, &record, "DeviceTags", &d.tags.join("|"), tags.is_empty());
        d.tags = tags;
    }
    match row.checked(Col::Code, |v| rules::check_code(v).map(|()| v.to_string())) {
        Some(Some(code)) => d.code = code,
        // Blank: generated on create, kept on update.
        _ if create => d.code = rules::generate_code().map_err(ImportError::File)?,
        _ => {}
    }
    match (row.get(Col::Os), create) {
        (None | Some(""), true) => row.problem(Col::Os, "OS is required for a new device: ios, android or windows"),
        (Some(""), false) => row.problem(Col::Os, format!("OS cannot be cleared (it is {})", d.os.as_str())),
        (Some(v), _) => match DepOs::parse(v) {
            Ok(os) if create => d.os = os,
            Ok(os) if os != d.os => {
                row.problem(Col::Os, format!("OS is fixed after creation (it is {})", d.os.as_str()))
            }
            Ok(_) => {}
            Err(e) => row.problem(Col::Os, e),
        },
        (None, false) => {}
    }
    let ids: [(Col, &'static str, Check); 5] = [
        (Col::WifiMac, "WifiMac", rules::check_wifi_mac),
        (Col::Imei, "IMEI", |v| crate::domain::Imei::parse(v).map(|_| ())),
        (Col::Meid, "MEID", rules::check_meid),
        (Col::Udid, "UDID", rules::check_udid),
        (Col::Serial, "Serial", rules::check_serial),
    ];
    for (c, field, check) in ids {
        if let Some(v) = row.checked(c, |v| check(v).map(|()| v.to_string())) {
            let slot = match c {
                Col::WifiMac => &mut d.wifi_mac,
                Col::Imei => &mut d.imei,
                Col::Meid => &mut d.meid,
                Col::Udid => &mut d.udid,
                _ => &mut d.serial,
            };
            clear_note(cleared, line, &record, field, &opt(slot), v.is_none());
            *slot = v;
        }
    }
    if let Some(v) = row.checked(Col::ExpirationDays, rules::check_expiration_days) {
        // Blank means the default; the code's validity is counted again only when the number changes.
        let days = v.unwrap_or(rules::DEFAULT_EXPIRATION_DAYS);
        if create || days != d.expiration_days {
            d.set_expiration(days, now);
        }
    }
    for (c, field, max) in [(Col::DisplayName, "DisplayName", 256), (Col::Description, "Description", 1024)] {
        if let Some(v) = row.checked(c, text(max)) {
            let slot = if c == Col::DisplayName { &mut d.display_name } else { &mut d.description };
            clear_note(cleared, line, &record, field, &opt(slot), v.is_none());
            *slot = v;
        }
    }
    if let Some(v) =
        row.checked(Col::RegistrationEmail, |v| rules::check_email("RegistrationEmail", v).map(|()| v.to_string()))
    {
        clear_note(cleared, line, &record, "RegistrationEmail", &opt(&d.registration_email), v.is_none());
        d.registration_email = v;
    }
    if let Some(v) = row.checked(Col::DepMethod, DepMethod::parse) {
        let old = d.dep_method.map(|m| m.as_str().to_string()).unwrap_or_default();
        clear_note(cleared, line, &record, "DEPMethod", &old, v.is_none());
        d.dep_method = v;
    }
    if mode == Mode::UsersAndDevices {
        let owner = row.get(Col::UserName).filter(|u| !u.is_empty());
        let owner = match (owner, &plan.users.get(&owner.unwrap_or("").to_lowercase())) {
            (Some(_), Some((u, _, _))) => Some(u.username.clone()),
            (Some(u), None) => ctx.store.user(u)?.map(|s| s.username).or_else(|| Some(u.to_string())),
            (None, _) => None,
        };
        clear_note(cleared, line, &record, "UserName", &opt(&d.user), owner.is_none());
        d.user = owner;
    }
    if let Err(e) = d.check() {
        row.problem(Col::DepMethod, e);
    }
    let changed = stored.as_ref() != Some(&d);
    if changed && let Some(s) = &stored {
        if let Some(why) = s.state.read_only() {
            row.problem(Col::Identifier, why);
        }
        d.modified = now;
    }
    let expect = stored.as_ref().map(|s| s.modified);
    Ok(Some((d, create, changed, expect)))
}

/// Reads, checks and (unless a dry run, or a row is rejected in all-or-nothing mode) writes a DEP file.
pub fn import(
    store: &dyn Store,
    path: &Path,
    opts: &ImportOptions,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<DepReport, ImportError> {
    let file = path.display().to_string();
    let opened = decode::open(path).map_err(|e| ImportError::File(format!("{file}: {e}")))?;
    import_opened(store, file, opened, opts, progress)
}

/// The same as `import`, for CSV text already in memory (`kitting dep edit` is a one-row import).
pub fn import_text(
    store: &dyn Store,
    name: &str,
    text: String,
    opts: &ImportOptions,
) -> Result<DepReport, ImportError> {
    let total_bytes = text.len() as u64;
    let opened = decode::Opened {
        reader: std::io::BufReader::new(Box::new(std::io::Cursor::new(text.into_bytes()))),
        encoding: "UTF-8",
        delimiter: b',',
        bytes_read: Default::default(),
        total_bytes,
    };
    import_opened(store, name.to_string(), opened, opts, &mut |_| true)
}

/// One record as a one-row import of (column, value) cells: the same checks and the same blank-clears rule
/// as a file (`kitting dep edit` and the workstation's device form).
pub fn import_row(store: &dyn Store, name: &str, cells: &[(String, String)]) -> Result<DepReport, ImportError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| ImportError::File(format!("{name}: {e}"));
    w.write_record(cells.iter().map(|(k, _)| k)).map_err(io)?;
    w.write_record(cells.iter().map(|(_, v)| v)).map_err(io)?;
    let bytes = w.into_inner().map_err(|e| ImportError::File(format!("{name}: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| ImportError::File(format!("{name}: {e}")))?;
    let opts = ImportOptions { dry_run: false, skip_invalid: false, max_rows: 1 };
    import_text(store, name, text, &opts)
}

fn import_opened(
    store: &dyn Store,
    file: String,
    opened: decode::Opened,
    opts: &ImportOptions,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<DepReport, ImportError> {
    let mut report = DepReport {
        file: file.clone(),
        encoding: opened.encoding,
        delimiter: opened.delimiter as char,
        ..DepReport::default()
    };
    let total_bytes = opened.total_bytes;
    let bytes_read = opened.bytes_read.clone();
    let mut rdr = csv_reader(opened);
    let mut record = csv::StringRecord::new();
    if !read_record(&file, &mut rdr, &mut record)? {
        return Err(ImportError::File(format!(
            "{file}: the file is empty; expected a header of: {}",
            HEADERS.join(",")
        )));
    }
    let header = Header::parse(&file, &record)?;
    report.header = header.names.clone();
    report.mode = Some(header.mode);
    let mut ctx = Ctx { store, now: Utc::now(), catalog: HashSet::new() };
    let mut plan = Plan::default();
    let mut cleared = Vec::new();
    while read_record(&file, &mut rdr, &mut record)? {
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if is_blank(&record) {
            continue;
        }
        report.rows += 1;
        if report.rows > opts.max_rows {
            return Err(ImportError::File(format!("{file}: more than {} rows; split the file", opts.max_rows)));
        }
        if report.rows.is_multiple_of(1024) {
            let p = Progress {
                rows: report.rows,
                bytes: bytes_read.load(std::sync::atomic::Ordering::Relaxed),
                total_bytes,
            };
            if !progress(p) {
                return Err(ImportError::Cancelled);
            }
        }
        let fields: Vec<String> = record.iter().map(String::from).collect();
        let mut row = Row { cells: HashMap::new(), problems: Vec::new() };
        if record.len() != header.cols.len() {
            row.problems.push(RowProblem {
                column: None,
                value: String::new(),
                reason: format!("the row has {} cells, the header {}", record.len(), header.cols.len()),
            });
        } else {
            for (i, (c, v)) in header.cols.iter().zip(record.iter()).enumerate() {
                row.cells.insert(*c, (i + 1, cell(v)));
            }
        }
        let mut row_cleared = Vec::new();
        let (user, device) = if row.problems.is_empty() {
            let user = user_part(&mut ctx, &plan, &mut row, line, &mut row_cleared)?;
            let device = if header.mode == Mode::UsersOnly {
                None
            } else {
                device_part(&mut ctx, &plan, header.mode, &mut row, line, &mut row_cleared)?
            };
            (user, device)
        } else {
            (None, None)
        };
        if !row.problems.is_empty() {
            report.rejected.push(Rejected { line, fields, problems: row.problems });
            continue;
        }
        cleared.extend(row_cleared);
        let mut unchanged = true;
        if let Some((u, create, changed)) = user {
            let key = u.username.to_lowercase();
            if changed {
                unchanged = false;
                if create {
                    report.users_created += 1
                } else {
                    report.users_updated += 1
                }
                plan.user_order.push(key.clone());
            }
            plan.users.insert(key, (u, create, line));
        }
        if let Some((d, create, changed, expect)) = device {
            plan.devices.insert(DepDevice::key(&d.identifier), line);
            if changed {
                unchanged = false;
                if create {
                    report.devices_created += 1
                } else {
                    report.devices_updated += 1
                }
                let mail =
                    d.registration_email.is_some() && row.get(Col::RegistrationEmail).is_some_and(|v| !v.is_empty());
                report.mails += u64::from(mail);
                plan.writes.push(DeviceWrite { device: d, create, mail, expect });
            }
        }
        report.unchanged += u64::from(unchanged);
    }
    report.cleared = cleared;
    let write = !opts.dry_run && (report.rejected.is_empty() || opts.skip_invalid);
    if write && (!plan.writes.is_empty() || !plan.user_order.is_empty()) {
        let users =
            plan.user_order.iter().filter_map(|k| plan.users.remove(k)).map(|(u, create, _)| (u, create)).collect();
        report.pending = Some(DepChange { users, devices: plan.writes });
    }
    Ok(report)
}

/// Every user and device in the import's format: devices with their owner's columns, then users who own
/// no device. UTF-8 with a BOM, formula cells escaped; importing it back changes nothing.
pub fn export(store: &dyn Store, out: impl Write) -> Result<u64, String> {
    let mut out = out;
    out.write_all(b"\xEF\xBB\xBF").map_err(|e| e.to_string())?;
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out);
    w.write_record(HEADERS).map_err(|e| e.to_string())?;
    let users: HashMap<String, User> =
        store.users().map_err(|e| e.to_string())?.into_iter().map(|u| (u.username.to_lowercase(), u)).collect();
    let mut owning = std::collections::HashSet::new();
    let mut n = 0u64;
    let user_cells = |u: Option<&User>| -> Vec<String> {
        match u {
            Some(u) => vec![
                u.username.clone(),
                u.name.clone(),
                u.email.clone(),
                u.description.clone(),
                u.organizations.join("|"),
            ],
            None => vec![String::new(); 5],
        }
    };
    let mut write = |row: Vec<String>| -> Result<(), String> {
        let escaped: Vec<_> = row.iter().map(|c| escape_formula(c)).collect();
        w.write_record(escaped.iter().map(|c| c.as_ref())).map_err(|e| e.to_string())
    };
    for d in store.dep_devices().map_err(|e| e.to_string())? {
        let owner = d.user.as_ref().and_then(|u| users.get(&u.to_lowercase()));
        if let Some(u) = owner {
            owning.insert(u.username.to_lowercase());
        }
        let mut row = user_cells(owner);
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        row.extend([
            d.identifier.clone(),
            o(&d.template),
            d.code.clone(),
            d.os.as_str().to_string(),
            d.tags.join("|"),
            o(&d.wifi_mac),
            o(&d.imei),
            o(&d.meid),
            o(&d.udid),
            o(&d.serial),
            d.expiration_days.to_string(),
            o(&d.display_name),
            o(&d.description),
            o(&d.registration_email),
            d.dep_method.map(|m| m.as_str().to_string()).unwrap_or_default(),
        ]);
        write(row)?;
        n += 1;
    }
    let mut rest: Vec<&User> = users.values().filter(|u| !owning.contains(&u.username.to_lowercase())).collect();
    rest.sort_by(|a, b| a.username.cmp(&b.username));
    for u in rest {
        let mut row = user_cells(Some(u));
        row.extend(std::iter::repeat_n(String::new(), 15));
        write(row)?;
    }
    w.flush().map_err(|e| e.to_string())?;
    Ok(n)
}
