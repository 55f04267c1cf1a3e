//! The DEP device-information rules, row by row, for a file, `dep edit` and the workstation's form alike:
//! blank cells mean "no value" on create and "clear" on update, a column left out leaves its field alone,
//! a blank check-in code is generated on create and kept on update, a checked-in or withdrawn record is
//! read-only, catalog names must exist, a registration email queues a check-in email. `Planner` takes a
//! row's cells by column and builds what the import will write; the store checks again atomically.

use rustc_hash::FxHashSet as HashSet;

use crate::keys::KeyMap;

use chrono::{DateTime, Utc};

use super::OpError;
use crate::csv::dep::{Cleared, DepReport};
use crate::csv::{Rejected, RowProblem};
use crate::domain::User;
use crate::domain::dep::{self as rules, COLS, CatalogKind, Col, DepDevice, DepMethod, DepOs, DepState, Mode};
use crate::domain::text::check_plain;
use crate::store::{DepChange, DeviceWrites, Store};

/// One row's cells by column (indexed by `Col as usize`), with their 1-based column numbers.
struct Row<'a> {
    cells: [Option<(usize, &'a str)>; COLS.len()],
    problems: Vec<RowProblem>,
}

impl<'a> Row<'a> {
    /// The cell of a column in the header (None: the column is not in the file).
    fn get(&self, c: Col) -> Option<&'a str> {
        self.cells[c as usize].map(|(_, v)| v)
    }
    fn problem(&mut self, c: Col, reason: impl Into<String>) {
        let (i, v) = self.cells[c as usize].unwrap_or((0, ""));
        self.problems.push(RowProblem {
            column: (i > 0).then(|| (i, c.name().to_string())),
            value: v.to_string(),
            reason: reason.into(),
        });
    }
    /// Checks a cell: Ok(None) for blank, the checked value, or a problem recorded.
    fn checked<T>(&mut self, c: Col, check: impl Fn(&'a str) -> Result<T, String>) -> Option<Option<T>> {
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

fn text<'a>(max: usize) -> impl Fn(&'a str) -> Result<&'a str, String> {
    move |v| check_plain(v, "value", max).map(|()| v)
}

/// A text check that keeps the cell as it is.
fn kept<'a>(check: impl Fn(&str) -> Result<(), String>) -> impl Fn(&'a str) -> Result<&'a str, String> {
    move |v| check(v).map(|()| v)
}

/// Sets an optional text field, keeping the field's buffer when it has one (the planner's record is
/// used again row after row).
fn set_text(slot: &mut Option<String>, v: Option<&str>) {
    match (slot.as_mut(), v) {
        (Some(s), Some(v)) => {
            s.clear();
            s.push_str(v);
        }
        (None, Some(v)) => *slot = Some(v.to_string()),
        (_, None) => *slot = None,
    }
}

/// Sets a text field, keeping its buffer.
fn set_string(slot: &mut String, v: &str) {
    slot.clear();
    slot.push_str(v);
}

fn names(v: &str) -> Vec<String> {
    v.split('|').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

/// A field format check.
type Check = fn(&str) -> Result<(), String>;

/// The import's memory of what earlier rows of the same file did.
#[derive(Default)]
struct Plan {
    /// Each user's place in `users`, by key.
    user_at: KeyMap<usize>,
    /// The file's users as they will be, in the order first seen.
    users: Vec<PlannedUser>,
    /// The line each device is on, by key.
    devices: KeyMap<u64>,
    writes: DeviceWrites,
}

struct PlannedUser {
    user: User,
    create: bool,
    /// The line it is first on.
    line: u64,
    changed: bool,
}

impl Plan {
    fn user(&self, key: &str) -> Option<&PlannedUser> {
        self.user_at.get(key).map(|&i| &self.users[i])
    }
}

/// A row's device (the record as it will be is the planner's `device`): whether it is created, whether it
/// changes, and the stored record's modification stamp (the write's precondition).
type DevicePart = (bool, bool, Option<DateTime<Utc>>);

pub(super) struct RuleCtx<'s> {
    store: &'s dyn Store,
    now: DateTime<Utc>,
    /// Catalog entries known to exist (each looked up in the store once).
    catalog: HashSet<(CatalogKind, String)>,
    stored: Stored,
}

