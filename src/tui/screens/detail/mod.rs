//! A profile's screen: its header (token masked until revealed, expiry, device count) over the device
//! table. The devices are a `DeviceTable`; one change is applied in place (`applied`), never by reading
//! the profile again; only the rows in view are drawn. (Its actions and forms are still `App`'s.)

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

mod forms;

use forms::{add_device_form, attribute_picker, config_form, device_lines, device_note, edit_device_form, targets};

use super::{Ctx, DrawCtx, Effect, Level, Screen, form_error};
use crate::domain::{Device, DeviceSeq, Profile, ProfileId};
use crate::ops;
use crate::store::{Store, StoreError, Subject};
use crate::tui::action::Action;
use crate::tui::device_table::{DeviceTable, Needle};
use crate::tui::files::export_form;
use crate::tui::form::{Check, ConfirmPurpose, FieldId, Form, FormField, FormPurpose, NOT_SET};
use crate::tui::jobs::{Job, Jobs, TaskMsg};
use crate::tui::keymap::Context;
use crate::tui::modals::Modal;
use crate::tui::theme::{CURSOR, MARK};
use crate::tui::widgets::table::{Cursor, Filter, filter_line};
use crate::tui::widgets::text::plural;
use crate::tui::widgets::text::{owned, safe};

/// Rows of the header above the devices.
pub const HEAD_ROWS: u16 = 6;

#[derive(Debug)]
pub struct DetailState {
    pub profile: Profile,
    /// Compact (`DeviceTable`): a device is decoded when it is drawn or acted on.
    pub devices: DeviceTable,
    /// Indices into `devices`, filtered.
    pub view: Vec<u32>,
    pub cursor: Cursor,
    pub marked: HashSet<DeviceSeq>,
    pub filter: Filter,
    pub reveal: bool,
    /// The first custom attribute shown (Left/Right scroll the attribute columns that do not fit).
    pub first_attr: usize,
    /// How many attribute columns the last frame had room for (the drawn layout, not a guess).
    pub shown_attrs: std::cell::Cell<usize>,
    /// While the rest of the devices are read in the background: which read (only its answer counts).
    pub loading: Option<u64>,
    /// The filter `view` was made for, and the devices' version then (a grown filter narrows it).
    pub(crate) filtered: Option<(String, u64)>,
    /// The background read's stop flag: set when this screen closes before the read ends.
    pub(crate) reader: Option<Arc<AtomicBool>>,
}

impl Drop for DetailState {
    fn drop(&mut self) {
        if let Some(stop) = &self.reader {
            stop.store(true, Ordering::Relaxed);
        }
    }
}

impl DetailState {
    /// What one change made here returned, applied in place: the devices are not read again, so a change
    /// on a profile of 200,000 devices costs what it costs on an empty one. `None` when a background read
    /// is still on the way (its answer would not have the change): then the screen is read again.
    pub fn applied(&mut self, change: DetailChange, profile: Option<Profile>) -> Option<()> {
        if self.loading.is_some() {
            return None;
        }
        match change {
            DetailChange::Saved(d) => self.devices.put(&d),
            DetailChange::Deleted(seqs) => {
                let gone: HashSet<DeviceSeq> = seqs.into_iter().collect();
                self.devices.remove(&gone);
                self.marked.retain(|s| !gone.contains(s));
            }
        }
        if let Some(p) = profile {
            self.profile = p;
        }
        self.rebuild();
        Some(())
    }

    /// The device under the cursor, decoded.
    pub fn current(&self) -> Option<Device> {
        self.view.get(self.cursor.row).and_then(|&i| self.devices.get(i as usize))
    }

    /// Re-applies the filter: every column (identifiers, attributes, status), case-insensitively. A filter
    /// that only grew (a key typed) looks at the devices it showed, not at all of them again.
    pub fn rebuild(&mut self) {
        let needle = Needle::new(&self.filter.text);
        if needle.is_empty() {
            self.view = (0..self.devices.len() as u32).collect();
            self.filtered = None;
            return;
        }
        let narrower = self
            .filtered
            .as_ref()
            .is_some_and(|(was, version)| *version == self.devices.version() && needle.text().contains(was.as_str()));
        self.view = self.devices.filter(narrower.then_some(&self.view[..]), &needle);
        self.filtered = Some((needle.text().to_string(), self.devices.version()));
    }
}

