//! Drawing. `render` reads the app state and draws; it changes nothing and never touches the store.
//! Every text that comes from a file or the database goes through `safe` (control characters escaped).

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;
use ratatui::widgets::{Block, Borders, Clear, Gauge, Paragraph, Wrap};

use super::action::Action;
use super::app::{
    App, Form, FormPurpose, Level, MIN_SIZE, Modal, Screen, Tab, Wizard, WizardJob, WizardReport, WizardStage,
};
use super::dep_view;
use super::form::{FieldKind, FormField};
use super::keymap::Context;
use super::theme::{CURSOR, Theme};

/// Rows every screen spends outside its body: title, status line, footer.
const FRAME_ROWS: u16 = 3;
/// Rows of the current screen's table (the layout below decides them; `App` pages by them).
pub fn table_rows(screen: &Screen, height: u16) -> usize {
    let chrome = FRAME_ROWS
        + match screen {
            // filter line + table header
            Screen::Profiles(_) => 2,
            // header + filter line + table header
            Screen::Detail(_) => super::screens::detail::HEAD_ROWS + 2,
            // filter line + table header
            Screen::Dep(_) => 2,
            // filter line + table header + the selected entry
            Screen::Audit(_) => 2 + super::screens::audit::DETAIL_ROWS,
            // table header
            Screen::Users(_)
            | Screen::Catalog(_)
            | Screen::Qr(_)
            | Screen::DepDevice(_)
            | Screen::Scan(_)
            | Screen::CheckIn(_) => 1,
            // title line + table header
            Screen::Search(_) => 2,
        };
    usize::from(height.saturating_sub(chrome)).max(1)
}

pub(crate) use super::widgets::text::{owned, safe};

pub fn render(app: &App, frame: &mut Frame) {
    let area = frame.area();
    let t = &app.theme;
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        let msg = format!(
            "terminal too small: need {}x{} (now {}x{})\n\nenlarge the window, or press q to quit",
            MIN_SIZE.0, MIN_SIZE.1, area.width, area.height
        );
        frame.render_widget(Paragraph::new(msg).style(t.warn).wrap(Wrap { trim: true }), area);
        return;
    }
    let [title, body, status, footer] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1), Constraint::Length(1), Constraint::Length(1)])
            .areas(area);
    let context = app.screen().context();
    // Where the screen is within its tab.
    let crumbs = match app.screen() {
        Screen::Detail(d) => format!("› {}", safe(&d.profile.name)),
        Screen::Qr(q) => format!("› {} › QR code", safe(&q.profile)),
        Screen::DepDevice(d) => format!("› {}", safe(&d.device.identifier)),
        Screen::Scan(s) => format!("› {} › scan station", safe(&s.station.profile)),
        Screen::Search(_) => "› find".to_string(),
        Screen::CheckIn(_) => "› check-in".to_string(),
        _ => String::new(),
    };
    let help_key = app.keymap.key_label(Context::Global, Action::Help).unwrap_or_default();
    let tab_key = app.keymap.key_label(Context::Global, Action::NextTab).unwrap_or_default();
    let mut spans = vec![Span::styled(" kitting ", t.title.add_modifier(Modifier::REVERSED)), Span::raw(" ")];
    for tab in Tab::ALL {
        if tab == app.tab {
            spans.push(Span::styled(format!("[{}]", tab.title()), t.title.add_modifier(Modifier::UNDERLINED)));
        } else {
            spans.push(Span::styled(format!(" {} ", tab.title()), t.dim));
        }
    }
    spans.push(Span::styled(format!(" {crumbs}"), t.title));
    // The keys as far as they fit whole.
    for hint in [format!("   {help_key} help"), format!("  {tab_key} tabs")] {
        let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
        if used + hint.chars().count() <= usize::from(title.width) {
            spans.push(Span::styled(hint, t.dim));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), title);
    match app.screen() {
        Screen::Profiles(p) => super::screens::profiles::draw(&app.draw_ctx(), p, body, frame),
        Screen::Detail(d) => super::screens::detail::draw(&app.draw_ctx(), d, body, frame),
        Screen::Qr(q) => super::screens::qr::draw(t, q, app.graphics.as_ref(), body, frame),
        Screen::Users(u) => super::screens::users::draw(t, u, body, frame),
        Screen::Dep(l) => super::screens::dep_list::draw(&app.draw_ctx(), l, body, frame),
        Screen::DepDevice(d) => super::screens::dep_record::draw(&app.draw_ctx(), d, body, frame),
        Screen::Catalog(c) => {
            let add = app.keymap.key_label(Context::Catalog, Action::AddEntry).unwrap_or_default();
            super::screens::catalog::draw(t, c, &add, body, frame)
        }
        Screen::Audit(a) => super::screens::audit::draw(t, a, body, frame),
        Screen::Search(s) => super::screens::search::draw(t, s, body, frame),
        Screen::CheckIn(s) => {
            let switch = app.keymap.key_label(Context::CheckIn, Action::SwitchKind).unwrap_or_default();
            super::screens::checkin::draw(t, s, &switch, body, frame)
        }
        Screen::Scan(s) => {
            let undo = app.keymap.key_label(Context::Scan, Action::UndoScan).unwrap_or_default();
            super::screens::scan::draw(t, s, &undo, body, frame)
        }
    }
    if let Some((level, msg)) = &app.status {
        let style = if *level == Level::Error { t.error } else { t.ok };
        // A message too long for the line says where to read it whole.
        let width = usize::from(status.width);
        let hint = app.keymap.key_label(Context::Global, Action::Messages).map(|k| format!(" … ({k} to read)"));
        let text = match hint {
            Some(h) if msg.chars().count() > width => {
                let keep = width.saturating_sub(h.chars().count());
                format!("{}{h}", safe(msg).chars().take(keep).collect::<String>())
            }
            _ => safe(msg).to_string(),
        };
        frame.render_widget(Paragraph::new(Span::styled(text, style)), status);
    }
    draw_footer(app, context, footer, frame);
    match &app.modal {
        Some(Modal::Help { scroll }) => help(app, *scroll, area, frame),
        Some(Modal::Messages) => messages(app, area, frame),
        Some(Modal::Record { title, lines, scroll }) => record(app, title, lines, *scroll, area, frame),
        Some(Modal::Confirm { text, .. }) => confirm(app, text, area, frame),
        Some(Modal::Form(form)) => draw_form(app, form, area, frame),
        Some(Modal::Wizard(w)) => wizard(app, w, area, frame),
        None => {}
    }
}