/// The stored users and DEP records the rows name. The first `ONE_BY_ONE` are asked for one at a time
/// (a form, a small file); past that, every user and record is read once: a large file asks about each of
/// its rows, and one at a time costs a chunk read each on sled (records are kept in chunks) and a round
/// trip each on a server or PostgreSQL.
#[derive(Default)]
struct Stored {
    asked: usize,
    all: Option<Everything>,
}

/// Every stored user and DEP record, by key, each kept encoded and decoded when a row asks for it: a
/// re-import of 200,000 rows held them all decoded (313 MiB).
#[derive(Default)]
struct Everything {
    users: Encoded<User>,
    devices: Encoded<DepDevice>,
}

/// Records by key, postcard-encoded back to back.
struct Encoded<T> {
    bytes: Vec<u8>,
    at: KeyMap<(usize, usize)>,
    of: std::marker::PhantomData<T>,
}

impl<T> Default for Encoded<T> {
    fn default() -> Self {
        Encoded { bytes: Vec::new(), at: KeyMap::default(), of: std::marker::PhantomData }
    }
}

impl<T: serde::Serialize + serde::de::DeserializeOwned> Encoded<T> {
    fn insert(&mut self, key: &str, value: &T) -> Result<(), OpError> {
        let start = self.bytes.len();
        self.bytes = postcard::to_extend(value, std::mem::take(&mut self.bytes))
            .map_err(|e| OpError::Unavailable(format!("cannot hold a stored record: {e}")))?;
        self.at.insert(key, (start, self.bytes.len()));
        Ok(())
    }

    fn get(&self, key: &str) -> Result<Option<T>, OpError> {
        let Some(&(start, end)) = self.at.get(key) else { return Ok(None) };
        postcard::from_bytes(&self.bytes[start..end])
            .map(Some)
            .map_err(|e| OpError::Unavailable(format!("cannot read a stored record again: {e}")))
    }
}

const ONE_BY_ONE: usize = 256;

/// Stored records read a page at a time.
const PAGE: usize = 4096;

