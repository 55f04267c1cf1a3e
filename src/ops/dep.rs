//! Apple DEP device information: the import (and dry run), a record saved from a form or `dep edit`,
//! check-in, withdraw, delete, and the outbox of check-in emails.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::dep_rows::Planner;
use super::{Ctx, OpError, Result, plural};
use crate::csv::Progress;
use crate::csv::dep::{Col, DepFile, DepReport, Mode};
use crate::domain::audit::{AuditOutcome, ImportCounts};
use crate::domain::dep::{CheckIn, DepDevice, DepState, check_in as check_in_rule};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DepImport {
    pub file: PathBuf,
    pub dry_run: bool,
    pub skip_invalid: bool,
    pub max_rows: u64,
}

fn counts(r: &DepReport) -> ImportCounts {
    ImportCounts {
        rows: r.rows,
        valid: r.valid(),
        rejected: r.rejected.len() as u64,
        created: r.devices_created + r.users_created,
        updated: r.devices_updated + r.users_updated,
    }
}

/// What a DEP import did, in words (no check-in code).
pub fn summary(r: &DepReport) -> String {
    format!(
        "devices {} new, {} updated; users {} new, {} updated; {} check-in email{} queued",
        r.devices_created,
        r.devices_updated,
        r.users_created,
        r.users_updated,
        r.mails,
        plural(r.mails)
    )
}

/// Writes what a checked DEP import (or one-row save) is to write, with its audit entry; records a dry
/// run or a refusal on its own. Check-in codes are never in the entry.
fn finish(ctx: &Ctx, command: &str, target: &str, mut report: DepReport, dry_run: bool) -> Result<DepReport> {
    let c = counts(&report);
    match report.pending.take() {
        Some(change) => {
            let audit = ctx.entry(command, None, target, AuditOutcome::Done(summary(&report)), Some(c));
            ctx.store.dep_apply(change, &audit)?;
            report.committed = true;
        }
        None => {
            let outcome = if dry_run {
                AuditOutcome::Done(format!("dry run: nothing was written ({})", summary(&report)))
            } else if report.rejected.is_empty() {
                AuditOutcome::Done("nothing to change".into())
            } else {
                AuditOutcome::Refused(format!(
                    "{} of {} rows rejected; nothing was imported",
                    report.rejected.len(),
                    report.rows
                ))
            };
            let _ = ctx.store.append_audit(&ctx.entry(command, None, target, outcome, Some(c)));
        }
    }
    Ok(report)
}

/// Reads and checks a DEP file row by row with the core's rules, then writes it all or nothing (or its
/// valid rows with `skip_invalid`); a dry run writes only its audit entry.
pub fn import(ctx: &Ctx, c: DepImport, progress: &mut dyn FnMut(Progress) -> bool) -> Result<DepReport> {
    let file_name = c.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let target = format!("file {file_name}");
    ctx.audited("dep.import", None, &target, &[], || {
        let file = DepFile::open(&c.file)?;
        let mut planner = Planner::new(ctx.store, ctx.now, file.mode(), file.report());
        let (bytes_read, total_bytes) = (file.bytes_read.clone(), file.total_bytes);
        // Past the limit the rows are counted to the end, as the Android import counts them, so that the
        // message says how many.
        let (mut over, mut cancelled) = (0u64, false);
        file.each_row(|(line, fields, cells)| {
            if planner.rows() >= c.max_rows {
                over += 1;
                return Ok(true);
            }
            planner.row(line, fields, cells)?;
            if planner.rows().is_multiple_of(1024) {
                let bytes = bytes_read.load(std::sync::atomic::Ordering::Relaxed);
                if planner.rows() == 1024 && bytes > 0 {
                    // The file's rows as its first ones suggest (the decoder reads ahead: rather fewer).
                    let rows = (total_bytes as u128 * 1024 / u128::from(bytes)).min(u128::from(c.max_rows));
                    planner.expect_rows(rows as u64);
                }
                if !progress(Progress { rows: planner.rows(), bytes, total_bytes }) {
                    cancelled = true;
                    return Ok(false);
                }
            }
            Ok::<_, OpError>(true)
        })?;
        if cancelled {
            return Err(OpError::Cancelled);
        }
        if over > 0 {
            return Err(OpError::invalid(
                "file",
                format!(
                    "{}: the file has {} data rows; at most {} are allowed in one import (max_rows); nothing was \
                     imported (split the file)",
                    crate::csv::android::display_name(&c.file),
                    planner.rows() + over,
                    c.max_rows
                ),
            ));
        }
        let write = !c.dry_run && (planner.rejected() == 0 || c.skip_invalid);
        finish(ctx, "dep.import", &target, planner.finish(write), c.dry_run)
    })
}

/// One record saved as a one-row import of (column, value) cells: the CSV's rules exactly (blank clears,
/// a blank code is generated on create and kept on update, read-only records, catalog checks, mail).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DepSave {
    pub cells: Vec<(String, String)>,
    /// An update's precondition: the record's modification stamp when the form showing it opened (a
    /// `Conflict` if someone saved it since); `None` checks it against this command's own read only.
    #[serde(default)]
    pub expect: Option<chrono::DateTime<chrono::Utc>>,
}

