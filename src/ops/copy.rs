//! `kitting db copy`: a whole inventory from one store into an empty one (sled to PostgreSQL and back),
//! then verified: the destination holds what the source held, counted record by record, and `check`
//! finds nothing wrong on either side (the source is checked before it is read, and counted again after
//! the copy: the same count means what was checked is what was copied).

use super::{Ctx, OpError, Result};
use crate::store::inventory::{self, Counts, Inventory};
use crate::store::{Problem, Store};

/// What a copy did and what its verification found.
#[derive(Debug)]
pub struct Copied {
    pub counts: Counts,
    /// The destination's own count after the copy (its audit trail also holds the copy's entry and any
    /// entries it had before).
    pub destination: Counts,
    /// The source counted again after the copy: another count means someone changed it meanwhile.
    pub source: Counts,
    pub destination_problems: Vec<Problem>,
}

impl Copied {
    /// Problems as lines, each naming its side; none when the copy verified.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let want = Counts { audit: 0, ..self.counts };
        let got = Counts { audit: 0, ..self.destination };
        if want != got {
            out.push(format!("the destination holds {got}, the source {want}"));
        }
        let now = Counts { audit: 0, ..self.source };
        if now != want {
            out.push(format!("the source changed during the copy: it holds {now} now"));
        }
        if self.destination.audit < self.counts.audit + 1 {
            out.push(format!(
                "the destination's audit trail holds {} entries, fewer than the {} copied",
                self.destination.audit, self.counts.audit
            ));
        }
        out.extend(self.destination_problems.iter().map(|p| format!("destination: {p}")));
        out
    }
}

/// Copies everything `from` holds into `ctx`'s store, which must be empty, in one atomic write
/// recorded as `db.copy`: a source that does not pass `check` is refused; after the copy both sides
/// are counted again and the destination is checked.
pub fn copy(ctx: &Ctx, from: &dyn Store, from_name: &str, to_name: &str) -> Result<Copied> {
    let target = format!("inventory from {from_name}");
    let inv = ctx.audited("db.copy", None, &target, &[], || {
        let problems = inventory::check_all(from)?;
        if !problems.is_empty() {
            return Err(OpError::Refused(format!(
                "{from_name} does not pass `kitting check` ({}); nothing was copied",
                problems.join("; ")
            )));
        }
        let inv = Inventory::read(from)?;
        let audit = ctx.done("db.copy", None, &target, format!("copied {} to {to_name}", inv.counts()));
        ctx.store.load(&inv, &audit)?;
        Ok(inv)
    })?;
    let counts = inv.counts();
    drop(inv);
    Ok(Copied {
        counts,
        destination: inventory::count(ctx.store)?,
        source: inventory::count(from)?,
        destination_problems: inventory::check_all(ctx.store)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_verifies_only_when_both_sides_hold_the_same_and_check_clean() {
        let counts = Counts { profiles: 2, devices: 10, users: 1, audit: 5, ..Counts::default() };
        let good =
            Copied { counts, destination: Counts { audit: 6, ..counts }, source: counts, destination_problems: vec![] };
        assert!(good.problems().is_empty(), "{:?}", good.problems());
        let short = Copied { destination: Counts { devices: 9, ..good.destination }, ..good };
        assert!(short.problems()[0].contains("9 devices"), "{:?}", short.problems());
        let changed = Copied { source: Counts { users: 2, ..counts }, ..short };
        assert!(changed.problems().iter().any(|p| p.contains("the source changed")), "{:?}", changed.problems());
        let broken = Copied { destination_problems: vec!["IMEI 1 is stored twice".into()], ..changed };
        assert!(broken.problems().iter().any(|p| p == "destination: IMEI 1 is stored twice"));
    }
}
