//! The workstation's shell: the tabs and their stacks of screens, the open dialog, the status line. It
//! routes a key to the dialog or the screen on top (`screens::Unit`), carries out the `Effect` that comes
//! back, runs the import wizard and hands the background jobs' answers to the screens that wait for them.
//! What a screen shows, does and saves is the screen's own (`screens/`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub use super::files::file_stem;
use super::files::write_template;
pub use super::form::{
    Check, ConfirmPurpose, FieldId, Form, FormField, FormPurpose, NOT_SET, PickOption, input_text, line_input,
    split_names,
};
pub use super::jobs::TaskMsg;
pub use super::modals::Modal;
pub use super::modals::wizard::{Wizard, WizardJob, WizardReport, WizardStage};
pub use super::screens::detail::{FIRST_READ, device_read, load_devices};
pub use super::screens::{Ctx, Effect, Level, MIN_SIZE, Screen, Tab, refilter};
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
use crate::csv::android::{self as android_csv};
use crate::csv::dep::DepReport;
use crate::ops;
use crate::settings::Settings;
use crate::store::{Store, StoreError};

pub struct App {
    pub store: Arc<dyn Store>,
    pub settings: Settings,
    pub settings_source: String,
    pub keymap: Keymap,
    pub theme: Theme,
    /// The screens, home first; the last one is shown.
    pub screens: Vec<Screen>,
    pub modal: Option<Modal>,
    /// The form whose file exists, while the technician is asked whether to replace it.
    replacing: Option<Form>,
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

pub use super::screens::detail::LARGE_DELETE;

impl App {
    /// What the screens draw with.
    pub fn draw_ctx(&self) -> super::screens::DrawCtx<'_> {
        super::screens::DrawCtx {
            theme: &self.theme,
            keymap: &self.keymap,
            now: self.now(),
            graphics: self.graphics.as_ref(),
        }
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
            replacing: None,
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

    pub fn screen(&self) -> &Screen {
        self.screens.last().expect("the home screen is never removed")
    }

    pub(super) fn screen_mut(&mut self) -> &mut Screen {
        self.screens.last_mut().expect("the home screen is never removed")
    }

    /// The screens and what they may use: the store as this technician, the settings, the jobs.
    fn split(&mut self) -> (&mut Vec<Screen>, Ctx<'_>) {
        let cx = Ctx {
            store: &self.store,
            actor: &self.actor,
            now: (self.clock)(),
            settings: &self.settings,
            settings_source: &self.settings_source,
            jobs: &mut self.jobs,
            graphics: self.graphics.is_some(),
        };
        (&mut self.screens, cx)
    }

    /// The screen on top and what it may use.
    fn parts(&mut self) -> (&mut Screen, Ctx<'_>) {
        let (screens, cx) = self.split();
        (screens.last_mut().expect("the home screen is never removed"), cx)
    }

    /// Carries out what a screen asked for.
    pub(super) fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::None => {}
            Effect::Pop(msg) => {
                if self.screens.len() > 1 {
                    self.screens.pop();
                }
                // What the screen below shows may have changed: read once, now that this one is closed.
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
            Effect::AskReplace(form, name) => {
                self.replacing = Some(*form);
                let text = format!("{name} exists already. Replace it?");
                self.modal = Some(Modal::Confirm { text, purpose: ConfirmPurpose::ReplaceFile });
            }
            Effect::Form(form) => self.modal = Some(Modal::Form(form)),
            Effect::Dialog(modal) => self.modal = Some(modal),
            Effect::Push(screen) => {
                self.screens.push(screen);
                self.status = None;
            }
            Effect::Tab(tab) => self.switch_tab(tab),
            Effect::Saved(msg) => {
                self.reload_or_report();
                self.info(msg);
            }
            Effect::Wizard(job, path) => self.open_wizard(job, path),
            Effect::Open(found) => self.open_found(found),
            Effect::Many(effects) => effects.into_iter().for_each(|e| self.apply(e)),
        }
    }

    /// Reads everything the current screens show from the store again.
    pub fn reload(&mut self) -> Result<(), StoreError> {
        let (screens, mut cx) = self.split();
        for screen in screens {
            screen.unit_mut().reload(&mut cx)?;
            screen.fit_cursor();
        }
        Ok(())
    }

