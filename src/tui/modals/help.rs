//! The help overlay (every key, from the keymap, wrapped and scrolled), the status line's last messages,
//! and one record in full.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use crate::tui::context::{DrawCtx, Level, MIN_SIZE};
use crate::tui::keymap::Context;
use crate::tui::theme::Theme;
use crate::tui::widgets::text::{owned, safe};

use super::{boxed, popup};

/// The help overlay's text, every binding of every context with its description from the keymap, at
/// `width` columns inside its box: a description too long for the line goes on
/// under itself (never cut off), so scrolling counts real rows.
pub(crate) fn help_lines(cx: &DrawCtx, width: u16) -> Vec<Line<'static>> {
    let t = cx.theme;
    let room = usize::from(width).saturating_sub(20).max(20);
    let mut lines = Vec::new();
    for context in Context::ALL {
        let bindings: Vec<_> = cx.keymap.bindings(context).collect();
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

/// Words joined into lines of at most `width` characters (a longer word stands alone).
pub(crate) fn wrap_words(text: &str, width: usize) -> Vec<String> {
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

/// The help overlay's box on a terminal of `rows` rows.
pub(crate) fn help_box(area: Rect) -> Rect {
    popup(area, 96, area.height - 2)
}

/// How far the help overlay scrolls on a terminal of (columns, rows): until its last line is in view.
pub fn help_max_scroll(cx: &DrawCtx, size: (u16, u16)) -> u16 {
    let area = Rect::new(0, 0, size.0.max(MIN_SIZE.0), size.1.max(MIN_SIZE.1));
    let r = help_box(area);
    let inside = r.height.saturating_sub(2);
    (help_lines(cx, r.width.saturating_sub(2)).len() as u16).saturating_sub(inside)
}

pub(crate) fn help(cx: &DrawCtx, scroll: u16, area: Rect, frame: &mut Frame) {
    let t = cx.theme;
    let r = help_box(area);
    frame.render_widget(Clear, r);
    let more = if scroll < help_max_scroll(cx, (area.width, area.height)) { " ↓ more" } else { "" };
    let title = format!("Help (Up/Down, PgUp/PgDn scroll, Esc closes){more}");
    let lines = help_lines(cx, r.width.saturating_sub(2));
    frame.render_widget(Paragraph::new(lines).block(boxed(t, title)).scroll((scroll, 0)), r);
}

/// The status line's last messages, newest first, each whole (wrapped).
pub(crate) fn messages(t: &Theme, messages: &VecDeque<(Level, String, DateTime<Utc>)>, area: Rect, frame: &mut Frame) {
    let r = help_box(area);
    frame.render_widget(Clear, r);
    let lines: Vec<Line> = if messages.is_empty() {
        vec![Line::styled("no messages yet", t.dim)]
    } else {
        messages
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
pub(crate) fn record(t: &Theme, title: &str, lines: &[(String, String)], scroll: u16, area: Rect, frame: &mut Frame) {
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
