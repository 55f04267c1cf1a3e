//! The Android bulk-enrollment import (and its dry run): one command, one audit entry with the counts.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::profiles::{created_text, new_profile};
use super::{Ctx, OpError, Result};
use crate::csv::android::{self, ImportOptions};
use crate::csv::{ImportReport, Progress};
use crate::domain::NewProfile;
use crate::domain::audit::{AuditOutcome, ImportCounts};
use crate::store::ImportTarget;

/// Where the devices go.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ImportTo {
    /// A profile that exists.
    Existing(String),
    /// A new profile, created by the import atomically with its devices (the name must be free).
    New(NewProfile),
    /// The profile of that name, created as given if it does not exist. When it exists, the creation
    /// settings (description, token, user) must not be given: they would be silently ignored.
    ExistingOrNew(NewProfile),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Import {
    pub file: PathBuf,
    pub to: ImportTo,
    /// The token lifetime of a created profile when none is given.
    pub default_token_days: u32,
    pub dry_run: bool,
    pub skip_invalid: bool,
    pub max_rows: u64,
}

fn has_creation_settings(n: &NewProfile) -> bool {
    n.description.is_some() || n.without_token || n.user.is_some() || n.token_days.is_some()
}

/// The field of the error when an existing profile is given creation settings.
pub const CREATION_SETTINGS: &str = "creation_settings";

fn target(ctx: &Ctx, c: &Import) -> Result<ImportTarget> {
    let create = |n: &NewProfile| -> Result<ImportTarget> {
        if let Some(u) = n.user.as_deref().map(str::trim).filter(|u| !u.is_empty())
            && ctx.store.user(u)?.is_none()
        {
            return Err(OpError::invalid("user", format!("no user named {u:?}")));
        }
        Ok(ImportTarget::Create(Box::new(new_profile(n.clone(), c.default_token_days, ctx.now)?)))
    };
    match &c.to {
        ImportTo::Existing(name) => Ok(ImportTarget::Existing(super::require_profile(ctx.store, name)?.id)),
        ImportTo::New(n) => match ctx.store.profile(&n.name)? {
            Some(p) => Err(OpError::invalid("name", format!("a profile named {:?} exists already", p.name))),
            None => create(n),
        },
        ImportTo::ExistingOrNew(n) => match ctx.store.profile(&n.name)? {
            Some(p) if has_creation_settings(n) => Err(OpError::invalid(
                CREATION_SETTINGS,
                format!(
                    "profile {:?} exists already; a description, token settings and a user apply only when the import creates it",
                    p.name
                ),
            )),
            Some(p) => Ok(ImportTarget::Existing(p.id)),
            None => create(n),
        },
    }
}

fn profile_name(to: &ImportTo) -> &str {
    match to {
        ImportTo::Existing(n) => n.trim(),
        ImportTo::New(n) | ImportTo::ExistingOrNew(n) => n.name.trim(),
    }
}

/// Checks every row, then writes the valid ones as one atomic change, or nothing: all-or-nothing unless
/// `skip_invalid`; a dry run writes nothing but its audit entry.
pub fn run(ctx: &Ctx, c: Import, progress: &mut dyn FnMut(Progress) -> bool) -> Result<ImportReport> {
    let file_name = c.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let what = format!("file {file_name}");
    let name = profile_name(&c.to).to_string();
    ctx.audited("import", Some(&name), &what, &[], || {
        let target = target(ctx, &c)?;
        let created = matches!(target, ImportTarget::Create(_));
        let opts = ImportOptions { dry_run: c.dry_run, skip_invalid: c.skip_invalid, max_rows: c.max_rows };
        let checked = android::check(ctx.store, &c.file, target, &opts, progress)?;
        let writes = checked.writes(&opts);
        let android::Checked { mut report, session, attributes } = checked;
        let rejected = report.rejected.len() as u64;
        let mut counts = ImportCounts { rows: report.rows, valid: report.valid, rejected, created: 0, updated: 0 };
        let profile = session.profile().clone();
        if writes {
            counts.created = report.valid;
            let mut said = format!("imported {} device{}", report.valid, super::plural(report.valid));
            if created {
                said = format!("{}; {said}", created_text(&profile));
            }
            let audit = ctx.entry("import", Some(&profile.name), &what, AuditOutcome::Done(said), Some(counts));
            report.committed = Some(session.commit(&attributes, &audit)?);
        } else {
            drop(session);
            let outcome = if c.dry_run {
                AuditOutcome::Done("dry run: nothing was written".into())
            } else {
                AuditOutcome::Refused(format!("{rejected} of {} rows rejected; nothing was imported", report.rows))
            };
            let _ = ctx.store.append_audit(&ctx.entry("import", Some(&profile.name), &what, outcome, Some(counts)));
        }
        Ok(report)
    })
}