/// A change to the devices on the profile screen, as the command returned it.
pub enum DetailChange {
    /// Added or edited.
    Saved(Device),
    Deleted(Vec<DeviceSeq>),
}

/// The device columns: identifiers, the profile's custom attributes, status.
fn device_columns(d: &DetailState, width: u16) -> Vec<(String, Constraint)> {
    let mut cols = vec![
        ("IMEI".to_string(), Constraint::Length(15)),
        ("Serial".to_string(), Constraint::Length(14)),
        ("Manufacturer".to_string(), Constraint::Length(12)),
    ];
    // Identifiers, status and the spaces between columns; what is left goes to custom attributes.
    let fixed: u16 = 15 + 14 + 12 + 10 + 5;
    let room = width.saturating_sub(fixed);
    let total = d.profile.attributes.len();
    let fit = usize::from(room / 12).min(total);
    // Scrolled no further than the last columns that fit.
    let first = d.first_attr.min(total - fit);
    for a in d.profile.attributes.iter().skip(first).take(fit) {
        cols.push((owned(a), Constraint::Min(11)));
    }
    d.shown_attrs.set(fit);
    cols.push(("Status".to_string(), Constraint::Length(10)));
    cols
}

fn device_row(d: &DetailState, device: &Device, shown_attrs: usize) -> Vec<Cell<'static>> {
    let mut cells = vec![
        Cell::from(device.ids.imei.map(|i| i.to_string()).unwrap_or_default()),
        Cell::from(owned(device.ids.serial.as_deref().unwrap_or(""))),
        Cell::from(owned(device.ids.manufacturer.as_deref().unwrap_or(""))),
    ];
    let first = d.first_attr.min(d.profile.attributes.len() - shown_attrs);
    for a in d.profile.attributes.iter().skip(first).take(shown_attrs) {
        cells.push(Cell::from(owned(device.attribute(a).unwrap_or(""))));
    }
    cells.push(Cell::from(device.status.label()));
    cells
}

pub fn draw(cx: &DrawCtx, d: &DetailState, area: Rect, frame: &mut Frame) {
    let t = cx.theme;
    let p = &d.profile;
    let [head, filter, table] =
        Layout::vertical([Constraint::Length(HEAD_ROWS), Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let token = match &p.token {
        None => Span::styled("none (Assign custom attributes without token)", t.dim),
        Some(tok) if d.reveal => Span::styled(tok.value.clone(), t.warn),
        Some(tok) => Span::styled(tok.masked(), t.base),
    };
    let (expiry_line, expiry_style) = super::profiles::expiry(cx, p, false);
    let label = |s: &'static str| Span::styled(format!("{s:<13}"), t.dim);
    let lines = vec![
        Line::from(vec![label("Profile"), Span::styled(owned(&p.name), t.title)]),
        Line::from(vec![label("Description"), Span::raw(owned(p.description.as_deref().unwrap_or("")))]),
        Line::from(vec![
            label("Type"),
            Span::raw(format!("{:<30}", safe(&p.kind))),
            Span::styled("User ", t.dim),
            Span::raw(owned(p.user.as_deref().unwrap_or("none"))),
        ]),
        Line::from(vec![label("Token"), token]),
        Line::from(vec![
            label("Expiry"),
            Span::styled(format!("{expiry_line:<30}"), expiry_style),
            Span::styled("Devices ", t.dim),
            Span::raw(p.device_count.to_string()),
            Span::styled(
                if d.marked.is_empty() { String::new() } else { format!("   {} selected", d.marked.len()) },
                t.marked,
            ),
        ]),
    ];
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::BOTTOM).border_style(t.border)),
        head,
    );
    let mut line = filter_line(t, &d.filter, d.view.len(), d.devices.len());
    // Attribute columns that do not fit: which are shown, and how to reach the others.
    let cols = device_columns(d, table.width.saturating_sub(3));
    let (shown_attrs, total) = (cols.len() - 4, d.profile.attributes.len());
    if shown_attrs < total && !d.devices.is_empty() {
        let first = d.first_attr.min(total - shown_attrs);
        let key = |a| cx.key(Context::Detail, a);
        let shown = match shown_attrs {
            0 => format!("   {total} attributes hidden"),
            _ => format!("   attributes {}-{} of {total}", first + 1, first + shown_attrs),
        };
        line.push_span(Span::styled(shown, t.warn));
        line.push_span(Span::styled(
            format!(": {}/{}, {} in full", key(Action::ScrollLeft), key(Action::ScrollRight), key(Action::ShowDevice)),
            t.dim,
        ));
    }
    if d.loading.is_some() {
        line.push_span(Span::styled(
            format!("   reading the other {} devices…", p.device_count.saturating_sub(d.devices.len() as u64)),
            t.warn,
        ));
    }
    frame.render_widget(Paragraph::new(line), filter);
    if d.devices.is_empty() {
        let key = cx.key(Context::Detail, Action::AddDevices);
        frame.render_widget(
            Paragraph::new(format!("No device. Press {key} to add one.")).style(t.dim).alignment(Alignment::Center),
            table,
        );
        return;
    }
    let cols = device_columns(d, table.width.saturating_sub(3));
    let shown_attrs = cols.len() - 4;

    let mut widths = vec![Constraint::Length(2)];
    widths.extend(cols.iter().map(|(_, w)| *w));
    let mut header_cells = vec![Cell::from("")];
    header_cells.extend(cols.iter().map(|(n, _)| Cell::from(n.clone())));
    let header = Row::new(header_cells).style(t.header);
    let height = usize::from(table.height.saturating_sub(1));
    // Only the rows in view are built: the table stays as fast with 200,000 devices as with 20.
    let rows =
        d.view.iter().enumerate().skip(d.cursor.window(d.view.len(), height)).take(height).filter_map(|(i, &index)| {
            let device = d.devices.get(index as usize)?;
            let here = i == d.cursor.row;
            let marked = d.marked.contains(&device.seq);
            let marker =
                format!("{}{}", if here { CURSOR.trim_end() } else { " " }, if marked { MARK.trim_end() } else { " " });
            let mut cells = vec![Cell::from(marker)];
            cells.extend(device_row(d, &device, shown_attrs));
            let row = Row::new(cells);
            Some(if here {
                row.style(t.selected)
            } else if marked {
                row.style(t.marked)
            } else {
                row.style(t.base)
            })
        });
    frame.render_widget(Table::new(rows, widths).header(header).column_spacing(1), table);
}

