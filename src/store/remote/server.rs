//! The server side: one thread per client connection, each answering its requests from the one store.
//! An import session belongs to its connection: a client that goes away takes its uncommitted import
//! with it (the session is dropped, which writes nothing).

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Outgoing, PROTOCOL_VERSION, Request, Response, encode, read_msg, write_msg};
use crate::store::{ImportSession, Store, StoreError};

/// How long a server lives.
#[derive(Clone, Copy, Debug, Default)]
pub struct Serving {
    /// Ends the server once no client has been connected for this long (a server started by a client);
    /// `None` serves until the process is stopped (a system service).
    pub idle_exit: Option<Duration>,
}

/// Who is connected, and since when nobody is.
struct Clients {
    connected: usize,
    idle_since: Instant,
    closing: bool,
}

/// What every connection and the watcher share: the clients, and how to stop.
struct Server {
    clients: Mutex<Clients>,
    path: PathBuf,
    /// The listening socket, shut down to stop.
    listener: RawFd,
}

impl Server {
    fn clients(&self) -> std::sync::MutexGuard<'_, Clients> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops accepting: marks the server closing, removes its socket (unless it is no longer its own)
    /// and shuts the listener down, which wakes the accept loop, so that the store is dropped, and
    /// flushed, on the way out of `serve`. Connections already open end as their clients leave.
    fn stop(&self, c: &mut Clients, remove_socket: bool) {
        c.closing = true;
        if remove_socket {
            let _ = std::fs::remove_file(&self.path);
        }
        // SAFETY: the listener is open: the accept loop closes it only after it has seen `closing`
        // under the lock the caller holds. Shutdown makes a blocked accept return.
        unsafe { libc::shutdown(self.listener, libc::SHUT_RDWR) };
    }
}

/// Serves `store` on the socket at `path` until the process is stopped, or, with an idle exit, until
/// nobody has been connected for that long, or until `kitting serve --stop`; `ready` is called once the
/// socket answers. A socket file left by a server that is gone is replaced; a live one (another server
/// answers) is an error. A server whose socket file is removed or replaced (its database directory
/// deleted) stops: nobody can reach it.
pub fn serve(store: Arc<dyn Store>, path: &Path, serving: Serving, ready: impl FnOnce()) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("{}: a kitting server answers there already", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    // The socket is as open as the database: its owner, or a shared database's group, and nobody else.
    let shared = path.parent().is_some_and(crate::store::share::is_shared);
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(if shared { 0o660 } else { 0o600 }))?;
    let server = Arc::new(Server {
        clients: Mutex::new(Clients { connected: 0, idle_since: Instant::now(), closing: false }),
        path: path.to_path_buf(),
        listener: listener.as_raw_fd(),
    });
    watch(server.clone(), serving)?;
    ready();
    for conn in listener.incoming() {
        let mut c = server.clients();
        if c.closing {
            break;
        }
        let Ok(conn) = conn else { continue };
        c.connected += 1;
        drop(c);
        let store = store.clone();
        let left = Left(server.clone());
        std::thread::spawn(move || {
            // A client that sends what does not parse, or goes away, ends its own connection only.
            let uid = peer_uid(&conn);
            let user = uid.map(crate::os::user_of);
            let _ =
                Connection { store, sessions: HashMap::new(), next: 1, user, uid, server: left.0.clone() }.run(conn);
            drop(left);
        });
    }
    Ok(())
}

/// Counts a connection out when its thread ends, however it ends.
struct Left(Arc<Server>);

impl Drop for Left {
    fn drop(&mut self) {
        let mut c = self.0.clients();
        c.connected -= 1;
        c.idle_since = Instant::now();
    }
}

/// A thread that stops the server when it has been idle long enough, or when its socket file is no
/// longer its own.
fn watch(server: Arc<Server>, serving: Serving) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(&server.path)?.ino();
    let tick = serving
        .idle_exit
        .map_or(Duration::from_secs(1), |d| (d / 4).clamp(Duration::from_millis(20), Duration::from_secs(1)));
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(tick);
            let replaced = std::fs::metadata(&server.path).map_or(true, |m| m.ino() != inode);
            let mut c = server.clients();
            if c.closing {
                return;
            }
            let idle = serving.idle_exit.is_some_and(|d| c.connected == 0 && c.idle_since.elapsed() >= d);
            if replaced {
                eprintln!("kitting: {} was removed or replaced: this server stops", server.path.display());
            }
            if replaced || idle {
                server.stop(&mut c, !replaced);
                return;
            }
        }
    });
    Ok(())
}

