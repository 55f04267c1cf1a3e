//! Forms: labelled fields of a few kinds, grouped in sections, each checked as it is typed.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_textarea::TextArea;

use super::action::Action;
use crate::domain::android::{ExtraKind, SystemExtra, parse_extra};
use crate::domain::dep::CatalogKind;
use crate::domain::{DeviceSeq, ProfileId};
use crate::domain::{Identifiers, check_attribute_value};

/// A one-line text input (ratatui-textarea) that starts with `text`.
pub fn line_input(text: &str) -> TextArea<'static> {
    let mut t = TextArea::new(vec![text.to_string()]);
    t.move_cursor(ratatui_textarea::CursorMove::End);
    t
}

pub fn input_text(t: &TextArea<'_>) -> String {
    t.lines().first().cloned().unwrap_or_default()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    /// A file path: Tab completes it.
    Path,
    /// On/off, switched with Space.
    Toggle,
    /// One of a few values, switched with Space or Left/Right.
    Choice(&'static [&'static str]),
    /// Several lines; Enter starts a new one (Ctrl-S saves the form from here).
    Lines,
    /// A value picked from a list that typing filters; Up/Down move in the list.
    Pick,
    /// Several values picked from a list (the catalog): typing filters, Up/Down move, Space picks or
    /// unpicks the highlighted one. Its value is the picked ones joined with `|`, as in the CSV.
    Several,
}

