//! The state of one technician's screen and `update`, which is the only place it changes. The store is
//! shared (other screens may change it); this state is a view of it, read again on Refresh and after
//! every change made here.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub use super::files::file_stem;
use super::files::{CSV_FILE, export_form, import_path, rejects_path, write_template};
pub use super::form::{
    Check, ConfirmPurpose, Form, FormField, FormPurpose, NOT_SET, PickOption, input_text, line_input, split_names,
};
pub use super::jobs::TaskMsg;
pub use super::modals::Modal;
pub use super::modals::wizard::{Wizard, WizardJob, WizardReport, WizardStage};
pub use super::screens::detail::{FIRST_READ, device_read, load_devices};
pub use super::screens::{Level, MIN_SIZE, Screen, Tab, refilter};
pub use super::widgets::table::{Cursor, Filter, contains_lower};
use super::widgets::text::plural;

use super::action::Action;
use super::keymap::{Context, Key, Keymap};
pub use super::screens::catalog::CatalogState;
pub use super::screens::dep_list::DepListState;
pub use super::screens::dep_record::DepDetailState;
pub use super::screens::detail::{DetailChange, DetailState};
pub use super::screens::profiles::{ProfileColumn, ProfilesState};
use super::theme::Theme;
use crate::csv::android::{self as android_csv, Progress};
use crate::domain::{Device, DeviceSeq, NewProfile, Profile, ProfileId};
use crate::ops;
use crate::settings::Settings;
use crate::store::{Lookup, Store, StoreError};

pub struct App {
    pub store: Arc<dyn Store>,
    pub settings: Settings,
    pub settings_source: String,
    pub keymap: Keymap,
    pub theme: Theme,
    /// The screens, home first; the last one is shown.
    pub screens: Vec<Screen>,
    pub modal: Option<Modal>,
    pub status: Option<(Level, String)>,
    pub quit: bool,
    /// The terminal's size (columns, rows), kept by the event loop.
    pub size: (u16, u16),
    pub clock: fn() -> DateTime<Utc>,
    /// The tab shown (its screens are `screens`) and the screens of the others, by `Tab::index`.
    pub tab: Tab,
    parked: Vec<Vec<Screen>>,
    /// The background jobs (device and DEP reads, searches, imports, exports).
    pub jobs: super::jobs::Jobs,
    /// Who works at this workstation: every change goes through the core as this actor.
    pub actor: crate::domain::audit::Actor,
    /// Terminal bells to ring after the next frame (refused scans).
    pub bells: u32,
    /// The status line's messages, newest first (the last `MESSAGES`), with their time.
    pub messages: std::collections::VecDeque<(Level, String, DateTime<Utc>)>,
    /// The terminal's image protocol for the QR code (`tui::graphics::detect`); `None`: characters.
    pub graphics: Option<ratatui_image::picker::Picker>,
}

/// How many of the status line's messages are kept for the messages overlay.
pub const MESSAGES: usize = 50;

/// Deleting more devices than this at once asks for their count to be typed.
pub const LARGE_DELETE: usize = 1000;