/// The user id of the process at the other end of the socket (SO_PEERCRED on Linux).
#[cfg(target_os = "linux")]
fn peer_uid(conn: &UnixStream) -> Option<u32> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, which we own.
    let ok = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    } == 0;
    ok.then_some(cred.uid)
}

#[cfg(not(target_os = "linux"))]
fn peer_uid(_conn: &UnixStream) -> Option<u32> {
    None
}

struct Connection {
    store: Arc<dyn Store>,
    sessions: HashMap<u64, Box<dyn ImportSession>>,
    next: u64,
    /// The client's operating-system user, from the socket (not what the client says).
    user: Option<String>,
    uid: Option<u32>,
    server: Arc<Server>,
}

impl Connection {
    fn run(mut self, conn: UnixStream) -> std::io::Result<()> {
        let mut reader = std::io::BufReader::new(conn.try_clone()?);
        let mut writer = std::io::BufWriter::new(Outgoing(conn));
        let hello: Request = read_msg(&mut reader)?;
        match hello {
            Request::Hello { version } if version == PROTOCOL_VERSION => {
                write_msg(&mut writer, &encode(Ok(PROTOCOL_VERSION)))?;
            }
            Request::Hello { version } => {
                let refusal: Response = Err(StoreError::Backend(format!(
                    "this kitting speaks protocol version {version}, the server version {PROTOCOL_VERSION}: \
                     use the same kitting for both"
                )));
                return write_msg(&mut writer, &refusal);
            }
            _ => return Ok(()),
        }
        loop {
            let request: Request = read_msg(&mut reader)?;
            if matches!(request, Request::Subscribe) {
                let feed = match self.store.subscribe() {
                    Ok(feed) => feed,
                    Err(e) => return write_msg(&mut writer, &Response::Err(e)),
                };
                write_msg(&mut writer, &encode(Ok(())))?;
                while let Ok(change) = feed.recv() {
                    write_msg(&mut writer, &change)?;
                }
                return Ok(());
            }
            if matches!(request, Request::Stop) {
                // Answered before the server stops: its process may end as soon as it has.
                let allowed = self.may_stop();
                write_msg(&mut writer, &allowed)?;
                if allowed.is_ok() {
                    let mut c = self.server.clients();
                    if !c.closing {
                        self.server.stop(&mut c, true);
                    }
                }
                continue;
            }
            let answer = self.answer(request);
            write_msg(&mut writer, &answer)?;
        }
    }

    /// An audit entry as the trail records it: the user the socket says, whatever the client wrote; the
    /// SSH client address and the front-end are the client's to say.
    fn who(&self, mut audit: crate::domain::audit::AuditEntry) -> crate::domain::audit::AuditEntry {
        if let Some(user) = &self.user {
            audit.actor.user = user.clone();
        }
        audit
    }

    /// Whether this client may stop the server (`kitting serve --stop`): its own user or root only.
    fn may_stop(&self) -> Response {
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        if !matches!(self.uid, Some(uid) if uid == me || uid == 0) {
            return Err(StoreError::Denied(format!(
                "only {} (who runs this server) or root may stop it",
                crate::os::user_of(me)
            )));
        }
        encode(Ok(()))
    }

    fn session(&mut self, id: u64) -> Result<&mut Box<dyn ImportSession>, StoreError> {
        self.sessions.get_mut(&id).ok_or_else(|| StoreError::NotFound(format!("no import session {id}")))
    }

