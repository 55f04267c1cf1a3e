//! `kitting db`: the database itself: who may use a directory (`share`), and a whole inventory copied
//! between stores (`copy`).

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
}

pub fn run(ctx: &mut Context, cmd: DbCmd) -> Outcome {
    match cmd {
        DbCmd::Copy { from, to } => copy(ctx, &from, &to),
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
