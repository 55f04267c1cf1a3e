//! Drawing. `render` reads the app state and draws; it changes nothing and never touches the store.
//! Every text that comes from a file or the database goes through `safe` (control characters escaped).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::action::Action;
use super::app::{App, FormPurpose, Level, MIN_SIZE, Modal, Screen, Tab};
use super::keymap::Context;
use super::modals;

pub use super::modals::help::help_max_scroll;
pub use super::modals::popup;
use super::widgets::text::safe;

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
    app.screen().unit().draw(&app.draw_ctx(), body, frame);
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
        Some(Modal::Help { scroll }) => modals::help::help(&app.draw_ctx(), *scroll, area, frame),
        Some(Modal::Messages) => modals::help::messages(t, &app.messages, area, frame),
        Some(Modal::Record { title, lines, scroll }) => modals::help::record(t, title, lines, *scroll, area, frame),
        Some(Modal::Confirm { text, .. }) => modals::confirm::confirm(t, text, area, frame),
        Some(Modal::Form(form)) => modals::form::draw_form(&app.draw_ctx(), form, area, frame),
        Some(Modal::Wizard(w)) => modals::wizard::wizard(&app.draw_ctx(), w, area, frame),
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