impl RuleCtx<'_> {
    /// Every stored user and record, once more than `ONE_BY_ONE` have been asked for. The records come
    /// a page at a time, so that no more than a page of them is ever held decoded.
    fn read_all(&mut self) -> Result<Option<&Everything>, OpError> {
        if self.stored.all.is_none() {
            self.stored.asked += 1;
            if self.stored.asked <= ONE_BY_ONE {
                return Ok(None);
            }
            let mut all = Everything::default();
            let mut key = String::new();
            for u in self.store.users()? {
                crate::keys::key_into(&u.username, &mut key);
                all.users.insert(&key, &u)?;
            }
            let mut after: Option<String> = None;
            loop {
                let page = self.store.dep_devices_page(after.as_deref(), PAGE)?;
                for d in &page {
                    crate::keys::key_into(&d.identifier, &mut key);
                    all.devices.insert(&key, d)?;
                }
                match page.last() {
                    Some(last) if page.len() == PAGE => after = Some(last.identifier.clone()),
                    _ => break,
                }
            }
            self.stored.all = Some(all);
        }
        Ok(self.stored.all.as_ref())
    }

    /// The stored user `username`, whose key (`user_key`) is `key`.
    fn user(&mut self, username: &str, key: &str) -> Result<Option<User>, OpError> {
        match self.read_all()? {
            Some(all) => all.users.get(key),
            None => Ok(self.store.user(username)?),
        }
    }

    /// The stored record `identifier`, whose key (`DepDevice::key`) is `key`.
    fn dep_device(&mut self, identifier: &str, key: &str) -> Result<Option<DepDevice>, OpError> {
        match self.read_all()? {
            Some(all) => all.devices.get(key),
            None => Ok(self.store.dep_device(identifier)?),
        }
    }

    fn exists(&mut self, kind: CatalogKind, name: &str) -> Result<bool, OpError> {
        if self.catalog.contains(&(kind, name.to_string())) {
            return Ok(true);
        }
        let found = self.store.catalog_entry(kind, name)?.is_some();
        if found {
            self.catalog.insert((kind, name.to_string()));
        }
        Ok(found)
    }

    fn catalog_names(&mut self, row: &mut Row, c: Col, kind: CatalogKind) -> Result<Option<Vec<String>>, OpError> {
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

/// What the user part of a row makes: the user as it will be, whether it is new, whether it changes (None:
/// no user part, or the user is on an earlier line), and the name the row's device is owned by.
type UserPart = (Option<(User, bool, bool)>, Option<String>);

/// Notes a stored value that a blank cell clears; `record` is the kind ("user", "device") and its name,
/// put together only for a note (most rows clear nothing).
fn clear_note(
    report: &mut Vec<Cleared>,
    line: u64,
    record: (&str, &str),
    field: &'static str,
    old: &str,
    new_blank: bool,
) {
    if new_blank && !old.is_empty() {
        report.push(Cleared { line, record: format!("{} {}", record.0, record.1), field, old: old.to_string() });
    }
}

/// The user part of a row (`UserPart`), its key made into `key`. `owner`: whether the name the row's
/// device is owned by is wanted.
fn user_part(
    ctx: &mut RuleCtx,
    plan: &Plan,
    row: &mut Row,
    (line, owner): (u64, bool),
    cleared: &mut Vec<Cleared>,
    key: &mut String,
) -> Result<UserPart, OpError> {
    let username = row.get(Col::UserName).unwrap_or("");
    if username.is_empty() {
        for c in [Col::Name, Col::EmailAddress, Col::UserDescription, Col::Organizations] {
            if row.get(c).is_some_and(|v| !v.is_empty()) {
                row.problem(c, format!("{} is given without a UserName", c.name()));
            }
        }
        return Ok((None, None));
    }
    // The owner's name as first given: on an earlier line, or stored, or as in this row.
    let owned_by = |name: &str| owner.then(|| name.to_string());
    if let Err(e) = crate::domain::valid_username(username) {
        row.problem(Col::UserName, e);
        return Ok((None, owned_by(username)));
    }
    crate::keys::key_into(username, key);
    if let Some(PlannedUser { user: first, line: first_line, .. }) = plan.user(key) {
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
        return Ok((None, owned_by(&first.username)));
    }
    let stored = ctx.user(username, key)?;
    let create = stored.is_none();
    let mut u = stored.clone().unwrap_or(User { username: username.to_string(), ..User::default() });
    let record = ("user", stored.as_ref().map_or(username, |s| s.username.as_str()));
    if let Some(v) = row.checked(Col::Name, text(128)) {
        clear_note(cleared, line, record, "Name", &u.name, v.is_none());
        u.name = v.unwrap_or_default().to_string();
    }
    if let Some(v) = row.checked(Col::EmailAddress, kept(|v| rules::check_email("EmailAddress", v))) {
        clear_note(cleared, line, record, "EmailAddress", &u.email, v.is_none());
        u.email = v.unwrap_or_default().to_string();
    }
    if let Some(v) = row.checked(Col::UserDescription, text(1024)) {
        clear_note(cleared, line, record, "UserDescription", &u.description, v.is_none());
        u.description = v.unwrap_or_default().to_string();
    }
    if let Some(orgs) = ctx.catalog_names(row, Col::Organizations, CatalogKind::Organization)? {
        clear_note(cleared, line, record, "Organizations", &u.organizations.join("|"), orgs.is_empty());
        u.organizations = orgs;
    }
    let changed = stored.as_ref() != Some(&u);
    let owner = owned_by(&u.username);
    Ok((Some((u, create, changed)), owner))
}

/// The device part of a row: the record to write, made into `d` (the planner's, used again row after row),
/// whether it is new, whether it changed; its key made into `key`. `owner`: the name of the row's user
/// (users and devices together).
fn device_part(
    ctx: &mut RuleCtx,
    (mode, row): (Mode, &mut Row),
    (line, owner): (u64, Option<String>),
    cleared: &mut Vec<Cleared>,
    (plan, key, d): (&Plan, &mut String, &mut DepDevice),
) -> Result<Option<DevicePart>, OpError> {
    let identifier = row.get(Col::Identifier).unwrap_or("");
    if identifier.is_empty() {
        let stray = COLS.iter().filter(|c| !c.is_user()).find(|c| row.get(**c).is_some_and(|v| !v.is_empty()));
        if let Some(&c) = stray {
            row.problem(c, format!("{} is given without an Identifier", c.name()));
        }
        return Ok(None);
    }
    crate::keys::key_into(identifier, key);
    if let Some(first) = plan.devices.get(key) {
        row.problem(Col::Identifier, format!("device {identifier} is also on line {first} (identifiers ignore case)"));
        return Ok(None);
    }
    let stored = ctx.dep_device(identifier, key)?;
    let create = stored.is_none();
    if create && let Err(e) = rules::check_identifier(identifier) {
        row.problem(Col::Identifier, e);
        return Ok(None);
    }
    let now = ctx.now;
    match &stored {
        Some(s) => *d = s.clone(),
        None => blank_record(d, identifier, now, row),
    }
    let record = ("device", stored.as_ref().map_or(identifier, |s| s.identifier.as_str()));
    // What a field held before this row: the stored record's (a new one's held nothing).
    let old = |v: &Option<String>| if create { String::new() } else { v.clone().unwrap_or_default() };
    // Template and tags must exist in the catalog.
    if let Some(v) = row.get(Col::Template) {
        if !v.is_empty() && !ctx.exists(CatalogKind::Template, v)? {
            row.problem(Col::Template, format!("template {v:?} does not exist; add it to the catalog first"));
        }
        clear_note(cleared, line, record, "Template", &old(&d.template), v.is_empty());
        set_text(&mut d.template, Some(v).filter(|v| !v.is_empty()));
    }
    if let Some(tags) = ctx.catalog_names(row, Col::DeviceTags, CatalogKind::Tag)? {
        let was = if create { String::new() } else { d.tags.join("|") };
        clear_note(cleared, line, record, "DeviceTags", &was, tags.is_empty());
        d.tags = tags;
    }
    match row.checked(Col::Code, kept(rules::check_code)) {
        Some(Some(code)) => set_string(&mut d.code, code),
        // Blank: generated on create, kept on update.
        _ if create => rules::generate_code_into(&mut d.code).map_err(OpError::Unavailable)?,
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
        if let Some(v) = row.checked(c, kept(check)) {
            let slot = text_field(d, c);
            clear_note(cleared, line, record, field, &old(slot), v.is_none());
            set_text(slot, v);
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
            let slot = text_field(d, c);
            clear_note(cleared, line, record, field, &old(slot), v.is_none());
            set_text(slot, v);
        }
    }
    if let Some(v) = row.checked(Col::RegistrationEmail, kept(|v| rules::check_email("RegistrationEmail", v))) {
        clear_note(cleared, line, record, "RegistrationEmail", &old(&d.registration_email), v.is_none());
        set_text(&mut d.registration_email, v);
    }
    if let Some(v) = row.checked(Col::DepMethod, DepMethod::parse) {
        let was = if create { String::new() } else { d.dep_method.map(|m| m.as_str().to_string()).unwrap_or_default() };
        clear_note(cleared, line, record, "DEPMethod", &was, v.is_none());
        d.dep_method = v;
    }
    if mode == Mode::UsersAndDevices {
        clear_note(cleared, line, record, "UserName", &old(&d.user), owner.is_none());
        d.user = owner;
    }
    if let Err(e) = d.check() {
        row.problem(Col::DepMethod, e);
    }
    let changed = stored.as_ref() != Some(&*d);
    if changed && let Some(s) = &stored {
        if let Some(why) = s.state.read_only() {
            row.problem(Col::Identifier, why);
        }
        d.modified = now;
    }
    let expect = stored.as_ref().map(|s| s.modified);
    Ok(Some((create, changed, expect)))
}

/// The optional text field a column fills.
fn text_field(d: &mut DepDevice, c: Col) -> &mut Option<String> {
    match c {
        Col::WifiMac => &mut d.wifi_mac,
        Col::Imei => &mut d.imei,
        Col::Meid => &mut d.meid,
        Col::Udid => &mut d.udid,
        Col::Serial => &mut d.serial,
        Col::DisplayName => &mut d.display_name,
        Col::Description => &mut d.description,
        Col::RegistrationEmail => &mut d.registration_email,
        _ => &mut d.template,
    }
}

/// Makes `d` the new record `identifier` before its row's cells are set: every field as a new record has
/// it, except the text fields of columns the row has, which its cells set next (their buffers kept).
fn blank_record(d: &mut DepDevice, identifier: &str, now: DateTime<Utc>, row: &Row) {
    set_string(&mut d.identifier, identifier);
    d.code.clear();
    d.os = DepOs::Ios;
    d.tags.clear();
    for c in [Col::Template, Col::WifiMac, Col::Imei, Col::Meid, Col::Udid, Col::Serial].into_iter().chain([
        Col::DisplayName,
        Col::Description,
        Col::RegistrationEmail,
    ]) {
        if row.get(c).is_none() {
            *text_field(d, c) = None;
        }
    }
    d.set_expiration(rules::DEFAULT_EXPIRATION_DAYS, now);
    d.dep_method = None;
    d.user = None;
    d.state = DepState::Pending;
    d.created = now;
    d.modified = now;
}

/// A new record with no value: what the planner's record starts as.
fn empty_record(now: DateTime<Utc>) -> DepDevice {
    DepDevice {
        identifier: String::new(),
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
        expires: now,
        display_name: None,
        description: None,
        registration_email: None,
        dep_method: None,
        user: None,
        state: DepState::Pending,
        created: now,
        modified: now,
    }
}

/// Builds an import's plan row by row: the report (counts, rejected rows, cleared values) and, at the end,
/// the change to write.
pub struct Planner<'s> {
    ctx: RuleCtx<'s>,
    plan: Plan,
    mode: Mode,
    report: DepReport,
    /// The key of the row's user and of its device, made into buffers used again.
    user_key: String,
    device_key: String,
    /// The row's device record as it will be, made into the same record row after row.
    device: DepDevice,
}

