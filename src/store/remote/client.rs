//! The client side: the store contract, each method one request and its answer over the socket.

use std::io::{BufReader, BufWriter};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::start::{NotStarted, Starter, start};
use super::{Outgoing, PROTOCOL_VERSION, Request, Response, read_msg, write_msg};
use crate::domain::audit::{AuditEntry, AuditQuery};
use crate::domain::dep::{CatalogEntry, CatalogKind, DepDevice, Mail};
use crate::domain::{Device, DeviceSeq, Imei, NewDevice, Profile, ProfileId, Status, User};
use crate::store::{
    Change, DepChange, DepStore, Expect, ImportSession, ImportTarget, LineProblems, Lookup, PreparedRows, Problem,
    ProfileChange, Result, RowEncoder, Store, StoreError,
};

struct Wire {
    reader: BufReader<UnixStream>,
    writer: BufWriter<Outgoing>,
}

/// A store that is a client of a kitting server. A call that finds the server gone fails with a clear
/// error, and the next call connects again (to the server started since, or, with a starter, one it
/// starts): a request is never sent twice, so a change is never made twice.
#[derive(Clone)]
pub struct RemoteStore {
    socket: PathBuf,
    wire: Arc<Mutex<Option<Wire>>>,
    starter: Option<Starter>,
}

/// The connection failed because no server listens (no socket, or one left by a server that is gone).
pub fn nobody_answers(e: &StoreError) -> bool {
    matches!(e, StoreError::Backend(m) if m.starts_with(NO_SERVER))
}

const NO_SERVER: &str = "no kitting server at";

/// How long a client keeps trying while another process holds the database: a server started by
/// another client at the same moment opens it and answers, or one that is stopping lets it go.
const BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether a refusal's holder is a kitting server, or one so new that it has not yet written who it is
/// into the lock file (it takes the lock, then writes): only a process that opened the database
/// directly ("user ann, process 4711, since …") makes a client give up at once.
fn held_by_a_server(refusal: &str) -> bool {
    refusal.contains(crate::store::SERVER_HOLDER) || !refusal.contains(", process ")
}

/// Connects to the server at `socket`; where none answers and there is a starter, starts one and
/// connects to it (or to the one another client started at the same moment).
fn connect_or_start(socket: &Path, starter: Option<&Starter>) -> Result<Wire> {
    let first = connect(socket);
    let Some(starter) = starter else { return first };
    match first {
        Err(e) if nobody_answers(&e) => {}
        answered => return answered,
    }
    let deadline = std::time::Instant::now() + BUSY_WAIT;
    loop {
        let started = start(starter);
        match connect(socket) {
            Err(e) if nobody_answers(&e) => {}
            answered => return answered,
        }
        match started {
            // Held by a server starting (another client started it) or stopping: it answers, or lets go.
            Err(NotStarted::InUse(m)) if held_by_a_server(&m) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            // Said as nobody answering: the caller may open the database itself, or say who holds it.
            Err(NotStarted::InUse(m) | NotStarted::Failed(m)) => {
                return Err(StoreError::Backend(format!(
                    "{NO_SERVER} {}, and none could be started: {m}",
                    socket.display()
                )));
            }
            Ok(()) => return connect(socket),
        }
    }
}

fn lost(socket: &Path, e: std::io::Error) -> StoreError {
    StoreError::Backend(format!(
        "the kitting server at {} stopped answering ({e}); the next action connects again",
        socket.display()
    ))
}

fn connect(socket: &Path) -> Result<Wire> {
    let stream = UnixStream::connect(socket).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => StoreError::Denied(format!(
            "{}: permission denied: ask an administrator to add you to its group",
            socket.display()
        )),
        _ => StoreError::Backend(format!("{NO_SERVER} {}: {e}", socket.display())),
    })?;
    let mut wire = Wire {
        reader: BufReader::new(stream.try_clone().map_err(|e| lost(socket, e))?),
        writer: BufWriter::new(Outgoing(stream)),
    };
    // A server that closes the connection before it says hello is stopping: nobody serves there.
    let closed = |e: std::io::Error| StoreError::Backend(format!("{NO_SERVER} {}: {e}", socket.display()));
    write_msg(&mut wire.writer, &Request::Hello { version: PROTOCOL_VERSION }).map_err(closed)?;
    let answer: Response = read_msg(&mut wire.reader).map_err(closed)?;
    answer?;
    Ok(wire)
}

impl RemoteStore {
    /// Connects to the server at `socket` (and checks that it speaks this protocol version).
    pub fn connect(socket: &Path) -> Result<RemoteStore> {
        RemoteStore::open(socket, None)
    }