    fn answer(&mut self, request: Request) -> Response {
        let s = self.store.clone();
        let s = s.as_ref();
        match request {
            // Handled by `run` (the feed, the stop) or at the start (hello).
            Request::Hello { .. } | Request::Subscribe | Request::Stop => {
                Err(StoreError::Backend("unexpected request".into()))
            }
            Request::Profiles => encode(s.profiles()),
            Request::Profile(name) => encode(s.profile(&name)),
            Request::ProfileById(id) => encode(s.profile_by_id(id)),
            Request::CreateProfile(p, a) => encode(s.create_profile(p, &self.who(a))),
            Request::UpdateProfile(id, change, expect, a) => {
                encode(s.update_profile(id, &change, expect, &self.who(a)))
            }
            Request::DeleteProfile(id, a) => encode(s.delete_profile(id, &self.who(a))),
            Request::DevicesPage(id, after, limit) => encode(s.devices_page(id, after, limit)),
            Request::Device(id, seq) => encode(s.device(id, seq)),
            Request::Find(lookup) => encode(s.find(&lookup)),
            Request::Candidates(imei, serial) => encode(s.candidates(imei, serial.as_deref())),
            Request::AddDevice(id, d, a) => encode(s.add_device(id, d, &self.who(a))),
            Request::UpdateDevice(id, d, expect, a) => encode(s.update_device(id, d, expect, &self.who(a))),
            Request::SetAttribute(id, seqs, name, value, a) => {
                encode(s.set_attribute(id, &seqs, &name, value.as_deref(), &self.who(a)))
            }
            Request::DeleteDevices(id, seqs, a) => encode(s.delete_devices(id, &seqs, &self.who(a))),
            Request::SetStatus(id, seq, status, a) => encode(s.set_status(id, seq, status, &self.who(a))),
            Request::BeginImport(target, write) => match s.begin_import(target, write) {
                Ok(session) => {
                    let id = self.next;
                    self.next += 1;
                    let profile = session.profile().clone();
                    self.sessions.insert(id, session);
                    encode(Ok((id, profile)))
                }
                Err(e) => Err(e),
            },
            Request::ImportAdd(id, encoder, rows) => match self.session(id) {
                Ok(session) => encode(session.add_prepared(&encoder, &rows)),
                Err(e) => Err(e),
            },
            Request::ImportReserve(id, rows) => self.session(id).and_then(|session| {
                session.reserve(rows);
                encode(Ok(()))
            }),
            Request::ImportStopWriting(id) => self.session(id).and_then(|session| {
                session.stop_writing();
                encode(Ok(()))
            }),
            Request::ImportFinish(id) => match self.session(id) {
                Ok(session) => encode(session.finish()),
                Err(e) => Err(e),
            },
            Request::ImportAccepted(id) => self.session(id).and_then(|session| encode(Ok(session.accepted()))),
            Request::ImportCommit(id, attributes, a) => match self.sessions.remove(&id) {
                Some(session) => encode(session.commit(&attributes, &self.who(a))),
                None => Err(StoreError::NotFound(format!("no import session {id}"))),
            },
            Request::ImportDrop(id) => {
                self.sessions.remove(&id);
                encode(Ok(()))
            }
            Request::Users => encode(s.users()),
            Request::User(name) => encode(s.user(&name)),
            Request::PutUser(u, create, a) => encode(s.put_user(u, create, &self.who(a))),
            Request::DeleteUser(name, a) => encode(s.delete_user(&name, &self.who(a))),
            Request::AppendAudit(a) => encode(s.append_audit(&self.who(a))),
            Request::Audit(q) => encode(s.audit(&q)),
            Request::Check => encode(s.check()),
            Request::Load(inv, a) => encode(s.load(&inv, &self.who(a))),
            Request::Snapshot => encode(s.snapshot()),
            Request::Catalog(kind) => encode(s.catalog(kind)),
            Request::CatalogEntry(kind, name) => encode(s.catalog_entry(kind, &name)),
            Request::CatalogAdd(kind, e, a) => encode(s.catalog_add(kind, e, &self.who(a))),
            Request::CatalogUpdate(kind, name, e, a) => encode(s.catalog_update(kind, &name, e, &self.who(a))),
            Request::CatalogDelete(kind, name, a) => encode(s.catalog_delete(kind, &name, &self.who(a))),
            Request::DepDevices => encode(s.dep_devices()),
            Request::DepDevicesPage(after, limit) => encode(s.dep_devices_page(after.as_deref(), limit)),
            Request::DepDevice(id) => encode(s.dep_device(&id)),
            Request::DepApply(change, a) => encode(s.dep_apply(change, &self.who(a))),
            Request::DepPut(d, expect, a) => encode(s.dep_put(d, expect, &self.who(a))),
            Request::DepDelete(id, a) => encode(s.dep_delete(&id, &self.who(a))),
            Request::Outbox => encode(s.outbox()),
            Request::MarkWritten(ids, a) => encode(s.mark_written(&ids, &self.who(a))),
        }
    }
}