impl<'s> Planner<'s> {
    /// `report` carries the file's name, encoding and header; the planner fills in the rest.
    pub fn new(store: &'s dyn Store, now: DateTime<Utc>, mode: Mode, mut report: DepReport) -> Planner<'s> {
        report.mode = Some(mode);
        let ctx = RuleCtx { store, now, catalog: HashSet::default(), stored: Stored::default() };
        let (user_key, device_key, device) = (String::new(), String::new(), empty_record(now));
        Planner { ctx, plan: Plan::default(), mode, report, user_key, device_key, device }
    }

    pub fn rows(&self) -> u64 {
        self.report.rows
    }

    /// Makes room in the plan's maps for about `rows` rows in all (growing them as rows come rehashed
    /// every key several times: a tenth of a large import).
    pub fn expect_rows(&mut self, rows: u64) {
        let more = usize::try_from(rows.saturating_sub(self.report.rows)).unwrap_or(0);
        self.plan.user_at.reserve(more);
        self.plan.users.reserve(more);
        self.plan.devices.reserve(more);
        // The writes' buffer from the size of those so far, with room to spare (pages not written to are
        // not memory): growing it by doubling copied it and touched its pages again.
        if let Some(size) = self.plan.writes.average() {
            self.plan.writes.reserve(more, size + size / 4);
        }
    }

    pub fn rejected(&self) -> usize {
        self.report.rejected.len()
    }

    /// One data row: its physical line, its fields as read (for the rejects file) and its cells by column
    /// (with their 1-based column numbers). A row with the wrong number of fields passes `None`.
    pub fn row(&mut self, line: u64, fields: &[&str], cells: Option<&[(Col, usize, &str)]>) -> Result<(), OpError> {
        self.report.rows += 1;
        let mut row = Row { cells: [None; COLS.len()], problems: Vec::new() };
        match cells {
            None => row.problems.push(RowProblem {
                column: None,
                value: String::new(),
                reason: format!("the row has {} cells, the header {}", fields.len(), self.report.header.len()),
            }),
            Some(cells) => {
                for &(c, i, v) in cells {
                    row.cells[c as usize] = Some((i, v));
                }
            }
        }
        let (ctx, plan, user_key, device_key, d) =
            (&mut self.ctx, &mut self.plan, &mut self.user_key, &mut self.device_key, &mut self.device);
        let mut row_cleared = Vec::new();
        let (user, device) = if row.problems.is_empty() {
            let owned = self.mode == Mode::UsersAndDevices;
            let (user, owner) = user_part(ctx, plan, &mut row, (line, owned), &mut row_cleared, user_key)?;
            let device = if self.mode == Mode::UsersOnly {
                None
            } else {
                device_part(ctx, (self.mode, &mut row), (line, owner), &mut row_cleared, (plan, device_key, d))?
            };
            (user, device)
        } else {
            (None, None)
        };
        let report = &mut self.report;
        if !row.problems.is_empty() {
            let fields = fields.iter().map(|f| f.to_string()).collect();
            report.rejected.push(report.header.len(), Rejected { line, fields, problems: row.problems });
            return Ok(());
        }
        report.cleared.extend(row_cleared);
        let mut unchanged = true;
        if let Some((u, create, changed)) = user {
            if changed {
                unchanged = false;
                if create { report.users_created += 1 } else { report.users_updated += 1 }
            }
            plan.user_at.insert(user_key, plan.users.len());
            plan.users.push(PlannedUser { user: u, create, line, changed });
        }
        if let Some((create, changed, expect)) = device {
            plan.devices.insert(device_key, line);
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
                plan.writes.push_parts(device_key, d, create, mail, expect);
            }
        }
        report.unchanged += u64::from(unchanged);
        Ok(())
    }

