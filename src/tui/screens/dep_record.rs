//! One DEP device record's information: device information, the identifiers a check-in is restricted
//! to, the seed's DEP Enrollment part; read-only once checked in or withdrawn. The record form (add and
//! edit) and its save: every save goes through the DEP CSV's own rules (a form is a one-row import), so
//! the workstation and a file can never disagree. (The actions are still `tui/dep.rs`'s.)

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::{Ctx, DrawCtx, Effect, Level, Screen};
use crate::csv::RowProblem;
use crate::domain::dep::{self as rules, CatalogKind, DepDevice, DepMethod, DepState};
use crate::ops;
use crate::store::{Store, StoreError, Subject};
use crate::tui::action::Action;
use crate::tui::form::ConfirmPurpose;
use crate::tui::form::FormPurpose;
use crate::tui::form::{Check, FieldId, Form, FormField, catalog_options, user_picker};
use crate::tui::keymap::Context;
use crate::tui::theme::Theme;
use crate::tui::widgets::text::owned;

/// "off", or how the DEP device is matched.
pub(crate) fn enrollment(d: &DepDevice) -> &'static str {
    match d.dep_method {
        None => "off",
        Some(DepMethod::Serial) => "Serial",
        Some(DepMethod::Keycode) => KEY_CODE,
    }
}

pub(crate) fn state_style(t: &Theme, s: &DepState) -> Style {
    match s {
        DepState::Pending => t.base,
        DepState::CheckedIn { .. } => t.ok,
        DepState::Withdrawn { .. } => t.dim,
    }
}

/// One device record's information.
#[derive(Debug)]
pub struct DepDetailState {
    pub device: DepDevice,
}

impl DepDetailState {
    pub fn reload(&mut self, store: &dyn Store) -> Result<(), StoreError> {
        self.device = store
            .dep_device(&self.device.identifier)?
            .ok_or_else(|| StoreError::NotFound(format!("device {} was deleted", self.device.identifier)))?;
        Ok(())
    }
}

/// Labelled lines under a heading.
fn group<'a>(t: &Theme, heading: &'a str, items: Vec<(&'a str, Span<'a>)>) -> Vec<Line<'a>> {
    let mut lines = vec![Line::from(Span::styled(heading, t.header))];
    lines.extend(
        items.into_iter().map(|(label, value)| Line::from(vec![Span::styled(format!("{label:<22}"), t.dim), value])),
    );
    lines
}

pub fn draw(cx: &DrawCtx, s: &DepDetailState, area: Rect, frame: &mut Frame) {
    let t = cx.theme;
    let d = &s.device;
    let text = |v: &Option<String>| Span::raw(owned(v.as_deref().unwrap_or("")));
    let mut body = area;
    if let Some(why) = d.state.read_only() {
        let [banner, rest] = Layout::vertical([Constraint::Length(2), Constraint::Min(1)]).areas(area);
        frame.render_widget(
            Paragraph::new(Span::styled(format!("Read-only: {why}."), t.warn))
                .block(Block::default().borders(Borders::BOTTOM).border_style(t.border)),
            banner,
        );
        body = rest;
    }
    let now = cx.now;
    let expires = if d.expires <= now {
        Span::styled(format!("{} (expired)", d.expires.format("%Y-%m-%d %H:%M")), t.error)
    } else {
        Span::raw(d.expires.format("%Y-%m-%d %H:%M").to_string())
    };
    let left = group(
        t,
        "Device information",
        vec![
            ("Identifier", Span::styled(owned(&d.identifier), t.title)),
            ("State", Span::styled(d.state.label(), state_style(t, &d.state))),
            ("OS", Span::raw(d.os.as_str())),
            ("User", text(&d.user)),
            ("Template", text(&d.template)),
            ("Device tags", Span::raw(owned(&d.tags.join("|")))),
            ("Display name", text(&d.display_name)),
            ("Description", text(&d.description)),
            ("Check-in code", Span::raw(owned(&d.code))),
            ("Code expires", expires),
            ("Expiration days", Span::raw(d.expiration_days.to_string())),
            ("Registration email", text(&d.registration_email)),
        ],
    );
    let mut right = group(
        t,
        "Check-in only from the device with",
        vec![
            ("Wi-Fi MAC", text(&d.wifi_mac)),
            ("IMEI", text(&d.imei)),
            ("MEID", text(&d.meid)),
            ("UDID", text(&d.udid)),
        ],
    );
    right.push(Line::from(""));
    let (dep_device, dep_profile) = match &d.state {
        DepState::CheckedIn { dep_serial, dep_profile, .. } => (text(dep_serial), text(dep_profile)),
        _ => (Span::styled("(once checked in)", t.dim), Span::styled("(once checked in)", t.dim)),
    };
    let mut enroll = vec![
        ("Use DEP to Enroll", Span::raw(if d.dep_method.is_some() { "on" } else { "off" })),
        ("DEP Enrollment Method", Span::raw(if d.dep_method.is_some() { enrollment(d) } else { "" })),
        ("Serial", text(&d.serial)),
        ("DEP Device", dep_device),
        ("DEP Profile", dep_profile),
    ];
    match &d.state {
        DepState::CheckedIn { at, .. } => {
            enroll.push(("Checked in", Span::raw(at.format("%Y-%m-%d %H:%M").to_string())))
        }
        DepState::Withdrawn { at } => enroll.push(("Withdrawn", Span::raw(at.format("%Y-%m-%d %H:%M").to_string()))),
        DepState::Pending => {}
    }
    right.extend(group(t, "DEP Enrollment", enroll));
    let [l, r] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(body);
    frame.render_widget(Paragraph::new(left).wrap(Wrap { trim: false }), l);
    frame.render_widget(Paragraph::new(right).wrap(Wrap { trim: false }), r);
}

