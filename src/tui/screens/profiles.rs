//! The Profiles tab: every profile, sorted by a column and filtered; the token's expiry highlighted when it
//! is close. (Its actions and forms are still `App`'s.)

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::{Ctx, DrawCtx, Effect, Level, Screen, Tab, form_error};
use crate::csv::android as android_csv;
use crate::domain::{NewProfile, Profile, ProfileId};
use crate::ops;
use crate::store::{StoreError, Subject};
use crate::tui::action::Action;
use crate::tui::files::{CSV_FILE, export_form, import_path};
use crate::tui::form::{Check, ConfirmPurpose, FieldId, Form, FormField, FormPurpose, user_picker};
use crate::tui::jobs::TaskMsg;
use crate::tui::keymap::Context;
use crate::tui::modals::wizard::WizardJob;
use crate::tui::theme::CURSOR;
use crate::tui::widgets::table::{Cursor, Filter, filter_line};
use crate::tui::widgets::text::plural;
use crate::tui::widgets::text::{owned, safe};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileColumn {
    Name,
    Description,
    Modified,
    Kind,
    Devices,
    User,
    Expiry,
}

impl ProfileColumn {
    pub const ALL: [ProfileColumn; 7] = [
        ProfileColumn::Name,
        ProfileColumn::Description,
        ProfileColumn::Modified,
        ProfileColumn::Kind,
        ProfileColumn::Devices,
        ProfileColumn::User,
        ProfileColumn::Expiry,
    ];

    pub fn title(self) -> &'static str {
        match self {
            ProfileColumn::Name => "Profile Name",
            ProfileColumn::Description => "Description",
            ProfileColumn::Modified => "Last modified",
            ProfileColumn::Kind => "Type",
            ProfileColumn::Devices => "No of Devices",
            ProfileColumn::User => "Associated User",
            ProfileColumn::Expiry => "Token Expiry",
        }
    }
}

#[derive(Debug, Default)]
pub struct ProfilesState {
    pub all: Vec<Profile>,
    /// Indices into `all`, filtered and sorted.
    pub view: Vec<usize>,
    pub cursor: Cursor,
    pub sort: usize,
    pub descending: bool,
    pub filter: Filter,
}

impl ProfilesState {
    pub fn selected(&self) -> Option<&Profile> {
        self.view.get(self.cursor.row).map(|&i| &self.all[i])
    }

    pub fn rebuild(&mut self) {
        let needle = self.filter.text.to_lowercase();
        let mut view: Vec<usize> = (0..self.all.len())
            .filter(|&i| {
                let p = &self.all[i];
                needle.is_empty()
                    || p.name.to_lowercase().contains(&needle)
                    || p.description.as_deref().unwrap_or("").to_lowercase().contains(&needle)
                    || p.user.as_deref().unwrap_or("").to_lowercase().contains(&needle)
            })
            .collect();
        let column = ProfileColumn::ALL[self.sort % ProfileColumn::ALL.len()];
        let all = &self.all;
        view.sort_by(|&a, &b| {
            let (a, b) = (&all[a], &all[b]);
            let o = match column {
                ProfileColumn::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
                ProfileColumn::Description => a.description.cmp(&b.description),
                ProfileColumn::Modified => a.modified.cmp(&b.modified),
                ProfileColumn::Kind => a.kind.cmp(&b.kind),
                ProfileColumn::Devices => a.device_count.cmp(&b.device_count),
                ProfileColumn::User => a.user.cmp(&b.user),
                ProfileColumn::Expiry => a.token.as_ref().map(|t| t.expires).cmp(&b.token.as_ref().map(|t| t.expires)),
            };
            o.then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
        });
        if self.descending {
            view.reverse();
        }
        self.view = view;
    }
}

/// The token's expiry: date and days left (`short` for the profiles table), highlighted under 2 days.
pub fn expiry(cx: &DrawCtx, p: &Profile, short: bool) -> (String, Style) {
    let t = cx.theme;
    match &p.token {
        None => ("no token".into(), t.dim),
        Some(token) => {
            let now = cx.now;
            let date = token.expires.format("%Y-%m-%d").to_string();
            if token.is_expired(now) {
                (format!("{date} (expired)"), t.error)
            } else {
                let left = token.days_left(now);
                let style = if token.expires - now < chrono::Duration::days(2) { t.warn } else { t.base };
                if short {
                    (format!("{date} ({left}d)"), style)
                } else {
                    (format!("{date} ({left} day{} left)", if left == 1 { "" } else { "s" }), style)
                }
            }
        }
    }
}