    /// Connects to the server at `socket`, starting one with `starter` where none answers; the store
    /// starts one again whenever it finds its server gone.
    pub fn open(socket: &Path, starter: Option<Starter>) -> Result<RemoteStore> {
        let wire = connect_or_start(socket, starter.as_ref())?;
        Ok(RemoteStore { socket: socket.to_path_buf(), wire: Arc::new(Mutex::new(Some(wire))), starter })
    }

    /// Asks the server to stop (allowed to its own user and root). It answers, then ends; the database
    /// is free once its lock is (`kitting serve --stop` waits for that).
    pub fn stop(&self) -> Result<()> {
        self.call(Request::Stop)
    }

    /// Sends a request whose answer `receive` reads later: an import keeps batches in flight on a
    /// connection of its own (nothing else shares it, so answers come back in the order sent).
    fn send(&self, request: &Request) -> Result<()> {
        let mut guard = self.wire.lock().unwrap_or_else(|p| p.into_inner());
        let wire = guard.as_mut().ok_or_else(|| lost(&self.socket, std::io::ErrorKind::NotConnected.into()))?;
        write_msg(&mut wire.writer, request).map_err(|e| {
            *guard = None;
            lost(&self.socket, e)
        })
    }

    /// The answer to the oldest request `send` sent.
    fn receive<T: DeserializeOwned>(&self) -> Result<T> {
        let mut guard = self.wire.lock().unwrap_or_else(|p| p.into_inner());
        let wire = guard.as_mut().ok_or_else(|| lost(&self.socket, std::io::ErrorKind::NotConnected.into()))?;
        let answer = match read_msg::<Response>(&mut wire.reader) {
            Ok(answer) => answer,
            Err(e) => {
                *guard = None;
                return Err(lost(&self.socket, e));
            }
        };
        postcard::from_bytes(&answer?)
            .map_err(|e| StoreError::Backend(format!("a server answer that does not decode: {e}")))
    }

    fn call<T: DeserializeOwned>(&self, request: Request) -> Result<T> {
        let mut guard = self.wire.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(connect_or_start(&self.socket, self.starter.as_ref())?);
        }
        let mut wire = guard.as_mut().expect("connected above");
        if let Err(e) = write_msg(&mut wire.writer, &request) {
            // Not delivered (the server had gone: a write to a closed socket fails whole), so it may go
            // to a new connection, once: a request that reached a server is never sent again.
            *guard = None;
            let again = connect_or_start(&self.socket, self.starter.as_ref()).map_err(|_| lost(&self.socket, e))?;
            wire = guard.insert(again);
            if let Err(e) = write_msg(&mut wire.writer, &request) {
                *guard = None;
                return Err(lost(&self.socket, e));
            }
        }
        let answered = read_msg::<Response>(&mut wire.reader);
        let answer = match answered {
            Ok(answer) => answer,
            Err(e) => {
                // The connection is gone: the next call makes a new one.
                *guard = None;
                return Err(lost(&self.socket, e));
            }
        };
        postcard::from_bytes(&answer?)
            .map_err(|e| StoreError::Backend(format!("a server answer that does not decode: {e}")))
    }
}

/// Batches of rows an import keeps in flight: it sends the next before the server has answered the
/// last, so that the round trips overlap with the server's staging (a batch is 512 rows).
const IN_FLIGHT: usize = 4;

/// An import on the server, driven from here on a connection of its own; dropped uncommitted, it is
/// dropped there.
struct RemoteImport {
    store: RemoteStore,
    id: u64,
    profile: Profile,
    done: bool,
    /// Batches sent and not answered yet, and the rejected rows of those answered since last returned.
    in_flight: usize,
    answered: Vec<LineProblems>,
}

impl RemoteImport {
    /// Reads the answers of every batch in flight (each request's answer comes in order).
    fn drain(&mut self) -> Result<()> {
        while self.in_flight > 0 {
            self.in_flight -= 1;
            let rejected: Vec<LineProblems> = self.store.receive()?;
            self.answered.extend(rejected);
        }
        Ok(())
    }
}

impl ImportSession for RemoteImport {
    fn profile(&self) -> &Profile {
        &self.profile
    }

    fn add_prepared(&mut self, encoder: &RowEncoder, rows: &PreparedRows) -> Result<Vec<LineProblems>> {
        self.store.send(&Request::ImportAdd(self.id, encoder.clone(), rows.clone()))?;
        self.in_flight += 1;
        while self.in_flight > IN_FLIGHT {
            self.in_flight -= 1;
            let rejected: Vec<LineProblems> = self.store.receive()?;
            self.answered.extend(rejected);
        }
        Ok(std::mem::take(&mut self.answered))
    }

