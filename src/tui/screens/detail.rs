//! A profile's screen: its header (token masked until revealed, expiry, device count) over the device
//! table. The devices are a `DeviceTable`; one change is applied in place (`applied`), never by reading
//! the profile again; only the rows in view are drawn. (Its actions and forms are still `App`'s.)

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

use super::DrawCtx;
use crate::domain::{Device, DeviceSeq, Profile, ProfileId};
use crate::store::{Store, StoreError};
use crate::tui::action::Action;
use crate::tui::device_table::{DeviceTable, Needle};
use crate::tui::jobs::{Job, Jobs, TaskMsg};
use crate::tui::keymap::Context;
use crate::tui::theme::{CURSOR, MARK};
use crate::tui::widgets::table::{Cursor, Filter, filter_line};
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
