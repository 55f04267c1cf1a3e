//! The DEP devices tab: every device record, filtered; the first page at once, the rest read in the
//! background. (Its actions and the record form are still `tui/dep.rs`'s.)

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::dep_record::DepDetailState;
use super::dep_record::{enrollment, state_style};
use super::detail::FIRST_READ;
use super::{Ctx, DrawCtx, Effect, Level, Screen};
use crate::domain::dep::DepDevice;
use crate::store::{Store, StoreError, Subject};
use crate::tui::action::Action;
use crate::tui::files::{CSV_FILE, import_path};
use crate::tui::form::{ConfirmPurpose, FieldId, Form, FormField, FormPurpose};
use crate::tui::jobs::TaskMsg;
use crate::tui::keymap::Context;
use crate::tui::modals::wizard::WizardJob;
use crate::tui::theme::CURSOR;
use crate::tui::widgets::table::{Cursor, Filter, contains_lower, filter_line};
use crate::tui::widgets::text::plural;
use crate::tui::widgets::text::{owned, safe};

/// The DEP devices tab: every device record, filtered.
#[derive(Debug, Default)]
pub struct DepListState {
    pub all: Vec<DepDevice>,
    /// Indices into `all`, filtered.
    pub view: Vec<usize>,
    pub cursor: Cursor,
    pub filter: Filter,
    /// The record to put the cursor on at the next read (one just added).
    pub(crate) want: Option<String>,
    /// While the rest of the records are read in the background: which read (only its answer counts).
    pub loading: Option<u64>,
}

impl DepListState {
    pub fn selected(&self) -> Option<&DepDevice> {
        self.view.get(self.cursor.row).map(|&i| &self.all[i])
    }

    /// Reads every record; or, with `first_page`, only that many, and says whether more are left to read
    /// in the background (the first frame does not wait for 200,000 records).
    pub fn read(&mut self, store: &dyn Store, first_page: Option<usize>) -> Result<bool, StoreError> {
        let records = match first_page {
            Some(n) => store.dep_devices_page(None, n)?,
            None => store.dep_devices()?,
        };
        let more = first_page.is_some_and(|n| records.len() >= n);
        self.show(records);
        Ok(more)
    }

    /// Shows these records, the cursor kept on the record it was on (or the one just added).
    pub fn show(&mut self, records: Vec<DepDevice>) {
        let selected = self.want.take().or_else(|| self.selected().map(|d| d.identifier.clone()));
        self.all = records;
        self.loading = None;
        self.rebuild();
        if let Some(key) = selected {
            self.select(&key);
        }
    }

    /// Puts the cursor on the record with that identifier, if it is shown.
    pub fn select(&mut self, identifier: &str) {
        let key = DepDevice::key(identifier);
        if let Some(row) = self.view.iter().position(|&i| DepDevice::key(&self.all[i].identifier) == key) {
            self.cursor.row = row;
        }
    }

    /// Re-applies the filter: identifier, names, user, identifiers, template, tags, state; case-insensitively.
    pub fn rebuild(&mut self) {
        let needle = self.filter.text.to_lowercase();
        self.view = (0..self.all.len())
            .filter(|&i| {
                let d = &self.all[i];
                let has = |v: &str| contains_lower(v, &needle);
                let o = |v: &Option<String>| v.as_deref().is_some_and(has);
                needle.is_empty()
                    || has(&d.identifier)
                    || o(&d.display_name)
                    || o(&d.description)
                    || o(&d.user)
                    || o(&d.serial)
                    || o(&d.imei)
                    || o(&d.template)
                    || d.tags.iter().any(|t| has(t))
                    || has(d.state.label())
                    || has(d.os.as_str())
            })
            .collect();
    }
}

pub fn draw(cx: &DrawCtx, l: &DepListState, area: Rect, frame: &mut Frame) {
    let t = cx.theme;
    let [filter, table] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let mut line = filter_line(t, &l.filter, l.view.len(), l.all.len());
    if l.loading.is_some() {
        line.push_span(Span::styled("   reading the other records…", t.warn));
    }
    frame.render_widget(Paragraph::new(line), filter);
    if l.all.is_empty() {
        let (add, import) = (cx.key(Context::Dep, Action::AddRecord), cx.key(Context::Dep, Action::Import));
        frame.render_widget(
            Paragraph::new(format!("No device record yet. Press {add} to add one, or {import} to import a CSV file."))
                .style(t.dim)
                .alignment(Alignment::Center),
            table,
        );
        return;
    }
    let wide = area.width >= 120;
    let mut columns: Vec<(&str, Constraint)> = vec![
        ("Identifier", Constraint::Length(22)),
        ("Display name", Constraint::Min(10)),
        ("User", Constraint::Length(14)),
        ("OS", Constraint::Length(7)),
        ("DEP", Constraint::Length(8)),
    ];
    if wide {
        columns.push(("Serial", Constraint::Length(16)));
        columns.push(("Code expires", Constraint::Length(12)));
    }
    columns.push(("State", Constraint::Length(10)));
    let header = Row::new(columns.iter().map(|(n, _)| Cell::from(*n))).style(t.header);
    let height = usize::from(table.height.saturating_sub(1));
    let rows = l.view.iter().enumerate().skip(l.cursor.window(l.view.len(), height)).take(height).map(|(i, &index)| {
        let d = &l.all[index];
        let here = i == l.cursor.row;
        let mut cells = vec![
            Cell::from(format!("{}{}", if here { CURSOR } else { "  " }, safe(&d.identifier))),
            Cell::from(owned(d.display_name.as_deref().unwrap_or(""))),
            Cell::from(owned(d.user.as_deref().unwrap_or(""))),
            Cell::from(d.os.as_str()),
            Cell::from(enrollment(d)),
        ];
        if wide {
            cells.push(Cell::from(owned(d.serial.as_deref().unwrap_or(""))));
            cells.push(Cell::from(d.expires.format("%Y-%m-%d").to_string()));
        }
        let style = if here { Style::default() } else { state_style(t, &d.state) };
        cells.push(Cell::from(Span::styled(d.state.label(), style)));
        let row = Row::new(cells);
        if here { row.style(t.selected) } else { row.style(t.base) }
    });
    let widths: Vec<Constraint> = columns.iter().map(|(_, w)| *w).collect();
    frame.render_widget(Table::new(rows, widths).header(header).column_spacing(1), table);
}