    /// The report, with the change to write when `write` and there is anything to write (an import writes
    /// when it is no dry run and has no rejected row, or skips them).
    pub fn finish(mut self, write: bool) -> DepReport {
        let plan = &mut self.plan;
        plan.user_at = KeyMap::default();
        plan.users.retain(|u| u.changed);
        if write && (!plan.writes.is_empty() || !plan.users.is_empty()) {
            let users = std::mem::take(&mut plan.users).into_iter().map(|u| (u.user, u.create)).collect();
            self.report.pending = Some(DepChange { users, devices: std::mem::take(&mut plan.writes) });
        }
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DepChange, DepStore, MemoryStore};

    const HEADER: &str = "UserName,Identifier,OS,Code,Template,WifiMac,IMEI,Serial,DisplayName,Description,\
RegistrationEmail,ExpirationDays,DEPMethod";

    /// Plans `rows` (of HEADER's columns, or fewer cells) in one planner.
    fn plan(store: &MemoryStore, now: DateTime<Utc>, rows: &[&str]) -> (DepReport, Vec<DepDevice>) {
        plan_file(store, now, HEADER, rows)
    }

    /// Plans `rows` under `header` in one planner: the report, and the records it would write.
    fn plan_file(store: &MemoryStore, now: DateTime<Utc>, header: &str, rows: &[&str]) -> (DepReport, Vec<DepDevice>) {
        let cols: Vec<Col> = header.split(',').map(|h| Col::from_name(h).unwrap()).collect();
        let report = DepReport { header: header.split(',').map(String::from).collect(), ..DepReport::default() };
        let mut planner = Planner::new(store, now, Mode::of(&cols).unwrap(), report);
        for (i, r) in rows.iter().enumerate() {
            let fields: Vec<&str> = r.split(',').collect();
            let cells: Vec<(Col, usize, &str)> =
                cols.iter().zip(&fields).enumerate().map(|(i, (c, v))| (*c, i + 1, *v)).collect();
            let cells = (fields.len() == cols.len()).then_some(cells.as_slice());
            planner.row(i as u64 + 2, &fields, cells).unwrap();
        }
        let report = planner.finish(true);
        let devices = match &report.pending {
            Some(DepChange { devices, .. }) => devices.iter().map(|w| w.unwrap().device).collect(),
            None => Vec::new(),
        };
        (report, devices)
    }

