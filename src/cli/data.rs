//! `import`, `export`, `devices`, `register`, `check` and `template`.

use std::io::Write;
use std::path::PathBuf;

use chrono::Utc;

use super::{Context, DeviceSelector, DevicesCmd, Failure, ImportArgs, Outcome, RegisterArgs, key_value, print_rows};
use crate::csv::android::{self, ImportOptions};
use crate::domain::registration::Outcome as Reg;
use crate::domain::text::sanitize;
use crate::domain::{Identifiers, Imei, NewDevice, NewProfile, Source, Status, check_attribute};
use crate::ops;
use crate::store::{ImportTarget, Lookup, Store};

pub fn import(ctx: &mut Context, a: ImportArgs) -> Outcome {
    let store = ctx.store()?;
    let existing = store.profile(&a.profile)?;
    let target = match existing {
        Some(p) => {
            if a.description.is_some() || a.without_token || a.user.is_some() || a.token_days.is_some() {
                return Err(Failure::usage(format!(
                    "profile {:?} exists already; --description, --without-token, --user and --token-days apply only when --create creates it",
                    p.name
                )));
            }
            ImportTarget::Existing(p.id)
        }
        None if a.create => {
            let new = NewProfile {
                name: a.profile.clone(),
                description: a.description.clone(),
                without_token: a.without_token,
                user: a.user.clone(),
                token_days: a.token_days,
            };
            ImportTarget::Create(Box::new(
                ops::build_profile(&ctx.settings, new, Utc::now()).map_err(Failure::refused)?,
            ))
        }
        None => {
            return Err(Failure::refused(format!(
                "no profile named {:?} (add --create to create it)",
                a.profile.trim()
            )));
        }
    };
    let opts = ImportOptions { dry_run: a.dry_run, skip_invalid: a.skip_invalid, max_rows: ctx.settings.max_rows() };
    let report = android::import(&*store, &a.file, target, &opts, &mut |_| true)?;
    if let Some(path) = &a.rejects {
        let f = std::fs::File::create(path).map_err(|e| Failure::refused(format!("{}: {e}", path.display())))?;
        android::write_rejects(&report, std::io::BufWriter::new(f))
            .map_err(|e| Failure::refused(format!("{}: {e}", path.display())))?;
    }
    let name = sanitize(&report.profile).into_owned();
    let rejected = report.rejected.len();
    let summary = format!(
        "{} ({}, delimiter {:?}): {} data rows, {} valid, {} rejected",
        report.file, report.encoding, report.delimiter, report.rows, report.valid, rejected
    );
    summary_then_rejected(&summary, &report.file, &report.rejected);
    if let Some(p) = &report.committed {
        println!("Imported {} devices into profile {name:?}; it now has {} devices.", report.valid, p.device_count);
        if rejected > 0 {
            println!("Skipped {rejected} rejected rows{}.", rejects_hint(&a.rejects));
        }
        return Ok(());
    }
    if a.dry_run {
        println!("Dry run: nothing was written.");
        return if rejected == 0 { Ok(()) } else { Err(Failure { code: 1, lines: vec![] }) };
    }
    Err(Failure::refused(format!(
        "nothing imported: {rejected} of {} rows were rejected{}; fix them, or import the valid rows with --skip-invalid",
        report.rows,
        rejects_hint(&a.rejects)
    )))
}

/// The summary on stdout, ended and flushed before the rejected rows go to stderr, so that a terminal (or
/// `2>&1`) shows the summary on its own line above them.
pub fn summary_then_rejected(summary: &str, file: &str, rejected: &[crate::csv::Rejected]) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{summary}");
    let _ = out.flush();
    drop(out);
    print_rejected(file, rejected);
}

/// Each problem of each rejected row on stderr, as `FILE:LINE:COLUMN: HEADER "VALUE": reason`.
pub fn print_rejected(file: &str, rejected: &[crate::csv::Rejected]) {
    for r in rejected {
        for p in &r.problems {
            let line = match &p.column {
                Some((n, name)) => format!(
                    "{file}:{}:{n}: {} {:?}: {}",
                    r.line,
                    sanitize(name),
                    sanitize(&p.value),
                    sanitize(&p.reason)
                ),
                None => format!("{file}:{}: {}", r.line, sanitize(&p.reason)),
            };
            eprintln!("{line}");
        }
    }
}