/// Devices read before the profile screen's first frame when the rest come in the background: one stored
/// chunk, more than any terminal shows.
pub const FIRST_READ: usize = 1024;

/// Starts reading every device of a profile in the background (`None` without a background); its answer
/// carries the job's number. The read ends early when the job is stopped (its screen closed).
pub fn device_read(jobs: &mut Jobs, store: &Arc<dyn Store>, profile: ProfileId) -> Option<Job> {
    let store = store.clone();
    jobs.start("reading the devices", move |ctx| {
        let result = load_devices_until(store.as_ref(), profile, None, &ctx.stop).map_err(|e| e.to_string());
        TaskMsg::Devices { profile, load: ctx.id, result }
    })
}

/// A profile's devices in order, all of them or the first `limit`, held compactly as they are read.
pub fn load_devices(store: &dyn Store, id: ProfileId, limit: Option<usize>) -> Result<DeviceTable, StoreError> {
    load_devices_until(store, id, limit, &AtomicBool::new(false))
}

/// `load_devices`, ending early (with what was read) once `stop` is set.
fn load_devices_until(
    store: &dyn Store,
    id: ProfileId,
    limit: Option<usize>,
    stop: &AtomicBool,
) -> Result<DeviceTable, StoreError> {
    let limit = limit.unwrap_or(usize::MAX);
    let mut devices = DeviceTable::new();
    crate::store::each_device(store, id, &mut |d| {
        devices.push(&d);
        devices.len() < limit && !stop.load(Ordering::Relaxed)
    })?;
    Ok(devices)
}