    fn reserve(&mut self, rows: usize) {
        if self.drain().is_ok() {
            let _: Result<()> = self.store.call(Request::ImportReserve(self.id, rows));
        }
    }

    fn stop_writing(&mut self) {
        if self.drain().is_ok() {
            let _: Result<()> = self.store.call(Request::ImportStopWriting(self.id));
        }
    }

    fn finish(&mut self) -> Result<Vec<LineProblems>> {
        self.drain()?;
        let mut rejected = std::mem::take(&mut self.answered);
        rejected.extend(self.store.call::<Vec<LineProblems>>(Request::ImportFinish(self.id))?);
        Ok(rejected)
    }

    /// After `finish` (which reads every answer): nothing is in flight.
    fn accepted(&self) -> u64 {
        self.store.call(Request::ImportAccepted(self.id)).unwrap_or(0)
    }

    fn commit(mut self: Box<Self>, attributes: &[String], audit: &AuditEntry) -> Result<Profile> {
        // What the answers still held was rejected and not staged: the server commits the rest, or
        // refuses when a rejection stopped the writing.
        self.drain()?;
        self.done = true;
        self.store.call(Request::ImportCommit(self.id, attributes.to_vec(), audit.clone()))
    }
}

impl Drop for RemoteImport {
    fn drop(&mut self) {
        if !self.done && self.drain().is_ok() {
            let _: Result<()> = self.store.call(Request::ImportDrop(self.id));
        }
    }
}

impl DepStore for RemoteStore {
    fn catalog(&self, kind: CatalogKind) -> Result<Vec<CatalogEntry>> {
        self.call(Request::Catalog(kind))
    }
    fn catalog_entry(&self, kind: CatalogKind, name: &str) -> Result<Option<CatalogEntry>> {
        self.call(Request::CatalogEntry(kind, name.to_string()))
    }
    fn catalog_add(&self, kind: CatalogKind, entry: CatalogEntry, audit: &AuditEntry) -> Result<()> {
        self.call(Request::CatalogAdd(kind, entry, audit.clone()))
    }
    fn catalog_update(&self, kind: CatalogKind, name: &str, entry: CatalogEntry, audit: &AuditEntry) -> Result<u64> {
        self.call(Request::CatalogUpdate(kind, name.to_string(), entry, audit.clone()))
    }
    fn catalog_delete(&self, kind: CatalogKind, name: &str, audit: &AuditEntry) -> Result<()> {
        self.call(Request::CatalogDelete(kind, name.to_string(), audit.clone()))
    }
    fn dep_devices(&self) -> Result<Vec<DepDevice>> {
        self.call(Request::DepDevices)
    }
    fn dep_devices_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<DepDevice>> {
        self.call(Request::DepDevicesPage(after.map(str::to_string), limit))
    }
    fn dep_device(&self, identifier: &str) -> Result<Option<DepDevice>> {
        self.call(Request::DepDevice(identifier.to_string()))
    }
    fn dep_apply(&self, change: DepChange, audit: &AuditEntry) -> Result<Vec<Mail>> {
        self.call(Request::DepApply(change, audit.clone()))
    }
    fn dep_put(&self, device: DepDevice, expect: DateTime<Utc>, audit: &AuditEntry) -> Result<DepDevice> {
        self.call(Request::DepPut(device, expect, audit.clone()))
    }
    fn dep_delete(&self, identifier: &str, audit: &AuditEntry) -> Result<()> {
        self.call(Request::DepDelete(identifier.to_string(), audit.clone()))
    }
    fn outbox(&self) -> Result<Vec<Mail>> {
        self.call(Request::Outbox)
    }
    fn mark_written(&self, ids: &[u64], audit: &AuditEntry) -> Result<()> {
        self.call(Request::MarkWritten(ids.to_vec(), audit.clone()))
    }
}

