//! The Catalog tab: organizations, templates and device tags in one table. Add, rename (records follow),
//! change a description; delete after asking, refused before asking while a user or a record uses it.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::widgets::{Paragraph, Row, Table};

use super::Level;
use super::{Ctx, DrawCtx, Effect};
use crate::domain::dep::{self as rules, CatalogEntry, CatalogKind};
use crate::ops;
use crate::store::{Store, StoreError, Subject};
use crate::tui::action::Action;
use crate::tui::form::{ConfirmPurpose, FieldId, FormPurpose};
use crate::tui::form::{Form, FormField};
use crate::tui::keymap::Context;
use crate::tui::theme::{CURSOR, Theme};
use crate::tui::widgets::table::Cursor;
use crate::tui::widgets::text::owned;
use crate::tui::widgets::text::plural;

const KINDS: &[&str] = &["organization", "template", "device tag"];

/// The Catalog tab: organizations, templates and device tags in one table.
#[derive(Debug, Default)]
pub struct CatalogState {
    pub rows: Vec<(CatalogKind, CatalogEntry)>,
    pub cursor: Cursor,
}

impl CatalogState {
    pub fn selected(&self) -> Option<&(CatalogKind, CatalogEntry)> {
        self.rows.get(self.cursor.row)
    }

    pub fn reload(&mut self, store: &dyn Store) -> Result<(), StoreError> {
        let selected = self.selected().map(|(k, e)| (*k, e.name.clone()));
        self.rows.clear();
        for kind in CatalogKind::ALL {
            self.rows.extend(store.catalog(kind)?.into_iter().map(|e| (kind, e)));
        }
        if let Some(row) = selected.and_then(|(k, n)| self.rows.iter().position(|(rk, e)| *rk == k && e.name == n)) {
            self.cursor.row = row;
        }
        Ok(())
    }
}

impl CatalogState {
    fn act(&self, action: Action, store: &dyn Store) -> Effect {
        let selected = self.selected().cloned();
        match action {
            Action::Back => Effect::Back,
            Action::AddEntry => Effect::Form(Form::new(
                "Add to the catalog",
                FormPurpose::AddEntry,
                vec![
                    FormField::choice(FieldId::Kind, "Kind", KINDS, "", "Space or Left/Right changes it"),
                    FormField::text(FieldId::Name, "Name", "", "1 to 64 characters, no |"),
                    FormField::text(FieldId::Description, "Description", "", "optional"),
                ],
            )),
            Action::EditEntry => match selected {
                Some((kind, e)) => Effect::Form(Form::new(
                    format!("Edit {} {}", kind.title(), e.name),
                    FormPurpose::EditEntry(kind, e.name.clone()),
                    vec![
                        FormField::text(
                            FieldId::Name,
                            "Name",
                            &e.name,
                            "a new name is carried to every record that uses it",
                        ),
                        FormField::text(
                            FieldId::Description,
                            "Description",
                            e.description.as_deref().unwrap_or(""),
                            "optional",
                        ),
                    ],
                )),
                None => Effect::None,
            },
            // Refused before it is asked: a question is never answered only to be refused.
            Action::Delete => match selected {
                Some((kind, e)) => match ops::catalog::delete_refusal(store, kind, &e.name).unwrap_or(None) {
                    Some(why) => Effect::Status(Level::Error, format!("cannot delete: {why}")),
                    None => Effect::Ask(
                        format!("Delete {} {}?", kind.title(), e.name),
                        ConfirmPurpose::DeleteEntry(kind, e.name),
                    ),
                },
                None => Effect::None,
            },
            _ => Effect::None,
        }
    }
}

/// Saves the Add form; the status line's message.
fn add(core: &ops::Ctx, form: &Form) -> Result<String, String> {
    let kind = CatalogKind::ALL[KINDS.iter().position(|k| *k == form.value(FieldId::Kind)).unwrap_or(0)];
    let name = rules::check_catalog_name(kind, &form.value(FieldId::Name))?;
    let description = Some(form.value(FieldId::Description));
    let command = ops::catalog::CatalogAdd { kind, name: name.clone(), description };
    ops::catalog::add(core, command).map_err(|e| e.to_string())?;
    Ok(format!("added {} {name}", kind.title()))
}