/// What a form field stands for. A form is read by these, never by the label it shows: a label can be
/// reworded (or translated) without a save reading the wrong field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldId {
    Name,
    Description,
    /// The CSV file an import reads.
    CsvFile,
    /// The file an export or a save writes.
    File,
    WithoutToken,
    User,
    Username,
    Email,
    Organizations,
    TokenDays,
    /// A token's lifetime (refresh, extend).
    Days,
    /// A catalog entry's kind.
    Kind,
    /// What Find looks for; the value an attribute is set to.
    Value,
    /// A typed confirmation (a profile's name, a count).
    Typed,
    Imei,
    /// A dual-SIM device's second IMEI.
    Imei2,
    Serial,
    Manufacturer,
    /// A custom attribute of the profile, by its name.
    Attribute(String),
    /// Which attribute to set on several devices.
    AttributeName,
    VendorKeys,
    CustomKeys,
    /// A pre-defined Android system extra, by its name in the payload (`wifi_security_type`, …).
    Extra(&'static str),
    ScanMode,
    ScanAttributes,
    PairSerial,
    PairImei,
    StripS,
    /// A DEP record form's field, by the import column it fills (`UserName`, `DeviceTags`, …).
    Dep(&'static str),
    UseDep,
}

/// What a field's text must be, checked on every key.
#[derive(Clone, Debug)]
pub enum Check {
    None,
    Imei,
    /// Serial number or manufacturer: printable, at most 64 characters.
    Identifier(&'static str),
    Attribute(String),
    Extra(&'static SystemExtra),
    Days,
    /// A rule of the domain for one field's format.
    Rule(fn(&str) -> Result<(), String>),
}

impl Check {
    /// The problem with `value`, if any. Empty text is fine here (whether a field is required is the
    /// form's business).
    pub fn problem(&self, value: &str) -> Option<String> {
        let v = value.trim();
        if v.is_empty() {
            return None;
        }
        let r = match self {
            Check::None => Ok(()),
            Check::Imei => crate::domain::Imei::parse(v).map(|_| ()),
            Check::Identifier(what) => crate::domain::text::check_plain(v, what, crate::domain::MAX_NAME_CHARS),
            Check::Attribute(name) => check_attribute_value(name, value),
            Check::Extra(e) => parse_extra(e, v).map(|_| ()),
            Check::Days => match v.parse::<u32>() {
                Ok(d) => crate::domain::token::check_days(d).map(|_| ()),
                Err(_) => Err("days must be a number from 7 to 99".into()),
            },
            Check::Rule(rule) => rule(v),
        };
        r.err()
    }
}

/// A catalog list as pick-list entries: the name, and its description beside it.
pub fn catalog_options(store: &dyn crate::store::Store, kind: crate::domain::dep::CatalogKind) -> Vec<PickOption> {
    let entries = store.catalog(kind).unwrap_or_default();
    entries
        .into_iter()
        .map(|e| {
            let label = match &e.description {
                Some(desc) => format!("{}  {desc}", e.name),
                None => e.name.clone(),
            };
            PickOption { value: e.name, label }
        })
        .collect()
}

/// A user picked from a list that typing filters (username, name or email); nothing picked: no user.
pub fn user_picker(store: &dyn crate::store::Store, id: FieldId, label: &str, current: &str) -> FormField {
    let users = store.users().unwrap_or_default();
    let options = users
        .into_iter()
        .map(|u| {
            let mut label = u.username.clone();
            if !u.name.is_empty() {
                label.push_str(&format!("  {}", u.name));
            }
            if !u.email.is_empty() {
                label.push_str(&format!("  <{}>", u.email));
            }
            PickOption { value: u.username, label }
        })
        .collect();
    FormField::pick(id, label, current, options, "optional: type to filter, Up/Down to pick; empty for none")
}

/// One pick-list entry: the value it stands for and what is shown.
#[derive(Clone, Debug, PartialEq)]
pub struct PickOption {
    pub value: String,
    pub label: String,
}

#[derive(Clone, Debug)]
pub struct FormField {
    pub id: FieldId,
    pub label: String,
    pub kind: FieldKind,
    pub input: TextArea<'static>,
    pub on: bool,
    /// The chosen value of a Choice field.
    pub choice: usize,
    pub hint: String,
    pub check: Check,
    /// What `check` found in the current text.
    pub problem: Option<String>,
    /// A heading drawn above this field: it starts a group.
    pub section: Option<&'static str>,
    /// A Pick field's entries, and the highlighted one among those the text matches.
    pub options: Vec<PickOption>,
    pub picked: Option<usize>,
    /// Not shown (another field's value decides): skipped by focus, drawing and checks, left out on save.
    pub hidden: bool,
    /// A password: drawn as dots until `revealed` (the form's reveal key).
    pub secret: bool,
    pub revealed: bool,
    /// A Several field's picked values, in the order of its options.
    pub chosen: Vec<String>,
}

impl FormField {
    fn new(id: FieldId, label: impl Into<String>, kind: FieldKind, value: &str, hint: impl Into<String>) -> FormField {
        FormField {
            id,
            label: label.into(),
            kind,
            input: line_input(value),
            on: false,
            choice: 0,
            hint: hint.into(),
            check: Check::None,
            problem: None,
            section: None,
            options: Vec::new(),
            picked: None,
            hidden: false,
            secret: false,
            revealed: false,
            chosen: Vec::new(),
        }
    }

    pub fn text(id: FieldId, label: impl Into<String>, value: &str, hint: impl Into<String>) -> FormField {
        FormField::new(id, label, FieldKind::Text, value, hint)
    }

    pub fn path(id: FieldId, label: impl Into<String>, value: &str, hint: impl Into<String>) -> FormField {
        FormField::new(id, label, FieldKind::Path, value, hint)
    }

    pub fn toggle(id: FieldId, label: impl Into<String>, on: bool, hint: impl Into<String>) -> FormField {
        FormField { on, ..FormField::new(id, label, FieldKind::Toggle, "", hint) }
    }

    /// A choice among `options`; `value` selects the matching one (case-insensitively), else the first.
    pub fn choice(
        id: FieldId,
        label: impl Into<String>,
        options: &'static [&'static str],
        value: &str,
        hint: impl Into<String>,
    ) -> FormField {
        let choice = options.iter().position(|o| o.eq_ignore_ascii_case(value)).unwrap_or(0);
        FormField { choice, ..FormField::new(id, label, FieldKind::Choice(options), "", hint) }
    }

    pub fn lines(id: FieldId, label: impl Into<String>, value: &str, hint: impl Into<String>) -> FormField {
        let lines: Vec<String> =
            if value.is_empty() { vec![String::new()] } else { value.lines().map(String::from).collect() };
        let mut input = TextArea::new(lines);
        input.move_cursor(ratatui_textarea::CursorMove::Bottom);
        input.move_cursor(ratatui_textarea::CursorMove::End);
        FormField { input, ..FormField::new(id, label, FieldKind::Lines, "", hint) }
    }

    pub fn pick(
        id: FieldId,
        label: impl Into<String>,
        value: &str,
        options: Vec<PickOption>,
        hint: impl Into<String>,
    ) -> FormField {
        FormField { options, ..FormField::new(id, label, FieldKind::Pick, value, hint) }
    }

    /// Several values from `options`, `chosen` picked. A chosen value that is not an option (the catalog
    /// lost it) stays an option, so that saving does not drop it unasked.
    pub fn several(
        id: FieldId,
        label: impl Into<String>,
        chosen: &[String],
        mut options: Vec<PickOption>,
        hint: impl Into<String>,
    ) -> FormField {
        for c in chosen {
            if !options.iter().any(|o| o.value.eq_ignore_ascii_case(c)) {
                options.push(PickOption { value: c.clone(), label: format!("{c} (not in the catalog)") });
            }
        }
        let chosen = options
            .iter()
            .filter(|o| chosen.iter().any(|c| c.eq_ignore_ascii_case(&o.value)))
            .map(|o| o.value.clone())
            .collect();
        let picked = (!options.is_empty()).then_some(0);
        FormField { options, chosen, picked, ..FormField::new(id, label, FieldKind::Several, "", hint) }
    }

    /// A password field, masked until revealed.
    pub fn secret(mut self) -> FormField {
        self.secret = true;
        self
    }

    pub fn with_check(mut self, check: Check) -> FormField {
        self.check = check;
        self.recheck();
        self
    }

    pub fn in_section(mut self, section: &'static str) -> FormField {
        self.section = Some(section);
        self
    }

    /// The text typed, trimmed (every line of a Lines field).
    pub fn text_value(&self) -> String {
        match self.kind {
            FieldKind::Lines => self.input.lines().join("\n").trim().to_string(),
            _ => input_text(&self.input).trim().to_string(),
        }
    }

    /// What the field stands for: the typed text; a Choice's option; a Pick's highlighted entry, or the
    /// typed text when nothing is highlighted.
    pub fn value(&self) -> String {
        match self.kind {
            FieldKind::Choice(options) => options[self.choice].to_string(),
            FieldKind::Pick => match self.picked.and_then(|i| self.matches().get(i).map(|o| o.value.clone())) {
                Some(v) => v,
                None => self.text_value(),
            },
            FieldKind::Several => self.chosen.join("|"),
            _ => self.text_value(),
        }
    }

    /// A Pick field's entries that contain the typed text (value or label, case-insensitively).
    pub fn matches(&self) -> Vec<&PickOption> {
        let typed = self.text_value().to_lowercase();
        self.options
            .iter()
            .filter(|o| {
                typed.is_empty() || o.value.to_lowercase().contains(&typed) || o.label.to_lowercase().contains(&typed)
            })
            .collect()
    }

    /// Checks what the field stands for: a Pick field's highlighted entry, else its text.
    fn recheck(&mut self) {
        self.problem = self.check.problem(&self.value());
    }

    /// After typing in a Pick field: the first match is highlighted while something is typed.
    fn repick(&mut self) {
        // A Several field always has one highlighted (Space picks it).
        let typed = !self.text_value().is_empty() || self.kind == FieldKind::Several;
        self.picked = (typed && !self.matches().is_empty()).then_some(0);
    }
}

#[derive(Clone, Debug)]
pub struct Form {
    pub title: String,
    pub fields: Vec<FormField>,
    pub focus: usize,
    pub purpose: FormPurpose,
    pub error: Option<String>,
    /// A problem with the fields together (checked as they are typed), shown above the keys.
    pub note: Option<String>,
    /// What the edited record was when the form opened (a profile's version, a device's stamp): a save
    /// after someone else's change is refused as a conflict instead of undoing it.
    pub expect_version: Option<u64>,
    pub expect_stamp: Option<chrono::DateTime<chrono::Utc>>,
    /// Something was typed or switched since the form opened (or last saved and stayed open).
    pub changed: bool,
    /// Esc was pressed once on a changed form: the next Esc discards.
    pub discard_asked: bool,
    /// The file the form writes may replace an existing one: the technician said yes when asked.
    pub replace: bool,
    /// Records a form that stays open has saved (Add More Devices): what Esc reports.
    pub saved: u64,
}

impl Form {
    pub fn new(title: impl Into<String>, purpose: FormPurpose, fields: Vec<FormField>) -> Form {
        Form {
            title: title.into(),
            fields,
            focus: 0,
            purpose,
            error: None,
            note: None,
            expect_version: None,
            expect_stamp: None,
            changed: false,
            discard_asked: false,
            replace: false,
            saved: 0,
        }
    }

    pub fn field(&self, id: FieldId) -> Option<&FormField> {
        self.fields.iter().find(|f| f.id == id)
    }

    pub fn field_mut(&mut self, id: FieldId) -> Option<&mut FormField> {
        self.fields.iter_mut().find(|f| f.id == id)
    }

    /// The field a technician knows by this label (tests drive forms by what they show).
    pub fn field_labelled(&self, label: &str) -> Option<&FormField> {
        self.fields.iter().find(|f| f.label == label)
    }

    /// The value of the field shown with this label.
    pub fn labelled(&self, label: &str) -> String {
        self.field_labelled(label).map(FormField::value).unwrap_or_default()
    }

    /// Whether that field is on the form and shown.
    pub fn shows(&self, id: FieldId) -> bool {
        self.field(id).is_some_and(|f| !f.hidden)
    }

    pub fn value(&self, id: FieldId) -> String {
        self.field(id).map(FormField::value).unwrap_or_default()
    }

    pub fn on(&self, id: FieldId) -> bool {
        self.field(id).is_some_and(|f| f.on)
    }

    /// The focused field's id.
    pub fn focused(&self) -> &FieldId {
        &self.fields[self.focus].id
    }

    /// The first problem of a shown field, named by its field.
    pub fn first_problem(&self) -> Option<String> {
        self.fields.iter().filter(|f| !f.hidden).find_map(|f| f.problem.as_ref().map(|p| format!("{}: {p}", f.label)))
    }

    /// The identifiers typed in a device form (IMEI, Serial, Manufacturer), checked together.
    pub fn identifiers(&self) -> Result<Identifiers, String> {
        Identifiers::parse(&self.value(FieldId::Imei), &self.value(FieldId::Serial), &self.value(FieldId::Manufacturer))
            .map_err(|p| p.into_iter().map(|(_, m)| m).collect::<Vec<_>>().join("; "))
    }

    /// Moves the focus to the next shown field (wrapping).
    pub fn focus_next(&mut self) {
        self.step_focus(1);
    }

    pub fn focus_prev(&mut self) {
        self.step_focus(self.fields.len() - 1);
    }

    fn step_focus(&mut self, step: usize) {
        let n = self.fields.len();
        for _ in 0..n {
            self.focus = (self.focus + step) % n;
            if !self.fields[self.focus].hidden {
                return;
            }
        }
    }

    /// Gives a key to the focused field. Returns false when the field does not use it (the keymap then
    /// decides: confirm, cancel, next field…). `action` is what the keymap would make of it.
    pub fn key(&mut self, key: KeyEvent, action: Option<Action>) -> bool {
        let field = &mut self.fields[self.focus];
        // Ctrl-S and the like save from any field, a multi-line one included.
        if key.modifiers.contains(KeyModifiers::CONTROL) && action.is_some() {
            return false;
        }
        let before = field.value();
        let used = match (field.kind, key.code) {
            (FieldKind::Lines, KeyCode::Enter | KeyCode::Up | KeyCode::Down) => {
                field.input.input(key);
                true
            }
            // Tab completes a path; with several matches it lists them (once); with nothing to complete
            // it moves on, like Tab anywhere else.
            (FieldKind::Path, KeyCode::Tab) => {
                let typed = input_text(&field.input);
                let (done, names) = completion_of(&typed);
                if let Some(done) = done {
                    field.input = line_input(&done);
                    self.note = (names.len() > 1).then(|| list_names(&names));
                    true
                } else if names.len() > 1 && self.note.as_deref() != Some(list_names(&names).as_str()) {
                    self.note = Some(list_names(&names));
                    true
                } else {
                    false
                }
            }
            (_, KeyCode::Enter | KeyCode::Esc | KeyCode::Tab | KeyCode::BackTab) => false,
            (FieldKind::Several, KeyCode::Char(' ')) => {
                if let Some(o) = field.picked.and_then(|i| field.matches().get(i).map(|o| o.value.clone())) {
                    match field.chosen.iter().position(|c| *c == o) {
                        Some(k) => {
                            field.chosen.remove(k);
                        }
                        None => {
                            field.chosen.push(o);
                            let order = |v: &String| field.options.iter().position(|x| x.value == *v);
                            field.chosen.sort_by_key(order);
                        }
                    }
                }
                true
            }
            (FieldKind::Pick | FieldKind::Several, KeyCode::Up | KeyCode::Down) => {
                let n = field.matches().len();
                if n > 0 {
                    field.picked = Some(match (field.picked, key.code) {
                        (None, _) => 0,
                        (Some(i), KeyCode::Up) => i.checked_sub(1).unwrap_or(n - 1),
                        (Some(i), _) => (i + 1) % n,
                    });
                }
                true
            }
            (_, KeyCode::Up | KeyCode::Down) => false,
            (FieldKind::Toggle, KeyCode::Char(' ')) => {
                field.on = !field.on;
                true
            }
            (FieldKind::Choice(options), KeyCode::Char(' ') | KeyCode::Right) => {
                field.choice = (field.choice + 1) % options.len();
                true
            }
            (FieldKind::Choice(options), KeyCode::Left) => {
                field.choice = (field.choice + options.len() - 1) % options.len();
                true
            }
            // Letters typed on a toggle or a choice never act on the form (y and n confirm and cancel only
            // a yes/no question): they are ignored.
            (FieldKind::Toggle | FieldKind::Choice(_), KeyCode::Char(_))
                if !key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                true
            }
            (FieldKind::Toggle | FieldKind::Choice(_), _) => false,
            _ => {
                field.input.input(key);
                if matches!(field.kind, FieldKind::Pick | FieldKind::Several) {
                    field.repick();
                }
                true
            }
        };
        if used {
            field.recheck();
            self.error = None;
            if field.value() != before {
                self.changed = true;
                self.discard_asked = false;
            }
        }
        used
    }
}

/// The choice that stands for "no value".
pub const NOT_SET: &str = "not set";

/// The choices of a typed Android extra, "not set" first; None for free text.
pub fn extra_choices(e: &SystemExtra) -> Option<&'static [&'static str]> {
    match e.kind {
        ExtraKind::Bool => Some(&[NOT_SET, "true", "false"]),
        ExtraKind::WifiSecurity => Some(&[NOT_SET, "NONE", "WPA", "WEP", "EAP"]),
        ExtraKind::Text | ExtraKind::Locale | ExtraKind::TimeZone => None,
    }
}