impl Store for RemoteStore {
    fn profiles(&self) -> Result<Vec<Profile>> {
        self.call(Request::Profiles)
    }
    fn profile(&self, name: &str) -> Result<Option<Profile>> {
        self.call(Request::Profile(name.to_string()))
    }
    fn profile_by_id(&self, id: ProfileId) -> Result<Option<Profile>> {
        self.call(Request::ProfileById(id))
    }
    fn create_profile(&self, profile: Profile, audit: &AuditEntry) -> Result<Profile> {
        self.call(Request::CreateProfile(profile, audit.clone()))
    }
    fn update_profile(
        &self,
        id: ProfileId,
        change: &ProfileChange,
        expect: Expect<u64>,
        audit: &AuditEntry,
    ) -> Result<Profile> {
        self.call(Request::UpdateProfile(id, change.clone(), expect, audit.clone()))
    }
    fn delete_profile(&self, id: ProfileId, audit: &AuditEntry) -> Result<u64> {
        self.call(Request::DeleteProfile(id, audit.clone()))
    }
    fn devices_page(&self, id: ProfileId, after: Option<DeviceSeq>, limit: usize) -> Result<Vec<Device>> {
        self.call(Request::DevicesPage(id, after, limit))
    }
    fn device(&self, id: ProfileId, seq: DeviceSeq) -> Result<Option<Device>> {
        self.call(Request::Device(id, seq))
    }
    fn find(&self, lookup: &Lookup) -> Result<Option<(ProfileId, Device)>> {
        self.call(Request::Find(lookup.clone()))
    }
    fn candidates(&self, imei: Option<Imei>, serial: Option<&str>) -> Result<Vec<(ProfileId, Device)>> {
        self.call(Request::Candidates(imei, serial.map(str::to_string)))
    }
    fn add_device(&self, id: ProfileId, device: NewDevice, audit: &AuditEntry) -> Result<Device> {
        self.call(Request::AddDevice(id, device, audit.clone()))
    }
    fn update_device(
        &self,
        id: ProfileId,
        device: Device,
        expect: Expect<DateTime<Utc>>,
        audit: &AuditEntry,
    ) -> Result<Device> {
        self.call(Request::UpdateDevice(id, device, expect, audit.clone()))
    }
    fn set_attribute(
        &self,
        id: ProfileId,
        seqs: &[DeviceSeq],
        name: &str,
        value: Option<&str>,
        audit: &AuditEntry,
    ) -> Result<u64> {
        self.call(Request::SetAttribute(id, seqs.to_vec(), name.to_string(), value.map(str::to_string), audit.clone()))
    }
    fn delete_devices(&self, id: ProfileId, seqs: &[DeviceSeq], audit: &AuditEntry) -> Result<u64> {
        self.call(Request::DeleteDevices(id, seqs.to_vec(), audit.clone()))
    }
    fn set_status(&self, id: ProfileId, seq: DeviceSeq, status: Status, audit: &AuditEntry) -> Result<Device> {
        self.call(Request::SetStatus(id, seq, status, audit.clone()))
    }
    fn begin_import(&self, target: ImportTarget, write: bool) -> Result<Box<dyn ImportSession>> {
        // An import has a connection of its own: its batches do not hold up this store's other calls. A
        // server that stops takes the import with it: that connection never starts another one.
        let store = RemoteStore::open(&self.socket, None)?;
        let (id, profile): (u64, Profile) = store.call(Request::BeginImport(target, write))?;
        Ok(Box::new(RemoteImport { store, id, profile, done: false, in_flight: 0, answered: Vec::new() }))
    }
    fn users(&self) -> Result<Vec<User>> {
        self.call(Request::Users)
    }
    fn user(&self, username: &str) -> Result<Option<User>> {
        self.call(Request::User(username.to_string()))
    }
    fn put_user(&self, user: User, create: bool, audit: &AuditEntry) -> Result<()> {
        self.call(Request::PutUser(user, create, audit.clone()))
    }
    fn delete_user(&self, username: &str, audit: &AuditEntry) -> Result<()> {
        self.call(Request::DeleteUser(username.to_string(), audit.clone()))
    }
    fn append_audit(&self, audit: &AuditEntry) -> Result<()> {
        self.call(Request::AppendAudit(audit.clone()))
    }
    fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        self.call(Request::Audit(query.clone()))
    }
    /// A connection of its own carries the feed; a thread hands each change to the receiver, and ends
    /// the feed when the server goes away. Subscribed once the server said so: a change committed after
    /// `subscribe` returns is never missed.
    fn subscribe(&self) -> Result<std::sync::mpsc::Receiver<Change>> {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut wire = connect_or_start(&self.socket, self.starter.as_ref())?;
        write_msg(&mut wire.writer, &Request::Subscribe).map_err(|e| lost(&self.socket, e))?;
        read_msg::<Response>(&mut wire.reader).map_err(|e| lost(&self.socket, e))??;
        std::thread::spawn(move || {
            while let Ok(change) = read_msg::<Change>(&mut wire.reader) {
                if tx.send(change).is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }
    fn check(&self) -> Result<Vec<Problem>> {
        self.call(Request::Check)
    }
    fn load(&self, inventory: &crate::store::Inventory, audit: &AuditEntry) -> Result<()> {
        self.call(Request::Load(Box::new(inventory.clone()), audit.clone()))
    }
    fn snapshot(&self) -> Result<crate::store::Inventory> {
        self.call(Request::Snapshot)
    }
    fn feed_lost(&self) -> &'static str {
        "server stopped"
    }
}