/// Saves the Edit form: a rename is carried to every record that uses the entry.
fn edit(core: &ops::Ctx, kind: CatalogKind, old: &str, form: &Form) -> Result<String, String> {
    let name = rules::check_catalog_name(kind, &form.value(FieldId::Name))?;
    let description = Some(form.value(FieldId::Description));
    let command = ops::catalog::CatalogEdit { kind, name: old.to_string(), rename: Some(name.clone()), description };
    let n = ops::catalog::edit(core, command).map_err(|e| e.to_string())?;
    Ok(if name == old {
        format!("saved {} {name}", kind.title())
    } else {
        format!(
            "renamed {} {old} to {name}; {n} record{} follow{}",
            kind.title(),
            plural(n),
            if n == 1 { "s" } else { "" }
        )
    })
}

/// `add` names the key that adds an entry (for the empty catalog's message).
pub fn draw(t: &Theme, c: &CatalogState, add: &str, area: Rect, frame: &mut Frame) {
    if c.rows.is_empty() {
        frame.render_widget(
            Paragraph::new(format!(
                "The catalog is empty. Press {add} to add an organization, a template or a device tag."
            ))
            .style(t.dim)
            .alignment(Alignment::Center),
            area,
        );
        return;
    }
    let header = Row::new(["Kind", "Name", "Description"]).style(t.header);
    let height = usize::from(area.height.saturating_sub(1));
    let rows =
        c.rows.iter().enumerate().skip(c.cursor.window(c.rows.len(), height)).take(height).map(|(i, (kind, e))| {
            let here = i == c.cursor.row;
            let row = Row::new([
                format!("{}{}", if here { CURSOR } else { "  " }, kind.title()),
                owned(&e.name),
                owned(e.description.as_deref().unwrap_or("")),
            ]);
            if here { row.style(t.selected) } else { row.style(t.base) }
        });
    let widths = [Constraint::Length(16), Constraint::Length(28), Constraint::Min(20)];
    frame.render_widget(Table::new(rows, widths).header(header).column_spacing(1), area);
}

impl super::Unit for CatalogState {
    fn context(&self) -> Context {
        Context::Catalog
    }

    fn action(&mut self, action: Action, cx: &mut Ctx) -> Effect {
        self.act(action, cx.store.as_ref())
    }

    fn submit(&mut self, form: &Form, cx: &mut Ctx) -> Result<Effect, String> {
        let core = cx.core();
        match &form.purpose {
            FormPurpose::AddEntry => add(&core, form),
            FormPurpose::EditEntry(kind, old) => edit(&core, *kind, old, form),
            _ => Err("not a catalog form".into()),
        }
        .map(Effect::Saved)
    }

    fn confirmed(&mut self, purpose: ConfirmPurpose, cx: &mut Ctx) -> Result<Effect, String> {
        let ConfirmPurpose::DeleteEntry(kind, name) = purpose else { return Err("not a catalog question".into()) };
        let command = ops::catalog::CatalogDelete { kind, name: name.clone() };
        ops::catalog::delete(&cx.core(), command).map_err(|e| e.to_string())?;
        Ok(Effect::Saved(format!("deleted {} {name}", kind.title())))
    }

    fn on_change(&mut self, subject: &Subject, cx: &mut Ctx) -> Result<(), StoreError> {
        match subject {
            Subject::Catalog => CatalogState::reload(self, cx.store.as_ref()),
            _ => Ok(()),
        }
    }

    fn reload(&mut self, cx: &mut Ctx) -> Result<(), StoreError> {
        CatalogState::reload(self, cx.store.as_ref())
    }

    table_of!(rows);

    fn draw(&self, cx: &DrawCtx, area: Rect, frame: &mut Frame) {
        draw(cx.theme, self, &cx.key(Context::Catalog, Action::AddEntry), area, frame)
    }
}