impl DetailState {
    /// A profile's screen. With a background and a large profile, the first page is read now and the rest
    /// in the background, so that the screen appears at once whatever the profile's size.
    pub fn open(cx: &mut Ctx, profile: Profile) -> Result<DetailState, StoreError> {
        let background = cx.jobs.background() && profile.device_count > FIRST_READ as u64;
        let devices = load_devices(cx.store.as_ref(), profile.id, background.then_some(FIRST_READ))?;
        let job = if background { device_read(cx.jobs, cx.store, profile.id) } else { None };
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
            loading: job.as_ref().map(|j| j.id),
            filtered: None,
            reader: job.map(|j| j.stop),
        };
        d.rebuild();
        Ok(d)
    }

    /// One change made here, applied in place (the profile record, one key, read again); read whole when
    /// that cannot be done (a background read on the way).
    fn changed(&mut self, change: DetailChange, cx: &mut Ctx) -> Result<(), StoreError> {
        let profile = cx.store.profile_by_id(self.profile.id)?;
        if self.applied(change, profile).is_none() {
            return super::Unit::reload(self, cx);
        }
        let len = self.view.len();
        self.cursor.fit(len);
        Ok(())
    }

    fn delete_question(&self, seqs: Vec<DeviceSeq>) -> Effect {
        let profile = &self.profile;
        let n = seqs.len();
        // One device is named; several are counted.
        let what = match seqs.as_slice() {
            [seq] => self
                .devices
                .position(*seq)
                .ok()
                .and_then(|i| self.devices.get(i))
                .map_or_else(|| "1 device".into(), |d| d.label()),
            _ => format!("{n} devices"),
        };
        let text = format!("Delete {what} from {}? This cannot be undone.", profile.name);
        let purpose = ConfirmPurpose::DeleteDevices(profile.id, seqs);
        if n > LARGE_DELETE {
            // More than a thousand: the count is typed, not confirmed with a key.
            let field = FormField::text(FieldId::Typed, "Count", "", format!("type {n} to delete them"));
            let purpose = FormPurpose::TypedConfirm { purpose, expected: n.to_string() };
            return Effect::Form(Form::new(text, purpose, vec![field]));
        }
        Effect::Ask(text, purpose)
    }

    fn token_form(&self, action: Action, cx: &Ctx) -> Effect {
        let profile = &self.profile;
        let Some(token) = &profile.token else {
            return Effect::Status(Level::Error, NO_TOKEN.into());
        };
        let extend = action == Action::ExtendToken;
        // A refresh offers the lifetime the profile's token was issued with.
        let days =
            if extend { crate::domain::token::DEFAULT_DAYS } else { token.lifetime_or(cx.settings.token_days()) };
        let (title, purpose) = if extend {
            (format!("Extend the token of {}", profile.name), FormPurpose::ExtendToken(profile.id))
        } else {
            (
                format!("Refresh the token of {} (the old one stops working)", profile.name),
                FormPurpose::RefreshToken(profile.id),
            )
        };
        Effect::Form(Form::new(
            title,
            purpose,
            vec![FormField::text(FieldId::Days, "Days", &days.to_string(), "7 to 99").with_check(Check::Days)],
        ))
    }

    /// Add More Devices confirmed: the form stays open for the next device (a scanner types one after the
    /// other), the manufacturer and the attributes kept.
    fn submit_new_device(&mut self, form: &Form, cx: &mut Ctx) -> Result<Effect, String> {
        let profile = super::profiles::profile_by_id(cx, self.profile.id)?;
        let command = ops::devices::AddDevice {
            profile: profile.name.clone(),
            imei: form.value(FieldId::Imei),
            imei2: form.value(FieldId::Imei2),
            serial: form.value(FieldId::Serial),
            manufacturer: form.value(FieldId::Manufacturer),
            attributes: attribute_values(&profile, form),
        };
        let result = ops::devices::add(&cx.core(), command);
        let mut next = add_device_form(&profile, Some(form));
        match result {
            Ok(added) => {
                next.saved = form.saved + 1;
                next.note = Some(format!("added {}; scan or type the next one, Esc when done", added.label()));
                self.changed(DetailChange::Saved(added), cx).map_err(|e| e.to_string())?;
                Ok(Effect::Form(next))
            }
            // A refused identifier (a duplicate, a bad IMEI or serial) must not run into the next scan: the
            // identifiers are cleared and the reason names what was refused. A missing manufacturer or a
            // bad attribute keeps what was typed, to be completed.
            Err(err @ (ops::OpError::Refused(_) | ops::OpError::Invalid { field: "imei" | "serial", .. })) => {
                let refused = [form.value(FieldId::Imei), form.value(FieldId::Serial)].join(" ").trim().to_string();
                next.saved = form.saved;
                next.error = Some(format!("refused {refused}: {}", form_error(err)));
                Ok(Effect::Form(next))
            }
            Err(err) => Err(form_error(err)),
        }
    }

    fn submit_device_edit(&mut self, seq: DeviceSeq, form: &Form, cx: &mut Ctx) -> Result<Effect, String> {
        let profile = super::profiles::profile_by_id(cx, self.profile.id)?;
        let command = ops::devices::EditDevice {
            profile: profile.name.clone(),
            device: ops::devices::DeviceRef::Seq(seq),
            imei: Some(form.value(FieldId::Imei)),
            imei2: Some(form.value(FieldId::Imei2)),
            serial: Some(form.value(FieldId::Serial)),
            manufacturer: Some(form.value(FieldId::Manufacturer)),
            set: attribute_values(&profile, form),
            unset: Vec::new(),
            expect: form.expect_stamp,
        };
        let saved = match ops::devices::edit(&cx.core(), command) {
            Ok(saved) => saved,
            // Someone else saved it since the form opened: the form stays with what was typed, shows
            // what the device holds now, and takes that as read: Enter then saves over it knowingly.
            Err(ops::OpError::Conflict(m)) => {
                let current = cx.store.device(profile.id, seq).map_err(|e| e.to_string())?;
                let mut again = form.clone();
                again.error = Some(match current {
                    Some(d) => {
                        again.expect_stamp = Some(d.modified);
                        let m = m.split("; read it again").next().unwrap_or(&m);
                        format!("{m}. Now: {}. Enter saves what you typed over it; Esc keeps theirs", now_holds(&d))
                    }
                    None => format!("{m}: the device was deleted meanwhile"),
                });
                return Ok(Effect::Form(again));
            }
            Err(e) => return Err(form_error(e)),
        };
        let msg = format!("saved {}", saved.label());
        self.changed(DetailChange::Saved(saved), cx).map_err(|e| e.to_string())?;
        Ok(Effect::Status(Level::Info, msg))
    }

    /// The profile's own record changes, not its devices: that record is taken as saved, the devices stay.
    fn modify_config(&mut self, form: &Form, cx: &Ctx) -> Result<Effect, String> {
        use crate::domain::android::{AndroidConfig, KeyGroup, SYSTEM_EXTRAS};
        let mut config = AndroidConfig::default();
        config.set_lines(KeyGroup::Vendor, &form.value(FieldId::VendorKeys))?;
        for extra in SYSTEM_EXTRAS {
            let v = form.value(FieldId::Extra(extra.name));
            if !v.is_empty() && v != NOT_SET {
                config.set_system(extra.name, &v)?;
            }
        }
        config.set_lines(KeyGroup::Custom, &form.value(FieldId::CustomKeys))?;
        let command = ops::profiles::ModifyConfiguration {
            profile: super::profiles::profile_name(cx, self.profile.id)?,
            change: ops::profiles::ConfigChange::Replace(config),
            expect: form.expect_version,
        };
        self.profile = ops::profiles::modify_configuration(&cx.core(), command).map_err(form_error)?;
        Ok(Effect::Status(Level::Info, "configuration saved (the QR code uses it from now on)".into()))
    }

    fn set_attribute(&self, form: &Form, cx: &Ctx) -> Result<Effect, String> {
        let devices = targets(self).into_iter().map(ops::devices::DeviceRef::Seq).collect();
        let value = Some(form.value(FieldId::Value)).filter(|v| !v.is_empty());
        let name = form.value(FieldId::AttributeName);
        let command = ops::devices::SetAttribute {
            profile: super::profiles::profile_name(cx, self.profile.id)?,
            devices,
            name: name.clone(),
            value: value.clone(),
        };
        let n = ops::devices::set_attribute(&cx.core(), command).map_err(form_error)?;
        let name = cx.store.profile_by_id(self.profile.id).ok().flatten().map(|p| p.attribute_name(&name));
        let verb = if value.is_some() { "set" } else { "cleared" };
        Ok(Effect::Saved(format!("{verb} {} on {n} device{}", name.unwrap_or_default(), plural(n))))
    }

    /// Like `modify_config`: the profile's record only.
    fn token(&mut self, form: &Form, cx: &Ctx) -> Result<Effect, String> {
        let e = |e: ops::OpError| e.to_string();
        let days: u32 = form.value(FieldId::Days).parse().map_err(|_| "days must be a number from 7 to 99")?;
        crate::domain::token::check_days(days)?;
        let profile = super::profiles::profile_name(cx, self.profile.id)?;
        let core = cx.core();
        let p = if matches!(form.purpose, FormPurpose::RefreshToken(_)) {
            ops::tokens::refresh(&core, ops::tokens::RefreshToken { profile, days }).map_err(e)?
        } else {
            ops::tokens::extend(&core, ops::tokens::ExtendToken { profile, days }).map_err(e)?
        };
        let expires = p.token.as_ref().map(|t| t.expires.format("%Y-%m-%d %H:%M UTC").to_string());
        self.profile = p;
        Ok(Effect::Status(Level::Info, format!("token valid until {}", expires.unwrap_or_default())))
    }
}