impl App {
    /// What the screens draw with.
    pub fn draw_ctx(&self) -> super::screens::DrawCtx<'_> {
        super::screens::DrawCtx { theme: &self.theme, keymap: &self.keymap, now: self.now() }
    }

    pub fn new(
        store: Arc<dyn Store>,
        settings: Settings,
        settings_source: String,
        keymap: Keymap,
        theme: Theme,
    ) -> Result<App, StoreError> {
        let mut app = App {
            store,
            settings,
            settings_source,
            keymap,
            theme,
            screens: vec![Screen::Profiles(Box::default())],
            modal: None,
            status: None,
            quit: false,
            size: MIN_SIZE,
            clock: Utc::now,
            tab: Tab::Profiles,
            parked: Tab::ALL.iter().map(|_| Vec::new()).collect(),
            jobs: Default::default(),
            actor: ops::actor_of_process(crate::domain::audit::FrontEnd::Workstation),
            bells: 0,
            messages: std::collections::VecDeque::new(),
            graphics: None,
        };
        app.reload()?;
        Ok(app)
    }

    /// Where work off the UI thread reports.
    pub fn set_task_sender(&mut self, tx: Sender<TaskMsg>) {
        self.jobs.set_sender(tx);
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// The core, acting as this workstation's technician, now.
    pub(super) fn core(&self) -> ops::Ctx<'_> {
        ops::Ctx::new(self.store.as_ref(), self.actor.clone(), self.now())
    }

    pub fn screen(&self) -> &Screen {
        self.screens.last().expect("the home screen is never removed")
    }

    pub(super) fn screen_mut(&mut self) -> &mut Screen {
        self.screens.last_mut().expect("the home screen is never removed")
    }

    /// Carries out what a screen asked for.
    pub(super) fn apply(&mut self, effect: super::screens::Effect) {
        use super::screens::Effect;
        match effect {
            Effect::None => {}
            Effect::Pop(msg) => {
                if self.screens.len() > 1 {
                    self.screens.pop();
                }
                // What the screen below shows may have changed: read once, now that the station is closed.
                self.reload_or_report();
                if !msg.is_empty() {
                    self.info(msg);
                }
            }
            Effect::Status(Level::Info, msg) => self.info(msg),
            Effect::Status(Level::Error, msg) => self.error(msg),
            Effect::Bell => self.bells += 1,
            Effect::Back => {
                if self.screens.len() > 1 {
                    self.screens.pop();
                } else {
                    self.switch_tab(Tab::Profiles);
                }
            }
            Effect::Ask(text, purpose) => self.modal = Some(Modal::Confirm { text, purpose }),
            Effect::Form(form) => self.modal = Some(Modal::Form(form)),
        }
    }

    /// Applies one change made on the profile screen without reading its devices again (see
    /// `DetailState::applied`); the profile record itself, one key, is read again.
    fn detail_changed(&mut self, change: DetailChange) {
        let Screen::Detail(d) = self.screen() else { return self.reload_or_report() };
        let profile = self.store.profile_by_id(d.profile.id).ok().flatten();
        let Some(Screen::Detail(d)) = self.screens.last_mut() else { return };
        if d.applied(change, profile).is_none() {
            return self.reload_or_report();
        }
        self.screen_mut().fit_cursor();
    }

    /// Opens a device found by Find where it lives: its profile, filtered to it; or its DEP record.
    pub(super) fn open_found(&mut self, found: ops::find::Found) {
        let filter = super::screens::search::filter_for(&found);
        match found {
            ops::find::Found::Android { profile, device, .. } => {
                let Ok(Some(p)) = self.store.profile(&profile) else {
                    return self.error(format!("profile {profile:?} was deleted"));
                };
                self.switch_tab(Tab::Profiles);
                self.screens.truncate(1);
                self.open_profile(p);
                if let Screen::Detail(d) = self.screen_mut() {
                    d.filter.text = filter;
                    d.rebuild();
                    d.cursor = Cursor::default();
                    self.screen_mut().fit_cursor();
                    self.info(format!("{} in profile {profile} (Esc clears the filter)", device.label()));
                }
            }
            ops::find::Found::Dep { record, .. } => {
                self.switch_tab(Tab::Dep);
                self.screens.truncate(1);
                self.screens.push(Screen::DepDevice(Box::new(DepDetailState { device: *record })));
            }
        }
    }

    /// Opens the scan station (on the Profiles tab, over the profile's screen when it is open).
    pub fn open_scan(&mut self, station: ops::scan::Station) -> Result<(), String> {
        ops::require_profile(self.store.as_ref(), &station.profile).map_err(|e| e.to_string())?;
        self.switch_tab(Tab::Profiles);
        let bell = self.settings.scan.bell;
        self.screens.push(Screen::Scan(Box::new(super::screens::scan::ScanState::new(station, bell))));
        self.status = None;
        Ok(())
    }

    pub(super) fn info(&mut self, msg: impl Into<String>) {
        self.say(Level::Info, msg.into());
    }

    pub(super) fn error(&mut self, msg: impl Into<String>) {
        self.say(Level::Error, msg.into());
    }

    /// A message on the status line, kept in the messages overlay too (a long one is cut on the line).
    fn say(&mut self, level: Level, msg: String) {
        if !msg.is_empty() {
            let now = self.now();
            self.messages.push_front((level, msg.clone(), now));
            self.messages.truncate(MESSAGES);
        }
        self.status = Some((level, msg));
    }

    /// A new terminal size: every table keeps the row under its cursor in view.
    pub fn resize(&mut self, columns: u16, rows: u16) {
        // Each table keeps its cursor's row in view when it is drawn at the new size.
        self.size = (columns, rows);
    }

    /// Shows another tab, with the screens it had; what it shows is read again.
    pub fn switch_tab(&mut self, tab: Tab) {
        if tab == self.tab {
            return;
        }
        self.parked[self.tab.index()] = std::mem::take(&mut self.screens);
        self.screens = std::mem::take(&mut self.parked[tab.index()]);
        if self.screens.is_empty() {
            self.screens.push(tab.home());
        }
        self.tab = tab;
        // A message belongs to the tab it was said on.
        self.status = None;
        self.reload_or_report();
    }

    fn step_tab(&mut self, step: usize) {
        let n = Tab::ALL.len();
        self.switch_tab(Tab::ALL[(self.tab.index() + step) % n]);
    }

    /// The contexts whose bindings apply now, most specific first.
    pub fn contexts(&self) -> Vec<Context> {
        if self.modal.is_some() {
            return vec![Context::Dialog, Context::Global];
        }
        let screen = self.screen().context();
        match screen {
            Context::Qr | Context::DepDevice | Context::Scan | Context::CheckIn => vec![screen, Context::Global],
            _ => vec![screen, Context::Table, Context::Global],
        }
    }

    /// Reads everything the current screens show from the store again.
    pub fn reload(&mut self) -> Result<(), StoreError> {
        let store = self.store.clone();
        let background = self.jobs.background();
        for screen in &mut self.screens {
            match screen {
                Screen::Profiles(p) => {
                    let selected = p.selected().map(|p| p.id);
                    p.all = store.profiles()?;
                    p.rebuild();
                    if let Some(id) = selected
                        && let Some(row) = p.view.iter().position(|&i| p.all[i].id == id)
                    {
                        p.cursor.row = row;
                    }
                }
                Screen::Detail(d) => {
                    let Some(profile) = store.profile_by_id(d.profile.id)? else {
                        return Err(StoreError::NotFound(format!("profile {} was deleted", d.profile.name)));
                    };
                    if background && profile.device_count > FIRST_READ as u64 {
                        // A large profile is read again in the background: its devices stay on screen
                        // meanwhile (the answer replaces them), and the workstation answers keys.
                        d.profile = profile;
                        if let Some(old) = d.loading {
                            self.jobs.stop(old);
                        }
                        let job = device_read(&mut self.jobs, &store, d.profile.id);
                        d.loading = job.as_ref().map(|j| j.id);
                        d.reader = job.map(|j| j.stop);
                        screen.fit_cursor();
                        continue;
                    }
                    d.devices = load_devices(store.as_ref(), profile.id, None)?;
                    // This read is complete: an answer from a background read still on the way is stale.
                    d.loading = None;
                    d.profile = profile;
                    let devices = &d.devices;
                    d.marked.retain(|&s| devices.position(s).is_ok());
                    d.rebuild();
                }
                Screen::Users(u) => u.reload(store.as_ref())?,
                Screen::Dep(l) => {
                    if l.reload(store.as_ref(), background.then_some(FIRST_READ))? {
                        let store = store.clone();
                        l.loading = self
                            .jobs
                            .start("reading the DEP records", move |ctx| TaskMsg::DepRecords {
                                load: ctx.id,
                                result: store.dep_devices().map_err(|e| e.to_string()),
                            })
                            .map(|job| job.id);
                    }
                }
                Screen::DepDevice(d) => d.reload(store.as_ref())?,
                Screen::Catalog(c) => c.reload(store.as_ref())?,
                Screen::Audit(a) => a.reload(store.as_ref())?,
                // The station shows what its own scans returned; it reads nothing.
                Screen::Qr(_) | Screen::Scan(_) | Screen::Search(_) | Screen::CheckIn(_) => {}
            }
            screen.fit_cursor();
        }
        Ok(())
    }

    pub(super) fn reload_or_report(&mut self) {
        if let Err(e) = self.reload() {
            // A profile deleted by someone else: go back to the list.
            if matches!(e, StoreError::NotFound(_)) {
                self.screens.truncate(1);
                let _ = self.reload();
            }
            self.error(e.to_string());
        }
    }

    /// A key from the terminal. A focused text input sees it first; then the keymap.
    pub fn on_key(&mut self, key: KeyEvent) {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
            return;
        }
        let k = Key::from_event(&key);
        // Screens that read every key themselves (a scanner types into them) see it before the keymap;
        // their own binding (undo, switch) is looked up for them.
        if self.modal.is_none() {
            let own = self.keymap.lookup(&[self.screen().context()], k);
            let core = ops::Ctx::new(self.store.as_ref(), self.actor.clone(), (self.clock)());
            let effect = match self.screens.last_mut() {
                Some(Screen::Scan(s)) => s.key(key, own == Some(Action::UndoScan), &core),
                Some(Screen::CheckIn(s)) => s.key(key, own == Some(Action::SwitchKind), &core),
                _ => None,
            };
            drop(core);
            if let Some(effect) = effect {
                self.apply(effect);
                return;
            }
        }
        if self.typing_filter() {
            self.filter_key(key, k);
            return;
        }
        // The help scrolls by pages too.
        if let Some(Modal::Help { scroll }) = &self.modal
            && matches!(key.code, KeyCode::PageUp | KeyCode::PageDown | KeyCode::Home | KeyCode::End)
        {
            let max = super::modals::help::help_max_scroll(&self.draw_ctx(), self.size);
            let page = self.size.1.saturating_sub(6).max(1);
            let scroll = match key.code {
                KeyCode::PageUp => scroll.saturating_sub(page),
                KeyCode::PageDown => (scroll + page).min(max),
                KeyCode::Home => 0,
                _ => max,
            };
            self.modal = Some(Modal::Help { scroll });
            return;
        }
        // The wizard's report scrolls its reasons with the arrow and page keys (Tab saves the rejects).
        if let Some(Modal::Wizard(w)) = &mut self.modal
            && let WizardStage::Report(r) = &w.stage
            && matches!(key.code, KeyCode::Up | KeyCode::Down | KeyCode::PageUp | KeyCode::PageDown | KeyCode::Home)
        {
            let total: usize = r.rejected().iter().map(|x| x.problems.len().max(1)).sum();
            let page = usize::from(self.size.1 / 2).max(1);
            w.scroll = match key.code {
                KeyCode::Up => w.scroll.saturating_sub(1),
                KeyCode::Down => w.scroll + 1,
                KeyCode::PageUp => w.scroll.saturating_sub(page),
                KeyCode::PageDown => w.scroll + page,
                _ => 0,
            }
            .min(total.saturating_sub(1));
            return;
        }
        // Add More Devices: a scanner that ends a scan with Tab, on a complete IMEI with no serial typed,
        // adds the device (the next scan would otherwise land in the serial field). Down still moves.
        if let Some(Modal::Form(form)) = &self.modal
            && key.code == KeyCode::Tab
            && matches!(form.purpose, FormPurpose::AddDevice(_))
            && form.fields[form.focus].label == "IMEI"
            && form.value("Serial").is_empty()
            && crate::domain::Imei::parse(&form.value("IMEI")).is_ok()
        {
            self.update(Action::Confirm);
            return;
        }
        if let Some(Modal::Form(form)) = &mut self.modal {
            let action = self.keymap.lookup(&[Context::Dialog], k);
            if form.key(key, action) {
                self.check_form();
                return;
            }
        }
        if let Some(action) = self.keymap.lookup(&self.contexts(), k) {
            self.update(action);
        }
    }

    /// Checks the fields of the open form together, as they are typed (field problems are shown under
    /// each field): a device form says whether the identifiers make a device and whether it exists already.
    fn check_form(&mut self) {
        if let Some(Modal::Form(form)) = &mut self.modal {
            match form.purpose {
                FormPurpose::AddRecord | FormPurpose::EditRecord(_) => {
                    super::screens::dep_record::enrollment_visibility(form)
                }
                // A profile without token has no token lifetime to ask for.
                FormPurpose::NewProfile => {
                    let without = form.on("Without token");
                    if let Some(f) = form.field_mut("Token days") {
                        f.hidden = without;
                    }
                }
                _ => {}
            }
        }
        let Some(Modal::Form(form)) = &self.modal else { return };
        let exclude = match form.purpose {
            FormPurpose::AddDevice(_) => None,
            FormPurpose::EditDevice(id, seq) => Some((id, seq)),
            _ => return,
        };
        let note = self.device_note(form, exclude);
        if let Some(Modal::Form(form)) = &mut self.modal {
            form.note = note;
        }
    }

    fn device_note(&self, form: &Form, exclude: Option<(ProfileId, DeviceSeq)>) -> Option<String> {
        if ["IMEI", "Serial", "Manufacturer"].iter().all(|l| form.value(l).is_empty())
            || form.fields.iter().any(|f| f.problem.is_some())
        {
            return None;
        }
        let ids = match form.identifiers() {
            Ok(ids) => ids,
            Err(e) => return Some(e),
        };
        let mut lookups = Vec::new();
        if let Some(imei) = ids.imei {
            lookups.push(Lookup::Imei(imei));
        }
        if let (Some(serial), Some(manufacturer)) = (&ids.serial, &ids.manufacturer) {
            lookups.push(Lookup::Serial { serial: serial.clone(), manufacturer: manufacturer.clone() });
        }
        for lookup in lookups {
            match self.store.find(&lookup) {
                Ok(Some((pid, d))) if Some((pid, d.seq)) != exclude => {
                    let name = self.store.profile_by_id(pid).ok().flatten().map(|p| p.name).unwrap_or_default();
                    return Some(format!("{lookup} is already in profile {name}"));
                }
                Ok(_) => {}
                Err(e) => return Some(e.to_string()),
            }
        }
        Some("ok: Enter saves".into())
    }

    fn typing_filter(&self) -> bool {
        self.modal.is_none() && self.screen().filter().is_some_and(|f| f.input.is_some())
    }

    fn filter_key(&mut self, key: KeyEvent, k: Key) {
        let action = self.keymap.lookup(&[Context::Dialog], k);
        let screen = self.screen_mut();
        let Some(filter) = screen.filter_mut() else { return };
        let input = filter.input.as_mut().expect("typing a filter");
        match (key.code, action) {
            (KeyCode::Enter, _) => filter.input = None,
            (KeyCode::Esc, _) => {
                filter.input = None;
                filter.text.clear();
            }
            (_, Some(Action::NextField | Action::PrevField)) => {}
            _ => {
                input.input(key);
                filter.text = input_text(input);
            }
        }
        refilter(screen);
    }

    /// Carries out an action on the current screen.
    pub fn update(&mut self, action: Action) {
        match action {
            Action::Quit => {
                self.quit = true;
                return;
            }
            Action::Help => {
                self.modal = match self.modal {
                    Some(Modal::Help { .. }) => None,
                    _ => Some(Modal::Help { scroll: 0 }),
                };
                return;
            }
            Action::Messages => {
                self.modal = match self.modal {
                    Some(Modal::Messages) => None,
                    None => Some(Modal::Messages),
                    _ => return,
                };
                return;
            }
            Action::CheckIn if self.modal.is_none() => {
                if !matches!(self.screen(), Screen::CheckIn(_)) {
                    self.screens.push(Screen::CheckIn(Box::default()));
                    self.status = None;
                }
                return;
            }
            Action::Find if self.modal.is_none() => {
                self.modal = Some(Modal::Form(super::screens::search::find_form()));
                return;
            }
            Action::Refresh => {
                self.reload_or_report();
                if !matches!(self.status, Some((Level::Error, _))) {
                    self.info("read the database again");
                }
                return;
            }
            _ => {}
        }
        if self.modal.is_some() {
            self.update_modal(action);
            return;
        }
        if let Some((cursor, len)) = self.screen_mut().table()
            && cursor.apply(action, len)
        {
            return;
        }
        // Esc clears a kept filter before it goes back.
        if action == Action::Back {
            let screen = self.screen_mut();
            if let Some(f) = screen.filter_mut()
                && !f.text.is_empty()
            {
                f.text.clear();
                refilter(screen);
                return;
            }
        }
        match action {
            Action::NextTab => return self.step_tab(1),
            Action::PrevTab => return self.step_tab(Tab::ALL.len() - 1),
            _ => {}
        }
        match self.screen().context() {
            Context::Profiles => self.profiles_action(action),
            Context::Detail => self.detail_action(action),
            Context::Qr => self.qr_action(action),
            Context::Users => self.users_action(action),
            Context::Dep => self.dep_action(action),
            Context::DepDevice => self.dep_device_action(action),
            Context::Catalog => self.catalog_action(action),
            Context::Audit => match action {
                Action::Filter => self.start_filter(),
                Action::Back => self.back(),
                _ => {}
            },
            Context::Search => match action {
                Action::Open => {
                    if let Screen::Search(s) = self.screen()
                        && let Some(found) = s.selected().cloned()
                    {
                        self.open_found(found);
                    }
                }
                Action::Back => self.back(),
                _ => {}
            },
            _ => {}
        }
    }

    /// Closes the screen on top; on a tab's first screen, goes to the Profiles tab.
    pub(super) fn back(&mut self) {
        if self.screens.len() > 1 {
            self.screens.pop();
            self.reload_or_report();
        } else {
            self.switch_tab(Tab::Profiles);
        }
    }

    pub(super) fn start_filter(&mut self) {
        if let Some(f) = self.screen_mut().filter_mut() {
            f.input = Some(line_input(&f.text));
        }
    }

    fn profiles_action(&mut self, action: Action) {
        let Screen::Profiles(p) = self.screen_mut() else { return };
        let selected = p.selected().cloned();
        match action {
            Action::Filter => self.start_filter(),
            Action::SortNext => {
                p.sort = (p.sort + 1) % ProfileColumn::ALL.len();
                p.rebuild();
                let title = ProfileColumn::ALL[p.sort].title();
                self.info(format!("sorted by {title}"));
            }
            Action::SortReverse => {
                p.descending = !p.descending;
                p.rebuild();
            }
            Action::Open => {
                if let Some(profile) = selected {
                    self.open_profile(profile);
                }
            }
            Action::Users => self.switch_tab(Tab::Users),
            Action::NewProfile => self.modal = Some(Modal::Form(self.new_profile_form())),
            Action::EditProfile => {
                if let Some(p) = selected {
                    let mut form = Form::new(
                        format!("Edit profile {}", p.name),
                        FormPurpose::EditProfile(p.id),
                        vec![
                            FormField::text("Name", &p.name, "1 to 64 characters"),
                            FormField::text("Description", p.description.as_deref().unwrap_or(""), "optional"),
                        ],
                    );
                    form.expect_version = Some(p.version);
                    self.modal = Some(Modal::Form(form));
                }
            }
            Action::ModifyUser => {
                if let Some(p) = selected {
                    let field =
                        super::form::user_picker(self.store.as_ref(), "Username", p.user.as_deref().unwrap_or(""));
                    let title = format!("Modify the user of {}", p.name);
                    let mut form = Form::new(title, FormPurpose::ModifyUser(p.id), vec![field]);
                    form.expect_version = Some(p.version);
                    self.modal = Some(Modal::Form(form));
                }
            }
            Action::Delete => {
                // A whole profile goes only when its name is typed (y is too easy to press by mistake).
                if let Some(p) = selected {
                    let title = format!(
                        "Delete profile {} and its {} device{}? This cannot be undone.",
                        p.name,
                        p.device_count,
                        if p.device_count == 1 { "" } else { "s" }
                    );
                    let field = FormField::text("Profile name", "", "type the profile's name to delete it");
                    let purpose =
                        FormPurpose::TypedConfirm { purpose: ConfirmPurpose::DeleteProfile(p.id), expected: p.name };
                    self.modal = Some(Modal::Form(Form::new(title, purpose, vec![field])));
                }
            }
            Action::Export => {
                if let Some(p) = selected {
                    self.modal = Some(Modal::Form(export_form(&p)));
                }
            }
            _ => {}
        }
    }

    fn new_profile_form(&self) -> Form {
        let days = self.settings.token_days().to_string();
        Form::new(
            "Add profile",
            FormPurpose::NewProfile,
            vec![
                FormField::text("Name", "", "1 to 64 characters, unique"),
                FormField::text("Description", "", "optional"),
                FormField::path(CSV_FILE, "", "Tab completes; Ctrl-t writes the template here"),
                FormField::toggle("Without token", false, "Assign custom attributes without token (Space)"),
                super::form::user_picker(self.store.as_ref(), "User", ""),
                FormField::text("Token days", &days, "7 to 99").with_check(Check::Days),
            ],
        )
    }

    /// Opens a profile's screen. With a task sender and a large profile, the first page is read now and
    /// the rest in the background, so that the screen appears at once whatever the profile's size.
    pub fn open_profile(&mut self, profile: Profile) {
        let background = self.jobs.background() && profile.device_count > FIRST_READ as u64;
        match load_devices(self.store.as_ref(), profile.id, background.then_some(FIRST_READ)) {
            Ok(devices) => {
                let job = if background { device_read(&mut self.jobs, &self.store, profile.id) } else { None };
                let loading = job.as_ref().map(|j| j.id);
                let mut d = DetailState {
                    profile,
                    devices,
                    view: Vec::new(),
                    cursor: Cursor::default(),
                    marked: HashSet::new(),
                    filter: Filter::default(),
                    reveal: false,
                    first_attr: 0,
                    shown_attrs: std::cell::Cell::new(usize::MAX),
                    loading,
                    filtered: None,
                    reader: job.map(|j| j.stop),
                };
                d.rebuild();
                self.screens.push(Screen::Detail(Box::new(d)));
            }
            Err(e) => self.error(e.to_string()),
        }
    }

    fn detail_action(&mut self, action: Action) {
        let Screen::Detail(d) = self.screen_mut() else { return };
        let profile = d.profile.clone();
        match action {
            Action::Back => self.back(),
            Action::Filter => self.start_filter(),
            Action::ToggleSelect => {
                if let Some(seq) = d.current().map(|x| x.seq) {
                    if !d.marked.remove(&seq) {
                        d.marked.insert(seq);
                    }
                    let len = d.view.len();
                    d.cursor.row = (d.cursor.row + 1).min(len.saturating_sub(1));
                    d.cursor.fit(len);
                }
            }
            Action::SelectAll if d.loading.is_some() => {
                self.info("still reading the devices; select all when they are all shown");
            }
            Action::SelectAll => {
                let shown: Vec<DeviceSeq> = d.view.iter().filter_map(|&i| d.devices.seq(i as usize)).collect();
                if shown.iter().all(|s| d.marked.contains(s)) {
                    d.marked.clear();
                } else {
                    d.marked.extend(shown);
                }
            }
            Action::ScrollLeft => d.first_attr = d.first_attr.saturating_sub(1),
            Action::ScrollRight => {
                let total = d.profile.attributes.len();
                if d.first_attr + d.shown_attrs.get().min(total) < total {
                    d.first_attr += 1;
                }
            }
            Action::ShowDevice => match d.current() {
                Some(device) => {
                    self.modal = Some(Modal::Record {
                        title: format!("{} in {}", device.label(), profile.name),
                        lines: device_lines(&profile, &device),
                        scroll: 0,
                    })
                }
                None => self.info("no device to show"),
            },
            Action::RevealToken => {
                if profile.token.is_none() {
                    self.info("this profile has no token (Assign custom attributes without token)");
                } else {
                    d.reveal = !d.reveal;
                }
            }
            Action::Delete => {
                let seqs = targets(d);
                if seqs.is_empty() {
                    self.info("no device to delete");
                } else {
                    let n = seqs.len();
                    // One device is named; several are counted.
                    let what = match seqs.as_slice() {
                        [seq] => d
                            .devices
                            .position(*seq)
                            .ok()
                            .and_then(|i| d.devices.get(i))
                            .map_or_else(|| "1 device".into(), |d| d.label()),
                        _ => format!("{n} devices"),
                    };
                    let text = format!("Delete {what} from {}? This cannot be undone.", profile.name);
                    if n > LARGE_DELETE {
                        // More than a thousand: the count is typed, not confirmed with a key.
                        let field = FormField::text("Count", "", format!("type {n} to delete them"));
                        let purpose = FormPurpose::TypedConfirm {
                            purpose: ConfirmPurpose::DeleteDevices(profile.id, seqs),
                            expected: n.to_string(),
                        };
                        self.modal = Some(Modal::Form(Form::new(text, purpose, vec![field])));
                        return;
                    }
                    self.modal =
                        Some(Modal::Confirm { text, purpose: ConfirmPurpose::DeleteDevices(profile.id, seqs) });
                }
            }
            Action::RefreshToken | Action::ExtendToken => {
                if profile.token.is_none() {
                    self.error("this profile has no token (Assign custom attributes without token)");
                    return;
                }
                let extend = action == Action::ExtendToken;
                // A refresh offers the lifetime the profile's token was issued with.
                let days = match (&profile.token, extend) {
                    (_, true) => crate::domain::token::DEFAULT_DAYS,
                    (Some(t), false) => t.lifetime_or(self.settings.token_days()),
                    (None, false) => self.settings.token_days(),
                }
                .to_string();
                self.modal = Some(Modal::Form(Form::new(
                    if extend {
                        format!("Extend the token of {}", profile.name)
                    } else {
                        format!("Refresh the token of {} (the old one stops working)", profile.name)
                    },
                    if extend { FormPurpose::ExtendToken(profile.id) } else { FormPurpose::RefreshToken(profile.id) },
                    vec![FormField::text("Days", &days, "7 to 99").with_check(Check::Days)],
                )));
            }
            Action::Qr => match self.settings.android.complete(&self.settings_source) {
                Ok(admin) => {
                    let payload = crate::qr::payload_text(&admin, &profile);
                    match super::screens::qr::QrState::new(&profile.name, &payload, self.graphics.is_some()) {
                        Ok(q) => self.screens.push(Screen::Qr(Box::new(q))),
                        Err(e) => self.error(e),
                    }
                }
                Err(e) => self.error(e),
            },
            Action::AddDevices => self.modal = Some(Modal::Form(add_device_form(&profile, None))),
            Action::ScanStation => {
                self.modal = Some(Modal::Form(super::screens::scan::station_form(&profile.name, &self.settings.scan)));
            }
            Action::EditDevice => {
                let seqs = targets(d);
                match seqs.as_slice() {
                    [] => self.info("no device to edit"),
                    [seq] => match self.store.device(profile.id, *seq) {
                        Ok(Some(device)) => self.modal = Some(Modal::Form(edit_device_form(&profile, &device))),
                        Ok(None) => self.error("the device was deleted; press Ctrl-r to read again"),
                        Err(e) => self.error(e.to_string()),
                    },
                    _ => {
                        self.modal = Some(Modal::Form(Form::new(
                            format!("Set a custom attribute on {} devices", seqs.len()),
                            FormPurpose::SetAttribute(profile.id),
                            vec![attribute_picker(&profile), FormField::text("Value", "", "empty clears it")],
                        )));
                    }
                }
            }
            Action::ModifyConfig => self.modal = Some(Modal::Form(config_form(&profile))),
            Action::Export => self.modal = Some(Modal::Form(export_form(&profile))),
            _ => {}
        }
    }

    fn qr_action(&mut self, action: Action) {
        let graphics = self.graphics.is_some();
        let Screen::Qr(q) = self.screen_mut() else { return };
        let effect = q.action(action, graphics);
        self.apply(effect);
    }

    fn users_action(&mut self, action: Action) {
        let store = self.store.clone();
        let Screen::Users(u) = self.screen_mut() else { return };
        let effect = u.action(action, store.as_ref());
        self.apply(effect);
    }

    fn update_modal(&mut self, action: Action) {
        let Some(modal) = self.modal.take() else { return };
        match modal {
            Modal::Messages => {
                if !matches!(action, Action::Back | Action::Cancel | Action::Confirm) {
                    self.modal = Some(Modal::Messages);
                }
            }
            Modal::Record { title, lines, scroll } => {
                let max = lines.len().saturating_sub(1) as u16;
                self.modal = match action {
                    Action::Back | Action::Cancel | Action::Confirm | Action::ShowDevice => None,
                    Action::Down | Action::NextField => {
                        Some(Modal::Record { title, lines, scroll: (scroll + 1).min(max) })
                    }
                    Action::Up | Action::PrevField => {
                        Some(Modal::Record { title, lines, scroll: scroll.saturating_sub(1) })
                    }
                    _ => Some(Modal::Record { title, lines, scroll }),
                };
            }
            Modal::Help { scroll } => {
                self.modal = match action {
                    Action::Back | Action::Cancel | Action::Confirm => None,
                    Action::NextField => Some(Modal::Help {
                        scroll: (scroll + 1).min(super::modals::help::help_max_scroll(&self.draw_ctx(), self.size)),
                    }),
                    Action::PrevField => Some(Modal::Help { scroll: scroll.saturating_sub(1) }),
                    _ => Some(Modal::Help { scroll }),
                }
            }
            Modal::Confirm { text, purpose } => match action {
                Action::Confirm => self.confirmed(purpose),
                Action::Cancel | Action::Back => self.info("cancelled"),
                _ => self.modal = Some(Modal::Confirm { text, purpose }),
            },
            Modal::Form(mut form) => match action {
                // Esc on a changed form asks first; what a form that stays open saved is reported.
                Action::Cancel | Action::Back if form.changed && !form.discard_asked => {
                    form.discard_asked = true;
                    form.error = Some("Esc again discards what you typed; Enter saves it".into());
                    self.modal = Some(Modal::Form(form));
                }
                Action::Cancel | Action::Back if form.saved > 0 => {
                    let n = form.saved;
                    self.info(format!("added {n} device{}", if n == 1 { "" } else { "s" }));
                }
                Action::Cancel | Action::Back => self.info("cancelled"),
                Action::NextField => {
                    form.focus_next();
                    self.modal = Some(Modal::Form(form));
                }
                Action::RevealSecret => {
                    for f in form.fields.iter_mut().filter(|f| f.secret) {
                        f.revealed = !f.revealed;
                    }
                    self.modal = Some(Modal::Form(form));
                }
                Action::PrevField => {
                    form.focus_prev();
                    self.modal = Some(Modal::Form(form));
                }
                Action::WriteTemplate if matches!(form.purpose, FormPurpose::NewProfile | FormPurpose::DepImport) => {
                    let (name, template) = match form.purpose {
                        FormPurpose::NewProfile => ("devices.csv", android_csv::TEMPLATE),
                        _ => ("dep-devices.csv", crate::csv::dep::TEMPLATE),
                    };
                    match write_template(&form.value(CSV_FILE), name, template) {
                        Ok(path) => {
                            let field = form.field_mut(CSV_FILE).expect("CSV field");
                            field.input = line_input(&path.display().to_string());
                            form.note =
                                Some(format!("wrote the template to {}; fill it in, then Enter", path.display()));
                        }
                        Err(e) => form.error = Some(e),
                    }
                    self.modal = Some(Modal::Form(form));
                }
                Action::Confirm => {
                    if let Err(e) = self.submit(&form) {
                        form.error = Some(e);
                        self.modal = Some(Modal::Form(form));
                    }
                }
                _ => self.modal = Some(Modal::Form(form)),
            },
            Modal::Wizard(w) => self.wizard_action(w, action),
        }
    }

    /// The current name of a profile the screens know by id.
    pub(super) fn profile_name(&self, id: ProfileId) -> Result<String, ops::OpError> {
        Ok(self.store.profile_by_id(id)?.ok_or_else(|| ops::OpError::NotFound("the profile was deleted".into()))?.name)
    }

    fn confirmed(&mut self, purpose: ConfirmPurpose) {
        let core = self.core();
        let result = match &purpose {
            ConfirmPurpose::DeleteProfile(id) => self.profile_name(*id).and_then(|profile| {
                ops::profiles::delete(&core, ops::profiles::DeleteProfile { profile })
                    .map(|n| format!("deleted the profile and its {n} device{}", plural(n)))
            }),
            ConfirmPurpose::DeleteDevices(id, seqs) => self.profile_name(*id).and_then(|profile| {
                let devices = seqs.iter().map(|s| ops::devices::DeviceRef::Seq(*s)).collect();
                ops::devices::delete(&core, ops::devices::DeleteDevices { profile, devices })
                    .map(|n| format!("deleted {n} device{}", plural(n)))
            }),
            ConfirmPurpose::DeleteUser(name) => {
                ops::users::delete(&core, ops::users::DeleteUser { username: name.clone() })
                    .map(|()| format!("deleted user {name}"))
            }
            ConfirmPurpose::DeleteRecord(id) => ops::dep::delete(&core, ops::dep::DepDelete { identifier: id.clone() })
                .map(|()| format!("deleted device {id}")),
            ConfirmPurpose::WithdrawRecord(id) => {
                ops::dep::withdraw(&core, ops::dep::DepWithdraw { identifier: id.clone() })
                    .map(|d| format!("withdrew {}", d.identifier))
            }
            ConfirmPurpose::DeleteEntry(kind, name) => {
                ops::catalog::delete(&core, ops::catalog::CatalogDelete { kind: *kind, name: name.clone() })
                    .map(|()| format!("deleted {} {name}", kind.title()))
            }
        };
        drop(core);
        match result {
            Ok(msg) => {
                match purpose {
                    ConfirmPurpose::DeleteDevices(_, seqs) => self.detail_changed(DetailChange::Deleted(seqs)),
                    _ => self.reload_or_report(),
                }
                self.info(msg);
            }
            Err(e) => self.error(e.to_string()),
        }
    }

    /// Carries out a confirmed form; an error keeps the form open with the message.
    fn submit(&mut self, form: &Form) -> Result<(), String> {
        let store = self.store.clone();
        let e = |e: ops::OpError| e.to_string();
        if let Some(problem) = form.first_problem() {
            return Err(problem);
        }
        let core = self.core();
        let msg = match &form.purpose {
            FormPurpose::EditProfile(id) => {
                let command = ops::profiles::EditProfile {
                    profile: self.profile_name(*id).map_err(e)?,
                    rename: Some(form.value("Name")),
                    description: Some(form.value("Description")),
                    expect: form.expect_version,
                };
                ops::profiles::edit(&core, command).map_err(form_error)?;
                "profile saved".to_string()
            }
            FormPurpose::ModifyUser(id) => {
                let user = Some(form.value("Username")).filter(|u| !u.is_empty());
                let command = ops::profiles::SetProfileUser {
                    profile: self.profile_name(*id).map_err(e)?,
                    user: user.clone(),
                    expect: form.expect_version,
                };
                ops::profiles::set_user(&core, command).map_err(|err| match err {
                    ops::OpError::Invalid { field: "user", .. } => {
                        format!("no user {}; add it in Users (U) first", user.clone().unwrap_or_default())
                    }
                    err => form_error(err),
                })?;
                match user {
                    Some(u) => format!("associated user set to {u}"),
                    None => "associated user removed".into(),
                }
            }
            FormPurpose::RefreshToken(id) | FormPurpose::ExtendToken(id) => {
                let days: u32 = form.value("Days").parse().map_err(|_| "days must be a number from 7 to 99")?;
                crate::domain::token::check_days(days)?;
                let profile = self.profile_name(*id).map_err(e)?;
                let p = if matches!(form.purpose, FormPurpose::RefreshToken(_)) {
                    ops::tokens::refresh(&core, ops::tokens::RefreshToken { profile, days }).map_err(e)?
                } else {
                    ops::tokens::extend(&core, ops::tokens::ExtendToken { profile, days }).map_err(e)?
                };
                let expires = p.token.as_ref().map(|t| t.expires.format("%Y-%m-%d %H:%M UTC").to_string());
                format!("token valid until {}", expires.unwrap_or_default())
            }
            FormPurpose::Find => {
                let value = form.value("Value");
                let query = ops::find::Query::new(&value);
                let mut found = query.indexed(store.as_ref()).map_err(|e| e.to_string())?;
                // One page of DEP records now; a site with more reads the rest in the background.
                let rest = query.dep_fields(store.as_ref(), None, &mut found).map_err(|e| e.to_string())?;
                drop(core);
                self.modal = None;
                let searching = match rest {
                    Some(after) if self.jobs.background() => {
                        let store = self.store.clone();
                        self.jobs
                            .start("finding a device", move |ctx| TaskMsg::Found {
                                load: ctx.id,
                                result: super::screens::search::search_rest(store.as_ref(), &query, after, &ctx.stop),
                            })
                            .map(|job| (job.id, job.stop))
                    }
                    Some(after) => {
                        let never = AtomicBool::new(false);
                        let rest = super::screens::search::search_rest(store.as_ref(), &query, after, &never)?;
                        found.extend(rest.unwrap_or_default());
                        None
                    }
                    None => None,
                };
                match (found.len(), &searching) {
                    (0, None) => {
                        return Err(format!(
                            "no device with {:?} in any profile or DEP record",
                            crate::domain::text::sanitize(value.trim())
                        ));
                    }
                    (1, None) => self.open_found(found.remove(0)),
                    _ => self.screens.push(Screen::Search(Box::new(super::screens::search::SearchState {
                        value,
                        results: found,
                        cursor: Cursor::default(),
                        searching,
                    }))),
                }
                return Ok(());
            }
            FormPurpose::TypedConfirm { purpose, expected } => {
                let typed = form.fields.first().map(|f| f.value()).unwrap_or_default();
                if typed.trim() != expected.as_str() {
                    return Err(format!("type {expected} exactly to delete; nothing was deleted"));
                }
                drop(core);
                self.modal = None;
                self.confirmed(purpose.clone());
                return Ok(());
            }
            FormPurpose::ScanStation(profile) => {
                let station = super::screens::scan::station_of(form, profile)?;
                drop(core);
                self.modal = None;
                return self.open_scan(station);
            }
            FormPurpose::Export(id) => {
                let path = PathBuf::from(form.value("File"));
                if path.as_os_str().is_empty() {
                    return Err("type the file to write".into());
                }
                let profile = store.profile_by_id(*id).map_err(|e| e.to_string())?.ok_or("the profile was deleted")?;
                drop(core);
                self.spawn_export(profile, path);
                return {
                    self.info("exporting…");
                    Ok(())
                };
            }
            FormPurpose::AddUser => super::screens::users::add(&core, form).map_err(form_error)?,
            FormPurpose::EditUser(username) => {
                super::screens::users::edit(&core, username, form).map_err(form_error)?
            }
            FormPurpose::DepImport => {
                drop(core);
                return self.start_dep_wizard(form);
            }
            FormPurpose::DepExport
            | FormPurpose::AddRecord
            | FormPurpose::EditRecord(_)
            | FormPurpose::AddEntry
            | FormPurpose::EditEntry(..) => {
                drop(core);
                self.submit_dep(form)?
            }
            FormPurpose::AddDevice(id) => {
                let profile = store.profile_by_id(*id).map_err(|e| e.to_string())?.ok_or("the profile was deleted")?;
                let command = ops::devices::AddDevice {
                    profile: profile.name.clone(),
                    imei: form.value("IMEI"),
                    serial: form.value("Serial"),
                    manufacturer: form.value("Manufacturer"),
                    attributes: profile.attributes.iter().map(|a| (a.clone(), form.value(a))).collect(),
                };
                let added = match ops::devices::add(&core, command) {
                    Ok(d) => d,
                    // A refused identifier (a duplicate, a bad IMEI or serial) must not run into the next
                    // scan: the identifiers are cleared and the reason names what was refused. A missing
                    // manufacturer or a bad attribute keeps what was typed, to be completed.
                    Err(err @ (ops::OpError::Refused(_) | ops::OpError::Invalid { field: "imei" | "serial", .. })) => {
                        drop(core);
                        let refused = [form.value("IMEI"), form.value("Serial")].join(" ").trim().to_string();
                        let mut next = add_device_form(&profile, Some(form));
                        next.saved = form.saved;
                        next.error = Some(format!("refused {refused}: {}", form_error(err)));
                        self.modal = Some(Modal::Form(next));
                        return Ok(());
                    }
                    Err(err) => return Err(form_error(err)),
                };
                drop(core);
                // Stay open for the next device (a scanner types one after the other); the manufacturer
                // and the attributes are kept.
                let mut next = add_device_form(&profile, Some(form));
                next.saved = form.saved + 1;
                next.note = Some(format!("added {}; scan or type the next one, Esc when done", added.label()));
                self.detail_changed(DetailChange::Saved(added));
                self.modal = Some(Modal::Form(next));
                return Ok(());
            }
            FormPurpose::EditDevice(id, seq) => {
                let profile = store.profile_by_id(*id).map_err(|e| e.to_string())?.ok_or("the profile was deleted")?;
                let command = ops::devices::EditDevice {
                    profile: profile.name.clone(),
                    device: ops::devices::DeviceRef::Seq(*seq),
                    imei: Some(form.value("IMEI")),
                    serial: Some(form.value("Serial")),
                    manufacturer: Some(form.value("Manufacturer")),
                    set: profile.attributes.iter().map(|a| (a.clone(), form.value(a))).collect(),
                    unset: Vec::new(),
                    expect: form.expect_stamp,
                };
                let saved = ops::devices::edit(&core, command).map_err(form_error)?;
                drop(core);
                let msg = format!("saved {}", saved.label());
                self.detail_changed(DetailChange::Saved(saved));
                self.info(msg);
                return Ok(());
            }
            FormPurpose::ModifyConfig(id) => {
                use crate::domain::android::{KeyGroup, SYSTEM_EXTRAS};
                let mut config = crate::domain::android::AndroidConfig::default();
                config.set_lines(KeyGroup::Vendor, &form.value(VENDOR_KEYS))?;
                for extra in SYSTEM_EXTRAS {
                    let v = form.value(extra.label);
                    if !v.is_empty() && v != NOT_SET {
                        config.set_system(extra.name, &v)?;
                    }
                }
                config.set_lines(KeyGroup::Custom, &form.value(CUSTOM_KEYS))?;
                let command = ops::profiles::ModifyConfiguration {
                    profile: self.profile_name(*id).map_err(e)?,
                    change: ops::profiles::ConfigChange::Replace(config),
                    expect: form.expect_version,
                };
                ops::profiles::modify_configuration(&core, command).map_err(form_error)?;
                "configuration saved (the QR code uses it from now on)".into()
            }
            FormPurpose::SetAttribute(id) => {
                let Screen::Detail(d) = self.screen() else { return Err("no profile open".into()) };
                let devices = targets(d).into_iter().map(ops::devices::DeviceRef::Seq).collect();
                let value = Some(form.value("Value")).filter(|v| !v.is_empty());
                let command = ops::devices::SetAttribute {
                    profile: self.profile_name(*id).map_err(e)?,
                    devices,
                    name: form.value("Attribute"),
                    value: value.clone(),
                };
                let n = ops::devices::set_attribute(&core, command).map_err(form_error)?;
                let name = store.profile_by_id(*id).ok().flatten().map(|p| p.attribute_name(&form.value("Attribute")));
                format!(
                    "{} {} on {n} device{}",
                    if value.is_some() { "set" } else { "cleared" },
                    name.unwrap_or_default(),
                    plural(n)
                )
            }
            FormPurpose::SaveQr { png } => {
                let Screen::Qr(q) = self.screen() else { return Err("no QR code shown".into()) };
                let path = PathBuf::from(form.value("File"));
                let bytes = if *png { q.qr.png(8)? } else { q.qr.svg().into_bytes() };
                std::fs::write(&path, bytes).map_err(|err| format!("{}: {err}", path.display()))?;
                format!("wrote {}", path.display())
            }
            FormPurpose::NewProfile => {
                drop(core);
                return self.start_wizard(form);
            }
        };
        self.reload_or_report();
        self.info(msg);
        Ok(())
    }

    fn start_wizard(&mut self, form: &Form) -> Result<(), String> {
        let name = crate::domain::check_profile_name(&form.value("Name"))?;
        if self.store.profile(&name).map_err(|e| e.to_string())?.is_some() {
            return Err(format!("a profile named {name} exists already"));
        }
        let without_token = form.on("Without token");
        let token_days = if without_token {
            None
        } else {
            let days: u32 = form.value("Token days").parse().map_err(|_| "token days must be a number from 7 to 99")?;
            Some(crate::domain::token::check_days(days)?)
        };
        let user = Some(form.value("User")).filter(|u| !u.is_empty());
        if let Some(u) = &user
            && self.store.user(u).map_err(|e| e.to_string())?.is_none()
        {
            return Err(format!("no user {u}; add it in Users first"));
        }
        let path = import_path(form, android_csv::TEMPLATE)?;
        let new = NewProfile {
            name,
            description: Some(form.value("Description")).filter(|d| !d.is_empty()),
            without_token,
            user,
            token_days,
        };
        self.open_wizard(WizardJob::Profile(new), path);
        Ok(())
    }

    /// Starts checking the file and shows the wizard's progress.
    pub(super) fn open_wizard(&mut self, job: WizardJob, path: PathBuf) {
        let wizard = Wizard {
            job,
            path,
            stage: WizardStage::Validating,
            cancel: Arc::new(AtomicBool::new(false)),
            progress: None,
            scroll: 0,
        };
        self.spawn_import(&wizard, true, false);
        self.modal = Some(Modal::Wizard(Box::new(wizard)));
    }

    pub(super) fn spawn_import(&mut self, w: &Wizard, dry_run: bool, skip_invalid: bool) {
        let store = self.store.clone();
        let settings = self.settings.clone();
        let job = w.job.clone();
        let path = w.path.clone();
        let cancel = w.cancel.clone();
        let now = self.now();
        let actor = self.actor.clone();
        let what = if dry_run { "checking a file" } else { "importing a file" };
        self.jobs.start(what, move |ctx| {
            let tx = &ctx.tx;
            let started = std::time::Instant::now();
            let core = ops::Ctx::new(store.as_ref(), actor, now);
            let result = {
                let max_rows = settings.max_rows();
                let mut progress = |p: Progress| {
                    let _ = tx.send(TaskMsg::Progress {
                        rows: p.rows,
                        bytes: p.bytes,
                        total_bytes: p.total_bytes,
                        elapsed_ms: started.elapsed().as_millis() as u64,
                    });
                    !cancel.load(Ordering::Relaxed) && !ctx.stopped()
                };
                let report = match job {
                    WizardJob::Profile(new) => {
                        let command = ops::import::Import {
                            file: path.clone(),
                            to: ops::import::ImportTo::New(new),
                            default_token_days: settings.token_days(),
                            dry_run,
                            skip_invalid,
                            max_rows,
                        };
                        ops::import::run(&core, command, &mut progress).map(|r| WizardReport::Profile(Box::new(r)))
                    }
                    WizardJob::Dep => {
                        let command = ops::dep::DepImport { file: path.clone(), dry_run, skip_invalid, max_rows };
                        ops::dep::import(&core, command, &mut progress).map(|r| WizardReport::Dep(Box::new(r)))
                    }
                };
                report.map_err(|e| match e {
                    ops::OpError::Cancelled => "import cancelled; nothing was written".to_string(),
                    other => other.to_string(),
                })
            };
            if dry_run { TaskMsg::Validated(result) } else { TaskMsg::Imported(result) }
        });
    }

    fn spawn_export(&mut self, profile: Profile, path: PathBuf) {
        let store = self.store.clone();
        self.jobs.start("exporting a profile", move |_| {
            let result = (|| {
                let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                let n = android_csv::export(store.as_ref(), &profile, std::io::BufWriter::new(file))?;
                Ok((n, path))
            })();
            TaskMsg::Exported(result)
        });
    }

    fn wizard_action(&mut self, mut w: Box<Wizard>, action: Action) {
        match (&w.stage, action) {
            (WizardStage::Validating | WizardStage::Importing { .. }, Action::Cancel | Action::Back) => {
                w.cancel.store(true, Ordering::Relaxed);
                self.modal = Some(Modal::Wizard(w));
            }
            (WizardStage::Report(r), Action::Confirm) => {
                if r.valid() == 0 {
                    self.error("no valid row to import");
                    self.modal = Some(Modal::Wizard(w));
                    return;
                }
                let skip = !r.rejected().is_empty();
                w.stage = WizardStage::Importing { skip_invalid: skip };
                w.progress = None;
                self.spawn_import(&w, false, skip);
                self.modal = Some(Modal::Wizard(w));
            }
            (WizardStage::Report(r), Action::NextField) => {
                // Save the rejected rows next to the file.
                let out = rejects_path(&w.path);
                let written = std::fs::File::create(&out).map_err(|e| e.to_string()).and_then(|f| {
                    match r.as_ref() {
                        WizardReport::Profile(r) => android_csv::write_rejects(r, f),
                        WizardReport::Dep(r) => android_csv::write_rejected(&r.header, &r.rejected, f),
                    }
                    .map_err(|e| e.to_string())
                });
                match written {
                    Ok(()) => self.info(format!("wrote the rejected rows to {}", out.display())),
                    Err(e) => self.error(format!("{}: {e}", out.display())),
                }
                self.modal = Some(Modal::Wizard(w));
            }
            (WizardStage::Report(_), Action::Cancel | Action::Back) => self.info("cancelled; nothing was written"),
            _ => self.modal = Some(Modal::Wizard(w)),
        }
    }

    /// A message from work off the UI thread.
    pub fn on_task(&mut self, msg: TaskMsg) {
        match msg {
            TaskMsg::Changed(change) => {
                // This workstation's own changes are shown already, by the command that made them.
                if change.entry.actor.session == self.actor.session {
                    return;
                }
                let audit_shown = matches!(self.screen(), Screen::Audit(_));
                if change.subject != crate::store::Subject::Nothing || audit_shown {
                    self.reload_or_report();
                }
            }
            TaskMsg::Progress { rows, bytes, total_bytes, elapsed_ms } => {
                if let Some(Modal::Wizard(w)) = &mut self.modal {
                    w.progress = Some((rows, bytes, total_bytes, elapsed_ms));
                }
            }
            TaskMsg::Validated(result) => {
                let Some(Modal::Wizard(w)) = &mut self.modal else { return };
                match result {
                    Ok(report) => w.stage = WizardStage::Report(Box::new(report)),
                    Err(e) => {
                        self.modal = None;
                        self.error(e);
                    }
                }
            }
            TaskMsg::Imported(result) => {
                self.modal = None;
                match result {
                    Ok(WizardReport::Dep(report)) => self.dep_imported(&report),
                    Ok(WizardReport::Profile(report)) => match report.committed {
                        Some(profile) => {
                            self.screens.truncate(1);
                            self.reload_or_report();
                            let n = profile.device_count;
                            let name = profile.name.clone();
                            self.open_profile(profile);
                            self.info(format!("created {name} with {n} device{}", plural(n)));
                        }
                        None => self.error("nothing was imported"),
                    },
                    Err(e) => self.error(e),
                }
            }
            TaskMsg::Exported(result) => match result {
                Ok((n, path)) => self.info(format!("wrote {n} device{} to {}", plural(n), path.display())),
                Err(e) => self.error(e),
            },
            TaskMsg::Found { load, result } => {
                let waiting =
                    self.screens.iter_mut().chain(self.parked.iter_mut().flatten()).find(
                        |s| matches!(s, Screen::Search(f) if f.searching.as_ref().is_some_and(|(l, _)| *l == load)),
                    );
                let Some(Screen::Search(f)) = waiting else { return };
                f.searching = None;
                match result {
                    Ok(Some(more)) => {
                        f.results.extend(more);
                        if f.results.is_empty() {
                            let value = crate::domain::text::sanitize(f.value.trim()).into_owned();
                            self.error(format!("no device with {value:?} in any profile or DEP record"));
                        }
                    }
                    Ok(None) => {}
                    Err(e) => self.error(format!("finding the device: {e}")),
                }
            }
            TaskMsg::DepRecords { load, result } => {
                let waiting = self
                    .screens
                    .iter_mut()
                    .chain(self.parked.iter_mut().flatten())
                    .find(|s| matches!(s, Screen::Dep(l) if l.loading == Some(load)));
                let Some(screen) = waiting else { return };
                let Screen::Dep(l) = screen else { unreachable!("found as the DEP list") };
                match result {
                    Ok(records) => {
                        l.show(records);
                        screen.fit_cursor();
                    }
                    Err(e) => {
                        l.loading = None;
                        self.error(format!("reading the DEP records: {e}"));
                    }
                }
            }
            TaskMsg::Devices { profile, load, result } => {
                let waiting = self
                    .screens
                    .iter_mut()
                    .chain(self.parked.iter_mut().flatten())
                    .find(|s| matches!(s, Screen::Detail(d) if d.profile.id == profile && d.loading == Some(load)));
                let Some(screen) = waiting else { return };
                let Screen::Detail(d) = screen else { unreachable!("found as a profile screen") };
                d.loading = None;
                let failed = match result {
                    Ok(devices) => {
                        d.marked.retain(|&s| devices.position(s).is_ok());
                        d.devices = devices;
                        refilter(screen);
                        None
                    }
                    Err(e) => Some(e),
                };
                if let Some(e) = failed {
                    self.error(format!("reading the devices: {e}"));
                }
            }
        }
    }
}