    /// A question answered yes: the screen that asked carries it out.
    fn confirmed(&mut self, purpose: ConfirmPurpose) {
        if purpose == ConfirmPurpose::ReplaceFile {
            if let Some(mut form) = self.replacing.take() {
                form.replace = true;
                if let Err(e) = self.submit(&form) {
                    form.error = Some(e);
                    self.modal = Some(Modal::Form(form));
                }
            }
            return;
        }
        let (screen, mut cx) = self.parts();
        match screen.unit_mut().confirmed(purpose, &mut cx) {
            Ok(effect) => self.apply(effect),
            Err(e) => self.error(e),
        }
    }

    /// Carries out a confirmed form; an error keeps the form open with the message. Find and the typed
    /// confirmations are the shell's; every other form is the screen's that opened it.
    fn submit(&mut self, form: &Form) -> Result<(), String> {
        if let Some(problem) = form.first_problem() {
            return Err(problem);
        }
        match &form.purpose {
            FormPurpose::Find => return self.find(form),
            FormPurpose::TypedConfirm { purpose, expected } => {
                let typed = form.fields.first().map(|f| f.value()).unwrap_or_default();
                if typed.trim() != expected.as_str() {
                    return Err(format!("type {expected} exactly to delete; nothing was deleted"));
                }
                self.modal = None;
                self.confirmed(purpose.clone());
                return Ok(());
            }
            _ => {}
        }
        let (screen, mut cx) = self.parts();
        let effect = screen.unit_mut().submit(form, &mut cx)?;
        self.modal = None;
        self.apply(effect);
        Ok(())
    }