/// The custom attributes typed in a device form, by name.
fn attribute_values(profile: &Profile, form: &Form) -> Vec<(String, String)> {
    profile.attributes.iter().map(|a| (a.clone(), form.value(FieldId::Attribute(a.clone())))).collect()
}

const NO_TOKEN: &str = "this profile has no token (Assign custom attributes without token)";

/// Deleting more devices than this at once asks for their count to be typed.
pub const LARGE_DELETE: usize = 1000;

impl super::Unit for DetailState {
    fn context(&self) -> Context {
        Context::Detail
    }

    fn action(&mut self, action: Action, cx: &mut Ctx) -> Effect {
        let profile = &self.profile;
        match action {
            // The list below is read again: its device counts may have changed.
            Action::Back => Effect::Pop(String::new()),
            Action::Filter => super::start_filter(&mut self.filter),
            Action::ToggleSelect => {
                if let Some(seq) = self.current().map(|x| x.seq) {
                    if !self.marked.remove(&seq) {
                        self.marked.insert(seq);
                    }
                    let len = self.view.len();
                    self.cursor.row = (self.cursor.row + 1).min(len.saturating_sub(1));
                    self.cursor.fit(len);
                }
                Effect::None
            }
            Action::SelectAll if self.loading.is_some() => {
                Effect::Status(Level::Info, "still reading the devices; select all when they are all shown".into())
            }
            Action::SelectAll => {
                let shown: Vec<DeviceSeq> = self.view.iter().filter_map(|&i| self.devices.seq(i as usize)).collect();
                if shown.iter().all(|s| self.marked.contains(s)) {
                    self.marked.clear();
                } else {
                    self.marked.extend(shown);
                }
                Effect::None
            }
            Action::ScrollLeft => {
                self.first_attr = self.first_attr.saturating_sub(1);
                Effect::None
            }
            Action::ScrollRight => {
                let total = profile.attributes.len();
                if self.first_attr + self.shown_attrs.get().min(total) < total {
                    self.first_attr += 1;
                }
                Effect::None
            }
            Action::ShowDevice => match self.current() {
                Some(device) => Effect::Dialog(Modal::Record {
                    title: format!("{} in {}", device.label(), profile.name),
                    lines: device_lines(profile, &device),
                    scroll: 0,
                }),
                None => Effect::Status(Level::Info, "no device to show".into()),
            },
            Action::RevealToken => {
                if profile.token.is_none() {
                    return Effect::Status(Level::Info, NO_TOKEN.into());
                }
                self.reveal = !self.reveal;
                Effect::None
            }
            Action::Delete => {
                let seqs = targets(self);
                if seqs.is_empty() {
                    return Effect::Status(Level::Info, "no device to delete".into());
                }
                self.delete_question(seqs)
            }
            Action::RefreshToken | Action::ExtendToken => self.token_form(action, cx),
            Action::Qr => match cx.settings.android.complete(cx.settings_source) {
                Ok(admin) => {
                    let payload = crate::qr::payload_text(&admin, profile);
                    match super::qr::QrState::new(&profile.name, &payload, cx.graphics) {
                        Ok(q) => Effect::Push(Screen::Qr(Box::new(q))),
                        Err(e) => Effect::Status(Level::Error, e),
                    }
                }
                Err(e) => Effect::Status(Level::Error, e),
            },
            Action::AddDevices => Effect::Form(add_device_form(profile, None)),
            Action::ScanStation => Effect::Form(super::scan::station_form(&profile.name, &cx.settings.scan)),
            Action::EditDevice => {
                let seqs = targets(self);
                match seqs.as_slice() {
                    [] => Effect::Status(Level::Info, "no device to edit".into()),
                    [seq] => match cx.store.device(profile.id, *seq) {
                        Ok(Some(device)) => Effect::Form(edit_device_form(profile, &device)),
                        Ok(None) => {
                            Effect::Status(Level::Error, "the device was deleted; press Ctrl-r to read again".into())
                        }
                        Err(e) => Effect::Status(Level::Error, e.to_string()),
                    },
                    _ => Effect::Form(Form::new(
                        format!("Set a custom attribute on {} devices", seqs.len()),
                        FormPurpose::SetAttribute(profile.id),
                        vec![
                            attribute_picker(profile),
                            FormField::text(FieldId::Value, "Value", "", "empty clears it"),
                        ],
                    )),
                }
            }
            Action::ModifyConfig => Effect::Form(config_form(profile)),
            Action::Export => Effect::Form(export_form(profile, cx.now)),
            _ => Effect::None,
        }
    }