/// The devices an action applies to: the selected ones, or the one under the cursor.
fn targets(d: &DetailState) -> Vec<DeviceSeq> {
    if d.marked.is_empty() {
        d.current().map(|x| vec![x.seq]).unwrap_or_default()
    } else {
        let mut v: Vec<DeviceSeq> = d.marked.iter().copied().collect();
        v.sort_unstable();
        v
    }
}

const VENDOR_KEYS: &str = "Vendor keys";
const CUSTOM_KEYS: &str = "Custom keys";
const ATTRIBUTES: &str = "Custom attributes";

/// A user's fields besides the username.
/// A device in full: every identifier and attribute of the profile (empty ones too), status, source, times.
fn device_lines(p: &Profile, d: &Device) -> Vec<(String, String)> {
    let time = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    let mut lines = vec![
        ("IMEI".to_string(), d.ids.imei.map(|i| i.to_string()).unwrap_or_default()),
        ("Serial Number".to_string(), d.ids.serial.clone().unwrap_or_default()),
        ("Manufacturer".to_string(), d.ids.manufacturer.clone().unwrap_or_default()),
    ];
    for a in &p.attributes {
        lines.push((a.clone(), d.attribute(a).unwrap_or("").to_string()));
    }
    lines.push(("Status".into(), d.status.label().into()));
    if let Some(at) = d.status.at() {
        lines.push((
            if matches!(d.status, crate::domain::Status::Kitted(_)) { "Kitted at" } else { "Registered at" }.into(),
            time(at),
        ));
    }
    lines.push((
        "Source".into(),
        match &d.source {
            crate::domain::Source::Manual => "added by hand".into(),
            crate::domain::Source::File { name, line } => format!("{name}, line {line}"),
        },
    ));
    lines.push(("Added".into(), time(d.created)));
    lines.push(("Changed".into(), time(d.modified)));
    lines
}