// The device form's fields, and the DEP CSV column each one stands for.
const IDENTIFIER: &str = "Identifier";
const OS: &str = "OS";
const USER: &str = "User";
const TEMPLATE: &str = "Template";
const TAGS: &str = "Device tags";
const DISPLAY_NAME: &str = "Display name";
const DESCRIPTION: &str = "Description";
const CODE: &str = "Check-in code";
const DAYS: &str = "Expiration days";
const EMAIL: &str = "Registration email";
const WIFI_MAC: &str = "Wi-Fi MAC";
const IMEI: &str = "IMEI";
const MEID: &str = "MEID";
const UDID: &str = "UDID";
pub const USE_DEP: &str = "Use DEP to Enroll";
pub const METHOD: &str = "DEP Enrollment Method";
pub const SERIAL: &str = "Serial";
/// The seed's name for the Keycode method.
pub const KEY_CODE: &str = "Key Code";

const COLUMNS: [(&str, &str); 16] = [
    (IDENTIFIER, "Identifier"),
    (OS, "OS"),
    (USER, "UserName"),
    (TEMPLATE, "Template"),
    (TAGS, "DeviceTags"),
    (DISPLAY_NAME, "DisplayName"),
    (DESCRIPTION, "Description"),
    (CODE, "Code"),
    (DAYS, "ExpirationDays"),
    (EMAIL, "RegistrationEmail"),
    (WIFI_MAC, "WifiMac"),
    (IMEI, "IMEI"),
    (MEID, "MEID"),
    (UDID, "UDID"),
    (SERIAL, "Serial"),
    (METHOD, "DEPMethod"),
];

const OS_CHOICES: &[&str] = &["ios", "android", "windows"];
const METHODS: &[&str] = &["Serial", KEY_CODE];
/// The DEP Enrollment section shows the method only when DEP is on, and the serial only for Serial.
pub fn enrollment_visibility(form: &mut Form) {
    let on = form.on(FieldId::UseDep);
    let serial = on && form.value(FieldId::Dep("DEPMethod")) == "Serial";
    if let Some(f) = form.field_mut(FieldId::Dep("DEPMethod")) {
        f.hidden = !on;
    }
    if let Some(f) = form.field_mut(FieldId::Dep("Serial")) {
        f.hidden = !serial;
    }
}

/// The id of the field with this label: the import column it fills.
fn field_id(label: &str) -> FieldId {
    let column = COLUMNS.iter().find(|(l, _)| *l == label).map_or("Identifier", |(_, c)| c);
    FieldId::Dep(column)
}

/// A problem of the one-row import, named by the form's field.
fn problem_text(p: &RowProblem) -> String {
    let label = p
        .column
        .as_ref()
        .and_then(|(_, h)| COLUMNS.iter().find(|(_, c)| c == h).map(|(l, _)| *l))
        .unwrap_or(IDENTIFIER);
    format!("{label}: {}", p.reason)
}

/// A record's optional text field, and a format rule.
type Field = fn(&DepDevice) -> &Option<String>;
type Rule = fn(&str) -> Result<(), String>;

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

