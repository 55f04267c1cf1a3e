//! `kitting db`: the database itself: who may use a directory (`share`), a whole inventory copied
//! between stores (`copy`), written to a backup file and restored from one (`backup`, `restore`).

use clap::Subcommand;

use super::{Context, Failure, Outcome};
use crate::domain::text::sanitize;
use crate::store::share::{self, Sharing};

#[derive(Subcommand, Debug)]
pub enum DbCmd {
    /// Let a Unix group use the database (directory 2770, files 0660), or make it private again
    Share {
        /// The group whose members may use the database
        #[arg(long, value_name = "GROUP", conflicts_with = "private", required_unless_present = "private")]
        group: Option<String>,
        /// Private to its owner again (directory 0700, files 0600)
        #[arg(long)]
        private: bool,
    },
    /// Copy a whole inventory into an empty database (a directory or postgres://…), then verify it:
    /// counts on both sides and `kitting check` on both
    Copy {
        /// The database to copy from (a directory or postgres://USER@HOST[:PORT]/DBNAME)
        #[arg(long, value_name = "DB")]
        from: std::path::PathBuf,
        /// The empty database to copy into (created when it is a directory that does not exist)
        #[arg(long, value_name = "DB")]
        to: std::path::PathBuf,
    },
    /// Write a consistent, versioned backup of the whole database to FILE (0600) while others keep
    /// working (through the server when one runs)
    Backup {
        file: std::path::PathBuf,
        /// Replace FILE if it exists
        #[arg(long)]
        force: bool,
    },
    /// Restore a backup into an empty database, then verify it (counts, `kitting check`)
    Restore {
        file: std::path::PathBuf,
        /// A database directory that holds anything is first moved aside to DIR.replaced-TIME (kept)
        #[arg(long)]
        force: bool,
    },
}

pub fn run(ctx: &mut Context, cmd: DbCmd) -> Outcome {
    match cmd {
        DbCmd::Copy { from, to } => copy(ctx, &from, &to),
        DbCmd::Backup { file, force } => backup(ctx, &file, force),
        DbCmd::Restore { file, force } => restore(ctx, &file, force),
        DbCmd::Share { group, private: _ } => {
            let sharing = match group {
                Some(name) => Sharing::Group { gid: share::group_id(&name)?, name },
                None => Sharing::Private,
            };
            // Held while the modes change: nobody writes meanwhile (and the database exists).
            let store = ctx.own_store().map_err(|mut f| {
                if f.lines.iter().any(|l| l.contains(crate::store::SERVER_HOLDER)) {
                    f.lines.push(
                        "close the workstations on it and run `kitting serve --stop` first (a server started \
                         by a command also stops by itself once idle: [server] idle_exit)"
                            .into(),
                    );
                }
                f
            })?;
            let n = share::share(&ctx.db_dir, &sharing)?;
            drop(store);
            let dir = sanitize(&ctx.db_dir.display().to_string()).into_owned();
            match sharing {
                Sharing::Group { name, .. } => println!(
                    "Shared {dir} with group {} ({n} files and directories): its members can use it.",
                    sanitize(&name)
                ),
                Sharing::Private => println!("{dir} is private to its owner again ({n} files and directories)."),
            }
            Ok(())
        }
    }
}

fn copy(ctx: &Context, from: &std::path::Path, to: &std::path::Path) -> Outcome {
    let name = |p: &std::path::Path| sanitize(&p.display().to_string()).into_owned();
    let (from_name, to_name) = (name(from), name(to));
    let same = match (std::fs::canonicalize(from), std::fs::canonicalize(to)) {
        (Ok(a), Ok(b)) => a == b,
        _ => from == to,
    };
    if same {
        return Err(Failure::usage(format!("--from and --to name the same database ({from_name})")));
    }
    // Through a server where one runs (never starting one), else opened by this process.
    let source = super::open_store(from, None)?;
    let destination = super::open_store(to, None)?;
    let copied = crate::ops::copy::copy(&ctx.core(destination.as_ref()), source.as_ref(), &from_name, &to_name)?;
    println!("Copied {} from {from_name} to {to_name}.", copied.counts);
    let problems = copied.problems();
    if problems.is_empty() {
        println!("Verified: {to_name} holds the same records, and `kitting check` finds nothing wrong on either side.");
        return Ok(());
    }
    Err(Failure { code: 1, lines: std::iter::once("the copy did not verify:".to_string()).chain(problems).collect() })
}

fn backup(ctx: &mut Context, file: &std::path::Path, force: bool) -> Outcome {
    let store = ctx.store()?;
    let source = sanitize(&ctx.db_dir.display().to_string()).into_owned();
    let out = super::output_file(file, force, None)?;
    let mut w = std::io::BufWriter::new(out);
    let written = crate::ops::backup::backup(&ctx.core(&*store), &source, &mut w);
    let header = match written {
        Ok(h) => h,
        Err(e) => {
            // Half a backup is no backup: the file goes.
            drop(w);
            let _ = std::fs::remove_file(file);
            return Err(e.into());
        }
    };
    let f = w.into_inner().map_err(|e| Failure::refused(format!("{}: {e}", crate::files::name(file))))?;
    f.sync_all().map_err(|e| Failure::refused(format!("{}: {e}", crate::files::name(file))))?;
    println!("Backed up {} of {source} to {}.", header.counts, crate::files::name(file));
    Ok(())
}

fn restore(ctx: &mut Context, file: &std::path::Path, force: bool) -> Outcome {
    let name = crate::files::name(file);
    let input = std::fs::File::open(file).map_err(|e| Failure::refused(format!("{name}: {e}")))?;
    let (header, inv) = crate::ops::backup::read(&mut std::io::BufReader::new(input))
        .map_err(|e| Failure::refused(format!("{name}: {e}")))?;
    if force && ctx.postgres_url().is_none() && holds_anything(&ctx.db_dir) {
        set_aside(ctx)?;
    }
    let store = ctx.store()?;
    let restored = crate::ops::backup::restore(&ctx.core(&*store), &name, header, inv).map_err(|e| {
        let mut f: Failure = e.into();
        if f.lines.iter().any(|l| l.contains("holds")) && !force {
            f.lines.push("restore into an empty database, or add --force to move this directory aside first".into());
        }
        f
    })?;
    println!(
        "Restored {} from {name} (a backup of {} made {}).",
        restored.counts, restored.header.source, restored.header.created
    );
    if restored.problems.is_empty() {
        println!("Verified: the database holds what the backup held, and `kitting check` finds nothing wrong.");
        return Ok(());
    }
    Err(Failure {
        code: 1,
        lines: std::iter::once("the restore did not verify:".to_string()).chain(restored.problems).collect(),
    })
}

/// Whether a database directory holds a database (anything but nothing).
fn holds_anything(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
}

/// `--force`: the directory is moved aside whole (nothing is deleted), once no process holds it.
fn set_aside(ctx: &mut Context) -> Result<(), Failure> {
    let held = ctx.own_store()?;
    drop(held);
    let dir = ctx.db_dir.clone();
    let aside = dir.with_file_name(format!(
        "{}.replaced-{}",
        dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "db".into()),
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
    ));
    std::fs::rename(&dir, &aside).map_err(|e| Failure::refused(format!("{}: {e}", crate::files::name(&dir))))?;
    eprintln!("kitting: moved the database that was there to {}", crate::files::name(&aside));
    Ok(())
}
