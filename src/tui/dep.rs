//! The Apple DEP tabs: device records (a list, and a detail that is read-only once the device checked in or
//! was withdrawn), the catalog; their forms; the DEP import through the wizard. Every save goes through the
//! DEP CSV's own rules (a form is a one-row import), so the workstation and a file can never disagree.

use std::path::PathBuf;

use chrono::Utc;

use super::action::Action;
use super::app::{
    App, CSV_FILE, Check, ConfirmPurpose, DepDetailState, Form, FormField, FormPurpose, Modal, Screen, WizardJob,
    import_path, plural,
};
use crate::csv::RowProblem;
use crate::csv::dep::DepReport;
use crate::domain::dep::{self as rules, CatalogKind, DepDevice, DepState};
use crate::ops;
use crate::store::StoreError;

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
    let on = form.on(USE_DEP);
    let serial = on && form.value(METHOD) == "Serial";
    if let Some(f) = form.field_mut(METHOD) {
        f.hidden = !on;
    }
    if let Some(f) = form.field_mut(SERIAL) {
        f.hidden = !serial;
    }
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

impl App {
    pub(super) fn dep_action(&mut self, action: Action) {
        let Screen::Dep(l) = self.screen_mut() else { return };
        let selected = l.selected().cloned();
        match action {
            Action::Back => self.back(),
            Action::Filter => self.start_filter(),
            Action::Open => {
                if let Some(d) = selected {
                    self.open_record(d);
                }
            }
            Action::AddRecord => self.modal = Some(Modal::Form(self.record_form(None))),
            Action::Import => {
                self.modal = Some(Modal::Form(Form::new(
                    "Import DEP device information",
                    FormPurpose::DepImport,
                    vec![FormField::path(CSV_FILE, "", "Tab completes; Ctrl-t writes the template here")],
                )))
            }
            Action::Export => {
                let path = format!("dep-devices-{}.csv", Utc::now().format("%Y%m%d"));
                self.modal = Some(Modal::Form(Form::new(
                    "Export the users and devices (the import's format)",
                    FormPurpose::DepExport,
                    vec![FormField::path("File", &path, "Tab completes the path")],
                )))
            }
            _ => {
                if let Some(d) = selected {
                    self.record_action(action, d);
                }
            }
        }
    }

    pub(super) fn dep_device_action(&mut self, action: Action) {
        let Screen::DepDevice(d) = self.screen() else { return };
        let device = d.device.clone();
        match action {
            Action::Back => self.back(),
            _ => self.record_action(action, device),
        }
    }

    /// Edit, withdraw or delete one record (from the list or its detail).
    fn record_action(&mut self, action: Action, d: DepDevice) {
        let id = d.identifier.clone();
        match action {
            Action::EditRecord => match d.state.read_only() {
                Some(why) => {
                    if !matches!(self.screen(), Screen::DepDevice(_)) {
                        self.open_record(d);
                    }
                    self.error(format!("read-only: {why}"));
                }
                None => self.modal = Some(Modal::Form(self.record_form(Some(&d)))),
            },
            Action::Withdraw => match d.state {
                DepState::Withdrawn { .. } => self.error(format!("{id} is withdrawn already")),
                _ => {
                    self.modal = Some(Modal::Confirm {
                        text: format!(
                            "Withdraw {id}? It can no longer check in and its record becomes read-only. This cannot \
                             be undone."
                        ),
                        purpose: ConfirmPurpose::WithdrawRecord(id),
                    })
                }
            },
            Action::Delete => {
                self.modal = Some(Modal::Confirm {
                    text: format!("Delete the device record {id} ({})? This cannot be undone.", d.state.label()),
                    purpose: ConfirmPurpose::DeleteRecord(id),
                })
            }
            _ => {}
        }
    }

    fn open_record(&mut self, device: DepDevice) {
        self.screens.push(Screen::DepDevice(Box::new(DepDetailState { device })));
    }