    fn submit(&mut self, form: &Form, cx: &mut Ctx) -> Result<Effect, String> {
        match &form.purpose {
            FormPurpose::AddDevice(_) => self.submit_new_device(form, cx),
            FormPurpose::EditDevice(_, seq) => self.submit_device_edit(*seq, form, cx),
            FormPurpose::ModifyConfig(_) => self.modify_config(form, cx),
            FormPurpose::SetAttribute(_) => self.set_attribute(form, cx),
            FormPurpose::RefreshToken(_) | FormPurpose::ExtendToken(_) => self.token(form, cx),
            FormPurpose::Export(id) => super::profiles::start_export(cx, *id, form),
            FormPurpose::ScanStation(profile) => {
                let station = super::scan::station_of(form, profile)?;
                ops::require_profile(cx.store.as_ref(), &station.profile).map_err(|e| e.to_string())?;
                Ok(Effect::Push(Screen::Scan(Box::new(super::scan::ScanState::new(station, cx.settings.scan.bell)))))
            }
            _ => Err("not a form of the profile screen".into()),
        }
    }

    fn confirmed(&mut self, purpose: ConfirmPurpose, cx: &mut Ctx) -> Result<Effect, String> {
        let ConfirmPurpose::DeleteDevices(_, seqs) = purpose else { return Err("not a device question".into()) };
        let profile = super::profiles::profile_name(cx, self.profile.id)?;
        let devices = seqs.iter().map(|s| ops::devices::DeviceRef::Seq(*s)).collect();
        let n = ops::devices::delete(&cx.core(), ops::devices::DeleteDevices { profile, devices })
            .map_err(|e| e.to_string())?;
        self.changed(DetailChange::Deleted(seqs), cx).map_err(|e| e.to_string())?;
        Ok(Effect::Status(Level::Info, format!("deleted {n} device{}", plural(n))))
    }