pub fn draw(cx: &DrawCtx, p: &ProfilesState, area: Rect, frame: &mut Frame) {
    let t = cx.theme;
    let [filter, table] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    // The sort is said on the filter line as well as by the header's arrow, which a hidden or a full
    // column ("No of Devices", "Associated User" at 80 columns) cannot show.
    let sorted = ProfileColumn::ALL[p.sort];
    let sort_text = format!("sorted by {} {} ", sorted.title(), if p.descending { "▼" } else { "▲" });
    let [filter, sort_area] =
        Layout::horizontal([Constraint::Min(1), Constraint::Length(sort_text.chars().count() as u16)]).areas(filter);
    frame.render_widget(Paragraph::new(filter_line(t, &p.filter, p.view.len(), p.all.len())), filter);
    frame.render_widget(Paragraph::new(Span::styled(sort_text, t.dim)).alignment(Alignment::Right), sort_area);
    if p.all.is_empty() {
        let key = cx.key(Context::Profiles, Action::NewProfile);
        let quit = cx.key(Context::Global, Action::Quit);
        frame.render_widget(
            Paragraph::new(format!(
                "No profile yet. Press {key} to add one from a CSV file.\n\n\
                 To try kitting on a scratch database, quit with {quit} and start it as\n\
                 kitting --db /tmp/kitting-try"
            ))
            .style(t.dim)
            .alignment(Alignment::Center),
            table,
        );
        return;
    }
    let wide = area.width >= 120;
    let columns: Vec<ProfileColumn> = ProfileColumn::ALL
        .into_iter()
        .filter(|c| wide || !matches!(c, ProfileColumn::Description | ProfileColumn::Kind))
        .collect();
    let header = Row::new(columns.iter().map(|c| {
        let arrow = if *c == sorted { if p.descending { " ▼" } else { " ▲" } } else { "" };
        Cell::from(format!("{}{arrow}", c.title()))
    }))
    .style(t.header);
    let height = usize::from(table.height.saturating_sub(1));
    let rows = p.view.iter().enumerate().skip(p.cursor.window(p.view.len(), height)).take(height).map(|(i, &index)| {
        let profile = &p.all[index];
        let here = i == p.cursor.row;
        let cells = columns.iter().map(|c| -> Cell {
            match c {
                ProfileColumn::Name => {
                    Cell::from(format!("{}{}", if here { CURSOR } else { "  " }, safe(&profile.name)))
                }
                ProfileColumn::Description => Cell::from(owned(profile.description.as_deref().unwrap_or(""))),
                ProfileColumn::Modified => Cell::from(profile.modified.format("%Y-%m-%d %H:%M").to_string()),
                ProfileColumn::Kind => Cell::from(owned(&profile.kind)),
                ProfileColumn::Devices => Cell::from(format!("{:>9}", profile.device_count)),
                ProfileColumn::User => Cell::from(owned(profile.user.as_deref().unwrap_or(""))),
                ProfileColumn::Expiry => {
                    let (text, style) = expiry(cx, profile, true);
                    Cell::from(Span::styled(text, if here { Style::default() } else { style }))
                }
            }
        });
        let row = Row::new(cells);
        if here { row.style(t.selected) } else { row.style(t.base) }
    });
    let widths: Vec<Constraint> = columns
        .iter()
        .map(|c| match c {
            ProfileColumn::Name => Constraint::Min(16),
            ProfileColumn::Description => Constraint::Min(12),
            ProfileColumn::Modified => Constraint::Length(16),
            ProfileColumn::Kind => Constraint::Length(15),
            ProfileColumn::Devices => Constraint::Length(13),
            ProfileColumn::User => Constraint::Length(15),
            ProfileColumn::Expiry => Constraint::Length(18),
        })
        .collect();
    frame.render_widget(Table::new(rows, widths).header(header).column_spacing(1), table);
}

/// The current name of a profile the screens know by id.
pub fn profile_name(cx: &Ctx, id: ProfileId) -> Result<String, String> {
    Ok(profile_by_id(cx, id)?.name)
}

pub fn profile_by_id(cx: &Ctx, id: ProfileId) -> Result<Profile, String> {
    cx.store.profile_by_id(id).map_err(|e| e.to_string())?.ok_or_else(|| "the profile was deleted".into())
}

/// The Export form confirmed (from the list or the profile's screen): the file is written in the
/// background.
pub fn start_export(cx: &mut Ctx, id: ProfileId, form: &Form) -> Result<Effect, String> {
    let path = std::path::PathBuf::from(form.value(FieldId::File));
    if path.as_os_str().is_empty() {
        return Err("type the file to write".into());
    }
    let profile = profile_by_id(cx, id)?;
    let file = match super::create_for(form, &path)? {
        Ok(file) => file,
        Err(ask) => return Ok(ask),
    };
    let store = cx.store.clone();
    cx.jobs.start("exporting a profile", move |_| {
        let result = (|| {
            let n = android_csv::export(store.as_ref(), &profile, std::io::BufWriter::new(file))?;
            Ok((n, path))
        })();
        TaskMsg::Exported(result)
    });
    Ok(Effect::Status(Level::Info, "exporting…".into()))
}