    pub(super) fn catalog_action(&mut self, action: Action) {
        let store = self.store.clone();
        let Screen::Catalog(c) = self.screen() else { return };
        let effect = c.action(action, store.as_ref());
        self.apply(effect);
    }

    /// The device form: Add (no record) or Edit. The DEP Enrollment section is the seed's.
    pub fn record_form(&self, d: Option<&DepDevice>) -> Form {
        let v = |f: fn(&DepDevice) -> &Option<String>| d.map(|d| opt(f(d)).to_string()).unwrap_or_default();
        let mut fields = Vec::new();
        if d.is_none() {
            fields.push(
                FormField::text(IDENTIFIER, "", "1 to 20 letters, digits, . - _ (case does not count)")
                    .with_check(Check::Rule(rules::check_identifier))
                    .in_section("Device information"),
            );
            fields.push(FormField::choice(OS, OS_CHOICES, "", "fixed once the device is created"));
        }
        let user = self.user_picker(USER, d.and_then(|d| d.user.as_deref()).unwrap_or(""));
        fields.push(if d.is_some() { user.in_section("Device information") } else { user });
        let options = super::form::catalog_options(self.store.as_ref(), CatalogKind::Template);
        fields.push(FormField::pick(TEMPLATE, &v(|d| &d.template), options, "optional: from the Catalog tab"));
        let tags = d.map(|d| d.tags.clone()).unwrap_or_default();
        let options = super::form::catalog_options(self.store.as_ref(), CatalogKind::Tag);
        fields.push(FormField::several(TAGS, &tags, options, "optional: Space picks, from the Catalog tab"));
        fields.push(FormField::text(DISPLAY_NAME, &v(|d| &d.display_name), "optional"));
        fields.push(FormField::text(DESCRIPTION, &v(|d| &d.description), "optional"));
        let code_hint = if d.is_some() { "blank: kept" } else { "blank: generated (8 characters)" };
        fields.push(FormField::text(CODE, "", code_hint).with_check(Check::Rule(rules::check_code)));
        let days = d.map(|d| d.expiration_days).unwrap_or(rules::DEFAULT_EXPIRATION_DAYS).to_string();
        fields.push(
            FormField::text(DAYS, &days, "1 to 365 (blank: 7); a new number counts from now")
                .with_check(Check::Rule(|v| rules::check_expiration_days(v).map(|_| ()))),
        );
        fields.push(
            FormField::text(EMAIL, &v(|d| &d.registration_email), "optional: saving queues a check-in email")
                .with_check(Check::Rule(|v| rules::check_email("email address", v))),
        );
        let restrictions: [(&str, Field, Rule); 4] = [
            (WIFI_MAC, |d| &d.wifi_mac, rules::check_wifi_mac),
            (IMEI, |d| &d.imei, |v| crate::domain::Imei::parse(v).map(|_| ())),
            (MEID, |d| &d.meid, rules::check_meid),
            (UDID, |d| &d.udid, rules::check_udid),
        ];
        for (i, (label, get, rule)) in restrictions.into_iter().enumerate() {
            let f = FormField::text(label, &v(get), "optional").with_check(Check::Rule(rule));
            fields.push(if i == 0 { f.in_section("Check-in only from the device with (optional)") } else { f });
        }
        let method = d.and_then(|d| d.dep_method);
        fields.push(
            FormField::toggle(USE_DEP, method.is_some(), "Space: set up through Apple DEP")
                .in_section("DEP Enrollment"),
        );
        let chosen = match method {
            Some(rules::DepMethod::Keycode) => KEY_CODE,
            _ => "Serial",
        };
        fields.push(FormField::choice(METHOD, METHODS, chosen, "how the DEP device is matched during setup"));
        fields.push(
            FormField::text(SERIAL, &v(|d| &d.serial), "the serial number of the DEP device")
                .with_check(Check::Rule(rules::check_serial)),
        );
        let (title, purpose) = match d {
            Some(d) => (
                format!("Edit device {} ({})", d.identifier, d.os.as_str()),
                FormPurpose::EditRecord(d.identifier.clone()),
            ),
            None => ("Add a device record".to_string(), FormPurpose::AddRecord),
        };
        let mut form = Form::new(title, purpose, fields);
        enrollment_visibility(&mut form);
        form
    }

