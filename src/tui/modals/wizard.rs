//! The import wizard: progress while the file is checked or imported, then the report.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Gauge, Paragraph, Wrap};

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::csv::android::ImportReport;
use crate::csv::dep::DepReport;
use crate::domain::NewProfile;
use crate::tui::screens::DrawCtx;
use crate::tui::widgets::text::safe;

use super::{boxed, popup};

pub(crate) fn wizard(cx: &DrawCtx, w: &Wizard, area: Rect, frame: &mut Frame) {
    let t = cx.theme;
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
                lines.extend(crate::tui::dep_view::report_lines(t, r, usize::from(inner.height / 3)));
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
pub(crate) fn file_name(path: &std::path::Path) -> String {
    path.file_name().unwrap_or(path.as_os_str()).to_string_lossy().into_owned()
}

/// What a wizard imports: a new Android profile's devices, or DEP device information.
#[derive(Clone, Debug)]
pub enum WizardJob {
    Profile(NewProfile),
    Dep,
}

/// A wizard's validation report, or what its import did.
#[derive(Debug)]
pub enum WizardReport {
    Profile(Box<ImportReport>),
    Dep(Box<DepReport>),
}

impl WizardReport {
    pub fn valid(&self) -> u64 {
        match self {
            WizardReport::Profile(r) => r.valid,
            WizardReport::Dep(r) => r.valid(),
        }
    }

    pub fn rejected(&self) -> &[crate::csv::Rejected] {
        match self {
            WizardReport::Profile(r) => &r.rejected,
            WizardReport::Dep(r) => &r.rejected,
        }
    }

    /// The file read, its rows, encoding and delimiter.
    pub fn file(&self) -> (&str, u64, &'static str, char) {
        match self {
            WizardReport::Profile(r) => (&r.file, r.rows, r.encoding, r.delimiter),
            WizardReport::Dep(r) => (&r.file, r.rows, r.encoding, r.delimiter),
        }
    }
}

/// An import after its form: the validation report, the import's progress.
#[derive(Debug)]
pub struct Wizard {
    pub job: WizardJob,
    pub path: PathBuf,
    pub stage: WizardStage,
    pub cancel: Arc<AtomicBool>,
    pub progress: Option<(u64, u64, u64, u64)>,
    /// The first reason shown in the report (Up/Down, PageUp/PageDown scroll them).
    pub scroll: usize,
}

#[derive(Debug)]
pub enum WizardStage {
    Validating,
    Report(Box<WizardReport>),
    Importing { skip_invalid: bool },
}
