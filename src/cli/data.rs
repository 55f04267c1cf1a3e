//! `import`, `export`, `devices`, `register`, `check` and `template`.

use std::io::Write;
use std::path::PathBuf;

use super::{Context, DeviceSelector, DevicesCmd, Failure, ImportArgs, Outcome, RegisterArgs, key_value};
use crate::csv::android;
use crate::domain::NewProfile;
use crate::domain::registration::Outcome as Reg;
use crate::domain::text::{quote, sanitize};
use crate::ops;
use crate::ops::devices::DeviceRef;
use crate::ops::import::ImportTo;

pub fn import(ctx: &mut Context, a: ImportArgs) -> Outcome {
    let store = ctx.store()?;
    let new = NewProfile {
        name: a.profile.clone(),
        description: a.description.clone(),
        without_token: a.without_token,
        user: a.user.clone(),
        token_days: a.token_days,
    };
    let to = if a.create { ImportTo::ExistingOrNew(new) } else { ImportTo::Existing(a.profile.clone()) };
    let command = ops::import::Import {
        file: a.file.clone(),
        to,
        default_token_days: ctx.settings.token_days(),
        dry_run: a.dry_run,
        skip_invalid: a.skip_invalid,
        max_rows: ctx.settings.max_rows(),
    };
    // Made before the import runs: a rejects file that cannot be written stops it before it writes anything.
    let rejects_file = a.rejects.as_deref().map(|p| super::output_file(p, a.force, Some(&a.file))).transpose()?;
    let report = match ops::import::run(&ctx.core(&*store), command, &mut |_| true) {
        Ok(r) => r,
        Err(ops::OpError::NotFound(m)) if !a.create => {
            return Err(Failure::refused(format!("{m} (add --create to create it)")));
        }
        Err(e) => {
            let flags = &[("token_days", "--token-days"), ("description", "--description"), ("user", "--user")];
            return Err(super::flagged(flags)(e));
        }
    };
    if let (Some(path), Some(f)) = (&a.rejects, rejects_file) {
        android::write_rejects(&report, std::io::BufWriter::new(f))
            .map_err(|e| Failure::refused(format!("{}: {e}", crate::files::name(path))))?;
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
                Some((n, name)) => {
                    format!("{file}:{}:{n}: {} {}: {}", r.line, sanitize(name), quote(&p.value), sanitize(&p.reason))
                }
                None => format!("{file}:{}: {}", r.line, sanitize(&p.reason)),
            };
            eprintln!("{line}");
        }
    }
}

pub fn rejects_hint(rejects: &Option<PathBuf>) -> String {
    match rejects {
        Some(p) => format!(" (written to {})", crate::files::name(p)),
        None => String::new(),
    }
}