    /// Find confirmed: one place opens at once, several are listed; the DEP records' other fields are read
    /// in the background past the first page.
    fn find(&mut self, form: &Form) -> Result<(), String> {
        let value = form.value(FieldId::Value);
        let query = ops::find::Query::new(&value);
        let store = self.store.clone();
        let mut found = query.indexed(store.as_ref()).map_err(|e| e.to_string())?;
        let rest = query.dep_fields(store.as_ref(), None, &mut found).map_err(|e| e.to_string())?;
        self.modal = None;
        let searching = match rest {
            Some(after) if self.jobs.background() => self
                .jobs
                .start("finding a device", move |ctx| TaskMsg::Found {
                    load: ctx.id,
                    result: super::screens::search::search_rest(store.as_ref(), &query, after, &ctx.stop),
                })
                .map(|job| (job.id, job.stop)),
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
                    "no device with {} in any profile or DEP record",
                    crate::domain::text::quote(value.trim())
                ));
            }
            (1, None) => self.open_found(found.remove(0)),
            _ => self.apply(Effect::Push(Screen::Search(Box::new(super::screens::search::SearchState {
                value,
                results: found,
                cursor: Cursor::default(),
                searching,
            })))),
        }
        Ok(())
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
                let (_, mut cx) = self.parts();
                match DetailState::open(&mut cx, p) {
                    Ok(mut d) => {
                        d.filter.text = filter;
                        d.rebuild();
                        self.screens.push(Screen::Detail(Box::new(d)));
                        self.info(format!("{} in profile {profile} (Esc clears the filter)", device.label()));
                    }
                    Err(e) => self.error(e.to_string()),
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

    pub(super) fn reload_or_report(&mut self) {
        if let Err(e) = self.reload() {
            self.report(e);
        }
    }

    /// A failed read: a profile or record deleted by someone else goes back to the tab's first screen.
    fn report(&mut self, e: StoreError) {
        if matches!(e, StoreError::NotFound(_)) {
            self.screens.truncate(1);
            let _ = self.reload();
        }
        self.error(e.to_string());
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
            let (screen, mut cx) = self.parts();
            if let Some(effect) = screen.unit_mut().key(key, own, &mut cx) {
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
        let page = usize::from(self.size.1 / 2).max(1);
        if let Some(Modal::Wizard(w)) = &mut self.modal
            && w.scroll_key(key.code, page)
        {
            return;
        }
        // A form's screen may give a key a meaning of its own there (a scanner's Tab that ends a scan).
        if let Some(Modal::Form(form)) = &self.modal
            && self.screen().unit().submits_on(form, &key)
        {
            self.update(Action::Confirm);
            return;
        }
        if let Some(Modal::Form(form)) = &mut self.modal {
            let action = self.keymap.lookup(&[Context::Dialog], k);
            if form.key(key, action) {
                // The screen that opened the form looks at it together (fields shown by others, notes).
                if let Some(Modal::Form(mut form)) = self.modal.take() {
                    let (screen, cx) = self.parts();
                    screen.unit_mut().form_changed(&mut form, &cx);
                    self.modal = Some(Modal::Form(form));
                }
                return;
            }
        }
        if let Some(action) = self.keymap.lookup(&self.contexts(), k) {
            self.update(action);
        }
    }

    fn typing_filter(&self) -> bool {
        self.modal.is_none() && self.screen().unit().filter().is_some_and(|f| f.input.is_some())
    }

    fn filter_key(&mut self, key: KeyEvent, k: Key) {
        let action = self.keymap.lookup(&[Context::Dialog], k);
        let screen = self.screen_mut();
        let Some(filter) = screen.unit_mut().filter_mut() else { return };
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
        if let Some((cursor, len)) = self.screen_mut().unit_mut().table()
            && cursor.apply(action, len)
        {
            return;
        }
        // Esc clears a kept filter before it goes back.
        if action == Action::Back {
            let screen = self.screen_mut();
            if let Some(f) = screen.unit_mut().filter_mut()
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
        let (screen, mut cx) = self.parts();
        let effect = screen.unit_mut().action(action, &mut cx);
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
                Action::Cancel | Action::Back => match self.replacing.take() {
                    // Not replaced: back to the form, to name another file.
                    Some(mut form) if purpose == ConfirmPurpose::ReplaceFile => {
                        form.error = Some("the file was left as it is; type another name".into());
                        self.modal = Some(Modal::Form(form));
                    }
                    _ => self.info("cancelled"),
                },
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
                    match write_template(&form.value(FieldId::CsvFile), name, template) {
                        Ok(path) => {
                            let field = form.field_mut(FieldId::CsvFile).expect("CSV field");
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

    /// Starts checking the file and shows the wizard's progress.
    pub(super) fn open_wizard(&mut self, job: WizardJob, path: PathBuf) {
        let (_, mut cx) = self.parts();
        let wizard = Wizard::open(job, path, &mut cx);
        self.modal = Some(Modal::Wizard(Box::new(wizard)));
    }

    fn wizard_action(&mut self, w: Box<Wizard>, action: Action) {
        let (_, mut cx) = self.parts();
        let (open, said) = w.action(action, &mut cx);
        self.modal = open.map(Modal::Wizard);
        if let Some((level, msg)) = said {
            self.say(level, msg);
        }
    }

    /// A DEP import's end: what it wrote, and what it skipped.
    fn dep_imported(&mut self, r: &DepReport) {
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

    /// A message from work off the UI thread.
    pub fn on_task(&mut self, msg: TaskMsg) {
        match msg {
            TaskMsg::Changed(change) => {
                // This workstation's own changes are shown already, by the command that made them.
                if change.entry.actor.session == self.actor.session {
                    return;
                }
                // Each screen of this tab takes what concerns it (the others read again when shown).
                let (screens, mut cx) = self.split();
                let mut result = Ok(());
                for screen in screens.iter_mut() {
                    result = screen.unit_mut().on_change(&change.subject, &mut cx);
                    screen.fit_cursor();
                    if result.is_err() {
                        break;
                    }
                }
                if let Err(e) = result {
                    self.report(e);
                }
            }
            // "server stopped, reconnecting…", or "lost the database, reconnecting…" (PostgreSQL).
            TaskMsg::FeedLost => {
                let why = self.store.feed_lost();
                self.error(format!("{why}, reconnecting… (what you saved is kept)"))
            }
            TaskMsg::FeedBack => match self.reload() {
                Ok(()) => self.info("reconnected; the screens are read again"),
                Err(e) => self.report(e),
            },
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
                            let (_, mut cx) = self.parts();
                            match DetailState::open(&mut cx, profile) {
                                Ok(d) => self.screens.push(Screen::Detail(Box::new(d))),
                                Err(e) => self.error(e.to_string()),
                            }
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