/// The keys that work here, from the keymap: the screen's own, then the global ones that fit.
fn draw_footer(app: &App, context: Context, area: Rect, frame: &mut Frame) {
    let t = &app.theme;
    let contexts: Vec<Context> = if app.modal.is_some() { vec![Context::Dialog] } else { vec![context] };
    let mut spans = Vec::new();
    let mut width = 0usize;
    let globals = [Action::Filter, Action::Help, Action::Back, Action::Quit];
    let mut entries: Vec<(String, &str)> = Vec::new();
    for c in contexts {
        for (action, keys) in app.keymap.bindings(c) {
            let template_form = matches!(&app.modal,
                Some(Modal::Form(f)) if matches!(f.purpose, FormPurpose::NewProfile | FormPurpose::DepImport));
            if action == Action::WriteTemplate && !template_form {
                continue;
            }
            let secret_form = matches!(&app.modal, Some(Modal::Form(f)) if f.fields.iter().any(|f| f.secret));
            if action == Action::RevealSecret && !secret_form {
                continue;
            }
            // A checked-in or withdrawn record is read-only: its footer does not offer edit or withdraw.
            let record = match app.screen() {
                Screen::DepDevice(d) => Some(&d.device),
                Screen::Dep(l) => l.selected(),
                _ => None,
            };
            if matches!(action, Action::EditRecord | Action::Withdraw)
                && app.modal.is_none()
                && record.is_some_and(|r| r.state.read_only().is_some())
            {
                continue;
            }
            if let Some(k) = keys.first() {
                entries.push((k.label(), action.short()));
            }
        }
    }
    if app.modal.is_none() && context == Context::CheckIn {
        entries.insert(0, ("Enter".into(), "check in"));
        entries.push(("Tab".into(), "next field"));
        entries.push(("Esc".into(), "leave"));
    } else if app.modal.is_none() && context == Context::Scan {
        // Every character types into the scan line: only keys a scanner never sends act here.
        let mut help = app.keymap.bindings(Context::Global).filter(|(a, _)| *a == Action::Help);
        let help = help
            .next()
            .and_then(|(_, keys)| keys.iter().find(|k| !matches!(k.code, ratatui::crossterm::event::KeyCode::Char(_))));
        entries.insert(0, ("Enter/Tab".into(), "end a scan"));
        entries.extend(help.map(|k| (k.label(), "help")));
        entries.push(("Esc".into(), "clear / leave"));
        entries.push(("Ctrl-C".into(), "quit"));
    } else if app.modal.is_none() {
        for action in globals {
            let ctx = if action == Action::Filter { Context::Table } else { Context::Global };
            if action == Action::Filter && !matches!(context, Context::Profiles | Context::Detail | Context::Dep) {
                continue;
            }
            if action == Action::Back && context == Context::Profiles {
                continue;
            }
            if let Some(k) = app.keymap.key_label(ctx, action) {
                entries.push((k, action.short()));
            }
        }
    }
    // A footer that does not fit ends by saying where the rest is: the help lists every key.
    let cost = |(k, w): &(String, &str)| k.chars().count() + w.chars().count() + 3;
    let total: usize = entries.iter().map(cost).sum();
    let rest = app.keymap.key_label(Context::Global, Action::Help).map(|k| (k, "all keys"));
    let room =
        usize::from(area.width) - if total > usize::from(area.width) { rest.as_ref().map_or(0, cost) } else { 0 };
    let mut cut = false;
    for entry in entries {
        let w = cost(&entry);
        if width + w > room {
            cut = true;
            break;
        }
        width += w;
        spans.push(Span::styled(entry.0, t.key));
        spans.push(Span::styled(format!(" {}  ", entry.1), t.dim));
    }
    if cut && let Some((k, what)) = rest {
        spans.push(Span::styled(k, t.key));
        spans.push(Span::styled(format!(" {what}"), t.dim));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The token's expiry: date and days left (`short` for the profiles table).
/// A dialog's place, centred. One that would leave a margin of a column or two of the screen below takes
/// the whole width instead (a sliver of the table at each edge looks garbled).
pub fn popup(area: Rect, width: u16, height: u16) -> Rect {
    let w = if width + 6 > area.width { area.width } else { width };
    let h = height.min(area.height.saturating_sub(2));
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

fn boxed<'a>(t: &Theme, title: String) -> Block<'a> {
    Block::default().borders(Borders::ALL).border_style(t.border).title(Span::styled(format!(" {title} "), t.title))
}

/// The help overlay's text: every binding of every context with its description, from the keymap.
/// The help's lines at `width` columns inside its box: a description too long for the line goes on
/// under itself (never cut off), so scrolling counts real rows.
fn help_lines(app: &App, width: u16) -> Vec<Line<'static>> {
    let t = &app.theme;
    let room = usize::from(width).saturating_sub(20).max(20);
    let mut lines = Vec::new();
    for context in Context::ALL {
        let bindings: Vec<_> = app.keymap.bindings(context).collect();
        if bindings.is_empty() {
            continue;
        }
        lines.push(Line::from(Span::styled(context.title(), t.header)));
        for (action, keys) in bindings {
            let keys: Vec<String> = keys.iter().map(|k| k.label()).collect();
            let mut head = format!("  {:<18}", keys.join(", "));
            for part in wrap_words(action.description(), room) {
                lines.push(Line::from(vec![Span::styled(std::mem::take(&mut head), t.key), Span::raw(part)]));
                head = " ".repeat(20);
            }
        }
        lines.push(Line::from(""));
    }
    lines.push(Line::from(Span::styled("Ctrl-C always quits. Keys can be changed in config.toml [keys].", t.dim)));
    lines
}

/// The help overlay's box on a terminal of `rows` rows.
/// Words joined into lines of at most `width` characters (a longer word stands alone).
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut out = vec![String::new()];
    for word in text.split(' ') {
        let line = out.last_mut().expect("one line at least");
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    out
}

fn help_box(area: Rect) -> Rect {
    popup(area, 96, area.height - 2)
}

/// How far the help overlay scrolls on a terminal of (columns, rows): until its last line is in view.
pub fn help_max_scroll(app: &App) -> u16 {
    let area = Rect::new(0, 0, app.size.0.max(MIN_SIZE.0), app.size.1.max(MIN_SIZE.1));
    let r = help_box(area);
    let inside = r.height.saturating_sub(2);
    (help_lines(app, r.width.saturating_sub(2)).len() as u16).saturating_sub(inside)
}

fn help(app: &App, scroll: u16, area: Rect, frame: &mut Frame) {
    let t = &app.theme;
    let r = help_box(area);
    frame.render_widget(Clear, r);
    let more = if scroll < help_max_scroll(app) { " ↓ more" } else { "" };
    let title = format!("Help (Up/Down, PgUp/PgDn scroll, Esc closes){more}");
    let lines = help_lines(app, r.width.saturating_sub(2));
    frame.render_widget(Paragraph::new(lines).block(boxed(t, title)).scroll((scroll, 0)), r);
}

/// The status line's last messages, newest first, each whole (wrapped).
fn messages(app: &App, area: Rect, frame: &mut Frame) {
    let t = &app.theme;
    let r = help_box(area);
    frame.render_widget(Clear, r);
    let lines: Vec<Line> = if app.messages.is_empty() {
        vec![Line::styled("no messages yet", t.dim)]
    } else {
        app.messages
            .iter()
            .map(|(level, msg, at)| {
                let style = if *level == Level::Error { t.error } else { t.ok };
                Line::from(vec![
                    Span::styled(format!("{} ", at.format("%H:%M:%S")), t.dim),
                    Span::styled(safe(msg), style),
                ])
            })
            .collect()
    };
    let title = "Messages, newest first (Esc closes)".to_string();
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(boxed(t, title)), r);
}

/// One record in full: a label column and the values, wrapped; Up/Down scroll.
fn record(app: &App, title: &str, lines: &[(String, String)], scroll: u16, area: Rect, frame: &mut Frame) {
    let t = &app.theme;
    let r = help_box(area);
    frame.render_widget(Clear, r);
    let width = lines.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0).min(24);
    let text: Vec<Line> = lines
        .iter()
        .map(|(label, value)| {
            Line::from(vec![
                Span::styled(format!("{:<width$}  ", safe(label)), t.dim),
                Span::styled(owned(value), t.base),
            ])
        })
        .collect();
    let title = format!("{} (Esc closes, Up/Down scroll)", safe(title));
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }).scroll((scroll, 0)).block(boxed(t, title)), r);
}