/// The device form: Add (no record) or Edit. The DEP Enrollment section is the seed's.
pub fn record_form(store: &dyn Store, d: Option<&DepDevice>) -> Form {
    let v = |f: fn(&DepDevice) -> &Option<String>| d.map(|d| opt(f(d)).to_string()).unwrap_or_default();
    let mut fields = Vec::new();
    if d.is_none() {
        fields.push(
            FormField::text(
                FieldId::Dep("Identifier"),
                IDENTIFIER,
                "",
                "1 to 20 letters, digits, . - _ (case does not count)",
            )
            .with_check(Check::Rule(rules::check_identifier))
            .in_section("Device information"),
        );
        fields.push(FormField::choice(FieldId::Dep("OS"), OS, OS_CHOICES, "", "fixed once the device is created"));
    }
    let user = user_picker(store, FieldId::Dep("UserName"), USER, d.and_then(|d| d.user.as_deref()).unwrap_or(""));
    fields.push(if d.is_some() { user.in_section("Device information") } else { user });
    let options = catalog_options(store, CatalogKind::Template);
    fields.push(FormField::pick(
        FieldId::Dep("Template"),
        TEMPLATE,
        &v(|d| &d.template),
        options,
        "optional: from the Catalog tab",
    ));
    let tags = d.map(|d| d.tags.clone()).unwrap_or_default();
    let options = catalog_options(store, CatalogKind::Tag);
    fields.push(FormField::several(
        FieldId::Dep("DeviceTags"),
        TAGS,
        &tags,
        options,
        "optional: Space picks, from the Catalog tab",
    ));
    fields.push(FormField::text(FieldId::Dep("DisplayName"), DISPLAY_NAME, &v(|d| &d.display_name), "optional"));
    fields.push(FormField::text(FieldId::Dep("Description"), DESCRIPTION, &v(|d| &d.description), "optional"));
    let code_hint = if d.is_some() { "blank: kept" } else { "blank: generated (8 characters)" };
    fields.push(FormField::text(FieldId::Dep("Code"), CODE, "", code_hint).with_check(Check::Rule(rules::check_code)));
    let days = d.map(|d| d.expiration_days).unwrap_or(rules::DEFAULT_EXPIRATION_DAYS).to_string();
    fields.push(
        FormField::text(
            FieldId::Dep("ExpirationDays"),
            DAYS,
            &days,
            "1 to 365 (blank: 7); a new number counts from now",
        )
        .with_check(Check::Rule(|v| rules::check_expiration_days(v).map(|_| ()))),
    );
    fields.push(
        FormField::text(
            FieldId::Dep("RegistrationEmail"),
            EMAIL,
            &v(|d| &d.registration_email),
            "optional: saving queues a check-in email",
        )
        .with_check(Check::Rule(|v| rules::check_email("email address", v))),
    );
    let restrictions: [(&str, Field, Rule); 4] = [
        (WIFI_MAC, |d| &d.wifi_mac, rules::check_wifi_mac),
        (IMEI, |d| &d.imei, |v| crate::domain::Imei::parse(v).map(|_| ())),
        (MEID, |d| &d.meid, rules::check_meid),
        (UDID, |d| &d.udid, rules::check_udid),
    ];
    for (i, (label, get, rule)) in restrictions.into_iter().enumerate() {
        let f = FormField::text(field_id(label), label, &v(get), "optional").with_check(Check::Rule(rule));
        fields.push(if i == 0 { f.in_section("Check-in only from the device with (optional)") } else { f });
    }
    let method = d.and_then(|d| d.dep_method);
    fields.push(
        FormField::toggle(FieldId::UseDep, USE_DEP, method.is_some(), "Space: set up through Apple DEP")
            .in_section("DEP Enrollment"),
    );
    let chosen = match method {
        Some(rules::DepMethod::Keycode) => KEY_CODE,
        _ => "Serial",
    };
    fields.push(FormField::choice(
        FieldId::Dep("DEPMethod"),
        METHOD,
        METHODS,
        chosen,
        "how the DEP device is matched during setup",
    ));
    fields.push(
        FormField::text(FieldId::Dep("Serial"), SERIAL, &v(|d| &d.serial), "the serial number of the DEP device")
            .with_check(Check::Rule(rules::check_serial)),
    );
    let (title, purpose) = match d {
        Some(d) => {
            (format!("Edit device {} ({})", d.identifier, d.os.as_str()), FormPurpose::EditRecord(d.identifier.clone()))
        }
        None => ("Add a device record".to_string(), FormPurpose::AddRecord),
    };
    let mut form = Form::new(title, purpose, fields);
    form.expect_stamp = d.map(|d| d.modified);
    enrollment_visibility(&mut form);
    form
}