pub fn rejects_hint(rejects: &Option<PathBuf>) -> String {
    match rejects {
        Some(p) => format!(" (written to {})", p.display()),
        None => String::new(),
    }
}

pub fn export(ctx: &mut Context, profile: &str, output: Option<PathBuf>) -> Outcome {
    let store = ctx.store()?;
    let p = ops::require_profile(&*store, profile)?;
    let n = match &output {
        Some(path) => {
            let f = std::fs::File::create(path).map_err(|e| Failure::refused(format!("{}: {e}", path.display())))?;
            let mut w = std::io::BufWriter::new(f);
            let n = android::export(&*store, &p, &mut w).map_err(Failure::refused)?;
            w.flush().map_err(|e| Failure::refused(format!("{}: {e}", path.display())))?;
            n
        }
        None if std::io::IsTerminal::is_terminal(&std::io::stdout()) => {
            // On a terminal the inventory is for reading: control characters become visible escapes.
            let mut bytes = Vec::new();
            let n = android::export(&*store, &p, &mut bytes).map_err(Failure::refused)?;
            for line in String::from_utf8_lossy(&bytes).lines() {
                println!("{}", crate::domain::text::sanitize(line));
            }
            n
        }
        None => android::export(&*store, &p, std::io::stdout().lock()).map_err(Failure::refused)?,
    };
    if let Some(path) = output {
        println!("Wrote {n} devices of profile {:?} to {}.", sanitize(&p.name), path.display());
    }
    Ok(())
}

fn parse_imei_arg(raw: &str) -> Result<Imei, Failure> {
    Imei::parse(raw).map_err(|e| Failure::usage(format!("--imei {raw:?}: {e}")))
}

fn lookup(which: &DeviceSelector) -> Result<Lookup, Failure> {
    match (&which.imei, &which.serial, &which.manufacturer) {
        (Some(i), _, _) => Ok(Lookup::Imei(parse_imei_arg(i)?)),
        (None, Some(s), Some(m)) => Ok(Lookup::Serial { serial: s.clone(), manufacturer: m.clone() }),
        _ => Err(Failure::usage("name the device with --imei, or with --serial and --manufacturer")),
    }
}

fn identifiers(imei: &str, serial: &str, manufacturer: &str) -> Result<Identifiers, Failure> {
    Identifiers::parse(imei, serial, manufacturer).map_err(|problems| Failure {
        code: 1,
        lines: problems.into_iter().map(|(f, m)| format!("{}: {m}", f.header())).collect(),
    })
}

/// `--attr NAME=VALUE` values, each name spelt as the profile already spells it.
fn attributes(
    profile: &crate::domain::Profile,
    list: &[String],
) -> Result<Vec<(std::sync::Arc<str>, String)>, Failure> {
    list.iter()
        .map(|kv| {
            let (k, v) = key_value(kv)?;
            check_attribute(k, v).map_err(Failure::refused)?;
            Ok((std::sync::Arc::from(profile.attribute_name(k).as_str()), v.trim().to_string()))
        })
        .collect()
}