pub fn save(ctx: &Ctx, c: DepSave) -> Result<DepReport> {
    let id = c.cells.iter().find(|(k, _)| k == "Identifier").map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    let code: Vec<&str> = c.cells.iter().filter(|(k, _)| k == "Code").map(|(_, v)| v.trim()).collect();
    let target = format!("DEP device {id}");
    ctx.audited("dep.save", None, &target, &code, || {
        let mut cols = Vec::new();
        for (name, _) in &c.cells {
            let col = Col::from_name(name).ok_or_else(|| OpError::invalid("column", format!("no column {name:?}")))?;
            cols.push(col);
        }
        let mode = Mode::of(&cols).map_err(|e| OpError::invalid("column", e))?;
        let report = DepReport {
            file: "form".into(),
            encoding: "UTF-8",
            delimiter: ',',
            header: c.cells.iter().map(|(k, _)| k.clone()).collect(),
            ..DepReport::default()
        };
        let mut planner = Planner::new(ctx.store, ctx.now, mode, report);
        // A value reads as the same cell of a file would: trimmed, a spreadsheet's text marker (a leading
        // apostrophe before = + - @) taken off, so the export of what is saved imports back unchanged.
        let value = |v: &str| crate::domain::text::unescape_formula(crate::domain::text::trim(v)).to_string();
        let values: Vec<String> = c.cells.iter().map(|(_, v)| value(v)).collect();
        let fields: Vec<&str> = values.iter().map(String::as_str).collect();
        let cells: Vec<_> =
            cols.iter().zip(&values).enumerate().map(|(i, (col, v))| (*col, i + 1, v.as_str())).collect();
        planner.row(1, &fields, Some(&cells))?;
        let write = planner.rejected() == 0;
        let mut report = planner.finish(write);
        if let (Some(t), Some(change)) = (c.expect, report.pending.as_mut()) {
            let expecting = |mut w: crate::store::DeviceWrite| {
                if !w.create {
                    w.expect = Some(t);
                }
                w
            };
            change.devices = change.devices.iter().map(|w| w.map(expecting)).collect::<std::result::Result<_, _>>()?;
        }
        finish(ctx, "dep.save", &target, report, false)
    })
}

fn require(ctx: &Ctx, identifier: &str) -> Result<DepDevice> {
    ctx.store.dep_device(identifier)?.ok_or_else(|| OpError::NotFound(format!("no device {}", identifier.trim())))
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DepCheckIn {
    pub identifier: String,
    pub presented: CheckIn,
}

/// Checks a DEP device in as it presents itself: the record's own rules, and (in the store, atomically)
/// one DEP device serial checks in on one record only.
pub fn check_in(ctx: &Ctx, c: DepCheckIn) -> Result<DepDevice> {
    let target = format!("DEP device {}", c.identifier.trim());
    let code = c.presented.code.clone();
    ctx.audited("dep.check_in", None, &target, &[code.as_str()], || {
        let stored = require(ctx, &c.identifier)?;
        let mut d = stored.clone();
        check_in_rule(&mut d, &c.presented, ctx.now).map_err(OpError::Refused)?;
        let said = match &c.presented.serial {
            Some(s) => format!("checked in as DEP device {s}"),
            None => "checked in".into(),
        };
        let audit = ctx.done("dep.check_in", None, &target, said);
        Ok(ctx.store.dep_put(d, stored.modified, &audit)?)
    })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DepWithdraw {
    pub identifier: String,
}

/// Withdraws a DEP device: it can no longer check in, and its record becomes read-only.
pub fn withdraw(ctx: &Ctx, c: DepWithdraw) -> Result<DepDevice> {
    let target = format!("DEP device {}", c.identifier.trim());
    ctx.audited("dep.withdraw", None, &target, &[], || {
        let stored = require(ctx, &c.identifier)?;
        if let DepState::Withdrawn { .. } = stored.state {
            return Err(OpError::Refused(format!("{} is withdrawn already", stored.identifier)));
        }
        let mut d = stored.clone();
        d.state = DepState::Withdrawn { at: ctx.now };
        d.modified = ctx.now;
        let audit = ctx.done("dep.withdraw", None, &target, "withdrawn".into());
        Ok(ctx.store.dep_put(d, stored.modified, &audit)?)
    })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DepDelete {
    pub identifier: String,
}

pub fn delete(ctx: &Ctx, c: DepDelete) -> Result<()> {
    let target = format!("DEP device {}", c.identifier.trim());
    ctx.audited("dep.delete", None, &target, &[], || {
        let audit = ctx.done("dep.delete", None, &target, "record deleted".into());
        Ok(ctx.store.dep_delete(&c.identifier, &audit)?)
    })
}

/// Queued check-in emails written out (as .eml files): marked so they are not written twice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxWritten {
    pub ids: Vec<u64>,
}

pub fn outbox_written(ctx: &Ctx, c: OutboxWritten) -> Result<u64> {
    let n = c.ids.len() as u64;
    let target = "outbox".to_string();
    ctx.audited("dep.outbox", None, &target, &[], || {
        let audit = ctx.done("dep.outbox", None, &target, format!("{n} check-in email{} written", plural(n)));
        ctx.store.mark_written(&c.ids, &audit)?;
        Ok(n)
    })
}