/// Completes the path in `input` as far as it is unambiguous (the longest common prefix of the matches).
/// What several matches are, for the form's note: the first few names, then how many more.
fn list_names(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(6).map(String::as_str).collect();
    let more = names.len().saturating_sub(shown.len());
    let mut s = format!("{} match: {}", names.len(), shown.join("  "));
    if more > 0 {
        s.push_str(&format!("  … and {more} more"));
    }
    s
}

/// The completed path (when it adds something) and the names that match (folders with a `/`).
pub fn completion_of(typed: &str) -> (Option<String>, Vec<String>) {
    let (dir, prefix) = match typed.rfind('/') {
        Some(i) => (&typed[..=i], &typed[i + 1..]),
        None => ("", typed),
    };
    let Ok(listing) = std::fs::read_dir(if dir.is_empty() { "." } else { dir }) else { return (None, Vec::new()) };
    let mut matches: Vec<(String, bool)> = listing
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name.starts_with(prefix) && (!name.starts_with('.') || prefix.starts_with('.')))
                .then(|| (name, e.path().is_dir()))
        })
        .collect();
    matches.sort();
    let names = matches.iter().map(|(n, d)| if *d { format!("{n}/") } else { n.clone() }).collect();
    (completed(dir, typed, &matches), names)
}

