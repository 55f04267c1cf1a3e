//! The change feed across hosts: every change's transaction sends `NOTIFY kitting` with its audit
//! entry's id and what it touched; PostgreSQL delivers it on commit, in commit order, to every
//! connection that listens, on any host. A subscriber listens on a connection of its own and reads
//! each entry by its id.

use std::sync::mpsc::{Receiver, Sender};

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Transaction};
use serde::{Deserialize, Serialize};

use super::store::{db, json};
use crate::domain::audit::AuditEntry;
use crate::store::{Change, Result, StoreError, Subject};

const CHANNEL: &str = "kitting";

/// What a notification carries (PostgreSQL caps a payload at 8,000 bytes: a long list of devices is
/// said as their profile).
#[derive(Serialize, Deserialize)]
struct Note {
    id: i64,
    subject: Subject,
}

/// Tells every listener of this change once the transaction commits.
pub(super) fn notify(tx: &mut Transaction, entry: &AuditEntry, subject: Subject) -> Result<()> {
    let mut note = Note { id: entry.id as i64, subject };
    let mut payload = json(&note).to_string();
    if payload.len() > 6000 {
        note.subject = match note.subject {
            Subject::Devices(id, _) => Subject::Profile(id),
            other => other,
        };
        payload = json(&note).to_string();
    }
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]).map_err(db)?;
    Ok(())
}

/// Listens on `client` (a connection of the subscriber's own) and hands each change to the receiver;
/// the feed ends when the connection does.
pub(super) fn listen(mut client: Client) -> Result<Receiver<Change>> {
    client.batch_execute(&format!("LISTEN {CHANNEL}")).map_err(db)?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("kitting-listen".into())
        .spawn(move || follow(client, tx))
        .map_err(|e| StoreError::Backend(format!("cannot start the listening thread: {e}")))?;
    Ok(rx)
}

fn follow(mut client: Client, to: Sender<Change>) {
    loop {
        let next = client.notifications().blocking_iter().next();
        let Ok(Some(n)) = next else { return };
        let Ok(note) = serde_json::from_str::<Note>(n.payload()) else { continue };
        let Ok(Some(row)) = client.query_opt("SELECT entry FROM audit WHERE id = $1", &[&note.id]) else { return };
        let Ok(mut entry) = serde_json::from_value::<AuditEntry>(row.get(0)) else { continue };
        entry.id = note.id as u64;
        if to.send(Change { subject: note.subject, entry }).is_err() {
            return;
        }
    }
}
