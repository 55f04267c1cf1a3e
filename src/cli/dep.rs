//! `kitting dep …` and `kitting catalog …`: Apple DEP device information from the command line.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;

use super::{Context, Failure, Format, Outcome, print_rows};
use crate::csv::ImportOptions;
use crate::csv::dep::{self, DepReport};
use crate::domain::dep::{CatalogKind, CheckIn, DepDevice, DepState};
use crate::domain::text::{quote, sanitize};
use crate::ops;

#[derive(Subcommand, Debug)]
pub enum DepCmd {
    /// Import a device-information CSV (header-driven: users and devices, devices only, users only)
    Import {
        file: PathBuf,
        /// Check every row and show what would change, writing nothing
        #[arg(long)]
        dry_run: bool,
        /// Write the valid rows even if some are rejected
        #[arg(long)]
        skip_invalid: bool,
        /// Write the rejected rows (original columns plus Line and Reason) to FILE
        #[arg(long, value_name = "FILE")]
        rejects: Option<PathBuf>,
        /// Replace the --rejects file if it exists
        #[arg(long, requires = "rejects")]
        force: bool,
    },
    /// Write every user and device in the import's format
    Export {
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace the output file if it exists
        #[arg(long, requires = "output")]
        force: bool,
    },
    /// List the device records
    List {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Show one device record
    Show { identifier: String },
    /// Change fields of a device with the CSV's column names: --set DisplayName=Lobby --set Serial= (clears)
    Edit {
        identifier: String,
        #[arg(long, value_name = "COLUMN=VALUE", required = true)]
        set: Vec<String>,
    },
    /// Delete a device record
    Delete {
        identifier: String,
        #[arg(long)]
        yes: bool,
    },
    /// Check a device in as it presents itself
    Checkin {
        #[arg(long)]
        identifier: String,
        #[arg(long)]
        code: String,
        #[arg(long)]
        serial: Option<String>,
        #[arg(long)]
        imei: Option<String>,
        #[arg(long)]
        meid: Option<String>,
        #[arg(long)]
        udid: Option<String>,
        #[arg(long)]
        wifi_mac: Option<String>,
        #[arg(long, value_name = "NAME")]
        dep_profile: Option<String>,
    },
    /// Withdraw a device: it can no longer check in or be edited
    Withdraw {
        #[arg(long)]
        identifier: String,
    },
    /// List the queued check-in emails; --write DIR writes the unwritten ones as .eml files
    Outbox {
        #[arg(long, value_name = "DIR")]
        write: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum CatalogCmd {
    #[command(subcommand)]
    Organizations(CatalogAction),
    #[command(subcommand)]
    Templates(CatalogAction),
    #[command(subcommand)]
    Tags(CatalogAction),
}

#[derive(Subcommand, Debug)]
pub enum CatalogAction {
    List,
    Add {
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// Rename an entry (records that use it follow), or change its description
    Rename {
        name: String,
        new_name: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete an entry no record uses
    Delete {
        name: String,
    },
}

pub fn catalog(ctx: &mut Context, cmd: CatalogCmd) -> Outcome {
    let store = ctx.store()?;
    let (kind, action) = match cmd {
        CatalogCmd::Organizations(a) => (CatalogKind::Organization, a),
        CatalogCmd::Templates(a) => (CatalogKind::Template, a),
        CatalogCmd::Tags(a) => (CatalogKind::Tag, a),
    };
    match action {
        CatalogAction::List => {
            let rows =
                store.catalog(kind)?.into_iter().map(|e| vec![e.name, e.description.unwrap_or_default()]).collect();
            print_rows(Format::Table, &["Name", "Description"], rows)
        }
        CatalogAction::Add { name, description } => {
            ops::catalog::add(&ctx.core(&*store), ops::catalog::CatalogAdd { kind, name: name.clone(), description })?;
            println!("Added {} {}.", kind.title(), quote(name.trim()));
            Ok(())
        }
        CatalogAction::Rename { name, new_name, description } => {
            let command =
                ops::catalog::CatalogEdit { kind, name: name.clone(), rename: Some(new_name.clone()), description };
            let n = ops::catalog::edit(&ctx.core(&*store), command)?;
            println!("Renamed {} {} to {}; {n} records follow.", kind.title(), quote(&name), quote(&new_name));
            Ok(())
        }
        CatalogAction::Delete { name } => {
            ops::catalog::delete(&ctx.core(&*store), ops::catalog::CatalogDelete { kind, name: name.clone() })?;
            println!("Deleted {} {}.", kind.title(), quote(&name));
            Ok(())
        }
    }
}

/// What an import did or would do: counts, then every value it clears.
fn print_report(r: &DepReport, dry_run: bool) {
    let mode = r.mode.map(|m| m.describe()).unwrap_or("");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{} ({}, delimiter {:?}, {mode}): {} data rows, {} valid, {} rejected",
        r.file,
        r.encoding,
        r.delimiter,
        r.rows,
        r.valid(),
        r.rejected.len()
    );
    let would = if dry_run { "would be " } else { "" };
    let _ = writeln!(
        out,
        "Users: {} {would}created, {} {would}updated. Devices: {} {would}created, {} {would}updated. \
         Unchanged rows: {}. Check-in emails {would}queued: {}.",
        r.users_created, r.users_updated, r.devices_created, r.devices_updated, r.unchanged, r.mails
    );
    for c in &r.cleared {
        let _ =
            writeln!(out, "line {}: {} {}: {} {}cleared", c.line, sanitize(&c.record), c.field, quote(&c.old), would);
    }
    let _ = out.flush();
}

pub fn run(ctx: &mut Context, cmd: DepCmd) -> Outcome {
    match cmd {
        DepCmd::Import { file, dry_run, skip_invalid, rejects, force } => {
            let opts = ImportOptions { dry_run, skip_invalid, max_rows: ctx.settings.max_rows() };
            let store = ctx.store()?;
            let rejects_file = rejects.as_deref().map(|p| super::output_file(p, force, Some(&file))).transpose()?;
            let command = ops::dep::DepImport { file: file.clone(), dry_run, skip_invalid, max_rows: opts.max_rows };
            let report = ops::dep::import(&ctx.core(&*store), command, &mut |_| true)?;
            if let (Some(path), Some(f)) = (&rejects, rejects_file) {
                report
                    .rejected
                    .write(&report.header, std::io::BufWriter::new(f))
                    .map_err(|e| Failure::refused(format!("{}: {e}", crate::files::name(path))))?;
            }
            let rejected = report.rejected.len();
            // A refused import wrote nothing: its counts say what it would have done.
            print_report(&report, dry_run || (rejected > 0 && !skip_invalid));
            super::data::print_rejected(&report.file, report.rejected.kept());
            if report.rejected.not_kept() > 0 {
                let all = if rejects.is_some() {
                    "all of them are in the rejects file"
                } else {
                    "--rejects FILE writes them all"
                };
                eprintln!("{}: {} more rejected rows not shown ({all})", report.file, report.rejected.not_kept());
            }
            if dry_run {
                println!("Dry run: nothing was written.");
                return if rejected == 0 { Ok(()) } else { Err(Failure { code: 1, lines: vec![] }) };
            }
            if rejected > 0 && !skip_invalid {
                return Err(Failure::refused(format!(
                    "nothing imported: {rejected} of {} rows were rejected{}; fix them, or import the valid rows \
                     with --skip-invalid",
                    report.rows,
                    super::data::rejects_hint(&rejects)
                )));
            }
            if rejected > 0 {
                println!("Skipped {rejected} rejected rows{}.", super::data::rejects_hint(&rejects));
            }
            Ok(())
        }
        DepCmd::Export { output, force } => {
            let store = ctx.store()?;
            let n = match &output {
                Some(path) => {
                    let f = super::output_file(path, force, None)?;
                    dep::export(&*store, std::io::BufWriter::new(f)).map_err(Failure::refused)?
                }
                None => dep::export(&*store, std::io::stdout().lock()).map_err(Failure::refused)?,
            };
            if let Some(path) = output {
                println!("Wrote {n} devices to {}.", crate::files::name(&path));
            }
            Ok(())
        }
        DepCmd::List { format } => {
            let store = ctx.store()?;
            let rows = store
                .dep_devices()?
                .into_iter()
                .map(|d| {
                    vec![
                        d.identifier,
                        d.os.as_str().into(),
                        d.user.unwrap_or_default(),
                        d.serial.unwrap_or_default(),
                        d.dep_method.map(|m| m.as_str().to_string()).unwrap_or_default(),
                        d.state.label().into(),
                        d.expires.format("%Y-%m-%d").to_string(),
                    ]
                })
                .collect();
            print_rows(format, &["Identifier", "OS", "User", "Serial", "DEPMethod", "State", "Expires"], rows)
        }
        DepCmd::Show { identifier } => {
            let d = require(ctx, &identifier)?;
            show(&d);
            Ok(())
        }
        DepCmd::Edit { identifier, set } => {
            let d = require(ctx, &identifier)?;
            // The edit is a one-row import: the same checks, the same blank-clears rule.
            let mut cells = vec![("Identifier".to_string(), d.identifier.clone())];
            for kv in &set {
                let (k, v) = super::key_value(kv)?;
                cells.push((k.to_string(), v.to_string()));
            }
            let store = ctx.store()?;
            let report = ops::dep::save(&ctx.core(&*store), ops::dep::DepSave { cells, expect: None })
                .map_err(super::flagged(&[("column", "--set")]))?;
            if let Some(r) = report.rejected.kept().first() {
                let reasons: Vec<String> = r
                    .problems
                    .iter()
                    .map(|p| match &p.column {
                        Some((_, h)) => format!("{h} {}: {}", quote(&p.value), sanitize(&p.reason)),
                        None => sanitize(&p.reason).into_owned(),
                    })
                    .collect();
                return Err(Failure::refused(reasons.join("; ")));
            }
            for c in &report.cleared {
                println!("{}: {} cleared", c.field, quote(&c.old));
            }
            println!(
                "{} device {}.",
                if report.devices_updated > 0 { "Saved" } else { "Nothing changed on" },
                sanitize(&d.identifier)
            );
            Ok(())
        }
        DepCmd::Delete { identifier, yes } => {
            if !yes {
                return Err(Failure::usage("deleting a device record needs --yes"));
            }
            let store = ctx.store()?;
            ops::dep::delete(&ctx.core(&*store), ops::dep::DepDelete { identifier: identifier.clone() })?;
            println!("Deleted device {}.", sanitize(&identifier));
            Ok(())
        }
        DepCmd::Checkin { identifier, code, serial, imei, meid, udid, wifi_mac, dep_profile } => {
            let store = ctx.store()?;
            let presented = CheckIn { code, serial, imei, meid, udid, wifi_mac, dep_profile };
            let d = ops::dep::check_in(&ctx.core(&*store), ops::dep::DepCheckIn { identifier, presented })?;
            println!("Checked in {}.", sanitize(&d.identifier));
            Ok(())
        }
        DepCmd::Withdraw { identifier } => {
            let store = ctx.store()?;
            let d = ops::dep::withdraw(&ctx.core(&*store), ops::dep::DepWithdraw { identifier })?;
            println!("Withdrew {}.", sanitize(&d.identifier));
            Ok(())
        }
        DepCmd::Outbox { write } => {
            let store = ctx.store()?;
            let mails = store.outbox()?;
            match write {
                None => {
                    let rows = mails
                        .into_iter()
                        .map(|m| {
                            vec![
                                m.id.to_string(),
                                m.to.clone(),
                                m.subject(),
                                m.created.format("%Y-%m-%d %H:%M").to_string(),
                                if m.written { "written" } else { "queued" }.into(),
                            ]
                        })
                        .collect();
                    print_rows(Format::Table, &["Id", "To", "Subject", "Queued", "State"], rows)
                }
                Some(dir) => {
                    std::fs::create_dir_all(&dir).map_err(|e| Failure::refused(format!("{}: {e}", dir.display())))?;
                    let mut written = Vec::new();
                    for m in mails.iter().filter(|m| !m.written) {
                        let path = dir.join(format!("{:06}-{}.eml", m.id, m.identifier));
                        // A mail holds a check-in code: private (0600); written again if it is there.
                        crate::files::write(&path, true, m.eml().as_bytes())
                            .map_err(|e| Failure::refused(e.to_string()))?;
                        written.push(m.id);
                    }
                    // The mails' names too, before the outbox marks them written.
                    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
                    crate::files::sync_dir(&dir)
                        .and_then(|()| parent.map_or(Ok(()), crate::files::sync_dir))
                        .map_err(|e| Failure::refused(format!("{}: {e}", dir.display())))?;
                    if !written.is_empty() {
                        ops::dep::outbox_written(&ctx.core(&*store), ops::dep::OutboxWritten { ids: written.clone() })?;
                    }
                    println!("Wrote {} emails to {}.", written.len(), dir.display());
                    Ok(())
                }
            }
        }
    }
}

fn require(ctx: &mut Context, identifier: &str) -> Result<DepDevice, Failure> {
    let store = ctx.store()?;
    store.dep_device(identifier)?.ok_or_else(|| Failure::refused(format!("no device {identifier:?}")))
}

fn show(d: &DepDevice) {
    let o = |v: &Option<String>| sanitize(v.as_deref().unwrap_or("")).into_owned();
    let lines: Vec<(&str, String)> = vec![
        ("Identifier", sanitize(&d.identifier).into_owned()),
        ("State", d.state.label().into()),
        ("User", o(&d.user)),
        ("OS", d.os.as_str().into()),
        ("Template", o(&d.template)),
        ("DeviceTags", sanitize(&d.tags.join("|")).into_owned()),
        ("Code", sanitize(&d.code).into_owned()),
        ("Expires", d.expires.format("%Y-%m-%d %H:%M UTC").to_string()),
        ("ExpirationDays", d.expiration_days.to_string()),
        ("WifiMac", o(&d.wifi_mac)),
        ("IMEI", o(&d.imei)),
        ("MEID", o(&d.meid)),
        ("UDID", o(&d.udid)),
        ("Serial", o(&d.serial)),
        ("DisplayName", o(&d.display_name)),
        ("Description", o(&d.description)),
        ("RegistrationEmail", o(&d.registration_email)),
        ("Use DEP to Enroll", if d.dep_method.is_some() { "on" } else { "off" }.into()),
        ("DEPMethod", d.dep_method.map(|m| m.as_str().to_string()).unwrap_or_default()),
    ];
    for (k, v) in lines {
        println!("{k:<18} {v}");
    }
    if let DepState::CheckedIn { at, dep_serial, dep_profile } = &d.state {
        println!("{:<18} {}", "Checked in", at.format("%Y-%m-%d %H:%M UTC"));
        println!("{:<18} {}", "DEP Device", o(dep_serial));
        println!("{:<18} {}", "DEP Profile", o(dep_profile));
    }
}
