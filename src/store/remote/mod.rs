//! The store contract over a Unix socket: `kitting serve` owns the database and answers requests; every
//! other kitting process is a `RemoteStore` client of it. A message is its length (4 bytes,
//! little-endian) and a postcard encoding; each request gets one answer, in order, except on a connection
//! that subscribed to the change feed, where the server sends each change as it commits.

mod client;
mod server;
mod start;

use std::io::{Read, Write};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use client::{RemoteStore, nobody_answers};
pub use server::{Serving, serve};
pub use start::{EXIT_IN_USE, NotStarted, READY, Starter, start};

use super::{DepChange, Expect, ImportTarget, Lookup, ProfileChange, StoreError};
use crate::domain::audit::{AuditEntry, AuditQuery};
use crate::domain::dep::{CatalogEntry, CatalogKind, DepDevice};
use crate::domain::{Device, DeviceSeq, Imei, NewDevice, Profile, ProfileId, Status, User};
use crate::store::chunk::{PreparedRows, RowEncoder};

/// The protocol's version: a client and a server of different versions refuse each other.
/// 2: `Load` (`kitting db copy` into a served database). 4: an import's prepared row carries the index
/// key of a serial number without a manufacturer too (a version 3 server would take two such rows for
/// duplicates).
pub const PROTOCOL_VERSION: u32 = 4;

/// The largest message either side accepts (an import's batch of rows is the largest there is).
pub const MAX_MESSAGE: usize = 256 << 20;

/// What a reader reserves before a message's bytes arrive.
const INITIAL_READ: usize = 64 << 10;

/// The socket's name in the database directory.
pub const SOCKET: &str = "kitting.sock";

/// One request: a method of the store contract and its arguments, owned.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    Hello {
        version: u32,
    },
    Profiles,
    Profile(String),
    ProfileById(ProfileId),
    CreateProfile(Profile, AuditEntry),
    UpdateProfile(ProfileId, ProfileChange, Expect<u64>, AuditEntry),
    DeleteProfile(ProfileId, AuditEntry),
    DevicesPage(ProfileId, Option<DeviceSeq>, usize),
    Device(ProfileId, DeviceSeq),
    Find(Lookup),
    Candidates(Option<Imei>, Option<String>),
    AddDevice(ProfileId, NewDevice, AuditEntry),
    UpdateDevice(ProfileId, Device, Expect<DateTime<Utc>>, AuditEntry),
    SetAttribute(ProfileId, Vec<DeviceSeq>, String, Option<String>, AuditEntry),
    DeleteDevices(ProfileId, Vec<DeviceSeq>, AuditEntry),
    SetStatus(ProfileId, DeviceSeq, Status, AuditEntry),
    BeginImport(ImportTarget, bool),
    ImportAdd(u64, RowEncoder, PreparedRows),
    ImportReserve(u64, usize),
    ImportStopWriting(u64),
    ImportFinish(u64),
    ImportAccepted(u64),
    ImportCommit(u64, Vec<String>, AuditEntry),
    ImportDrop(u64),
    Users,
    User(String),
    PutUser(User, bool, AuditEntry),
    DeleteUser(String, AuditEntry),
    AppendAudit(AuditEntry),
    Audit(AuditQuery),
    /// From now on this connection carries the change feed (one `Change` a message).
    Subscribe,
    Check,
    Catalog(CatalogKind),
    CatalogEntry(CatalogKind, String),
    CatalogAdd(CatalogKind, CatalogEntry, AuditEntry),
    CatalogUpdate(CatalogKind, String, CatalogEntry, AuditEntry),
    CatalogDelete(CatalogKind, String, AuditEntry),
    DepDevices,
    DepDevicesPage(Option<String>, usize),
    DepDevice(String),
    DepApply(DepChange, AuditEntry),
    DepPut(DepDevice, DateTime<Utc>, AuditEntry),
    DepDelete(String, AuditEntry),
    Outbox,
    MarkWritten(Vec<u64>, AuditEntry),
    Load(Box<crate::store::Inventory>, AuditEntry),
    /// The whole inventory as of one moment, read by the server (a backup).
    Snapshot,
    /// Stop the server now (its user or root): connected clients find it gone, as after a crash.
    Stop,
}

/// An answer: the method's result, its value encoded (the client knows which type it asked for).
pub type Response = Result<Vec<u8>, StoreError>;

/// The writing half of a connection. A write to a peer that went away is an error (EPIPE), never the
/// SIGPIPE that would end this process: the command line restores SIGPIPE's default action for pipes,
/// and a server, or a workstation whose server stopped, must outlive a closed connection.
pub struct Outgoing(pub std::os::unix::net::UnixStream);

impl Write for Outgoing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use std::os::fd::AsRawFd;
        // SAFETY: `buf` is valid for `buf.len()` bytes; send reads at most that many.
        let n = unsafe { libc::send(self.0.as_raw_fd(), buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        if n < 0 { Err(std::io::Error::last_os_error()) } else { Ok(n as usize) }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes one message.
pub fn write_msg<T: Serialize>(w: &mut impl Write, msg: &T) -> std::io::Result<()> {
    let bytes = postcard::to_stdvec(msg).map_err(std::io::Error::other)?;
    if bytes.len() > MAX_MESSAGE {
        return Err(std::io::Error::other(format!("a message of {} bytes is too large", bytes.len())));
    }
    w.write_all(&(bytes.len() as u32).to_le_bytes())?;
    w.write_all(&bytes)?;
    w.flush()
}

/// Reads one message; a length over `MAX_MESSAGE` or bytes that do not decode are an error (the
/// connection is then closed: a reader never allocates what a bad length says).
pub fn read_msg<T: DeserializeOwned>(r: &mut impl Read) -> std::io::Result<T> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_MESSAGE {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("a message of {len} bytes")));
    }
    // The buffer grows with the bytes that arrive, not with the length claimed: a peer that claims
    // 256 MiB and sends ten bytes costs ten bytes.
    let mut bytes = Vec::with_capacity(len.min(INITIAL_READ));
    r.take(len as u64).read_to_end(&mut bytes)?;
    if bytes.len() < len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("a message of {len} bytes ended after {}", bytes.len()),
        ));
    }
    postcard::from_bytes(&bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// A value as an answer carries it.
fn encode<T: Serialize>(r: super::Result<T>) -> Response {
    r.and_then(|v| postcard::to_stdvec(&v).map_err(|e| StoreError::Backend(format!("encoding an answer: {e}"))))
}
