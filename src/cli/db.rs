//! `kitting db`: the database directory itself (who may use it).

use clap::Subcommand;

use super::{Context, Outcome};
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
}

pub fn run(ctx: &mut Context, cmd: DbCmd) -> Outcome {
    match cmd {
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