fn completed(dir: &str, typed: &str, matches: &[(String, bool)]) -> Option<String> {
    let first = matches.first()?;
    let mut common = first.0.clone();
    for (m, _) in &matches[1..] {
        let n = common.chars().zip(m.chars()).take_while(|(a, b)| a == b).count();
        common = common.chars().take(n).collect();
    }
    let mut out = format!("{dir}{common}");
    if matches.len() == 1 && first.1 {
        out.push('/');
    }
    (out != typed).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(form: &mut Form, code: KeyCode) -> bool {
        form.key(KeyEvent::new(code, KeyModifiers::NONE), None)
    }

    fn typed(form: &mut Form, text: &str) {
        for c in text.chars() {
            assert!(press(form, KeyCode::Char(c)));
        }
    }

    fn users() -> Vec<PickOption> {
        ["alice", "bob", "alina"]
            .iter()
            .map(|u| PickOption { value: u.to_string(), label: format!("{u} (name)") })
            .collect()
    }

    #[test]
    fn a_form_is_read_by_field_ids_whatever_its_labels_say() {
        // Two fields with the same label (a DEP form's serial and a device's) and reworded labels.
        let fields = vec![
            FormField::text(FieldId::Imei, "IMEI (15 digits)", "490154203237518", ""),
            FormField::text(FieldId::Serial, "Serial", "SN-1", ""),
            FormField::text(FieldId::Dep("Serial"), "Serial", "DEP-9", ""),
            FormField::text(FieldId::Manufacturer, "Maker", "Zebra", ""),
        ];
        let form = Form::new("t", FormPurpose::AddUser, fields);
        let ids = form.identifiers().unwrap();
        assert_eq!(ids.imei.map(|i| i.to_string()).as_deref(), Some("490154203237518"));
        assert_eq!((ids.serial.as_deref(), ids.manufacturer.as_deref()), (Some("SN-1"), Some("Zebra")));
        assert_eq!(form.value(FieldId::Dep("Serial")), "DEP-9");
        assert_eq!(form.labelled("Maker"), "Zebra", "tests may still read what a technician sees");
    }

    #[test]
    fn a_field_is_checked_on_every_key() {
        let mut form = Form::new(
            "t",
            FormPurpose::AddUser,
            vec![FormField::text(FieldId::Imei, "IMEI", "", "").with_check(Check::Imei)],
        );
        typed(&mut form, "49015420323751");
        assert!(form.fields[0].problem.as_deref().unwrap().contains("15 digits"), "{:?}", form.fields[0].problem);
        typed(&mut form, "8");
        assert_eq!(form.fields[0].problem, None);
        assert!(press(&mut form, KeyCode::Backspace));
        assert!(press(&mut form, KeyCode::Char('9')));
        assert!(form.fields[0].problem.as_deref().unwrap().contains("check digit"), "{:?}", form.fields[0].problem);
        assert!(form.first_problem().unwrap().starts_with("IMEI: "));
    }

    #[test]
    fn a_pick_list_filters_as_you_type_and_moves_with_arrows() {
        let mut form =
            Form::new("t", FormPurpose::AddUser, vec![FormField::pick(FieldId::User, "User", "", users(), "")]);
        assert_eq!(form.fields[0].matches().len(), 3);
        assert_eq!(form.value(FieldId::User), "", "nothing typed, nothing picked: no user");
        typed(&mut form, "al");
        let names: Vec<&str> = form.fields[0].matches().iter().map(|o| o.value.as_str()).collect();
        assert_eq!(names, ["alice", "alina"]);
        assert_eq!(form.value(FieldId::User), "alice", "the first match is highlighted");
        assert!(press(&mut form, KeyCode::Down));
        assert_eq!(form.value(FieldId::User), "alina");
        assert!(press(&mut form, KeyCode::Down));
        assert_eq!(form.value(FieldId::User), "alice", "wraps");
        assert!(press(&mut form, KeyCode::Up));
        assert_eq!(form.value(FieldId::User), "alina");
        typed(&mut form, "zz");
        assert!(form.fields[0].matches().is_empty());
        assert_eq!(form.value(FieldId::User), "alzz", "no match: the text itself (the form refuses an unknown user)");
        // Matching is on the label too.
        let mut form =
            Form::new("t", FormPurpose::AddUser, vec![FormField::pick(FieldId::User, "User", "", users(), "")]);
        typed(&mut form, "(NAME");
        assert_eq!(form.fields[0].matches().len(), 3);
    }

    #[test]
    fn choices_cycle_and_lines_take_enter() {
        let mut form = Form::new(
            "t",
            FormPurpose::AddUser,
            vec![
                FormField::choice(
                    FieldId::Extra("wifi_security_type"),
                    "Security",
                    &[NOT_SET, "NONE", "WPA"],
                    "wpa",
                    "",
                ),
                FormField::lines(FieldId::VendorKeys, "Keys", "a = 1", ""),
            ],
        );
        assert_eq!(form.value(FieldId::Extra("wifi_security_type")), "WPA");
        assert!(press(&mut form, KeyCode::Char(' ')));
        assert_eq!(form.value(FieldId::Extra("wifi_security_type")), NOT_SET);
        assert!(press(&mut form, KeyCode::Left));
        assert_eq!(form.value(FieldId::Extra("wifi_security_type")), "WPA");
        assert!(!press(&mut form, KeyCode::Enter), "Enter confirms the form from a choice");
        form.focus_next();
        assert!(press(&mut form, KeyCode::Enter), "Enter starts a new line in a list");
        typed(&mut form, "b = 2");
        assert_eq!(form.value(FieldId::VendorKeys), "a = 1\nb = 2");
        let ctrl_s = KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL);
        assert!(!form.key(ctrl_s, Some(Action::Confirm)), "Ctrl-S is left to the keymap");
    }
}