/// What a save did: saved (what to say, the record's identifier), or refused because someone saved the
/// record since the form opened: then the form again, with what was typed, what the record holds now,
/// and that taken as read (Enter saves over it knowingly).
pub enum Saved {
    Done(String, String),
    Conflict(Box<Form>),
}

fn conflict(store: &dyn Store, form: &Form, identifier: &str, message: &str) -> Result<Saved, String> {
    let current = store.dep_device(identifier).map_err(|e| e.to_string())?;
    let message = message.split("; read it again").next().unwrap_or(message);
    let mut again = form.clone();
    again.error = Some(match current {
        Some(d) => {
            again.expect_stamp = Some(d.modified);
            format!("{message}. Now: {}. Enter saves what you typed over it; Esc keeps theirs", record_holds(&d))
        }
        None => format!("{message}: the record was deleted meanwhile"),
    });
    Ok(Saved::Conflict(Box::new(again)))
}

/// What a record holds, as a conflict shows it (never its check-in code).
fn record_holds(d: &DepDevice) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut put = |label: &str, v: &Option<String>| {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            parts.push(format!("{label} {v}"));
        }
    };
    put("user", &d.user);
    put("template", &d.template);
    put("serial", &d.serial);
    put("IMEI", &d.imei);
    put("name", &d.display_name);
    put("description", &d.description);
    if !d.tags.is_empty() {
        parts.push(format!("tags {}", d.tags.join("|")));
    }
    crate::domain::text::sanitize(&parts.join(", ")).into_owned()
}

/// A device form saved as a one-row import of the columns it shows: the same checks as a file, blank
/// clears, a hidden field (the serial with Key Code) leaves the stored value as it is. What to say, and
/// the record's identifier.
pub fn save(core: &ops::Ctx, store: &dyn Store, form: &Form) -> Result<Saved, String> {
    let e = |e: StoreError| e.to_string();
    let create = form.purpose == FormPurpose::AddRecord;
    let identifier = match &form.purpose {
        FormPurpose::EditRecord(id) => id.clone(),
        _ => form.value(FieldId::Dep("Identifier")),
    };
    if identifier.is_empty() {
        return Err(format!("{IDENTIFIER}: type the device's identifier"));
    }
    if create && let Some(d) = store.dep_device(&identifier).map_err(e)? {
        return Err(format!("{IDENTIFIER}: device {} exists already (identifiers ignore case)", d.identifier));
    }
    let user = form.value(FieldId::Dep("UserName"));
    if !user.is_empty() && store.user(&user).map_err(e)?.is_none() {
        return Err(format!("{USER}: no user {user}; add it in the Users tab first"));
    }
    let mut cells = vec![("Identifier".to_string(), identifier.clone())];
    // Identifier (first) is given above; DEPMethod (last) comes from the toggle and the choice below.
    for (_, column) in &COLUMNS[1..COLUMNS.len() - 1] {
        if form.shows(FieldId::Dep(column)) {
            cells.push((column.to_string(), form.value(FieldId::Dep(column))));
        }
    }
    let method = match (form.on(FieldId::UseDep), form.value(FieldId::Dep("DEPMethod")).as_str()) {
        (false, _) => "",
        (true, "Serial") => "Serial",
        (true, _) => "Keycode",
    };
    cells.push(("DEPMethod".into(), method.into()));
    let expect = if create { None } else { form.expect_stamp };
    let report = match ops::dep::save(core, ops::dep::DepSave { cells, expect }) {
        Ok(report) => report,
        Err(ops::OpError::Conflict(m)) => return conflict(store, form, &identifier, &m),
        Err(e) => return Err(e.to_string()),
    };
    if let Some(r) = report.rejected.kept().first() {
        return Err(r.problems.iter().map(problem_text).collect::<Vec<_>>().join("; "));
    }
    let saved = store.dep_device(&identifier).map_err(e)?.ok_or("the record was not saved")?;
    let mut msg = match (create, report.devices_updated) {
        (true, _) => format!("added {}, check-in code {}", saved.identifier, saved.code),
        (false, 0) => format!("nothing changed on {}", saved.identifier),
        (false, _) => format!("saved {}", saved.identifier),
    };
    if !report.cleared.is_empty() {
        let fields: Vec<&str> = report.cleared.iter().map(|c| c.field).collect();
        msg.push_str(&format!("; cleared {}", fields.join(", ")));
    }
    if report.mails > 0 {
        msg.push_str("; check-in email queued (kitting dep outbox)");
    }
    Ok(Saved::Done(msg, saved.identifier))
}

