//! A form: its fields by kind (text, path, toggle, choice, lines, pick lists), the focused one's keys and
//! its problem or hint; scrolled when taller than the terminal.

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;
use ratatui::widgets::{Clear, Paragraph, Wrap};

use crate::tui::action::Action;
use crate::tui::context::DrawCtx;
use crate::tui::form::Form;
use crate::tui::form::{FieldKind, FormField};
use crate::tui::keymap::Context;
use crate::tui::theme::{CURSOR, Theme};
use crate::tui::widgets::text::{owned, safe};

use super::{boxed, popup};

/// Rows of the error or note above the keys, at most.
const MESSAGE_ROWS: usize = 4;

/// Rows of a pick list under its field, at most.
const PICK_ROWS: usize = 4;

/// Rows a field takes: its section heading, its value, a pick list or the lines of a list, the hint.
pub(crate) fn field_rows(field: &FormField, focused: bool) -> (u16, u16) {
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

pub(crate) fn draw_form(cx: &DrawCtx, form: &Form, area: Rect, frame: &mut Frame) {
    let t = cx.theme;
    let rows: Vec<(u16, u16)> = form.fields.iter().enumerate().map(|(i, f)| field_rows(f, i == form.focus)).collect();
    let total: u16 = rows.iter().map(|(h, v)| h + v).sum();
    let label_w = form.fields.iter().map(|f| f.label.chars().count()).max().unwrap_or(0).clamp(14, 30) as u16 + 3;
    // The error or note above the keys wraps onto as many as MESSAGE_ROWS rows (a conflict says what
    // the record holds now): the form gives up field rows for it, scrolling as it does when short.
    let message = match (&form.error, &form.note) {
        (Some(e), _) => Some((owned(e), t.error)),
        (None, Some(n)) => Some((owned(n), t.warn)),
        (None, None) => None,
    };
    let width = popup(area, 96, total + 4).width.saturating_sub(2).max(1) as usize;
    // Word wrapping leaves ends of rows empty: a tenth of each row is kept for that.
    let rows_of = |n: usize| if n <= width { 1 } else { n.div_ceil(width - width / 10) };
    let message_rows = message.as_ref().map_or(1, |(m, _)| rows_of(m.chars().count()).clamp(1, MESSAGE_ROWS));
    let r = popup(area, 96, total + 3 + message_rows as u16);
    frame.render_widget(Clear, r);
    let block = boxed(t, owned(&form.title));
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let room = inner.height.saturating_sub(1 + message_rows as u16);
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
    let rows = message_rows as u16;
    let said =
        Rect { x: inner.x, y: inner.y + inner.height.saturating_sub(1 + rows), width: inner.width, height: rows };
    if let Some((m, style)) = message {
        frame.render_widget(Paragraph::new(Span::styled(m, style)).wrap(Wrap { trim: false }), said);
    }
    let bottom = Rect { x: inner.x, y: inner.y + inner.height.saturating_sub(1), width: inner.width, height: 1 };
    let key = |a: Action| cx.keymap.key_label(Context::Dialog, a).unwrap_or_default();
    let mut keys = Vec::new();
    let mut push = |k: String, what: &str| {
        keys.push(Span::styled(k, t.key));
        keys.push(Span::raw(format!(" {what}  ")));
    };
    match form.fields[form.focus].kind {
        FieldKind::Lines => {
            push("Enter".into(), "new line");
            let save =
                cx.keymap.bindings(Context::Dialog).find(|(a, _)| *a == Action::Confirm).and_then(|(_, keys)| {
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
    frame.render_widget(Paragraph::new(Line::from(keys)), bottom);
}

/// One form field on `buf` in `area`: its section heading, label, value (by kind), and hint or problem.
pub(crate) fn draw_field(t: &Theme, field: &FormField, focused: bool, area: Rect, label_w: u16, buf: &mut Buffer) {
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

/// A focused text input, in the input style with its cursor. A control or bidi character in it (pasted,
/// or in a value read from a file) is drawn as its escape (`\e`, `\x00`, `\u{202E}`), the cursor where
/// it is in that text, instead of reaching the terminal raw or vanishing.
pub(crate) fn draw_input(t: &Theme, input: &ratatui_textarea::TextArea<'static>, area: Rect, buf: &mut Buffer) {
    use crate::domain::text::{is_unsafe, sanitize};
    let mut input = if input.lines().iter().any(|l| l.chars().any(is_unsafe)) {
        let ratatui_textarea::DataCursor(row, col) = input.cursor();
        let shown: Vec<String> = input.lines().iter().map(|l| sanitize(l).into_owned()).collect();
        let before: String = input.lines().get(row).map(|l| l.chars().take(col).collect()).unwrap_or_default();
        let col = sanitize(&before).chars().count();
        let mut view = ratatui_textarea::TextArea::new(shown);
        view.move_cursor(ratatui_textarea::CursorMove::Jump(row as u16, col as u16));
        view
    } else {
        input.clone()
    };
    input.set_style(t.input);
    input.set_cursor_line_style(Style::default());
    (&input).render(area, buf);
}