/// A refusal as a form shows it: a conflict says that the form keeps what was typed.
fn form_error(e: ops::OpError) -> String {
    match e {
        ops::OpError::Conflict(m) => format!("{m} (the form keeps what you typed: Esc, then open it again)"),
        e => e.to_string(),
    }
}

/// Identifier fields, checked as they are typed.
fn identifier_fields(ids: Option<&crate::domain::Identifiers>) -> Vec<FormField> {
    let imei = ids.and_then(|i| i.imei).map(|i| i.to_string()).unwrap_or_default();
    let serial = ids.and_then(|i| i.serial.clone()).unwrap_or_default();
    let manufacturer = ids.and_then(|i| i.manufacturer.clone()).unwrap_or_default();
    vec![
        FormField::text("IMEI", &imei, "15 digits; or serial number and manufacturer").with_check(Check::Imei),
        FormField::text("Serial", &serial, "serial number").with_check(Check::Identifier("serial number")),
        FormField::text("Manufacturer", &manufacturer, "as the device reports it")
            .with_check(Check::Identifier("manufacturer")),
    ]
}

/// One field per custom attribute of the profile, with the values in `value`.
fn attribute_fields(p: &Profile, value: impl Fn(&str) -> String) -> Vec<FormField> {
    p.attributes
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let f = FormField::text(name.clone(), &value(name), "optional").with_check(Check::Attribute(name.clone()));
            if i == 0 { f.in_section(ATTRIBUTES) } else { f }
        })
        .collect()
}