pub fn export(ctx: &mut Context, profile: &str, output: Option<PathBuf>, force: bool) -> Outcome {
    let store = ctx.store()?;
    let p = ops::require_profile(&*store, profile)?;
    let n = match &output {
        Some(path) => {
            let mut w = std::io::BufWriter::new(super::output_file(path, force, None)?);
            let n = android::export(&*store, &p, &mut w).map_err(Failure::refused)?;
            w.flush().map_err(|e| Failure::refused(format!("{}: {e}", crate::files::name(path))))?;
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
        println!("Wrote {n} devices of profile {} to {}.", quote(&p.name), crate::files::name(&path));
    }
    Ok(())
}

fn device_ref(which: &DeviceSelector) -> Result<DeviceRef, Failure> {
    match (&which.imei, &which.serial, &which.manufacturer) {
        (Some(i), _, _) => {
            // A malformed --imei is a usage error, before any profile is looked up.
            crate::domain::Imei::parse(i).map_err(|e| Failure::usage(format!("--imei {i:?}: {e}")))?;
            Ok(DeviceRef::Imei(i.clone()))
        }
        (None, Some(s), Some(m)) => Ok(DeviceRef::Serial { serial: s.clone(), manufacturer: m.clone() }),
        _ => Err(Failure::usage("name the device with --imei, or with --serial and --manufacturer")),
    }
}

/// `--attr NAME=VALUE` pairs.
fn attributes(list: &[String]) -> Result<Vec<(String, String)>, Failure> {
    list.iter().map(|kv| key_value(kv).map(|(k, v)| (k.to_string(), v.to_string()))).collect()
}

pub fn devices(ctx: &mut Context, cmd: DevicesCmd) -> Outcome {
    let store = ctx.store()?;
    match cmd {
        DevicesCmd::List { profile, format } => {
            let p = ops::require_profile(&*store, &profile)?;
            // IMEI 2 only for a profile with a dual-SIM device.
            let dual = crate::store::has_dual_sim(&*store, p.id)?;
            let mut header: Vec<&str> = vec!["IMEI"];
            if dual {
                header.push("IMEI 2");
            }
            header.extend(["Serial Number", "Manufacturer"]);
            header.extend(p.attributes.iter().map(String::as_str));
            header.extend(["Status", "Source"]);
            let row = |d: &crate::domain::Device| {
                let mut row = vec![d.ids.imei.map(|i| i.to_string()).unwrap_or_default()];
                if dual {
                    row.push(d.ids.imei2.map(|i| i.to_string()).unwrap_or_default());
                }
                row.extend([d.ids.serial.clone().unwrap_or_default(), d.ids.manufacturer.clone().unwrap_or_default()]);
                row.extend(p.attributes.iter().map(|a| d.attribute(a).unwrap_or("").to_string()));
                row.push(d.status.label().to_string());
                row.push(d.source.to_string());
                row
            };
            // CSV and JSON stream a page at a time; only the table (aligned columns) holds every row.
            let mut out = super::RowWriter::new(format, &header);
            let mut failed = None;
            crate::store::each_device(&*store, p.id, &mut |d| match out.row(row(&d)) {
                Ok(()) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            })?;
            if let Some(e) = failed {
                return Err(e);
            }
            out.finish()
        }
        DevicesCmd::Add { profile, imei, imei2, serial, manufacturer, attrs } => {
            let command = ops::devices::AddDevice {
                profile: profile.clone(),
                imei: imei.unwrap_or_default(),
                imei2: imei2.unwrap_or_default(),
                serial: serial.unwrap_or_default(),
                manufacturer: manufacturer.unwrap_or_default(),
                attributes: attributes(&attrs)?,
            };
            let flags = &[
                ("imei", "--imei"),
                ("imei2", "--imei2"),
                ("serial", "--serial"),
                ("manufacturer", "--manufacturer"),
                ("attribute", "--attr"),
            ];
            let d = ops::devices::add(&ctx.core(&*store), command).map_err(super::flagged(flags))?;
            println!("Added {} to profile {}.", sanitize(&d.label()), quote(profile.trim()));
            Ok(())
        }
        DevicesCmd::Edit { which, set_imei, set_imei2, set_serial, set_manufacturer, attrs, unset_attrs } => {
            let command = ops::devices::EditDevice {
                profile: which.profile.clone(),
                device: device_ref(&which)?,
                imei: set_imei,
                imei2: set_imei2,
                serial: set_serial,
                manufacturer: set_manufacturer,
                set: attributes(&attrs)?,
                unset: unset_attrs,
                expect: None,
            };
            let flags = &[
                ("imei", "--set-imei"),
                ("imei2", "--set-imei2"),
                ("serial", "--set-serial"),
                ("manufacturer", "--set-manufacturer"),
                ("attribute", "--attr"),
            ];
            let d = ops::devices::edit(&ctx.core(&*store), command).map_err(super::flagged(flags))?;
            println!("Saved {} in profile {}.", sanitize(&d.label()), quote(which.profile.trim()));
            Ok(())
        }
        DevicesCmd::Delete { which } => {
            let device = device_ref(&which)?;
            let label = match &device {
                DeviceRef::Imei(i) => format!("IMEI {}", i.trim()),
                DeviceRef::Serial { serial, manufacturer } => format!("serial {serial} ({manufacturer})"),
                DeviceRef::Seq(s) => format!("device #{s}"),
            };
            let command = ops::devices::DeleteDevices { profile: which.profile.clone(), devices: vec![device] };
            ops::devices::delete(&ctx.core(&*store), command)?;
            println!("Deleted {} from profile {}.", sanitize(&label), quote(which.profile.trim()));
            Ok(())
        }
    }
}

pub fn register(ctx: &mut Context, a: RegisterArgs) -> Outcome {
    let store = ctx.store()?;
    let command =
        ops::register::Register { token: a.token, imei: a.imei, serial: a.serial, manufacturer: a.manufacturer };
    let r = ops::register::run(&ctx.core(&*store), command).map_err(|e| match e {
        ops::OpError::Invalid { field: "imei", reason } => Failure::usage(format!("--imei: {reason}")),
        e => e.into(),
    })?;
    match (&r.outcome, &r.profile, &r.device) {
        (Reg::Registered { .. }, Some(p), Some(d)) => {
            println!("registered: {} in profile {}", sanitize(&d.label()), quote(&p.name));
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
    let store = ctx.store_without_starting()?;
    let problems = crate::store::inventory::check_all(&*store)?;
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
            let mut f = super::output_file(&path, force, None)?;
            f.write_all(text.as_bytes())
                .map_err(|e| Failure::refused(format!("{}: {e}", crate::files::name(&path))))?;
            println!("Wrote the template to {}.", crate::files::name(&path));
        }
        None => print!("{text}"),
    }
    Ok(())
}