/// What a form does when it is confirmed.
#[derive(Clone, Debug, PartialEq)]
pub enum FormPurpose {
    NewProfile,
    EditProfile(ProfileId),
    ModifyUser(ProfileId),
    Export(ProfileId),
    ExtendToken(ProfileId),
    RefreshToken(ProfileId),
    AddUser,
    EditUser(String),
    AddDevice(ProfileId),
    EditDevice(ProfileId, DeviceSeq),
    SetAttribute(ProfileId),
    ModifyConfig(ProfileId),
    SaveQr {
        png: bool,
    },
    DepImport,
    DepExport,
    AddRecord,
    EditRecord(String),
    AddEntry,
    EditEntry(CatalogKind, String),
    /// Opens the scan station on the profile named.
    ScanStation(String),
    /// A large delete: carried out when the field holds `expected` (the profile's name, the count).
    TypedConfirm {
        purpose: ConfirmPurpose,
        expected: String,
    },
    Find,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ConfirmPurpose {
    DeleteProfile(ProfileId),
    DeleteDevices(ProfileId, Vec<DeviceSeq>),
    DeleteUser(String),
    DeleteRecord(String),
    WithdrawRecord(String),
    DeleteEntry(CatalogKind, String),
    /// The file a form names exists: replace it (the form is the shell's, `App::replacing`).
    ReplaceFile,
}

/// Names separated by `|`, trimmed, blanks left out.
pub fn split_names(v: &str) -> Vec<String> {
    v.split('|').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}