/// The custom attributes typed in a device form (empty ones left out).
/// Add More Devices; `previous` (after a device was added) keeps its attribute values.
/// The attribute to set on several devices: one of the profile's (typing filters them), or a new name.
fn attribute_picker(p: &Profile) -> FormField {
    let options = p.attributes.iter().map(|a| PickOption { value: a.clone(), label: a.clone() }).collect::<Vec<_>>();
    FormField::pick("Attribute", "", options, "one of the profile's columns (type to filter), or a new name")
}

fn add_device_form(p: &Profile, previous: Option<&Form>) -> Form {
    let mut fields = identifier_fields(None);
    if let Some(m) = previous.map(|f| f.value("Manufacturer")).filter(|m| !m.is_empty())
        && let Some(f) = fields.iter_mut().find(|f| f.label == "Manufacturer")
    {
        f.input = line_input(&m);
    }
    fields.extend(attribute_fields(p, |name| previous.map(|f| f.value(name)).unwrap_or_default()));
    Form::new(format!("Add devices to {}", p.name), FormPurpose::AddDevice(p.id), fields)
}

fn edit_device_form(p: &Profile, d: &Device) -> Form {
    let mut fields = identifier_fields(Some(&d.ids));
    fields.extend(attribute_fields(p, |name| d.attribute(name).unwrap_or("").to_string()));
    let mut form = Form::new(format!("Edit device {}", d.label()), FormPurpose::EditDevice(p.id, d.seq), fields);
    form.expect_stamp = Some(d.modified);
    form
}