/// A record form after a key: the DEP Enrollment fields it shows.
pub fn record_form_changed(form: &mut Form) {
    if matches!(form.purpose, FormPurpose::AddRecord | FormPurpose::EditRecord(_)) {
        enrollment_visibility(form);
    }
}

/// Whether a change may alter what a DEP screen shows: records, the users they name, the catalog.
pub fn concerns_records(subject: &Subject) -> bool {
    matches!(subject, Subject::Dep | Subject::Users | Subject::Catalog)
}

/// Edit, withdraw or delete one record, from the list (`listed`) or its own screen.
pub fn record_action(action: Action, d: DepDevice, listed: bool, store: &dyn Store) -> Effect {
    let id = d.identifier.clone();
    match action {
        Action::EditRecord => match d.state.read_only() {
            Some(why) => {
                let said = Effect::Status(Level::Error, format!("read-only: {why}"));
                if listed {
                    Effect::Many(vec![Effect::Push(Screen::DepDevice(Box::new(DepDetailState { device: d }))), said])
                } else {
                    said
                }
            }
            None => Effect::Form(record_form(store, Some(&d))),
        },
        Action::Withdraw => match d.state {
            DepState::Withdrawn { .. } => Effect::Status(Level::Error, format!("{id} is withdrawn already")),
            _ => Effect::Ask(
                format!(
                    "Withdraw {id}? It can no longer check in and its record becomes read-only. This cannot be \
                     undone."
                ),
                ConfirmPurpose::WithdrawRecord(id),
            ),
        },
        Action::Delete => Effect::Ask(
            format!("Delete the device record {id} ({})? This cannot be undone.", d.state.label()),
            ConfirmPurpose::DeleteRecord(id),
        ),
        _ => Effect::None,
    }
}

/// A withdrawal or a deletion, confirmed.
pub fn record_confirmed(purpose: ConfirmPurpose, cx: &mut Ctx) -> Result<Effect, String> {
    let core = cx.core();
    let msg = match purpose {
        ConfirmPurpose::DeleteRecord(id) => ops::dep::delete(&core, ops::dep::DepDelete { identifier: id.clone() })
            .map(|()| format!("deleted device {id}")),
        ConfirmPurpose::WithdrawRecord(id) => ops::dep::withdraw(&core, ops::dep::DepWithdraw { identifier: id })
            .map(|d| format!("withdrew {}", d.identifier)),
        _ => return Err("not a DEP question".into()),
    };
    msg.map(Effect::Saved).map_err(|e| e.to_string())
}

impl super::Unit for DepDetailState {
    fn context(&self) -> Context {
        Context::DepDevice
    }

    fn action(&mut self, action: Action, cx: &mut Ctx) -> Effect {
        match action {
            // The list below is read again: this record may have changed.
            Action::Back => Effect::Pop(String::new()),
            _ => record_action(action, self.device.clone(), false, cx.store.as_ref()),
        }
    }

    fn submit(&mut self, form: &Form, cx: &mut Ctx) -> Result<Effect, String> {
        Ok(match save(&cx.core(), cx.store.as_ref(), form)? {
            Saved::Done(msg, _) => Effect::Saved(msg),
            Saved::Conflict(form) => Effect::Form(*form),
        })
    }

    fn confirmed(&mut self, purpose: ConfirmPurpose, cx: &mut Ctx) -> Result<Effect, String> {
        let deleted = matches!(purpose, ConfirmPurpose::DeleteRecord(_));
        let effect = record_confirmed(purpose, cx)?;
        // A deleted record's screen closes; the list says what happened.
        Ok(match effect {
            Effect::Saved(msg) if deleted => Effect::Pop(msg),
            other => other,
        })
    }

    fn form_changed(&mut self, form: &mut Form, _cx: &Ctx) {
        record_form_changed(form);
    }

    fn on_change(&mut self, subject: &Subject, cx: &mut Ctx) -> Result<(), StoreError> {
        if concerns_records(subject) { super::Unit::reload(self, cx) } else { Ok(()) }
    }

    fn reload(&mut self, cx: &mut Ctx) -> Result<(), StoreError> {
        DepDetailState::reload(self, cx.store.as_ref())
    }

    fn draw(&self, cx: &DrawCtx, area: Rect, frame: &mut Frame) {
        draw(cx, self, area, frame)
    }
}