fn new_profile_form(cx: &Ctx) -> Form {
    let days = cx.settings.token_days().to_string();
    Form::new(
        "Add profile",
        FormPurpose::NewProfile,
        vec![
            FormField::text(FieldId::Name, "Name", "", "1 to 64 characters, unique"),
            FormField::text(FieldId::Description, "Description", "", "optional"),
            FormField::path(FieldId::CsvFile, CSV_FILE, "", "Tab completes; Ctrl-t writes the template here"),
            FormField::toggle(
                FieldId::WithoutToken,
                "Without token",
                false,
                "Assign custom attributes without token (Space)",
            ),
            user_picker(cx.store.as_ref(), FieldId::User, "User", ""),
            FormField::text(FieldId::TokenDays, "Token days", &days, "7 to 99").with_check(Check::Days),
        ],
    )
}

/// Add profile confirmed: the name and user checked, then the file is checked by the wizard.
fn new_profile(cx: &Ctx, form: &Form) -> Result<Effect, String> {
    let name = crate::domain::check_profile_name(&form.value(FieldId::Name))?;
    if cx.store.profile(&name).map_err(|e| e.to_string())?.is_some() {
        return Err(format!("a profile named {name} exists already"));
    }
    let without_token = form.on(FieldId::WithoutToken);
    let token_days = if without_token {
        None
    } else {
        let days: u32 =
            form.value(FieldId::TokenDays).parse().map_err(|_| "token days must be a number from 7 to 99")?;
        Some(crate::domain::token::check_days(days)?)
    };
    let user = Some(form.value(FieldId::User)).filter(|u| !u.is_empty());
    if let Some(u) = &user
        && cx.store.user(u).map_err(|e| e.to_string())?.is_none()
    {
        return Err(format!("no user {u}; add it in Users first"));
    }
    let path = import_path(form, android_csv::TEMPLATE)?;
    let new = NewProfile {
        name,
        description: Some(form.value(FieldId::Description)).filter(|d| !d.is_empty()),
        without_token,
        user,
        token_days,
    };
    Ok(Effect::Wizard(WizardJob::Profile(new), path))
}

impl super::Unit for ProfilesState {
    fn context(&self) -> Context {
        Context::Profiles
    }

    fn action(&mut self, action: Action, cx: &mut Ctx) -> Effect {
        let selected = self.selected().cloned();
        match action {
            Action::Filter => super::start_filter(&mut self.filter),
            Action::SortNext => {
                self.sort = (self.sort + 1) % ProfileColumn::ALL.len();
                self.rebuild();
                Effect::Status(Level::Info, format!("sorted by {}", ProfileColumn::ALL[self.sort].title()))
            }
            Action::SortReverse => {
                self.descending = !self.descending;
                self.rebuild();
                Effect::None
            }
            Action::Open => match selected {
                Some(profile) => match super::detail::DetailState::open(cx, profile) {
                    Ok(d) => Effect::Push(Screen::Detail(Box::new(d))),
                    Err(e) => Effect::Status(Level::Error, e.to_string()),
                },
                None => Effect::None,
            },
            Action::Users => Effect::Tab(Tab::Users),
            Action::NewProfile => Effect::Form(new_profile_form(cx)),
            Action::EditProfile => match selected {
                Some(p) => {
                    let mut form = Form::new(
                        format!("Edit profile {}", p.name),
                        FormPurpose::EditProfile(p.id),
                        vec![
                            FormField::text(FieldId::Name, "Name", &p.name, "1 to 64 characters"),
                            FormField::text(
                                FieldId::Description,
                                "Description",
                                p.description.as_deref().unwrap_or(""),
                                "optional",
                            ),
                        ],
                    );
                    form.expect_version = Some(p.version);
                    Effect::Form(form)
                }
                None => Effect::None,
            },
            Action::ModifyUser => match selected {
                Some(p) => {
                    let field =
                        user_picker(cx.store.as_ref(), FieldId::Username, "Username", p.user.as_deref().unwrap_or(""));
                    let title = format!("Modify the user of {}", p.name);
                    let mut form = Form::new(title, FormPurpose::ModifyUser(p.id), vec![field]);
                    form.expect_version = Some(p.version);
                    Effect::Form(form)
                }
                None => Effect::None,
            },
            // A whole profile goes only when its name is typed (y is too easy to press by mistake).
            Action::Delete => match selected {
                Some(p) => {
                    let title = format!(
                        "Delete profile {} and its {} device{}? This cannot be undone.",
                        p.name,
                        p.device_count,
                        plural(p.device_count)
                    );
                    let field =
                        FormField::text(FieldId::Typed, "Profile name", "", "type the profile's name to delete it");
                    let purpose =
                        FormPurpose::TypedConfirm { purpose: ConfirmPurpose::DeleteProfile(p.id), expected: p.name };
                    Effect::Form(Form::new(title, purpose, vec![field]))
                }
                None => Effect::None,
            },
            Action::Export => selected.map_or(Effect::None, |p| Effect::Form(export_form(&p, cx.now))),
            _ => Effect::None,
        }
    }

