//! `kitting serve`: owns the database and serves the store contract to other kitting processes over the
//! socket `kitting.sock` in the database directory.

use super::{Context, Failure, Outcome};
use crate::store::remote::{SOCKET, serve};

pub fn run(ctx: &mut Context) -> Outcome {
    // Opening takes the database's lock: one server per database, and its holder named to the others.
    let store = ctx.own_store()?;
    let socket = ctx.db_dir.join(SOCKET);
    eprintln!("kitting: serving {} on {}", ctx.db_dir.display(), socket.display());
    serve(store, &socket).map_err(|e| Failure::refused(format!("{}: {e}", socket.display())))
}