impl super::Unit for DepListState {
    fn context(&self) -> Context {
        Context::Dep
    }

    fn action(&mut self, action: Action, cx: &mut Ctx) -> Effect {
        let selected = self.selected().cloned();
        match action {
            Action::Back => Effect::Back,
            Action::Filter => super::start_filter(&mut self.filter),
            Action::Open => selected
                .map_or(Effect::None, |device| Effect::Push(Screen::DepDevice(Box::new(DepDetailState { device })))),
            Action::AddRecord => Effect::Form(super::dep_record::record_form(cx.store.as_ref(), None)),
            Action::Import => Effect::Form(Form::new(
                "Import DEP device information",
                FormPurpose::DepImport,
                vec![FormField::path(FieldId::CsvFile, CSV_FILE, "", "Tab completes; Ctrl-t writes the template here")],
            )),
            Action::Export => {
                let path = format!("dep-devices-{}.csv", cx.now.format("%Y%m%d"));
                Effect::Form(Form::new(
                    "Export the users and devices (the import's format)",
                    FormPurpose::DepExport,
                    vec![FormField::path(FieldId::File, "File", &path, "Tab completes the path")],
                ))
            }
            _ => {
                selected.map_or(Effect::None, |d| super::dep_record::record_action(action, d, true, cx.store.as_ref()))
            }
        }
    }

    fn submit(&mut self, form: &Form, cx: &mut Ctx) -> Result<Effect, String> {
        match &form.purpose {
            FormPurpose::AddRecord | FormPurpose::EditRecord(_) => {
                match super::dep_record::save(&cx.core(), cx.store.as_ref(), form)? {
                    super::dep_record::Saved::Done(msg, identifier) => {
                        // The list is read again after the save; the cursor goes to this record then.
                        self.want = Some(identifier);
                        Ok(Effect::Saved(msg))
                    }
                    super::dep_record::Saved::Conflict(form) => Ok(Effect::Form(*form)),
                }
            }
            FormPurpose::DepImport => Ok(Effect::Wizard(WizardJob::Dep, import_path(form, crate::csv::dep::TEMPLATE)?)),
            FormPurpose::DepExport => {
                let path = std::path::PathBuf::from(form.value(FieldId::File));
                if path.as_os_str().is_empty() {
                    return Err("type the file to write".into());
                }
                let file = match super::create_for(form, &path)? {
                    Ok(file) => file,
                    Err(ask) => return Ok(ask),
                };
                let n = crate::csv::dep::export(cx.store.as_ref(), std::io::BufWriter::new(file))?;
                let name = crate::files::name(&path);
                Ok(Effect::Status(Level::Info, format!("wrote {n} row{} to {name}", plural(n))))
            }
            _ => Err("not a DEP form".into()),
        }
    }

    fn confirmed(&mut self, purpose: ConfirmPurpose, cx: &mut Ctx) -> Result<Effect, String> {
        super::dep_record::record_confirmed(purpose, cx)
    }

    fn form_changed(&mut self, form: &mut Form, _cx: &Ctx) {
        super::dep_record::record_form_changed(form);
    }

    fn on_change(&mut self, subject: &Subject, cx: &mut Ctx) -> Result<(), StoreError> {
        if super::dep_record::concerns_records(subject) { super::Unit::reload(self, cx) } else { Ok(()) }
    }

    /// The first page at once when a background can read the rest (the first frame does not wait for
    /// 200,000 records).
    fn reload(&mut self, cx: &mut Ctx) -> Result<(), StoreError> {
        let background = cx.jobs.background();
        if self.read(cx.store.as_ref(), background.then_some(FIRST_READ))? {
            let store = cx.store.clone();
            self.loading = cx
                .jobs
                .start("reading the DEP records", move |ctx| TaskMsg::DepRecords {
                    load: ctx.id,
                    result: store.dep_devices().map_err(|e| e.to_string()),
                })
                .map(|job| job.id);
        }
        Ok(())
    }

    table_of!(view, filtered);

    fn draw(&self, cx: &DrawCtx, area: Rect, frame: &mut Frame) {
        draw(cx, self, area, frame)
    }
}
