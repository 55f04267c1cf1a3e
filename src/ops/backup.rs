//! `kitting db backup FILE` and `kitting db restore FILE`: a whole inventory (profiles with their ids,
//! devices with their numbers and statuses, users, catalog, DEP records with their check-in codes, the
//! outbox, the audit trail) written to one versioned file, and loaded from it into an empty database.
//!
//! A backup is read while clients keep working (through the server when one runs), as of one moment
//! (`Store::snapshot`: the embedded stores hold their writers for the read; PostgreSQL reads in one
//! `REPEATABLE READ, READ ONLY` transaction).
//!
//! The file: the line `kitting backup 1`, a line of JSON saying when, from where and how many records,
//! then the inventory (postcard, LZ4-compressed). A restore refuses a newer version naming both, and a
//! file whose records are not the ones its header counts.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use super::{Ctx, OpError, Result};
use crate::store::Store;
use crate::store::inventory::{self, Counts, Inventory};

/// The format this binary writes and the newest it reads.
pub const VERSION: u32 = 1;
const MAGIC: &str = "kitting backup";
/// The most bytes a backup's inventory may decompress to (a hostile size prefix allocates nothing).
const MAX_INVENTORY: usize = 4 << 30;

#[derive(Debug, Serialize, Deserialize)]
pub struct Header {
    pub created: chrono::DateTime<chrono::Utc>,
    /// The database it was made from, as the command line named it.
    pub source: String,
    pub counts: Counts,
    /// The newest audit entry it holds.
    pub last_audit: u64,
}

/// A consistent inventory of `store`, read while others keep writing (`Store::snapshot`).
pub fn snapshot(store: &dyn Store) -> Result<Inventory> {
    Ok(store.snapshot()?)
}

/// Writes a backup of `ctx`'s store to `out` (audited as `db.backup`): the header it wrote.
pub fn backup(ctx: &Ctx, source: &str, out: &mut dyn Write) -> Result<Header> {
    let inv = snapshot(ctx.store)?;
    let header = Header {
        created: ctx.now,
        source: source.to_string(),
        counts: inv.counts(),
        last_audit: inv.audit.last().map_or(0, |e| e.id),
    };
    let body = postcard::to_stdvec(&inv).map_err(|e| OpError::Refused(format!("encoding the backup: {e}")))?;
    let packed = lz4_flex::compress_prepend_size(&body);
    let io = |e: std::io::Error| OpError::Refused(format!("writing the backup: {e}"));
    writeln!(out, "{MAGIC} {VERSION}").map_err(io)?;
    writeln!(out, "{}", serde_json::to_string(&header).expect("a header encodes")).map_err(io)?;
    out.write_all(&packed).map_err(io)?;
    out.flush().map_err(io)?;
    let said = format!("backed up {} (to the newest audit entry, {})", header.counts, header.last_audit);
    let _ = ctx.store.append_audit(&ctx.done("db.backup", None, source, said));
    Ok(header)
}

/// Reads a backup file: its header and inventory, checked against each other.
pub fn read(input: &mut dyn BufRead) -> Result<(Header, Inventory)> {
    let bad = |why: String| OpError::Refused(format!("not a kitting backup: {why}"));
    let mut first = String::new();
    input.read_line(&mut first).map_err(|e| bad(e.to_string()))?;
    let version = first
        .trim_end()
        .strip_prefix(MAGIC)
        .and_then(|v| v.trim().parse::<u32>().ok())
        .ok_or_else(|| bad(format!("it starts with {}", crate::domain::text::quote(first.trim_end()))))?;
    if version > VERSION {
        return Err(OpError::Refused(format!(
            "the backup is format version {version}; this kitting reads up to version {VERSION} (use a newer kitting)"
        )));
    }
    let mut line = String::new();
    input.read_line(&mut line).map_err(|e| bad(e.to_string()))?;
    let header: Header = serde_json::from_str(&line).map_err(|e| bad(format!("its header: {e}")))?;
    let mut packed = Vec::new();
    input.read_to_end(&mut packed).map_err(|e| bad(e.to_string()))?;
    let size = packed.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    if size.is_none_or(|n| n > MAX_INVENTORY) {
        return Err(bad("its inventory is cut short or claims an impossible size".into()));
    }
    let body = lz4_flex::decompress_size_prepended(&packed).map_err(|e| bad(format!("its inventory: {e}")))?;
    let inv: Inventory = postcard::from_bytes(&body).map_err(|e| bad(format!("its inventory: {e}")))?;
    if inv.counts() != header.counts {
        return Err(bad(format!("it holds {}, its header says {}", inv.counts(), header.counts)));
    }
    Ok((header, inv))
}

/// What a restore did and what its verification found.
#[derive(Debug)]
pub struct Restored {
    pub header: Header,
    pub counts: Counts,
    pub problems: Vec<String>,
}

/// Loads a backup into `ctx`'s store, which must be empty (one atomic write, audited as `db.restore`),
/// then counts the store and checks it.
pub fn restore(ctx: &Ctx, file: &str, header: Header, inv: Inventory) -> Result<Restored> {
    let want = inv.counts();
    let target = format!("backup {file}");
    ctx.audited("db.restore", None, &target, &[], || {
        let said = format!("restored {want} from a backup of {} made {}", header.source, header.created);
        let audit = ctx.done("db.restore", None, &target, said);
        ctx.store.load(&inv, &audit)?;
        Ok(())
    })?;
    drop(inv);
    let counts = inventory::count(ctx.store)?;
    let mut problems = Vec::new();
    // The audit trail also holds the restore's own entry.
    if (Counts { audit: 0, ..counts }) != (Counts { audit: 0, ..want }) || counts.audit < want.audit {
        problems.push(format!("the database holds {counts}, the backup {want}"));
    }
    problems.extend(inventory::check_all(ctx.store)?);
    Ok(Restored { header, counts, problems })
}