/// Modify Configuration: vendor keys, the pre-defined Android system extras (typed), custom keys.
fn config_form(p: &Profile) -> Form {
    use crate::domain::android::{KeyGroup, SYSTEM_EXTRAS};
    let c = &p.config;
    let mut fields = vec![
        FormField::lines(VENDOR_KEYS, &c.lines(KeyGroup::Vendor), "key = value, one per line")
            .in_section("Vendor keys"),
    ];
    for (i, extra) in SYSTEM_EXTRAS.iter().enumerate() {
        let value = c.system.iter().find(|(n, _)| n == extra.name).map(|(_, v)| v.to_string()).unwrap_or_default();
        let field = match super::form::extra_choices(extra) {
            Some(options) => FormField::choice(extra.label, options, &value, "Space or Left/Right changes it"),
            None if extra.kind == crate::domain::android::ExtraKind::TimeZone => {
                let zones = crate::domain::android::time_zone_names()
                    .map(|n| PickOption { value: n.to_string(), label: n.to_string() })
                    .collect();
                FormField::pick(extra.label, &value, zones, "an IANA name: type to filter, Up/Down to pick")
                    .with_check(Check::Extra(extra))
            }
            None => {
                let hint = match extra.kind {
                    crate::domain::android::ExtraKind::Locale => "like en_US; empty: not set",
                    _ => "empty: not set",
                };
                let f = FormField::text(extra.label, &value, hint).with_check(Check::Extra(extra));
                if extra.name == "wifi_password" { f.secret() } else { f }
            }
        };
        fields.push(if i == 0 { field.in_section("Pre-defined Android system extras") } else { field });
    }
    fields.push(
        FormField::lines(CUSTOM_KEYS, &c.lines(KeyGroup::Custom), "android.app.extra.KEY = value, one per line")
            .in_section("Custom Android system keys"),
    );
    let mut form =
        Form::new(format!("Modify the configuration of {}", p.name), FormPurpose::ModifyConfig(p.id), fields);
    form.expect_version = Some(p.version);
    form
}