    fn submit(&mut self, form: &Form, cx: &mut Ctx) -> Result<Effect, String> {
        let core = cx.core();
        match &form.purpose {
            FormPurpose::NewProfile => new_profile(cx, form),
            FormPurpose::EditProfile(id) => {
                let command = ops::profiles::EditProfile {
                    profile: profile_name(cx, *id)?,
                    rename: Some(form.value(FieldId::Name)),
                    description: Some(form.value(FieldId::Description)),
                    expect: form.expect_version,
                };
                match ops::profiles::edit(&core, command) {
                    Ok(_) => Ok(Effect::Saved("profile saved".into())),
                    // Saved by someone else since the form opened: what it holds now, taken as read.
                    Err(ops::OpError::Conflict(m)) => {
                        let mut again = form.clone();
                        let m = m.split("; read it again").next().unwrap_or(&m).to_string();
                        again.error = Some(match cx.store.profile_by_id(*id).map_err(|e| e.to_string())? {
                            Some(p) => {
                                again.expect_version = Some(p.version);
                                let now = format!("name {}, description {}", p.name, p.description.unwrap_or_default());
                                format!(
                                    "{m}. Now: {}. Enter saves what you typed over it; Esc keeps theirs",
                                    crate::domain::text::sanitize(&now)
                                )
                            }
                            None => format!("{m}: the profile was deleted meanwhile"),
                        });
                        Ok(Effect::Form(again))
                    }
                    Err(e) => Err(form_error(e)),
                }
            }
            FormPurpose::ModifyUser(id) => {
                let user = Some(form.value(FieldId::Username)).filter(|u| !u.is_empty());
                let command = ops::profiles::SetProfileUser {
                    profile: profile_name(cx, *id)?,
                    user: user.clone(),
                    expect: form.expect_version,
                };
                ops::profiles::set_user(&core, command).map_err(|err| match err {
                    ops::OpError::Invalid { field: "user", .. } => {
                        format!("no user {}; add it in Users (U) first", user.clone().unwrap_or_default())
                    }
                    err => form_error(err),
                })?;
                Ok(Effect::Saved(match user {
                    Some(u) => format!("associated user set to {u}"),
                    None => "associated user removed".into(),
                }))
            }
            FormPurpose::Export(id) => {
                drop(core);
                start_export(cx, *id, form)
            }
            _ => Err("not a profile form".into()),
        }
    }

    fn confirmed(&mut self, purpose: ConfirmPurpose, cx: &mut Ctx) -> Result<Effect, String> {
        let ConfirmPurpose::DeleteProfile(id) = purpose else { return Err("not a profile question".into()) };
        let profile = profile_name(cx, id)?;
        let n =
            ops::profiles::delete(&cx.core(), ops::profiles::DeleteProfile { profile }).map_err(|e| e.to_string())?;
        Ok(Effect::Saved(format!("deleted the profile and its {n} device{}", plural(n))))
    }

    /// A profile without token has no token lifetime to ask for.
    fn form_changed(&mut self, form: &mut Form, _cx: &Ctx) {
        if form.purpose == FormPurpose::NewProfile {
            let without = form.on(FieldId::WithoutToken);
            if let Some(f) = form.field_mut(FieldId::TokenDays) {
                f.hidden = without;
            }
        }
    }

    fn on_change(&mut self, subject: &Subject, cx: &mut Ctx) -> Result<(), StoreError> {
        match subject {
            Subject::Profiles | Subject::Profile(_) | Subject::Devices(..) | Subject::Users => {
                super::Unit::reload(self, cx)
            }
            _ => Ok(()),
        }
    }

    fn reload(&mut self, cx: &mut Ctx) -> Result<(), StoreError> {
        let selected = self.selected().map(|p| p.id);
        self.all = cx.store.profiles()?;
        self.rebuild();
        if let Some(id) = selected
            && let Some(row) = self.view.iter().position(|&i| self.all[i].id == id)
        {
            self.cursor.row = row;
        }
        Ok(())
    }

    table_of!(view, filtered);

    fn draw(&self, cx: &DrawCtx, area: Rect, frame: &mut Frame) {
        draw(cx, self, area, frame)
    }
}