    /// Add More Devices: a scanner that ends a scan with Tab, on a complete IMEI with no serial typed, adds
    /// the device (the next scan would otherwise land in the serial field). Down still moves.
    fn submits_on(&self, form: &Form, key: &KeyEvent) -> bool {
        key.code == KeyCode::Tab
            && matches!(form.purpose, FormPurpose::AddDevice(_))
            && *form.focused() == FieldId::Imei
            && form.value(FieldId::Serial).is_empty()
            && crate::domain::Imei::parse(&form.value(FieldId::Imei)).is_ok()
    }

    /// A device form says whether the identifiers make a device and whether it exists already.
    fn form_changed(&mut self, form: &mut Form, cx: &Ctx) {
        let exclude = match form.purpose {
            FormPurpose::AddDevice(_) => None,
            FormPurpose::EditDevice(id, seq) => Some((id, seq)),
            _ => return,
        };
        form.note = device_note(cx.store.as_ref(), form, exclude);
    }

    /// A change to some of this profile's devices reads just those (and the profile's record); an import
    /// or a change to the profile reads it again; another profile's change is not this screen's.
    fn on_change(&mut self, subject: &Subject, cx: &mut Ctx) -> Result<(), StoreError> {
        let id = self.profile.id;
        match subject {
            Subject::Devices(pid, seqs) if *pid == id && seqs.len() <= FIRST_READ && self.loading.is_none() => {
                let mut gone = HashSet::new();
                for &seq in seqs {
                    match cx.store.device(id, seq)? {
                        Some(d) => self.devices.put(&d),
                        None => {
                            gone.insert(seq);
                        }
                    }
                }
                if !gone.is_empty() {
                    self.devices.remove(&gone);
                    self.marked.retain(|s| !gone.contains(s));
                }
                self.profile = cx
                    .store
                    .profile_by_id(id)?
                    .ok_or_else(|| StoreError::NotFound(format!("profile {} was deleted", self.profile.name)))?;
                self.rebuild();
                Ok(())
            }
            Subject::Devices(pid, _) | Subject::Profile(pid) if *pid == id => super::Unit::reload(self, cx),
            // Created or deleted profiles: this one may be among them.
            Subject::Profiles => match cx.store.profile_by_id(id)? {
                Some(_) => Ok(()),
                None => Err(StoreError::NotFound(format!("profile {} was deleted", self.profile.name))),
            },
            _ => Ok(()),
        }
    }

