//! The import wizard: progress while the file is checked or imported, then the report.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Gauge, Paragraph, Wrap};

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use std::sync::atomic::Ordering;

use ratatui::crossterm::event::KeyCode;

use crate::csv::android::{self as android_csv, Progress};
use crate::ops;
use crate::tui::action::Action;
use crate::tui::context::DrawCtx;
use crate::tui::context::{Ctx, Level};
use crate::tui::files::create_rejects;
use crate::tui::jobs::TaskMsg;
pub use crate::tui::jobs::{WizardJob, WizardReport};
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
                report.rejected_count(),
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
            // Past the rows held for the report, the rest are only in the rejects file (Tab).
            let not_kept = report.rejected_count() - rejected.len();
            let unshown = if not_kept > 0 {
                format!("; {not_kept} more rejected rows in the rejects file")
            } else {
                String::new()
            };
            let position = (last - first < reasons.len() || not_kept > 0).then(|| {
                format!(
                    "reasons {}–{last} of {} ({} more below){unshown}; ↑/↓ PgUp/PgDn scroll",
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

impl Wizard {
    /// The wizard for a file: its check starts at once, in the background.
    pub fn open(job: WizardJob, path: PathBuf, cx: &mut Ctx) -> Wizard {
        let wizard = Wizard {
            job,
            path,
            stage: WizardStage::Validating,
            cancel: Arc::new(AtomicBool::new(false)),
            progress: None,
            scroll: 0,
        };
        wizard.start(cx, true, false);
        wizard
    }

    /// Checks (`dry_run`) or imports the file as a job that reports its progress.
    fn start(&self, cx: &mut Ctx, dry_run: bool, skip_invalid: bool) {
        let store = cx.store.clone();
        let settings = cx.settings.clone();
        let (job, path, cancel) = (self.job.clone(), self.path.clone(), self.cancel.clone());
        let (now, actor) = (cx.now, cx.actor.clone());
        let what = if dry_run { "checking a file" } else { "importing a file" };
        cx.jobs.start(what, move |ctx| {
            let tx = &ctx.tx;
            let started = std::time::Instant::now();
            let core = ops::Ctx::new(store.as_ref(), actor, now);
            let max_rows = settings.max_rows();
            let mut progress = |p: Progress| {
                let _ = tx.send(TaskMsg::Progress {
                    rows: p.rows,
                    bytes: p.bytes,
                    total_bytes: p.total_bytes,
                    elapsed_ms: started.elapsed().as_millis() as u64,
                });
                !cancel.load(Ordering::Relaxed) && !ctx.stopped()
            };
            let report = match job {
                WizardJob::Profile(new) => {
                    let command = ops::import::Import {
                        file: path.clone(),
                        to: ops::import::ImportTo::New(new),
                        default_token_days: settings.token_days(),
                        dry_run,
                        skip_invalid,
                        max_rows,
                    };
                    ops::import::run(&core, command, &mut progress).map(|r| WizardReport::Profile(Box::new(r)))
                }
                WizardJob::Dep => {
                    let command = ops::dep::DepImport { file: path.clone(), dry_run, skip_invalid, max_rows };
                    ops::dep::import(&core, command, &mut progress).map(|r| WizardReport::Dep(Box::new(r)))
                }
            };
            let result = report.map_err(|e| match e {
                ops::OpError::Cancelled => "import cancelled; nothing was written".to_string(),
                other => other.to_string(),
            });
            if dry_run { TaskMsg::Validated(result) } else { TaskMsg::Imported(result) }
        });
    }

    /// The report's reasons scroll with the arrow and page keys (`page` rows); whether the key did.
    pub fn scroll_key(&mut self, key: KeyCode, page: usize) -> bool {
        let WizardStage::Report(r) = &self.stage else { return false };
        if !matches!(key, KeyCode::Up | KeyCode::Down | KeyCode::PageUp | KeyCode::PageDown | KeyCode::Home) {
            return false;
        }
        let total: usize = r.rejected().iter().map(|x| x.problems.len().max(1)).sum();
        self.scroll = match key {
            KeyCode::Up => self.scroll.saturating_sub(1),
            KeyCode::Down => self.scroll + 1,
            KeyCode::PageUp => self.scroll.saturating_sub(page),
            KeyCode::PageDown => self.scroll + page,
            _ => 0,
        }
        .min(total.saturating_sub(1));
        true
    }

    /// An action of the dialog's keys: Esc cancels (a check or an import in flight stops), Enter imports
    /// the valid rows, Tab saves the rejected rows beside the file. The wizard if it stays open, and what
    /// the status line says.
    pub fn action(mut self: Box<Self>, action: Action, cx: &mut Ctx) -> (Option<Box<Wizard>>, Option<(Level, String)>) {
        match (&self.stage, action) {
            (WizardStage::Validating | WizardStage::Importing { .. }, Action::Cancel | Action::Back) => {
                self.cancel.store(true, Ordering::Relaxed);
                (Some(self), None)
            }
            (WizardStage::Report(r), Action::Confirm) => {
                if r.valid() == 0 {
                    return (Some(self), Some((Level::Error, "no valid row to import".into())));
                }
                let skip = r.rejected_count() > 0;
                self.stage = WizardStage::Importing { skip_invalid: skip };
                self.progress = None;
                self.start(cx, false, skip);
                (Some(self), None)
            }
            (WizardStage::Report(r), Action::NextField) => {
                let written = create_rejects(&self.path).and_then(|(out, f)| {
                    match r.as_ref() {
                        WizardReport::Profile(r) => android_csv::write_rejects(r, f),
                        WizardReport::Dep(r) => r.rejected.write(&r.header, f),
                    }
                    .map(|()| out.clone())
                    .map_err(|e| format!("{}: {e}", crate::files::name(&out)))
                });
                let said = match written {
                    Ok(out) => (Level::Info, format!("wrote the rejected rows to {}", crate::files::name(&out))),
                    Err(e) => (Level::Error, e),
                };
                (Some(self), Some(said))
            }
            (WizardStage::Report(_), Action::Cancel | Action::Back) => {
                (None, Some((Level::Info, "cancelled; nothing was written".into())))
            }
            _ => (Some(self), None),
        }
    }
}
