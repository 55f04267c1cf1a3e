//! The Users tab: every user, newest changes read from the store; add and edit in a form (organizations
//! picked from the catalog), delete after asking (refused before asking while a profile or a DEP record
//! names the user).

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::widgets::{Paragraph, Row, Table};

use super::{Ctx, DrawCtx, Effect};
use crate::domain::User;
use crate::domain::dep::CatalogKind;
use crate::ops::{self, OpError};
use crate::store::{Store, StoreError, Subject};
use crate::tui::action::Action;
use crate::tui::form::{ConfirmPurpose, FieldId, FormPurpose, split_names};
use crate::tui::form::{Form, FormField, catalog_options};
use crate::tui::keymap::Context;
use crate::tui::theme::{CURSOR, Theme};
use crate::tui::widgets::table::Cursor;
use crate::tui::widgets::text::{owned, safe};

const ORGANIZATIONS: &str = "Organizations";

#[derive(Debug, Default)]
pub struct UsersState {
    pub users: Vec<User>,
    pub cursor: Cursor,
}

impl UsersState {
    pub fn reload(&mut self, store: &dyn Store) -> Result<(), StoreError> {
        self.users = store.users()?;
        Ok(())
    }

    pub fn selected(&self) -> Option<&User> {
        self.users.get(self.cursor.row)
    }

    fn act(&mut self, action: Action, store: &dyn Store) -> Effect {
        let selected = self.selected().cloned();
        match action {
            Action::Back => Effect::Back,
            Action::AddUser => {
                let mut fields =
                    vec![FormField::text(FieldId::Username, "Username", "", "unique (case does not count)")];
                fields.extend(fields_of(&User::default(), store));
                Effect::Form(Form::new("Add user", FormPurpose::AddUser, fields))
            }
            Action::EditUser => match selected {
                Some(u) => Effect::Form(Form::new(
                    format!("Edit user {}", u.username),
                    FormPurpose::EditUser(u.username.clone()),
                    fields_of(&u, store),
                )),
                None => Effect::None,
            },
            Action::Delete => match selected {
                // Refused before it is asked: a question is never answered only to be refused.
                Some(u) => match ops::users::delete_refusal(store, &u.username).unwrap_or(None) {
                    Some(why) => Effect::Status(super::Level::Error, format!("cannot delete: {why}")),
                    None => Effect::Ask(format!("Delete user {}?", u.username), ConfirmPurpose::DeleteUser(u.username)),
                },
                None => Effect::None,
            },
            _ => Effect::None,
        }
    }
}

/// The form's fields for a user (the username is typed only when adding).
fn fields_of(u: &User, store: &dyn Store) -> Vec<FormField> {
    let organizations = catalog_options(store, CatalogKind::Organization);
    vec![
        FormField::text(FieldId::Name, "Name", &u.name, ""),
        FormField::text(FieldId::Email, "Email", &u.email, ""),
        FormField::text(FieldId::Description, "Description", &u.description, "optional"),
        FormField::several(
            FieldId::Organizations,
            ORGANIZATIONS,
            &u.organizations,
            organizations,
            "Space picks, from the Catalog tab",
        ),
    ]
}

fn read_fields(u: &mut User, form: &Form) {
    u.name = form.value(FieldId::Name);
    u.email = form.value(FieldId::Email);
    u.description = form.value(FieldId::Description);
    u.organizations = split_names(&form.value(FieldId::Organizations));
}

/// Saves the Add user form; the status line's message.
fn add(core: &ops::Ctx, form: &Form) -> Result<String, OpError> {
    let mut user = User { username: form.value(FieldId::Username), ..User::default() };
    read_fields(&mut user, form);
    ops::users::add(core, ops::users::AddUser { user })?;
    Ok("user added".into())
}

/// Saves the Edit user form.
fn edit(core: &ops::Ctx, username: &str, form: &Form) -> Result<String, OpError> {
    let mut u = User::default();
    read_fields(&mut u, form);
    let command = ops::users::EditUser {
        username: username.to_string(),
        name: Some(u.name),
        email: Some(u.email),
        description: Some(u.description),
        organizations: Some(u.organizations),
    };
    ops::users::edit(core, command)?;
    Ok("user saved".into())
}

pub fn draw(t: &Theme, u: &UsersState, area: Rect, frame: &mut Frame) {
    if u.users.is_empty() {
        frame.render_widget(
            Paragraph::new("No user yet. Press n to add one.").style(t.dim).alignment(Alignment::Center),
            area,
        );
        return;
    }
    let wide = area.width >= 120;
    let mut titles = vec!["Username", "Name", "Email", "Organizations"];
    let mut widths = vec![Constraint::Length(20), Constraint::Length(20), Constraint::Length(24), Constraint::Min(12)];
    if wide {
        titles.push("Description");
        widths.push(Constraint::Min(20));
    }
    let header = Row::new(titles).style(t.header);
    let height = usize::from(area.height.saturating_sub(1));
    let rows = u.users.iter().enumerate().skip(u.cursor.window(u.users.len(), height)).take(height).map(|(i, user)| {
        let here = i == u.cursor.row;
        let mut cells = vec![
            format!("{}{}", if here { CURSOR } else { "  " }, safe(&user.username)),
            owned(&user.name),
            owned(&user.email),
            owned(&user.organizations.join("|")),
        ];
        if wide {
            cells.push(owned(&user.description));
        }
        let row = Row::new(cells);
        if here { row.style(t.selected) } else { row.style(t.base) }
    });
    frame.render_widget(Table::new(rows, widths).header(header), area);
}

impl super::Unit for UsersState {
    fn context(&self) -> Context {
        Context::Users
    }

    fn action(&mut self, action: Action, cx: &mut Ctx) -> Effect {
        self.act(action, cx.store.as_ref())
    }

    fn submit(&mut self, form: &Form, cx: &mut Ctx) -> Result<Effect, String> {
        let core = cx.core();
        let msg = match &form.purpose {
            FormPurpose::AddUser => add(&core, form),
            FormPurpose::EditUser(username) => edit(&core, username, form),
            _ => return Err("not a user form".into()),
        };
        msg.map(Effect::Saved).map_err(super::form_error)
    }

    fn confirmed(&mut self, purpose: ConfirmPurpose, cx: &mut Ctx) -> Result<Effect, String> {
        let ConfirmPurpose::DeleteUser(name) = purpose else { return Err("not a user question".into()) };
        ops::users::delete(&cx.core(), ops::users::DeleteUser { username: name.clone() }).map_err(|e| e.to_string())?;
        Ok(Effect::Saved(format!("deleted user {name}")))
    }

    /// A DEP import writes users too.
    fn on_change(&mut self, subject: &Subject, cx: &mut Ctx) -> Result<(), StoreError> {
        match subject {
            Subject::Users | Subject::Dep | Subject::Catalog => UsersState::reload(self, cx.store.as_ref()),
            _ => Ok(()),
        }
    }

    fn reload(&mut self, cx: &mut Ctx) -> Result<(), StoreError> {
        UsersState::reload(self, cx.store.as_ref())
    }

    table_of!(users);

    fn draw(&self, cx: &DrawCtx, area: Rect, frame: &mut Frame) {
        draw(cx.theme, self, area, frame)
    }
}