    /// Saves a DEP form (device record, catalog entry, export); returns what to say.
    pub(super) fn submit_dep(&mut self, form: &Form) -> Result<String, String> {
        let store = self.store.clone();
        match &form.purpose {
            FormPurpose::AddRecord | FormPurpose::EditRecord(_) => self.save_record(form),
            FormPurpose::AddEntry => super::screens::catalog::add(&self.core(), form),
            FormPurpose::EditEntry(kind, old) => super::screens::catalog::edit(&self.core(), *kind, old, form),
            FormPurpose::DepExport => {
                let path = PathBuf::from(form.value("File"));
                if path.as_os_str().is_empty() {
                    return Err("type the file to write".into());
                }
                let file = std::fs::File::create(&path).map_err(|err| format!("{}: {err}", path.display()))?;
                let n = crate::csv::dep::export(store.as_ref(), std::io::BufWriter::new(file))?;
                Ok(format!("wrote {n} row{} to {}", plural(n), path.display()))
            }
            _ => Err("not a DEP form".into()),
        }
    }

    /// A device form saved as a one-row import of the columns it shows: the same checks as a file, blank
    /// clears, a hidden field (the serial with Key Code) leaves the stored value as it is.
    fn save_record(&mut self, form: &Form) -> Result<String, String> {
        let store = self.store.clone();
        let e = |e: StoreError| e.to_string();
        let create = form.purpose == FormPurpose::AddRecord;
        let identifier = match &form.purpose {
            FormPurpose::EditRecord(id) => id.clone(),
            _ => form.value(IDENTIFIER),
        };
        if identifier.is_empty() {
            return Err(format!("{IDENTIFIER}: type the device's identifier"));
        }
        if create && let Some(d) = store.dep_device(&identifier).map_err(e)? {
            return Err(format!("{IDENTIFIER}: device {} exists already (identifiers ignore case)", d.identifier));
        }
        let user = form.value(USER);
        if !user.is_empty() && store.user(&user).map_err(e)?.is_none() {
            return Err(format!("{USER}: no user {user}; add it in the Users tab first"));
        }
        let mut cells = vec![("Identifier".to_string(), identifier.clone())];
        // Identifier (first) is given above; DEPMethod (last) comes from the toggle and the choice below.
        for (label, column) in &COLUMNS[1..COLUMNS.len() - 1] {
            if form.shows(label) {
                cells.push((column.to_string(), form.value(label)));
            }
        }
        let method = match (form.on(USE_DEP), form.value(METHOD).as_str()) {
            (false, _) => "",
            (true, "Serial") => "Serial",
            (true, _) => "Keycode",
        };
        cells.push(("DEPMethod".into(), method.into()));
        let report = ops::dep::save(&self.core(), ops::dep::DepSave { cells }).map_err(|e| e.to_string())?;
        if let Some(r) = report.rejected.first() {
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
        // The list is read again after every save; the cursor goes to this record then.
        if let Some(Screen::Dep(l)) = self.screens.first_mut() {
            l.want = Some(saved.identifier);
        }
        Ok(msg)
    }

    pub(super) fn start_dep_wizard(&mut self, form: &Form) -> Result<(), String> {
        let path = import_path(form, crate::csv::dep::TEMPLATE)?;
        self.open_wizard(WizardJob::Dep, path);
        Ok(())
    }

    pub(super) fn dep_imported(&mut self, r: &DepReport) {
        self.reload_or_report();
        if !r.committed {
            self.error("nothing was imported");
            return;
        }
        let skipped = if r.rejected.is_empty() {
            String::new()
        } else {
            format!("; skipped {} rejected row{}", r.rejected.len(), plural(r.rejected.len() as u64))
        };
        self.info(format!("imported: {}{skipped}", ops::dep::summary(r)));
    }
}