    /// The planner makes each row's record into one record used again row after row: what it plans for a
    /// file is what planning each row alone gives, whatever the rows before it held (values, blanks,
    /// rejected cells, fewer cells), generated codes aside.
    #[test]
    fn each_record_is_as_if_its_row_were_alone() {
        let rows = [
            "u1,D1,ios,,,00:1A:2B:3C:4D:5E,490154203237518,SN1,Shown 1,About,a@example.com,30,Serial",
            "u2,D2,android,CODE2,,,,,,,,,",
            "u3,D3,ios,,,zz,,SN3,Shown 3,,,,Serial",
            "u4,D4,ios,,,,,SN4,,Described,,400,Keycode",
            "u5,D5,windows",
            "u6,D6,ios,CODE6,,00:1A:2B:3C:4D:5F,,SN6,Shown 6,,b@example.com,,Keycode",
            "u7,D7,ios,,,,,,,,,,",
            "u8,D8,palmos,,,,,SN8,Shown 8,,,,",
            "u9,D9,ios,,,,,SN9,Shown 9,,,,Serial",
        ];
        let store = MemoryStore::new();
        let now = Utc::now();
        let (together, planned) = plan(&store, now, &rows);
        assert_eq!(together.rejected.len(), 4, "D3's MAC, D4's days, D5's cells, D8's OS");
        let mut alone = Vec::new();
        for r in rows {
            alone.extend(plan(&store, now, &[r]).1);
        }
        let without_code = |mut d: DepDevice| {
            d.code.clear();
            d
        };
        let codes: Vec<&str> = planned.iter().map(|d| d.code.as_str()).collect();
        assert!(codes.iter().all(|c| c.len() == 8 || *c == "CODE2" || *c == "CODE6"), "{codes:?}");
        assert_eq!(
            planned.into_iter().map(without_code).collect::<Vec<_>>(),
            alone.into_iter().map(without_code).collect::<Vec<_>>()
        );
    }

