//! What a DEP import will do, as the wizard's report shows it. Every stored text goes through `safe`.

use ratatui::text::{Line, Span};

use super::theme::Theme;
use super::widgets::text::safe;
use crate::csv::dep::DepReport;

/// What a DEP import will do: the mode, the counts, and the stored values it clears (at most `room` lines).
pub(crate) fn report_lines<'a>(t: &Theme, r: &'a DepReport, room: usize) -> Vec<Line<'a>> {
    let mut lines = vec![
        Line::from(format!("The header says: {}.", r.mode.map(|m| m.describe()).unwrap_or("nothing"))),
        Line::from(format!(
            "Devices: {2} new, {3} updated.  Users: {0} new, {1} updated.  Unchanged: {4}.",
            r.users_created, r.users_updated, r.devices_created, r.devices_updated, r.unchanged
        )),
    ];
    if r.mails > 0 {
        lines.push(Line::from(format!(
            "{} check-in email{} will be queued.",
            r.mails,
            if r.mails == 1 { "" } else { "s" }
        )));
    }
    for c in r.cleared.iter().take(room) {
        lines.push(Line::from(Span::styled(
            format!("line {} {}: {} {:?} will be cleared", c.line, safe(&c.record), c.field, safe(&c.old)),
            t.warn,
        )));
    }
    if r.cleared.len() > room {
        lines.push(Line::from(Span::styled(format!("… and {} more cleared values", r.cleared.len() - room), t.dim)));
    }
    lines
}