fn confirm(app: &App, text: &str, area: Rect, frame: &mut Frame) {
    let t = &app.theme;
    let r = popup(area, 64, 7);
    frame.render_widget(Clear, r);
    let lines = vec![
        Line::from(owned(text)),
        Line::from(""),
        Line::from(vec![
            Span::styled("Enter/y", t.key),
            Span::raw(" yes    "),
            Span::styled("Esc/n", t.key),
            Span::raw(" no"),
        ]),
    ];
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).block(boxed(t, "Confirm".into())), r);
}

/// Rows of a pick list under its field, at most.
const PICK_ROWS: usize = 4;

/// Rows a field takes: its section heading, its value, a pick list or the lines of a list, the hint.
fn field_rows(field: &FormField, focused: bool) -> (u16, u16) {
    if field.hidden {
        return (0, 0);
    }
    let heading = u16::from(field.section.is_some());
    let value = match field.kind {
        FieldKind::Lines => field.input.lines().len().clamp(3, 6) as u16,
        FieldKind::Pick | FieldKind::Several if focused => 1 + field.matches().len().clamp(1, PICK_ROWS) as u16,
        _ => 1,
    };
    (heading, value + 1)
}

fn draw_form(app: &App, form: &Form, area: Rect, frame: &mut Frame) {
    let t = &app.theme;
    let rows: Vec<(u16, u16)> = form.fields.iter().enumerate().map(|(i, f)| field_rows(f, i == form.focus)).collect();
    let total: u16 = rows.iter().map(|(h, v)| h + v).sum();
    let label_w = form.fields.iter().map(|f| f.label.chars().count()).max().unwrap_or(0).clamp(14, 30) as u16 + 3;
    let r = popup(area, 96, total + 4);
    frame.render_widget(Clear, r);
    let block = boxed(t, owned(&form.title));
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let room = inner.height.saturating_sub(2);
    // The smallest scroll that shows the focused field whole (with its heading); `render` keeps no state.
    let start: u16 = rows[..form.focus].iter().map(|(h, v)| h + v).sum();
    let end = start + rows[form.focus].0 + rows[form.focus].1;
    let offset = end.saturating_sub(room).min(start);
    // The fields are drawn whole on a buffer of their own; the rows in view are copied to the frame.
    let mut page = Buffer::empty(Rect::new(0, 0, inner.width, total));
    let mut y = 0u16;
    for (i, field) in form.fields.iter().enumerate() {
        let (heading, height) = rows[i];
        if field.hidden {
            continue;
        }
        let area = Rect::new(0, y, inner.width, heading + height);
        draw_field(t, field, i == form.focus, area, label_w, &mut page);
        y += heading + height;
    }
    let buf = frame.buffer_mut();
    for row in 0..room.min(total - offset) {
        for x in 0..inner.width {
            buf[(inner.x + x, inner.y + row)] = page[(x, offset + row)].clone();
        }
    }
    let bottom = Rect { x: inner.x, y: inner.y + inner.height.saturating_sub(2), width: inner.width, height: 2 };
    let first = match (&form.error, &form.note) {
        (Some(e), _) => Line::from(Span::styled(owned(e), t.error)),
        (None, Some(n)) => Line::from(Span::styled(owned(n), t.warn)),
        (None, None) => Line::from(""),
    };
    let key = |a: Action| app.keymap.key_label(Context::Dialog, a).unwrap_or_default();
    let mut keys = Vec::new();
    let mut push = |k: String, what: &str| {
        keys.push(Span::styled(k, t.key));
        keys.push(Span::raw(format!(" {what}  ")));
    };
    match form.fields[form.focus].kind {
        FieldKind::Lines => {
            push("Enter".into(), "new line");
            let save =
                app.keymap.bindings(Context::Dialog).find(|(a, _)| *a == Action::Confirm).and_then(|(_, keys)| {
                    keys.iter()
                        .find(|k| k.mods.contains(ratatui::crossterm::event::KeyModifiers::CONTROL))
                        .map(|k| k.label())
                });
            push(save.unwrap_or_default(), "save");
        }
        FieldKind::Several => {
            push("↑↓".into(), "move");
            push("Space".into(), "pick/unpick");
            push(key(Action::Confirm), "ok");
        }
        FieldKind::Pick => {
            push("↑↓".into(), "pick");
            push(key(Action::Confirm), "ok");
        }
        FieldKind::Toggle | FieldKind::Choice(_) => {
            push("Space".into(), "change");
            push(key(Action::Confirm), "ok");
        }
        FieldKind::Text | FieldKind::Path => push(key(Action::Confirm), "ok"),
    }
    push(key(Action::NextField), "next field");
    push(key(Action::Cancel), "cancel");
    if total > room {
        let shown = |f: &&FormField| !f.hidden;
        let at = form.fields[..form.focus].iter().filter(shown).count() + 1;
        keys.push(Span::styled(format!("field {at} of {}", form.fields.iter().filter(shown).count()), t.dim));
    }
    frame.render_widget(Paragraph::new(vec![first, Line::from(keys)]), bottom);
}