    /// A file past `ONE_BY_ONE` rows finds every stored user and record, however many pages of records
    /// the store hands them in: the same 5,000 rows again are unchanged but the one that changed.
    #[test]
    fn a_large_file_finds_every_stored_record_across_pages() {
        use crate::domain::audit::{Actor, AuditEntry, AuditOutcome, FrontEnd};
        let store = MemoryStore::new();
        let now = Utc::now();
        let header = "UserName,Name,Identifier,OS,DisplayName";
        let rows: Vec<String> = (0..5000).map(|i| format!("user{i:04},User {i},D{i:04},ios,Device {i}")).collect();
        let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
        let (mut first, planned) = plan_file(&store, now, header, &rows);
        assert_eq!((first.devices_created, first.users_created, planned.len()), (5000, 5000, 5000));
        let audit = AuditEntry {
            id: 0,
            at: now,
            actor: Actor::named("tester", FrontEnd::Cli),
            command: "dep.import".into(),
            profile: None,
            target: "test".into(),
            outcome: AuditOutcome::Done("test".into()),
            counts: None,
        };
        store.dep_apply(first.pending.take().unwrap(), &audit).unwrap();
        let mut again = rows.clone();
        again[4500] = "user4500,User 4500,D4500,ios,Moved";
        let (report, planned) = plan_file(&store, now, header, &again);
        assert!(report.rejected.is_empty());
        let counts = (report.devices_created, report.devices_updated, report.users_created, report.users_updated);
        assert_eq!((counts, report.unchanged), ((0, 1, 0, 0), 4999));
        assert_eq!((planned[0].identifier.as_str(), planned[0].display_name.as_deref()), ("D4500", Some("Moved")));
    }

    /// A new record after an update, in a file without some columns, has none of the stored record's
    /// values in them.
    #[test]
    fn a_new_record_after_an_update_takes_nothing_from_it() {
        use crate::domain::audit::{Actor, AuditEntry, AuditOutcome, FrontEnd};
        let store = MemoryStore::new();
        let now = Utc::now();
        let row = "u1,D1,ios,CODE1,,00:1A:2B:3C:4D:5E,490154203237518,SN1,Shown,About,a@example.com,30,Serial";
        let mut first = plan(&store, now, &[row]).0;
        let audit = AuditEntry {
            id: 0,
            at: now,
            actor: Actor::named("tester", FrontEnd::Cli),
            command: "dep.import".into(),
            profile: None,
            target: "test".into(),
            outcome: AuditOutcome::Done("test".into()),
            counts: None,
        };
        store.dep_apply(first.pending.take().unwrap(), &audit).unwrap();
        let (report, devices) = plan_file(&store, now, "Identifier,OS,DisplayName", &["D1,ios,Moved", "D2,ios,New"]);
        assert!(report.rejected.is_empty());
        let (d1, d2) = (&devices[0], &devices[1]);
        assert_eq!((d1.serial.as_deref(), d1.display_name.as_deref()), (Some("SN1"), Some("Moved")));
        assert_eq!((d1.user.as_deref(), d1.expiration_days), (Some("u1"), 30));
        assert_eq!((d2.identifier.as_str(), d2.display_name.as_deref()), ("D2", Some("New")));
        let none =
            [&d2.wifi_mac, &d2.imei, &d2.serial, &d2.description, &d2.registration_email, &d2.template, &d2.user];
        assert!(none.iter().all(|v| v.is_none()), "{d2:?}");
        assert!(d2.dep_method.is_none() && d2.expiration_days == rules::DEFAULT_EXPIRATION_DAYS && d2.code != d1.code);
    }
}