pub fn devices(ctx: &mut Context, cmd: DevicesCmd) -> Outcome {
    let store = ctx.store()?;
    match cmd {
        DevicesCmd::List { profile, format } => {
            let p = ops::require_profile(&*store, &profile)?;
            let mut header: Vec<&str> = vec!["IMEI", "Serial Number", "Manufacturer"];
            header.extend(p.attributes.iter().map(String::as_str));
            header.extend(["Status", "Source"]);
            let mut rows = Vec::new();
            store.devices(p.id, &mut |d| {
                let mut row = vec![
                    d.ids.imei.map(|i| i.to_string()).unwrap_or_default(),
                    d.ids.serial.clone().unwrap_or_default(),
                    d.ids.manufacturer.clone().unwrap_or_default(),
                ];
                row.extend(p.attributes.iter().map(|a| d.attribute(a).unwrap_or("").to_string()));
                row.push(d.status.label().to_string());
                row.push(d.source.to_string());
                rows.push(row);
                true
            })?;
            print_rows(format, &header, rows)
        }
        DevicesCmd::Add { profile, imei, serial, manufacturer, attrs } => {
            let p = ops::require_profile(&*store, &profile)?;
            let ids = identifiers(
                imei.as_deref().unwrap_or(""),
                serial.as_deref().unwrap_or(""),
                manufacturer.as_deref().unwrap_or(""),
            )?;
            let new =
                NewDevice { ids, attributes: attributes(&p, &attrs)?, status: Status::Pending, source: Source::Manual };
            let d = store.add_device(p.id, new)?;
            println!("Added {} to profile {:?}.", sanitize(&d.label()), sanitize(&p.name));
            Ok(())
        }
        DevicesCmd::Edit { which, set_imei, set_serial, set_manufacturer, attrs, unset_attrs } => {
            let which_device = lookup(&which)?;
            let p = ops::require_profile(&*store, &which.profile)?;
            let mut d = ops::require_device(&*store, &p, &which_device)?;
            let imei = set_imei.unwrap_or_else(|| d.ids.imei.map(|i| i.to_string()).unwrap_or_default());
            let serial = set_serial.unwrap_or_else(|| d.ids.serial.clone().unwrap_or_default());
            let manufacturer = set_manufacturer.unwrap_or_else(|| d.ids.manufacturer.clone().unwrap_or_default());
            d.ids = identifiers(&imei, &serial, &manufacturer)?;
            for (k, v) in attributes(&p, &attrs)? {
                d.set_attribute(&k, Some(&v));
            }
            for k in &unset_attrs {
                d.set_attribute(&p.attribute_name(k), None);
            }
            let d = store.update_device(p.id, d)?;
            println!("Saved {} in profile {:?}.", sanitize(&d.label()), sanitize(&p.name));
            Ok(())
        }
        DevicesCmd::Delete { which } => {
            let which_device = lookup(&which)?;
            let p = ops::require_profile(&*store, &which.profile)?;
            let d = ops::require_device(&*store, &p, &which_device)?;
            store.delete_devices(p.id, &[d.seq])?;
            println!("Deleted {} from profile {:?}.", sanitize(&d.label()), sanitize(&p.name));
            Ok(())
        }
    }
}

pub fn register(ctx: &mut Context, a: RegisterArgs) -> Outcome {
    let store = ctx.store()?;
    let imei = match a.imei.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(raw) => Some(parse_imei_arg(raw)?),
        None => None,
    };
    let r =
        ops::register(&*store, Utc::now(), a.token.as_deref(), imei, a.serial.as_deref(), a.manufacturer.as_deref())?;
    match (&r.outcome, &r.profile, &r.device) {
        (Reg::Registered { .. }, Some(p), Some(d)) => {
            println!("registered: {} in profile {:?}", sanitize(&d.label()), sanitize(&p.name));
            Ok(())
        }
        (Reg::NotThisFlow(why), _, _) => Err(Failure::refused(format!(
            "not this flow: {why}; the device must use the normal ID/password registration"
        ))),
        (Reg::NotRegistered(why), _, _) => Err(Failure::refused(format!("not registered: {}", sanitize(why)))),
        (Reg::Registered { .. }, _, _) => Err(Failure::refused("registered, but the device could not be read back")),
    }
}

pub fn check(ctx: &mut Context) -> Outcome {
    let store = ctx.store()?;
    let problems = store.check()?;
    if problems.is_empty() {
        let profiles = store.profiles()?;
        let devices: u64 = profiles.iter().map(|p| p.device_count).sum();
        println!("database {} is consistent: {} profiles, {devices} devices", ctx.db_dir.display(), profiles.len());
        Ok(())
    } else {
        Err(Failure { code: 1, lines: problems })
    }
}

pub fn template(text: &str, output: Option<PathBuf>, force: bool) -> Outcome {
    match output {
        Some(path) => {
            let mut open = std::fs::OpenOptions::new();
            open.write(true);
            if force {
                open.create(true).truncate(true);
            } else {
                open.create_new(true);
            }
            let written = open.open(&path).and_then(|mut f| f.write_all(text.as_bytes()));
            written.map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => Failure::refused(format!(
                    "{} exists already; it was left as it is (add --force to replace it)",
                    path.display()
                )),
                _ => Failure::refused(format!("{}: {e}", path.display())),
            })?;
            println!("Wrote the template to {}.", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}