    fn reload(&mut self, cx: &mut Ctx) -> Result<(), StoreError> {
        let Some(profile) = cx.store.profile_by_id(self.profile.id)? else {
            return Err(StoreError::NotFound(format!("profile {} was deleted", self.profile.name)));
        };
        if cx.jobs.background() && profile.device_count > FIRST_READ as u64 {
            // A large profile is read again in the background: its devices stay on screen meanwhile (the
            // answer replaces them), and the workstation answers keys.
            self.profile = profile;
            if let Some(old) = self.loading {
                cx.jobs.stop(old);
            }
            let job = device_read(cx.jobs, cx.store, self.profile.id);
            self.loading = job.as_ref().map(|j| j.id);
            self.reader = job.map(|j| j.stop);
            return Ok(());
        }
        self.devices = load_devices(cx.store.as_ref(), profile.id, None)?;
        // This read is complete: an answer from a background read still on the way is stale.
        self.loading = None;
        self.profile = profile;
        let devices = &self.devices;
        self.marked.retain(|&s| devices.position(s).is_ok());
        self.rebuild();
        Ok(())
    }

    table_of!(view, filtered);

    fn draw(&self, cx: &DrawCtx, area: Rect, frame: &mut Frame) {
        draw(cx, self, area, frame)
    }
}

/// What a device holds, as a conflict shows it: its identifiers and attributes that are set.
fn now_holds(d: &crate::domain::Device) -> String {
    let ids = &d.ids;
    let mut parts: Vec<String> = Vec::new();
    if let Some(imei) = &ids.imei {
        parts.push(format!("IMEI {imei}"));
    }
    if let Some(imei2) = &ids.imei2 {
        parts.push(format!("IMEI 2 {imei2}"));
    }
    if let Some(serial) = &ids.serial {
        parts.push(format!("serial {serial}"));
    }
    if let Some(m) = &ids.manufacturer {
        parts.push(format!("manufacturer {m}"));
    }
    parts.extend(d.attributes.iter().map(|(n, v)| format!("{n} {v}")));
    crate::domain::text::sanitize(&parts.join(", ")).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::NewProfile;
    use crate::domain::audit::{Actor, FrontEnd};
    use crate::ops;
    use chrono::Utc;

    #[test]
    fn a_stopped_device_read_ends_at_once_with_what_it_read() {
        let store = crate::store::MemoryStore::new();
        let ctx = ops::Ctx::new(&store, Actor::named("t", FrontEnd::Workstation), Utc::now());
        let new = NewProfile { name: "P".into(), description: None, without_token: true, user: None, token_days: None };
        let p =
            ops::profiles::create(&ctx, ops::profiles::CreateProfile { profile: new, default_token_days: 7 }).unwrap();
        for i in 0..5 {
            let device = ops::devices::AddDevice {
                profile: "P".into(),
                imei: String::new(),
                imei2: String::new(),
                serial: format!("SN{i}"),
                manufacturer: "Acme".into(),
                attributes: Vec::new(),
            };
            ops::devices::add(&ctx, device).unwrap();
        }
        let stop = AtomicBool::new(false);
        assert_eq!(load_devices_until(&store, p.id, None, &stop).unwrap().len(), 5);
        stop.store(true, Ordering::Relaxed);
        assert_eq!(load_devices_until(&store, p.id, None, &stop).unwrap().len(), 1, "the read ends after one device");
    }
}