/// One form field on `buf` in `area`: its section heading, label, value (by kind), and hint or problem.
fn draw_field(t: &Theme, field: &FormField, focused: bool, area: Rect, label_w: u16, buf: &mut Buffer) {
    let heading = u16::from(field.section.is_some());
    let at = |row: u16, x: u16, h: u16| Rect::new(area.x + x, area.y + row, area.width.saturating_sub(x), h);
    if let Some(section) = field.section {
        Paragraph::new(Span::styled(section, t.header)).render(at(0, 0, 1), buf);
    }
    let label_style = if focused { t.key } else { t.dim };
    let marker = if focused { CURSOR } else { "  " };
    Paragraph::new(Span::styled(format!("{marker}{}", safe(&field.label)), label_style)).render(at(heading, 0, 1), buf);
    let value_area = at(heading, label_w, area.height - heading - 1);
    match field.kind {
        FieldKind::Toggle => {
            Paragraph::new(Span::styled(if field.on { "[x] on" } else { "[ ] off" }, t.input)).render(value_area, buf)
        }
        FieldKind::Choice(options) => {
            let spans: Vec<Span> = options
                .iter()
                .enumerate()
                .map(|(k, o)| {
                    if k == field.choice {
                        Span::styled(format!("[{o}] "), t.input.add_modifier(Modifier::BOLD))
                    } else {
                        Span::styled(format!(" {o}  "), t.dim)
                    }
                })
                .collect();
            Paragraph::new(Line::from(spans)).render(value_area, buf);
        }
        FieldKind::Several if !focused => {
            let text = if field.chosen.is_empty() { "none".to_string() } else { owned(&field.chosen.join(", ")) };
            Paragraph::new(Span::styled(text, t.input)).render(value_area, buf);
        }
        FieldKind::Pick | FieldKind::Several if focused => {
            let several = field.kind == FieldKind::Several;
            let [input, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(value_area);
            if several {
                // The typed text only filters; what is picked is said beside it.
                let picked =
                    if field.chosen.is_empty() { "none picked".to_string() } else { owned(&field.chosen.join(", ")) };
                let [typed, chosen] = Layout::horizontal([Constraint::Length(16), Constraint::Min(0)]).areas(input);
                draw_input(t, &field.input, typed, buf);
                Paragraph::new(Span::styled(format!(" {picked}"), t.input)).render(chosen, buf);
            } else {
                draw_input(t, &field.input, input, buf);
            }
            let matches = field.matches();
            let picked = field.picked.unwrap_or(usize::MAX);
            // Keep the highlighted entry in the few rows the list has.
            let skip = picked.saturating_sub(PICK_ROWS - 1).min(matches.len().saturating_sub(PICK_ROWS));
            let mut lines: Vec<Line> = matches
                .iter()
                .enumerate()
                .skip(skip)
                .take(PICK_ROWS)
                .map(|(k, o)| {
                    let mark = match (several, field.chosen.contains(&o.value)) {
                        (false, _) => "",
                        (true, true) => "[x] ",
                        (true, false) => "[ ] ",
                    };
                    let text = format!("{}{mark}{}", if k == picked { CURSOR } else { "  " }, safe(&o.label));
                    Line::styled(text, if k == picked { t.selected } else { t.base })
                })
                .collect();
            if field.options.is_empty() && field.label.to_lowercase().contains("user") {
                // Nothing to pick from at all: say where the entries come from.
                lines.push(Line::styled("  no users yet: add them in the Users tab (U on the profile list)", t.dim));
            } else if field.options.is_empty() && several {
                lines.push(Line::styled("  none in the catalog yet: add them in the Catalog tab", t.dim));
            } else if field.options.is_empty() {
                lines.push(Line::styled("  none yet: type a new one", t.dim));
            } else if matches.is_empty() {
                lines.push(Line::styled("  no match", t.dim));
            }
            Paragraph::new(lines).render(list, buf);
        }
        // A password is dots until the form reveals it.
        _ if field.secret && !field.revealed => {
            let dots = "•".repeat(field.text_value().chars().count());
            let cursor = if focused { "█" } else { "" };
            Paragraph::new(Line::from(vec![Span::styled(dots, t.input), Span::styled(cursor, t.dim)]))
                .render(value_area, buf)
        }
        _ if focused => draw_input(t, &field.input, value_area, buf),
        _ => {
            let lines: Vec<Line> = field.input.lines().iter().map(|l| Line::styled(owned(l), t.input)).collect();
            Paragraph::new(lines).render(value_area, buf);
        }
    }
    // A problem gets the whole width (it names the field and the value); a hint sits under the value.
    match &field.problem {
        Some(p) => {
            Paragraph::new(Span::styled(format!("! {}", safe(p)), t.error)).render(at(area.height - 1, 2, 1), buf)
        }
        None => Paragraph::new(Span::styled(safe(&field.hint), t.dim)).render(at(area.height - 1, label_w, 1), buf),
    }
}

/// A focused text input, in the input style with its cursor.
fn draw_input(t: &Theme, input: &ratatui_textarea::TextArea<'static>, area: Rect, buf: &mut Buffer) {
    let mut input = input.clone();
    input.set_style(t.input);
    input.set_cursor_line_style(Style::default());
    (&input).render(area, buf);
}

fn wizard(app: &App, w: &Wizard, area: Rect, frame: &mut Frame) {
    let t = &app.theme;
    let r = popup(area, 78, 20);
    frame.render_widget(Clear, r);
    let title = match &w.job {
        WizardJob::Profile(new) => format!("Add profile {}", safe(&new.name)),
        WizardJob::Dep => "Import DEP device information".to_string(),
    };
    let block = boxed(t, title);
    let inner = block.inner(r);
    frame.render_widget(block, r);
    match &w.stage {
        WizardStage::Validating | WizardStage::Importing { .. } => {
            let what = if matches!(w.stage, WizardStage::Validating) { "Checking" } else { "Importing" };
            let (rows, bytes, total, ms) = w.progress.unwrap_or((0, 0, 0, 0));
            let ratio = if total > 0 { (bytes as f64 / total as f64).min(1.0) } else { 0.0 };
            let rate = (rows * 1000).checked_div(ms).unwrap_or(0);
            let left = if ratio > 0.0 { (ms as f64 * (1.0 - ratio) / ratio / 1000.0).ceil() as u64 } else { 0 };
            let [text, gauge, _, keys] = Layout::vertical([
                Constraint::Length(2),
                Constraint::Length(1),
                Constraint::Min(0),
                Constraint::Length(1),
            ])
            .areas(inner);
            frame.render_widget(Paragraph::new(format!("{what} {}", safe(&file_name(&w.path)))), text);
            frame.render_widget(
                Gauge::default()
                    .gauge_style(t.ok)
                    .ratio(ratio)
                    .label(format!("{rows} rows, {rate} rows/s, about {left} s left")),
                gauge,
            );
            frame.render_widget(
                Paragraph::new(Line::from(vec![Span::styled("Esc", t.key), Span::raw(" cancel (nothing is written)")])),
                keys,
            );
        }
        WizardStage::Report(report) => {
            let (file, rows, encoding, delimiter) = report.file();
            let rejected = report.rejected();
            let mut lines = vec![Line::from(format!(
                "{}: {rows} rows, {} valid, {} rejected ({encoding}, delimiter {delimiter:?})",
                safe(&file_name(std::path::Path::new(file))),
                report.valid(),
                rejected.len(),
            ))];
            if let WizardReport::Dep(r) = report.as_ref() {
                lines.extend(dep_view::report_lines(t, r, usize::from(inner.height / 3)));
            }
            lines.push(Line::from(""));
            // Every reason of every rejected row (a row may have several, as in the rejects file), from
            // the scroll position on; the last line says where the view is and how to move it.
            let reasons: Vec<String> = rejected
                .iter()
                .flat_map(|rej| {
                    rej.problems.iter().map(move |p| {
                        let column =
                            p.column.as_ref().map(|(n, h)| format!(" column {n} ({})", safe(h))).unwrap_or_default();
                        format!("line {}{column} {:?}: {}", rej.line, safe(&p.value), safe(&p.reason))
                    })
                })
                .collect();
            // Each reason takes the rows it wraps to; as many as fit are shown from the scroll position.
            let width = usize::from(inner.width.max(1));
            let mut room = usize::from(inner.height.saturating_sub(2)).saturating_sub(lines.len());
            let first = w.scroll.min(reasons.len().saturating_sub(1));
            let mut last = first;
            for r in reasons.iter().skip(first) {
                let rows = r.chars().count().div_ceil(width).max(1);
                if rows > room && last > first {
                    break;
                }
                room = room.saturating_sub(rows);
                lines.push(Line::from(Span::styled(r.clone(), t.error)));
                last += 1;
            }
            let position = (last - first < reasons.len()).then(|| {
                format!(
                    "reasons {}–{last} of {} ({} more below); ↑/↓ PgUp/PgDn scroll",
                    first + 1,
                    reasons.len(),
                    reasons.len() - last
                )
            });
            if rejected.is_empty() {
                lines.push(Line::from(Span::styled("Every row is valid.", t.ok)));
            }
            let [body, where_, keys] =
                Layout::vertical([Constraint::Min(1), Constraint::Length(1), Constraint::Length(1)]).areas(inner);
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), body);
            if let Some(p) = position {
                frame.render_widget(Paragraph::new(Span::styled(p, t.dim)), where_);
            }
            let import = if rejected.is_empty() { " import  " } else { " import the valid rows  " };
            frame.render_widget(
                Paragraph::new(Line::from(vec![
                    Span::styled("Enter", t.key),
                    Span::raw(import),
                    Span::styled("Tab", t.key),
                    Span::raw(" save the rejected rows as CSV  "),
                    Span::styled("Esc", t.key),
                    Span::raw(" cancel"),
                ])),
                keys,
            );
        }
    }
}

/// The last part of a path: what the wizard names (the technician picked the directory).
fn file_name(path: &std::path::Path) -> String {
    path.file_name().unwrap_or(path.as_os_str()).to_string_lossy().into_owned()
}

/// All the text of a buffer, for tests and snapshots.
pub fn buffer_text(buffer: &ratatui::buffer::Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut line = String::new();
        for x in 0..area.width {
            line.push_str(buffer[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
