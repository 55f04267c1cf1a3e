//! The sled implementation of `Store` (and, in `dep.rs`, of `DepStore`). See `layout.rs` for the keys.

mod dep;
mod durable;
pub(super) mod layout;
pub mod share;
mod shelf;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use self::layout::{CHUNK, Index, NewRec, ProfileRecord, Rec};
use super::chunk::{ChunkBuilder, PreparedRows, RowEncoder};
use super::inventory::{Inventory, refuse_problems, refuse_unless_empty};
use super::{
    Change, Expect, FieldProblem, ImportSession, ImportTarget, LineProblems, Lookup, Problem, ProfileChange, Result,
    Store, StoreError, Subject, WriteGuard, WriteLock, next_stamp,
};
use crate::domain::audit::{AuditEntry, AuditQuery};
use crate::domain::{Device, DeviceSeq, Field, Identifiers, Imei, NewDevice, Profile, ProfileId, Status, User};

/// A handle on the database; clones share it (an import session holds one, so that it owns what it needs).
#[derive(Clone)]
pub struct SledStore {
    pub(super) db: sled::Db,
    pub(super) tree: sled::Tree,
    /// Serialises writers in this process (one process owns the database; readers never wait).
    write: Arc<WriteLock>,
    /// One writing import at a time, held for its whole session; it takes `write` only to begin and to
    /// commit, so other changes go on while it reads and stages its file.
    importing: Arc<WriteLock>,
    /// The writing import's profile and first staged chunk: adding to that profile or deleting it waits
    /// for the import, and `check` passes over its staged chunks and journal.
    active: Arc<std::sync::Mutex<Option<(ProfileId, u32)>>>,
    /// Counts the changes that rewrote index buckets: an import whose count moved since it began checks
    /// its rows again at commit, against the indexes as they are then.
    index_gen: Arc<std::sync::atomic::AtomicU64>,
    dir: PathBuf,
    /// Syncs what sled wrote before a commit returns (see `durable.rs`).
    durable: Arc<durable::Durable>,
    _lock: Arc<std::fs::File>,
    feed: Arc<super::Feed>,
}

pub(super) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Users, by trimmed, lower-cased username (schema 9; before, one `u` + key each).
const USERS: shelf::Shelf<User> = shelf::Shelf { prefix: b'U', what: "user", key: user_record_key };

fn user_record_key(u: &User) -> String {
    user_name_key(&u.username)
}

/// A username as users are kept: usernames are unique ignoring case and surrounding space.
pub(super) fn user_name_key(username: &str) -> String {
    username.trim().to_lowercase()
}

/// `user_name_key` into a buffer that is used again (an ASCII name, the usual kind, without allocating).
pub(super) fn user_name_key_into(username: &str, key: &mut String) {
    crate::keys::key_into(username, key)
}

pub(super) fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_stdvec(v).expect("domain values always serialize")
}

fn encode_chunk(devices: &[Device], out: Vec<u8>) -> Vec<u8> {
    compress(super::chunk::encode(devices, out).expect("devices always serialize"))
}

/// Chunks are stored LZ4-compressed.
fn compress(raw: Vec<u8>) -> Vec<u8> {
    lz4_flex::compress_prepend_size(&raw)
}

fn decode_chunk(bytes: &[u8]) -> Result<Vec<Device>> {
    let raw = lz4_flex::decompress_size_prepended(bytes)
        .map_err(|e| StoreError::Backend(format!("corrupt device chunk: {e}")))?;
    super::chunk::decode(&raw).map_err(|e| StoreError::Backend(format!("corrupt device chunk: {e}")))
}

fn dec<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Backend(format!("corrupt {what}: {e}")))
}

/// Pending index edits for one change, by bucket, written into the change's batch.
#[derive(Default)]
struct IndexEdit {
    /// Buckets read and changed, by index and first key.
    buckets: HashMap<(Index, u64), Vec<Rec>>,
    /// The directories read, by index.
    dirs: HashMap<Index, Vec<u64>>,
}

impl IndexEdit {
    fn bucket(&mut self, store: &SledStore, index: Index, key: u64) -> Result<&mut Vec<Rec>> {
        let dir = match self.dirs.entry(index) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(store.dir(index)?),
        };
        let start = layout::covering(dir, key);
        Ok(match self.buckets.entry((index, start)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(
                store
                    .get_raw(&layout::bucket_key(index, start))?
                    .map(|b| layout::decode_bucket(&b))
                    .unwrap_or_default(),
            ),
        })
    }

    fn add(&mut self, store: &SledStore, index: Index, rec: Rec) -> Result<()> {
        let b = self.bucket(store, index, rec.key)?;
        if let Err(pos) = b.binary_search(&rec) {
            b.insert(pos, rec);
        }
        Ok(())
    }

    fn remove(&mut self, store: &SledStore, index: Index, rec: Rec) -> Result<()> {
        let b = self.bucket(store, index, rec.key)?;
        if let Ok(pos) = b.binary_search(&rec) {
            b.remove(pos);
        }
        Ok(())
    }

    /// Writes the changed buckets, splitting one that grew past `BUCKET_MAX` in two (and adding the new
    /// bucket to its index's directory).
    fn write_into(mut self, store: &SledStore, batch: &mut sled::Batch) {
        store.indexes_changed();
        let mut grown: Vec<Index> = Vec::new();
        for ((index, start), recs) in std::mem::take(&mut self.buckets) {
            for (s, piece) in layout::split(start, recs, layout::BUCKET_MAX, layout::BUCKET_MAX / 2) {
                let key = layout::bucket_key(index, s);
                if piece.is_empty() {
                    batch.remove(&key);
                } else {
                    batch.insert(&key, layout::encode_bucket(&piece));
                }
                let dir = self.dirs.entry(index).or_default();
                if let Err(pos) = dir.binary_search(&s) {
                    dir.insert(pos, s);
                    grown.push(index);
                }
            }
        }
        grown.dedup();
        for index in grown {
            batch.insert(layout::dir_key(index), layout::encode_dir(&self.dirs[&index]));
        }
    }
}

/// The index records a device should have.
fn index_recs(profile: ProfileId, d: &Device) -> Vec<(Index, Rec)> {
    let mut out = Vec::with_capacity(2);
    // A dual-SIM device's second IMEI is in the same index: no other device may have it, first or second.
    for i in d.ids.imeis() {
        out.push((Index::Imei, Rec { key: i.as_u64(), profile, seq: d.seq }));
    }
    // Every serial number, with a manufacturer or not: `candidates` finds a device by it. Only a serial
    // number with its manufacturer is unique (`conflicts` confirms the whole key).
    if let Some(s) = &d.ids.serial {
        out.push((Index::Serial, Rec { key: layout::serial_hash(s), profile, seq: d.seq }));
    }
    out
}

/// Writes an empty index whole into `batch`: its records as one sorted stream cut into buckets, as an
/// import into an empty index writes them, and its directory.
fn put_whole_index(batch: &mut sled::Batch, index: Index, mut recs: Vec<Rec>) {
    if recs.is_empty() {
        return;
    }
    recs.sort_unstable();
    let mut starts = Vec::new();
    let mut pieces = layout::Pieces::new(0, layout::BUCKET_MAX, layout::BUCKET_FILL);
    let mut put = |(s, piece): (u64, Vec<Rec>)| {
        batch.insert(&layout::bucket_key(index, s), layout::encode_bucket(&piece));
        starts.push(s);
    };
    for r in recs {
        if let Some(piece) = pieces.push(r) {
            put(piece);
        }
    }
    if let Some(piece) = pieces.finish() {
        put(piece);
    }
    batch.insert(layout::dir_key(index), layout::encode_dir(&starts));
}

/// Writes who holds the database into its lock file (held: nobody else writes it): the user, the
/// process id and since when, for the refusal another process gets.
fn say_holder(lock: &std::fs::File, serving: bool) {
    use std::io::{Seek, Write};
    let since = Utc::now().format("%Y-%m-%d %H:%M:%S UTC");
    let process = if serving { SERVER_HOLDER } else { "process" };
    let text = format!("user {}, {process} {}, since {since}\n", crate::os::user(), std::process::id());
    let mut f = lock;
    // Best effort: the lock itself is what keeps others out; the text only names its holder.
    let _ = f.set_len(0).and_then(|()| f.seek(std::io::SeekFrom::Start(0))).and_then(|_| f.write_all(text.as_bytes()));
}

/// Who holds the database, as its lock file says (sanitized: the file is only as trusted as the directory).
fn holder(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("kitting.lock")).unwrap_or_default();
    match text.lines().next().map(str::trim).filter(|l| !l.is_empty()) {
        Some(line) => crate::domain::text::sanitize(&line.chars().take(200).collect::<String>()).into_owned(),
        None => "its holder did not say who it is (an older kitting)".into(),
    }
}

/// How the lock file names a kitting server as the holder ("user ann, kitting server process 4711, …"):
/// a client that finds the database held by a server (one starting or stopping) tries again.
pub const SERVER_HOLDER: &str = "kitting server process";

impl SledStore {
    /// Opens (creating with mode 0700) the database directory, refusing if another process holds it.
    pub fn open(dir: &Path) -> Result<SledStore> {
        SledStore::open_as(dir, false)
    }

    /// Opens the database for `kitting serve`: its lock file names the holder as a server.
    pub fn open_serving(dir: &Path) -> Result<SledStore> {
        SledStore::open_as(dir, true)
    }

    fn open_as(dir: &Path, serving: bool) -> Result<SledStore> {
        let shown = dir.display().to_string();
        #[cfg(unix)]
        let denied = |e: &std::io::Error| e.kind() == std::io::ErrorKind::PermissionDenied;
        // What sled creates from now on (segments, blobs) is private, or usable by the group of a shared
        // database, whatever the umask the process was started with.
        #[cfg(unix)]
        {
            let mask = if share::is_shared(dir) { 0o007 } else { 0o077 };
            // SAFETY: umask only sets this process's file-creation mask.
            unsafe { libc::umask(mask) };
        }
        if !dir.exists() {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(dir).map_err(|e| StoreError::Backend(format!("cannot create database directory {shown}: {e}")))?;
        }
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("kitting.lock"))
            .map_err(|e| {
                #[cfg(unix)]
                if denied(&e) {
                    return StoreError::Denied(share::denied(dir));
                }
                StoreError::Backend(format!("cannot open {shown}/kitting.lock: {e}"))
            })?;
        match lock.try_lock() {
            Ok(()) => {
                say_holder(&lock, serving);
                // Held: no other process is writing here. A directory left readable is tightened.
                share::tighten(dir)?;
            }
            Err(std::fs::TryLockError::WouldBlock) => return Err(StoreError::InUse(shown, holder(dir))),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(StoreError::Backend(format!("cannot lock database {shown}: {e}")));
            }
        }
        let config = sled::Config::new()
            .path(dir.join("sled"))
            .cache_capacity(64 * 1024 * 1024)
            // kitting flushes after every committed change itself; sled's periodic flusher thread only
            // made each exit wait for it (~30 ms) without adding durability.
            .flush_every_ms(None);
        // We hold kitting.lock, so a sled lock still held is this process's own store being dropped on
        // another thread (sled lets go of its files a moment after the last handle): wait for it briefly.
        let mut tries = 0;
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                Err(e) if e.to_string().contains("could not acquire lock") && tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) if e.to_string().contains("could not acquire lock") => {
                    return Err(StoreError::InUse(shown, holder(dir)));
                }
                Err(e) => return Err(StoreError::Backend(format!("cannot open database {shown}: {e}"))),
            }
        };
        let tree = db.open_tree("kitting").map_err(backend)?;
        let durable = durable::Durable::open(dir, &dir.join("sled"))
            .map_err(|e| StoreError::Backend(format!("cannot sync database {shown}: {e}")))?;
        let store = SledStore {
            db,
            tree,
            durable: Arc::new(durable),
            write: Arc::default(),
            importing: Arc::default(),
            active: Arc::default(),
            index_gen: Arc::default(),
            dir: dir.to_path_buf(),
            _lock: Arc::new(lock),
            feed: Arc::default(),
        };
        store.check_schema()?;
        store.recover()?;
        Ok(store)
    }

    fn check_schema(&self) -> Result<()> {
        let Some(v) = self.get_raw(layout::META_SCHEMA)? else {
            self.tree.insert(layout::META_SCHEMA, &layout::SCHEMA_VERSION.to_be_bytes()).map_err(backend)?;
            self.flush()?;
            return Ok(());
        };
        let mut found = u32::from_be_bytes(v.as_ref().try_into().map_err(|_| backend("corrupt schema version"))?);
        // Each step is one atomic batch that also writes its new version: a crash between steps resumes.
        loop {
            match found {
                v if v == layout::SCHEMA_VERSION => return Ok(()),
                2 => self.migrate_from_2()?,
                3 => self.migrate_from_3()?,
                4 => self.migrate_from_4()?,
                5 => self.migrate_from_5()?,
                // 6 → 7: the kitted status is new; what is stored reads the same.
                6 => self.tree.insert(layout::META_SCHEMA, &7u32.to_be_bytes()).map(drop).map_err(backend)?,
                // 7 → 8: a device may have a second IMEI; what is stored reads the same.
                7 => self.tree.insert(layout::META_SCHEMA, &8u32.to_be_bytes()).map(drop).map_err(backend)?,
                8 => self.migrate_from_8()?,
                9 => self.migrate_from_9()?,
                _ => {
                    return Err(StoreError::Backend(format!(
                        "database {} has schema version {found}; this kitting reads version {}",
                        self.dir.display(),
                        layout::SCHEMA_VERSION
                    )));
                }
            }
            found += 1;
        }
    }

    /// Version 8 → 9: users and DEP device records move from a key each into chunks (`shelf.rs`), in one
    /// batch with the new version.
    fn migrate_from_8(&self) -> Result<()> {
        let mut batch = sled::Batch::default();
        let mut users: Vec<User> = Vec::new();
        for kv in self.tree.scan_prefix(b"u") {
            let (k, v) = kv.map_err(backend)?;
            users.push(dec(&v, "user")?);
            batch.remove(k);
        }
        let mut records: Vec<crate::domain::dep::DepDevice> = Vec::new();
        for kv in self.tree.scan_prefix(b"e") {
            let (k, v) = kv.map_err(backend)?;
            records.push(dec(&v, "DEP device")?);
            batch.remove(k);
        }
        USERS.write(&self.tree, &mut batch, users, &[])?;
        dep::RECORDS.write(&self.tree, &mut batch, records, &[])?;
        batch.insert(layout::META_SCHEMA, &9u32.to_be_bytes());
        self.commit(batch)
    }

    /// Version 9 → 10: the serial index holds every serial number, a device's kept without a manufacturer
    /// too (beside an IMEI), so that a scan of it finds the device; the index is written again whole from
    /// the committed devices (what an interrupted import staged is not indexed: `recover` removes it), in
    /// one batch with the new version.
    fn migrate_from_9(&self) -> Result<()> {
        let mut batch = sled::Batch::default();
        self.rebuild_serial_index(&mut batch, |_| true)?;
        batch.insert(layout::META_SCHEMA, &10u32.to_be_bytes());
        self.commit(batch)
    }

    /// Puts into `batch` the serial index written again whole from the committed devices `indexed`
    /// takes (the old index and its directory removed).
    fn rebuild_serial_index(&self, batch: &mut sled::Batch, indexed: impl Fn(&Device) -> bool) -> Result<()> {
        for kv in self.tree.scan_prefix([Index::Serial.prefix()]) {
            batch.remove(kv.map_err(backend)?.0);
        }
        batch.remove(layout::dir_key(Index::Serial));
        let mut recs = Vec::new();
        for kv in self.tree.scan_prefix(b"p") {
            let rec: ProfileRecord = dec(&kv.map_err(backend)?.1, "profile")?;
            let id = rec.profile.id;
            super::each_device(self, id, &mut |d| {
                if indexed(&d) {
                    recs.extend(index_recs(id, &d).into_iter().filter(|(i, _)| *i == Index::Serial).map(|(_, r)| r));
                }
                true
            })?;
        }
        put_whole_index(batch, Index::Serial, recs);
        Ok(())
    }

    /// Version 2 → 3: users gain a description and organizations (postcard is not self-describing, so each
    /// user is decoded in its old shape and written in the new one), in one batch with the new version.
    fn migrate_from_2(&self) -> Result<()> {
        #[derive(Deserialize)]
        struct UserV2 {
            username: String,
            name: String,
            email: String,
        }
        let mut batch = sled::Batch::default();
        for kv in self.tree.scan_prefix(b"u") {
            let (k, v) = kv.map_err(backend)?;
            let old: UserV2 = dec(&v, "user")?;
            let user = User { username: old.username, name: old.name, email: old.email, ..User::default() };
            batch.insert(k, enc(&user));
        }
        batch.insert(layout::META_SCHEMA, &3u32.to_be_bytes());
        self.commit(batch)
    }

    /// Version 3 → 4: tokens keep the lifetime they were issued with (unknown for the existing ones), and
    /// profiles count their versions (for conflicts) from 1.
    fn migrate_from_3(&self) -> Result<()> {
        use crate::domain::android::AndroidConfig;
        use chrono::{DateTime, Utc};
        #[derive(Deserialize)]
        struct TokenV3 {
            value: String,
            #[serde(with = "chrono::serde::ts_milliseconds")]
            expires: DateTime<Utc>,
        }
        #[derive(Deserialize)]
        struct ProfileV3 {
            id: ProfileId,
            name: String,
            description: Option<String>,
            kind: String,
            #[serde(with = "chrono::serde::ts_milliseconds")]
            created: DateTime<Utc>,
            #[serde(with = "chrono::serde::ts_milliseconds")]
            modified: DateTime<Utc>,
            user: Option<String>,
            token: Option<TokenV3>,
            config: AndroidConfig,
            device_count: u64,
            attributes: Vec<String>,
        }
        #[derive(Deserialize)]
        struct RecordV3 {
            profile: ProfileV3,
            next_seq: DeviceSeq,
        }
        let mut batch = sled::Batch::default();
        for kv in self.tree.scan_prefix(b"p") {
            let (k, v) = kv.map_err(backend)?;
            let old: RecordV3 = dec(&v, "profile")?;
            let p = old.profile;
            let profile = Profile {
                id: p.id,
                name: p.name,
                description: p.description,
                kind: p.kind,
                created: p.created,
                modified: p.modified,
                user: p.user,
                token: p.token.map(|t| crate::domain::Token { value: t.value, expires: t.expires, days: None }),
                config: p.config,
                device_count: p.device_count,
                attributes: p.attributes,
                version: 1,
            };
            batch.insert(k, enc(&ProfileRecord { profile, next_seq: old.next_seq }));
        }
        batch.insert(layout::META_SCHEMA, &4u32.to_be_bytes());
        self.commit(batch)
    }

    /// Version 4 → 5: the index buckets by key range (`layout`): every record of the 128 fixed buckets
    /// per index gets its index key and goes into buckets of `BUCKET_FILL`, with a directory; in one batch.
    fn migrate_from_4(&self) -> Result<()> {
        let mut batch = sled::Batch::default();
        for index in [Index::Imei, Index::Serial] {
            let mut recs = Vec::new();
            for kv in self.tree.scan_prefix([index.prefix()]) {
                let (k, v) = kv.map_err(backend)?;
                if k.len() != 3 {
                    return Err(backend(format!("index bucket key {k:?} is not of schema 4")));
                }
                batch.remove(k);
                recs.extend(layout::decode_fixed_bucket(&v));
            }
            recs.sort_unstable();
            let mut dir = Vec::new();
            if !recs.is_empty() {
                for (start, piece) in layout::split(0, recs, layout::BUCKET_FILL, layout::BUCKET_FILL) {
                    batch.insert(&layout::bucket_key(index, start), layout::encode_fixed_bucket(&piece));
                    dir.push(start);
                }
                batch.insert(layout::dir_key(index), layout::encode_dir(&dir));
            }
        }
        batch.insert(layout::META_SCHEMA, &5u32.to_be_bytes());
        self.commit(batch)
    }

    /// Version 5 → 6: every index bucket's fixed 16-byte records delta-encoded (`layout::encode_bucket`),
    /// the same buckets under the same keys; in one batch.
    fn migrate_from_5(&self) -> Result<()> {
        let mut batch = sled::Batch::default();
        for index in [Index::Imei, Index::Serial] {
            for kv in self.tree.scan_prefix([index.prefix()]) {
                let (k, v) = kv.map_err(backend)?;
                if k.len() != 9 || v.len() % layout::RECORD != 0 {
                    return Err(backend(format!("index bucket {k:?} is not of schema 5")));
                }
                batch.insert(k, layout::encode_bucket(&layout::decode_fixed_bucket(&v)));
            }
        }
        batch.insert(layout::META_SCHEMA, &6u32.to_be_bytes());
        self.commit(batch)
    }

    /// Removes what an interrupted import staged: every chunk from the journal's first chunk on.
    fn recover(&self) -> Result<()> {
        let journals: Vec<(sled::IVec, sled::IVec)> =
            self.tree.scan_prefix(b"j").collect::<std::result::Result<_, _>>().map_err(backend)?;
        if journals.is_empty() {
            return Ok(());
        }
        for (key, value) in journals {
            let id = u32::from_be_bytes(key[1..5].try_into().map_err(|_| backend("corrupt journal key"))?);
            let first = u32::from_be_bytes(value.as_ref().try_into().map_err(|_| backend("corrupt journal"))?);
            self.remove_chunks_from(id, first)?;
            self.tree.remove(&key).map_err(backend)?;
        }
        self.flush()?;
        Ok(())
    }

    fn remove_chunks_from(&self, id: ProfileId, first: u32) -> Result<()> {
        let end = layout::chunk_key(id, u32::MAX);
        for kv in self.tree.range(layout::chunk_key(id, first)..=end) {
            let (k, _) = kv.map_err(backend)?;
            self.tree.remove(k).map_err(backend)?;
        }
        Ok(())
    }

    pub(super) fn lock(&self) -> WriteGuard {
        WriteLock::acquire(&self.write)
    }

    /// The writers' lock for a change to profile `id`'s device numbers (an add) or to its existence (a
    /// delete): it waits while a writing import fills that profile, whose staged devices take the
    /// numbers after the profile's own. Changes elsewhere never wait for an import.
    fn lock_outside_import(&self, id: ProfileId) -> WriteGuard {
        loop {
            let guard = self.lock();
            if self.active_import().is_none_or(|(p, _)| p != id) {
                return guard;
            }
            drop(guard);
            drop(WriteLock::acquire(&self.importing));
        }
    }

    fn active_import(&self) -> Option<(ProfileId, u32)> {
        *self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Called by every change that rewrites index buckets (with the writers' lock held).
    fn indexes_changed(&self) {
        self.index_gen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    pub(super) fn get_raw(&self, key: &[u8]) -> Result<Option<sled::IVec>> {
        self.tree.get(key).map_err(backend)
    }

    /// Every value under a key prefix, decoded, in key order.
    pub(super) fn scan<T: DeserializeOwned>(&self, prefix: &[u8], what: &str) -> Result<Vec<T>> {
        self.tree.scan_prefix(prefix).map(|kv| dec(&kv.map_err(backend)?.1, what)).collect()
    }

    pub(super) fn get<T: DeserializeOwned>(&self, key: &[u8], what: &str) -> Result<Option<T>> {
        self.get_raw(key)?.map(|v| dec(&v, what)).transpose()
    }

    pub(super) fn commit(&self, batch: sled::Batch) -> Result<()> {
        self.tree.apply_batch(batch).map_err(backend)?;
        self.flush()
    }

    /// Writes out what sled holds and makes it durable (sled's own flush is not: see `durable.rs`).
    pub(super) fn flush(&self) -> Result<()> {
        self.db.flush().map_err(backend)?;
        self.durable
            .sync()
            .map_err(|e| StoreError::Backend(format!("cannot make the change durable in {}: {e}", self.dir.display())))
    }

    fn record(&self, id: ProfileId) -> Result<ProfileRecord> {
        self.get(&layout::profile_key(id), "profile")?
            .ok_or_else(|| StoreError::NotFound(format!("no profile with id {id}")))
    }

    fn chunk(&self, id: ProfileId, chunk: u32) -> Result<Vec<Device>> {
        match self.get_raw(&layout::chunk_key(id, chunk))? {
            Some(v) => decode_chunk(&v),
            None => Ok(Vec::new()),
        }
    }

    fn put_chunk(batch: &mut sled::Batch, id: ProfileId, chunk: u32, devices: &[Device]) {
        let key = layout::chunk_key(id, chunk);
        if devices.is_empty() {
            batch.remove(&key);
        } else {
            batch.insert(&key, encode_chunk(devices, Vec::new()));
        }
    }

    /// An index's directory: the first keys of its buckets, in order.
    fn dir(&self, index: Index) -> Result<Vec<u64>> {
        Ok(self.get_raw(layout::dir_key(index))?.map(|v| layout::decode_dir(&v)).unwrap_or_default())
    }

    /// The index records of an IMEI (as a number) or a serial hash.
    fn index_hits(&self, index: Index, raw: u64) -> Result<Vec<Rec>> {
        let key = raw;
        let start = layout::covering(&self.dir(index)?, key);
        Ok(self.get_raw(&layout::bucket_key(index, start))?.map(|b| layout::bucket_hits(&b, key)).unwrap_or_default())
    }

    fn resolve(&self, rec: Rec) -> Result<Option<Device>> {
        self.device(rec.profile, rec.seq)
    }

    fn profile_label(&self, id: ProfileId) -> Result<String> {
        Ok(match self.get::<ProfileRecord>(&layout::profile_key(id), "profile")? {
            Some(r) => format!("profile {:?}", r.profile.name),
            None => format!("profile #{id}"),
        })
    }

    /// Duplicate checks for one device against the stored devices (ignoring `exclude`, the device itself).
    fn conflicts(&self, ids: &Identifiers, exclude: Option<(ProfileId, DeviceSeq)>) -> Result<Vec<(Field, String)>> {
        let mut problems = Vec::new();
        for (field, imei) in [(Field::Imei, ids.imei), (Field::Imei2, ids.imei2)] {
            let Some(imei) = imei else { continue };
            for r in self.index_hits(Index::Imei, imei.as_u64())? {
                if Some((r.profile, r.seq)) != exclude {
                    let source = self.resolve(r)?.map(|d| d.source);
                    let place = self.profile_label(r.profile)?;
                    problems.push((field, super::already_in(&format!("IMEI {imei}"), &place, source.as_ref())));
                    break;
                }
            }
        }
        if let (Some(key), Some(serial)) = (ids.serial_key(), &ids.serial) {
            for r in self.index_hits(Index::Serial, layout::serial_hash(serial))? {
                if Some((r.profile, r.seq)) == exclude {
                    continue;
                }
                if let Some(d) = self.resolve(r)?
                    && d.ids.serial_key().as_deref() == Some(key.as_str())
                {
                    let what = format!("serial number {serial} ({})", ids.manufacturer.as_deref().unwrap_or(""));
                    let place = self.profile_label(r.profile)?;
                    problems.push((Field::Serial, super::already_in(&what, &place, Some(&d.source))));
                    break;
                }
            }
        }
        Ok(problems)
    }

    fn check_user_exists(&self, user: &Option<String>) -> Result<()> {
        if let Some(u) = user
            && self.user(u)?.is_none()
        {
            return Err(StoreError::NotFound(format!("no user named {u:?}")));
        }
        Ok(())
    }

    fn name_owner(&self, name: &str) -> Result<Option<ProfileId>> {
        Ok(self.get_raw(&layout::name_key(name))?.and_then(|v| v.as_ref().try_into().ok().map(u32::from_be_bytes)))
    }

    /// Checks a profile about to be created (name free, user known) and gives it the next id.
    /// The caller holds the write lock and writes the id counter with the profile.
    fn new_profile(&self, mut profile: Profile) -> Result<Profile> {
        profile.name = profile.name.trim().to_string();
        if self.name_owner(&profile.name)?.is_some() {
            return Err(StoreError::Refused(format!("a profile named {:?} already exists", profile.name)));
        }
        self.check_user_exists(&profile.user)?;
        profile.id = self.next_profile_id()?;
        profile.device_count = 0;
        Ok(profile)
    }

    fn next_profile_id(&self) -> Result<ProfileId> {
        Ok(self
            .get_raw(layout::META_NEXT_PROFILE)?
            .and_then(|v| v.as_ref().try_into().ok().map(u32::from_be_bytes))
            .unwrap_or(1))
    }

    /// Puts the audit entry into the change's batch with the next entry id. The caller holds the lock.
    pub(super) fn put_audit(&self, batch: &mut sled::Batch, audit: &AuditEntry, subject: Subject) -> Result<Change> {
        let id = match self.get_raw(layout::META_NEXT_AUDIT)? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(|_| backend("corrupt audit counter"))?),
            None => 1,
        };
        let mut entry = audit.clone();
        entry.id = id;
        batch.insert(&layout::audit_key(id), enc(&entry));
        batch.insert(layout::META_NEXT_AUDIT, &(id + 1).to_be_bytes());
        Ok(Change { subject, entry })
    }

    /// Commits a change and then tells the feed.
    pub(super) fn commit_with(&self, batch: sled::Batch, change: Change) -> Result<()> {
        self.commit(batch)?;
        self.feed.publish(change);
        Ok(())
    }

    /// The newest entry about a profile, for a conflict's message ("changed by alice at …").
    fn last_change_of(&self, profile: &str) -> Result<Option<AuditEntry>> {
        for kv in self.tree.scan_prefix(b"a").rev().take(10_000) {
            let (_, v) = kv.map_err(backend)?;
            let e: AuditEntry = dec(&v, "audit entry")?;
            if matches!(e.outcome, crate::domain::audit::AuditOutcome::Done(_))
                && e.profile.as_deref().is_some_and(|p| p.eq_ignore_ascii_case(profile))
            {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }

    fn conflict(&self, what: String, profile: &str) -> Result<StoreError> {
        let by = match self.last_change_of(profile)? {
            Some(e) => {
                format!(" by {} at {} ({})", e.actor.describe(), e.at.format("%Y-%m-%d %H:%M:%S UTC"), e.outcome.text())
            }
            None => String::new(),
        };
        Ok(super::stale(&what, &by))
    }
}

impl Store for SledStore {
    fn profiles(&self) -> Result<Vec<Profile>> {
        let mut out: Vec<Profile> =
            self.scan::<ProfileRecord>(b"p", "profile")?.into_iter().map(|r| r.profile).collect();
        out.sort_by_key(|p| p.name.to_lowercase());
        Ok(out)
    }

    fn profile(&self, name: &str) -> Result<Option<Profile>> {
        match self.name_owner(name)? {
            Some(id) => self.profile_by_id(id),
            None => Ok(None),
        }
    }

    fn profile_by_id(&self, id: ProfileId) -> Result<Option<Profile>> {
        Ok(self.get::<ProfileRecord>(&layout::profile_key(id), "profile")?.map(|r| r.profile))
    }

    fn create_profile(&self, profile: Profile, audit: &AuditEntry) -> Result<Profile> {
        let _g = self.lock();
        let profile = self.new_profile(profile)?;
        let mut batch = sled::Batch::default();
        let change = self.put_audit(&mut batch, audit, Subject::Profiles)?;
        batch.insert(layout::META_NEXT_PROFILE, &(profile.id + 1).to_be_bytes());
        batch.insert(layout::name_key(&profile.name), &profile.id.to_be_bytes());
        batch.insert(&layout::profile_key(profile.id), enc(&ProfileRecord { profile: profile.clone(), next_seq: 0 }));
        self.commit_with(batch, change)?;
        Ok(profile)
    }

    fn update_profile(
        &self,
        id: ProfileId,
        change: &ProfileChange,
        expect: Expect<u64>,
        audit: &AuditEntry,
    ) -> Result<Profile> {
        let _g = self.lock();
        let mut rec = self.record(id)?;
        let before = rec.profile.clone();
        if expect.is_some_and(|v| v != before.version) {
            return Err(self.conflict(format!("profile {:?}", before.name), &before.name)?);
        }
        change.apply_to(&mut rec.profile);
        rec.profile.name = rec.profile.name.trim().to_string();
        let mut batch = sled::Batch::default();
        if rec.profile.name.to_lowercase() != before.name.to_lowercase() {
            if self.name_owner(&rec.profile.name)?.is_some() {
                return Err(StoreError::Refused(format!("a profile named {:?} already exists", rec.profile.name)));
            }
            batch.remove(layout::name_key(&before.name));
            batch.insert(layout::name_key(&rec.profile.name), &id.to_be_bytes());
        } else if rec.profile.name != before.name {
            batch.insert(layout::name_key(&rec.profile.name), &id.to_be_bytes());
        }
        if rec.profile.user != before.user {
            self.check_user_exists(&rec.profile.user)?;
        }
        rec.profile.modified = next_stamp(before.modified, Utc::now());
        rec.profile.version = before.version + 1;
        let change = self.put_audit(&mut batch, audit, Subject::Profile(id))?;
        batch.insert(&layout::profile_key(id), enc(&rec));
        self.commit_with(batch, change)?;
        Ok(rec.profile)
    }

    fn delete_profile(&self, id: ProfileId, audit: &AuditEntry) -> Result<u64> {
        let _g = self.lock_outside_import(id);
        self.indexes_changed();
        let rec = self.record(id)?;
        let mut batch = sled::Batch::default();
        let change = self.put_audit(&mut batch, audit, Subject::Profiles)?;
        for kv in self.tree.scan_prefix(layout::profile_chunks_prefix(id)) {
            let (k, _) = kv.map_err(backend)?;
            batch.remove(k);
        }
        for index in [Index::Imei, Index::Serial] {
            for kv in self.tree.scan_prefix([index.prefix()]) {
                let (k, v) = kv.map_err(backend)?;
                let recs = layout::decode_bucket(&v);
                let kept: Vec<Rec> = recs.iter().copied().filter(|r| r.profile != id).collect();
                if kept.len() != recs.len() {
                    if kept.is_empty() {
                        batch.remove(k);
                    } else {
                        batch.insert(k, layout::encode_bucket(&kept));
                    }
                }
            }
        }
        batch.remove(layout::name_key(&rec.profile.name));
        batch.remove(&layout::profile_key(id));
        self.commit_with(batch, change)?;
        Ok(rec.profile.device_count)
    }

    fn devices_page(&self, id: ProfileId, after: Option<DeviceSeq>, limit: usize) -> Result<Vec<Device>> {
        let rec = self.record(id)?;
        let end = rec.committed_chunks();
        let start = after.map_or(0, |s| (s.saturating_add(1)) / CHUNK);
        let mut out = Vec::new();
        if start >= end || limit == 0 {
            return Ok(out);
        }
        for kv in self.tree.range(layout::chunk_key(id, start)..layout::chunk_key(id, end)) {
            let (_, v) = kv.map_err(backend)?;
            for d in decode_chunk(&v)? {
                if after.is_some_and(|a| d.seq <= a) {
                    continue;
                }
                out.push(d);
                if out.len() == limit {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    fn device(&self, id: ProfileId, seq: DeviceSeq) -> Result<Option<Device>> {
        let chunk = self.chunk(id, seq / CHUNK)?;
        Ok(chunk.binary_search_by_key(&seq, |d| d.seq).ok().map(|i| chunk[i].clone()))
    }

    fn find(&self, lookup: &Lookup) -> Result<Option<(ProfileId, Device)>> {
        match lookup {
            Lookup::Imei(imei) => {
                for r in self.index_hits(Index::Imei, imei.as_u64())? {
                    if let Some(d) = self.resolve(r)? {
                        return Ok(Some((r.profile, d)));
                    }
                }
                Ok(None)
            }
            Lookup::Serial { serial, manufacturer } => {
                let want = crate::domain::serial_key(serial, manufacturer);
                for r in self.index_hits(Index::Serial, layout::serial_hash(serial))? {
                    if let Some(d) = self.resolve(r)?
                        && d.ids.serial_key().as_deref() == Some(want.as_str())
                    {
                        return Ok(Some((r.profile, d)));
                    }
                }
                Ok(None)
            }
        }
    }

    fn candidates(&self, imei: Option<Imei>, serial: Option<&str>) -> Result<Vec<(ProfileId, Device)>> {
        let mut recs = Vec::new();
        if let Some(i) = imei {
            recs.extend(self.index_hits(Index::Imei, i.as_u64())?);
        }
        if let Some(s) = serial.map(str::trim).filter(|s| !s.is_empty()) {
            let want = s.to_uppercase();
            for r in self.index_hits(Index::Serial, layout::serial_hash(s))? {
                // Confirm the serial itself: the index keys by a hash.
                if self
                    .resolve(r)?
                    .is_some_and(|d| d.ids.serial.as_deref().map(str::to_uppercase) == Some(want.clone()))
                {
                    recs.push(r);
                }
            }
        }
        recs.sort();
        recs.dedup_by_key(|r| (r.profile, r.seq));
        let mut out = Vec::new();
        for r in recs {
            if let Some(d) = self.resolve(r)? {
                out.push((r.profile, d));
            }
        }
        Ok(out)
    }

    fn add_device(&self, id: ProfileId, device: NewDevice, audit: &AuditEntry) -> Result<Device> {
        let _g = self.lock_outside_import(id);
        let mut rec = self.record(id)?;
        let problems = self.conflicts(&device.ids, None)?;
        if !problems.is_empty() {
            return Err(super::refused(problems));
        }
        let now = next_stamp(rec.profile.modified, Utc::now());
        let seq = rec.next_seq;
        let d = device.into_device(seq, now);
        let mut chunk = self.chunk(id, seq / CHUNK)?;
        chunk.push(d.clone());
        let mut batch = sled::Batch::default();
        let change = self.put_audit(&mut batch, audit, Subject::Devices(id, vec![seq]))?;
        Self::put_chunk(&mut batch, id, seq / CHUNK, &chunk);
        let mut edit = IndexEdit::default();
        for (index, r) in index_recs(id, &d) {
            edit.add(self, index, r)?;
        }
        edit.write_into(self, &mut batch);
        rec.next_seq += 1;
        rec.profile.device_count += 1;
        rec.profile.modified = now;
        rec.profile.learn_attributes(d.attributes.iter().map(|(n, _)| n.as_ref()));
        batch.insert(&layout::profile_key(id), enc(&rec));
        self.commit_with(batch, change)?;
        Ok(d)
    }

    fn update_device(
        &self,
        id: ProfileId,
        mut device: Device,
        expect: Expect<DateTime<Utc>>,
        audit: &AuditEntry,
    ) -> Result<Device> {
        let _g = self.lock();
        let mut rec = self.record(id)?;
        let seq = device.seq;
        let mut chunk = self.chunk(id, seq / CHUNK)?;
        let pos = chunk
            .binary_search_by_key(&seq, |d| d.seq)
            .map_err(|_| StoreError::NotFound(format!("no device #{seq} in profile {:?}", rec.profile.name)))?;
        let old = chunk[pos].clone();
        if expect.is_some_and(|t| t != old.modified) {
            return Err(self.conflict(old.label(), &rec.profile.name)?);
        }
        let mut batch = sled::Batch::default();
        if old.ids != device.ids {
            let problems = self.conflicts(&device.ids, Some((id, seq)))?;
            if !problems.is_empty() {
                return Err(super::refused(problems));
            }
            let mut edit = IndexEdit::default();
            for (index, r) in index_recs(id, &old) {
                edit.remove(self, index, r)?;
            }
            for (index, r) in index_recs(id, &device) {
                edit.add(self, index, r)?;
            }
            edit.write_into(self, &mut batch);
        }
        device.created = old.created;
        device.modified = next_stamp(old.modified, Utc::now());
        chunk[pos] = device.clone();
        Self::put_chunk(&mut batch, id, seq / CHUNK, &chunk);
        rec.profile.modified = next_stamp(rec.profile.modified, device.modified);
        rec.profile.learn_attributes(device.attributes.iter().map(|(n, _)| n.as_ref()));
        let change = self.put_audit(&mut batch, audit, Subject::Devices(id, vec![seq]))?;
        batch.insert(&layout::profile_key(id), enc(&rec));
        self.commit_with(batch, change)?;
        Ok(device)
    }

    fn set_attribute(
        &self,
        id: ProfileId,
        seqs: &[DeviceSeq],
        name: &str,
        value: Option<&str>,
        audit: &AuditEntry,
    ) -> Result<u64> {
        let _g = self.lock();
        let mut rec = self.record(id)?;
        let mut by_chunk: std::collections::BTreeMap<u32, Vec<DeviceSeq>> = Default::default();
        for &s in seqs {
            by_chunk.entry(s / CHUNK).or_default().push(s);
        }
        let now = next_stamp(rec.profile.modified, Utc::now());
        let mut batch = sled::Batch::default();
        let mut n = 0u64;
        for (c, wanted) in by_chunk {
            let mut chunk = self.chunk(id, c)?;
            let mut touched = false;
            for d in chunk.iter_mut().filter(|d| wanted.contains(&d.seq)) {
                d.set_attribute(name, value);
                d.modified = next_stamp(d.modified, now);
                touched = true;
                n += 1;
            }
            if touched {
                Self::put_chunk(&mut batch, id, c, &chunk);
            }
        }
        rec.profile.modified = now;
        if value.is_some() {
            rec.profile.learn_attributes([name]);
        }
        let change = self.put_audit(&mut batch, audit, Subject::Devices(id, seqs.to_vec()))?;
        batch.insert(&layout::profile_key(id), enc(&rec));
        self.commit_with(batch, change)?;
        Ok(n)
    }

    fn delete_devices(&self, id: ProfileId, seqs: &[DeviceSeq], audit: &AuditEntry) -> Result<u64> {
        let _g = self.lock();
        let mut rec = self.record(id)?;
        let mut by_chunk: HashMap<u32, Vec<DeviceSeq>> = HashMap::new();
        for &s in seqs {
            by_chunk.entry(s / CHUNK).or_default().push(s);
        }
        let mut batch = sled::Batch::default();
        let mut edit = IndexEdit::default();
        let mut removed = 0u64;
        for (c, gone) in by_chunk {
            let mut chunk = self.chunk(id, c)?;
            let before = chunk.len();
            let mut dropped = Vec::new();
            chunk.retain(|d| {
                let keep = !gone.contains(&d.seq);
                if !keep {
                    dropped.push(d.clone());
                }
                keep
            });
            for d in &dropped {
                for (index, r) in index_recs(id, d) {
                    edit.remove(self, index, r)?;
                }
            }
            if chunk.len() != before {
                removed += (before - chunk.len()) as u64;
                Self::put_chunk(&mut batch, id, c, &chunk);
            }
        }
        if removed == 0 {
            return Ok(0);
        }
        edit.write_into(self, &mut batch);
        rec.profile.device_count -= removed;
        rec.profile.modified = next_stamp(rec.profile.modified, Utc::now());
        let change = self.put_audit(&mut batch, audit, Subject::Devices(id, seqs.to_vec()))?;
        batch.insert(&layout::profile_key(id), enc(&rec));
        self.commit_with(batch, change)?;
        Ok(removed)
    }

    fn set_status(&self, id: ProfileId, seq: DeviceSeq, status: Status, audit: &AuditEntry) -> Result<Device> {
        let _g = self.lock();
        let mut chunk = self.chunk(id, seq / CHUNK)?;
        let pos = chunk
            .binary_search_by_key(&seq, |d| d.seq)
            .map_err(|_| StoreError::NotFound(format!("no device #{seq} in profile #{id}")))?;
        chunk[pos].status = status;
        let d = chunk[pos].clone();
        let mut batch = sled::Batch::default();
        let change = self.put_audit(&mut batch, audit, Subject::Devices(id, vec![seq]))?;
        Self::put_chunk(&mut batch, id, seq / CHUNK, &chunk);
        self.commit_with(batch, change)?;
        Ok(d)
    }

    /// A writing import holds the importers' lock for its session (one at a time), and the writers' lock
    /// only here, to begin (a new profile's id is reserved), and to commit: other technicians' changes go
    /// on meanwhile, and wait at most for the commit. A dry run takes neither.
    fn begin_import(&self, target: ImportTarget, write: bool) -> Result<Box<dyn ImportSession>> {
        let guard = write.then(|| WriteLock::acquire(&self.importing));
        let writers = write.then(|| self.lock());
        let (record, create) = match target {
            ImportTarget::Existing(id) => (self.record(id)?, false),
            ImportTarget::Create(profile) => {
                let profile = self.new_profile(*profile)?;
                if write {
                    // Reserved now: a profile created during the import gets the next id.
                    let mut batch = sled::Batch::default();
                    batch.insert(layout::META_NEXT_PROFILE, &(profile.id + 1).to_be_bytes());
                    self.commit(batch)?;
                }
                (ProfileRecord { profile, next_seq: 0 }, true)
            }
        };
        let first_seq = record.committed_chunks() * CHUNK;
        let index_gen = self.index_gen.load(std::sync::atomic::Ordering::SeqCst);
        let dirs = [self.dir(Index::Imei)?, self.dir(Index::Serial)?];
        if write {
            *self.active.lock().unwrap_or_else(|p| p.into_inner()) = Some((record.profile.id, first_seq / CHUNK));
        }
        drop(writers);
        Ok(Box::new(SledImport {
            store: self.clone(),
            _guard: guard,
            record,
            create,
            writing: write,
            first_seq,
            next_seq: first_seq,
            chunk: ChunkBuilder::default(),
            chunk_no: first_seq / CHUNK,
            prefix: Vec::new(),
            journal_written: false,
            committed: false,
            now: Utc::now(),
            finished: false,
            new_recs: vec![Vec::new(); 2 * layout::SLOTS],
            serial_arena: String::new(),
            serial_offsets: Vec::new(),
            lines: Vec::new(),
            second_imeis: HashMap::new(),
            dropped: 0,
            buckets: [Vec::new(), Vec::new()],
            dirs,
            index_gen,
            chunk_cache: HashMap::new(),
        }))
    }

    fn users(&self) -> Result<Vec<User>> {
        USERS.all(&self.tree)
    }

    fn user(&self, username: &str) -> Result<Option<User>> {
        USERS.get(&self.tree, &user_name_key(username))
    }

    fn put_user(&self, user: User, create: bool, audit: &AuditEntry) -> Result<()> {
        let _g = self.lock();
        let user = self.checked_user(user)?;
        super::check_user_write(self.user(&user.username)?.is_some(), create, &user.username)?;
        let mut batch = sled::Batch::default();
        let change = self.put_audit(&mut batch, audit, Subject::Users)?;
        USERS.write(&self.tree, &mut batch, vec![user], &[])?;
        self.commit_with(batch, change)
    }

    fn delete_user(&self, username: &str, audit: &AuditEntry) -> Result<()> {
        let _g = self.lock();
        if self.user(username)?.is_none() {
            return Err(StoreError::NotFound(format!("no user named {username:?}")));
        }
        let users: Vec<String> = self
            .profiles()?
            .into_iter()
            .filter(|p| p.user.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(username.trim())))
            .map(|p| format!("{:?}", p.name))
            .collect();
        if !users.is_empty() {
            return Err(StoreError::Refused(format!(
                "user {username:?} is the associated user of profile {}; change those profiles first",
                users.join(", ")
            )));
        }
        let owned = self.devices_of_user(username)?;
        if !owned.is_empty() {
            return Err(StoreError::Refused(format!(
                "user {username:?} owns DEP device {}; change or delete those devices first",
                owned.join(", ")
            )));
        }
        let mut batch = sled::Batch::default();
        let change = self.put_audit(&mut batch, audit, Subject::Users)?;
        USERS.write(&self.tree, &mut batch, Vec::new(), &[user_name_key(username)])?;
        self.commit_with(batch, change)
    }

    fn append_audit(&self, audit: &AuditEntry) -> Result<()> {
        let _g = self.lock();
        let mut batch = sled::Batch::default();
        let change = self.put_audit(&mut batch, audit, Subject::Nothing)?;
        self.commit_with(batch, change)
    }

    fn subscribe(&self) -> Result<std::sync::mpsc::Receiver<Change>> {
        Ok(self.feed.subscribe())
    }

    fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let mut out = Vec::new();
        for kv in self.tree.scan_prefix(b"a").rev() {
            let (_, v) = kv.map_err(backend)?;
            let e: AuditEntry = dec(&v, "audit entry")?;
            if query.since.is_some_and(|s| e.at < s) {
                break; // ids grow with time: nothing older can match
            }
            if query.matches(&e) {
                out.push(e);
                if query.limit.is_some_and(|l| out.len() >= l) {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Under the writers' lock (small writes wait for the check; an import's commit too), passing over
    /// what a writing import has staged so far: `check` through a server beside another client's import
    /// reported its staged chunks and journal as problems.
    fn snapshot(&self) -> Result<Inventory> {
        // Every writer takes this lock (an import to begin and to commit): none commits during the read.
        let _g = self.lock();
        Inventory::read(self)
    }

    fn load(&self, inv: &Inventory, audit: &AuditEntry) -> Result<()> {
        refuse_problems(inv)?;
        let _g = self.lock();
        if self.active_import().is_some() {
            return Err(StoreError::Refused("an import is under way: a copy goes into an empty database only".into()));
        }
        refuse_unless_empty(&super::inventory::count(self)?)?;
        let mut batch = sled::Batch::default();
        for (kind, e) in &inv.catalog {
            batch.insert(dep::catalog_key(*kind, &e.name), enc(e));
        }
        USERS.write(&self.tree, &mut batch, inv.users.clone(), &[])?;
        let mut recs: [Vec<Rec>; 2] = Default::default();
        let mut next_profile = self.next_profile_id()?;
        for (p, devices) in &inv.profiles {
            let next_seq = devices.last().map_or(0, |d| d.seq + 1);
            batch.insert(layout::name_key(&p.name), &p.id.to_be_bytes());
            batch.insert(&layout::profile_key(p.id), enc(&ProfileRecord { profile: p.clone(), next_seq }));
            for chunk in devices.chunk_by(|a, b| a.seq / CHUNK == b.seq / CHUNK) {
                Self::put_chunk(&mut batch, p.id, chunk[0].seq / CHUNK, chunk);
            }
            for d in devices {
                for (index, r) in index_recs(p.id, d) {
                    recs[usize::from(index == Index::Serial)].push(r);
                }
            }
            next_profile = next_profile.max(p.id + 1);
        }
        batch.insert(layout::META_NEXT_PROFILE, &next_profile.to_be_bytes());
        // The indexes are empty: each is written whole.
        for (index, recs) in [Index::Imei, Index::Serial].into_iter().zip(recs) {
            put_whole_index(&mut batch, index, recs);
        }
        dep::RECORDS.write(&self.tree, &mut batch, inv.dep.clone(), &[])?;
        if let Some(last) = inv.mails.iter().map(|m| m.id).max() {
            for m in &inv.mails {
                batch.insert(&dep::mail_key(m.id), enc(m));
            }
            batch.insert(dep::NEXT_MAIL, &(last + 1).to_be_bytes());
        }
        // The copied trail after this store's own entries, then the copy's entry.
        let mut id = match self.get_raw(layout::META_NEXT_AUDIT)? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(|_| backend("corrupt audit counter"))?),
            None => 1,
        };
        let mut put_entry = |e: &AuditEntry| {
            let mut e = e.clone();
            e.id = id;
            batch.insert(&layout::audit_key(id), enc(&e));
            id += 1;
            e
        };
        for e in &inv.audit {
            put_entry(e);
        }
        let entry = put_entry(audit);
        batch.insert(layout::META_NEXT_AUDIT, &id.to_be_bytes());
        self.indexes_changed();
        self.commit_with(batch, Change { subject: Subject::Profiles, entry })
    }

    fn check(&self) -> Result<Vec<Problem>> {
        let _writers = self.lock();
        // What a writing import has staged so far is not the database's yet: passed over.
        let staging = self.active_import();
        let staged = |id: ProfileId, chunk: u32| staging.is_some_and(|(p, first)| p == id && chunk >= first);
        let mut problems = Vec::new();
        let mut expected: Vec<(Index, Rec)> = Vec::new();
        let mut known: HashMap<ProfileId, u32> = HashMap::new();
        for kv in self.tree.scan_prefix(b"p") {
            let (_, v) = kv.map_err(backend)?;
            let rec: ProfileRecord = dec(&v, "profile")?;
            let p = &rec.profile;
            known.insert(p.id, rec.committed_chunks());
            if self.name_owner(&p.name)? != Some(p.id) {
                problems.push(format!("profile {:?}: the name index does not point to it", p.name));
            }
            let mut count = 0u64;
            let mut last: Option<DeviceSeq> = None;
            super::each_device(self, p.id, &mut |d| {
                count += 1;
                if last.is_some_and(|l| l >= d.seq) || d.seq >= rec.next_seq {
                    problems.push(format!("profile {:?}: device #{} is out of order", p.name, d.seq));
                }
                last = Some(d.seq);
                expected.extend(index_recs(p.id, &d));
                true
            })?;
            if count != p.device_count {
                problems.push(format!(
                    "profile {:?}: device count says {} but it holds {count} devices",
                    p.name, p.device_count
                ));
            }
        }
        for kv in self.tree.scan_prefix(b"d") {
            let (k, _) = kv.map_err(backend)?;
            let id = u32::from_be_bytes(k[1..5].try_into().map_err(|_| backend("corrupt chunk key"))?);
            if staged(id, layout::chunk_of_key(&k)) {
                continue;
            }
            match known.get(&id) {
                None => problems.push(format!("device chunk for missing profile #{id}")),
                Some(&limit) if layout::chunk_of_key(&k) >= limit => {
                    problems.push(format!("uncommitted device chunk {} of profile #{id}", layout::chunk_of_key(&k)))
                }
                _ => {}
            }
        }
        for kv in self.tree.scan_prefix(b"n") {
            let (k, v) = kv.map_err(backend)?;
            let id = u32::from_be_bytes(v.as_ref().try_into().map_err(|_| backend("corrupt name index"))?);
            if !known.contains_key(&id) {
                problems.push(format!("name {:?} points to missing profile #{id}", String::from_utf8_lossy(&k[1..])));
            }
        }
        for kv in self.tree.scan_prefix(b"j") {
            let (k, _) = kv.map_err(backend)?;
            let id = k.get(1..5).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes);
            if id.is_none_or(|id| staging.is_none_or(|(p, _)| p != id)) {
                problems.push("an unfinished import is recorded in the journal".into());
                break;
            }
        }
        let mut actual: Vec<(Index, Rec)> = Vec::new();
        for index in [Index::Imei, Index::Serial] {
            let dir = self.dir(index)?;
            for kv in self.tree.scan_prefix([index.prefix()]) {
                let (k, v) = kv.map_err(backend)?;
                let Ok(start) = <[u8; 8]>::try_from(&k[1..]).map(u64::from_be_bytes) else {
                    problems.push(format!("index bucket key {k:?} is malformed"));
                    continue;
                };
                let bucket = format!("{}{start:016x}", index.prefix() as char);
                if dir.binary_search(&start).is_err() {
                    problems.push(format!("index bucket {bucket} is not in its directory"));
                }
                let recs = layout::decode_bucket(&v);
                if recs.windows(2).any(|w| w[0] >= w[1]) {
                    problems.push(format!("index bucket {bucket} is not sorted"));
                }
                if recs.len() > layout::BUCKET_MAX {
                    problems.push(format!("index bucket {bucket} holds {} records", recs.len()));
                }
                for r in recs {
                    if layout::covering(&dir, r.key) != start {
                        problems.push(format!(
                            "index record for profile #{} device #{} is in the wrong bucket",
                            r.profile, r.seq
                        ));
                    }
                    actual.push((index, r));
                }
            }
        }
        let order = |(i, r): &(Index, Rec)| (*i == Index::Serial, *r);
        expected.sort_by_key(order);
        actual.sort_by_key(order);
        if expected != actual {
            let missing = expected.iter().filter(|e| actual.binary_search_by_key(&order(e), order).is_err()).count();
            let extra = actual.iter().filter(|a| expected.binary_search_by_key(&order(a), order).is_err()).count();
            problems.push(format!(
                "indexes disagree with the devices: {missing} entries missing, {extra} entries without a device"
            ));
        }
        Ok(problems)
    }
}

struct SledImport {
    store: SledStore,
    _guard: Option<WriteGuard>,
    record: ProfileRecord,
    create: bool,
    writing: bool,
    first_seq: DeviceSeq,
    next_seq: DeviceSeq,
    /// The chunk being filled, and its number.
    chunk: ChunkBuilder,
    chunk_no: u32,
    /// The import's name table, the start of each chunk it writes (from its `RowEncoder`).
    prefix: Vec<u8>,
    journal_written: bool,
    committed: bool,
    finished: bool,
    now: chrono::DateTime<Utc>,
    /// The accepted rows' index records, by `layout::bucket_slot`: appended in file order (cheap and
    /// cache-friendly), sorted once at the end to find duplicates inside the file and to merge.
    new_recs: Vec<Vec<NewRec>>,
    /// The accepted rows' serial keys, end to end; `serial_offsets[i]` is where row `first_seq + i` starts.
    serial_arena: String,
    serial_offsets: Vec<u32>,
    /// Source line of each accepted row (files have fewer than 2^32 lines).
    lines: Vec<u32>,
    /// The second IMEI of each dual-SIM row, by seq (a repeat of it is reported under IMEI 2).
    second_imeis: HashMap<DeviceSeq, u64>,
    /// Rows dropped again after staging (duplicates found at the end, with --skip-invalid).
    dropped: u64,
    /// Stored buckets read so far, decoded, per index by their place in its directory (`place`; `None`:
    /// not read yet; a missing bucket is empty). A Vec, not a map: this is looked up twice per imported row.
    buckets: [Vec<Option<Vec<Rec>>>; 2],
    /// Both indexes' directories as the import began (read again at commit if `index_gen` moved since).
    dirs: [Vec<u64>; 2],
    /// The store's index change count when the import began.
    index_gen: u64,
    chunk_cache: HashMap<(ProfileId, u32), Vec<Device>>,
}

impl SledImport {
    /// The bucket that holds `key`: its place among the directory's buckets (0 before the first) and its
    /// first key.
    fn place(&self, i: usize, key: u64) -> (usize, u64) {
        let dir = &self.dirs[i];
        let p = dir.partition_point(|&s| s <= key);
        (p, if p == 0 { 0 } else { dir[p - 1] })
    }

    /// The stored index records of an IMEI (as a number) or a serial hash; each bucket is read once.
    fn stored_hits(&mut self, index: Index, raw: u64) -> Result<Vec<Rec>> {
        let key = raw;
        let i = usize::from(index == Index::Serial);
        let (p, start) = self.place(i, key);
        if self.buckets[i].len() <= p {
            self.buckets[i].resize(self.dirs[i].len() + 1, None);
        }
        if self.buckets[i][p].is_none() {
            let stored = self.store.get_raw(&layout::bucket_key(index, start))?;
            self.buckets[i][p] = Some(stored.map(|v| layout::decode_bucket(&v)).unwrap_or_default());
        }
        let recs = self.buckets[i][p].as_deref().unwrap_or_default();
        let from = recs.partition_point(|r| r.key < key);
        Ok(recs[from..].iter().take_while(|r| r.key == key).copied().collect())
    }

    fn stored_device(&mut self, r: Rec) -> Result<Option<Device>> {
        let c = r.seq / CHUNK;
        if !self.chunk_cache.contains_key(&(r.profile, c)) {
            if self.chunk_cache.len() >= 64 {
                self.chunk_cache.clear();
            }
            let chunk = self.store.chunk(r.profile, c)?;
            self.chunk_cache.insert((r.profile, c), chunk);
        }
        let chunk = &self.chunk_cache[&(r.profile, c)];
        Ok(chunk.binary_search_by_key(&r.seq, |d| d.seq).ok().map(|i| chunk[i].clone()))
    }

    fn arena_key(&self, seq: DeviceSeq) -> &str {
        let i = (seq - self.first_seq) as usize;
        let start = self.serial_offsets[i] as usize;
        let end = self.serial_offsets.get(i + 1).map_or(self.serial_arena.len(), |&e| e as usize);
        &self.serial_arena[start..end]
    }

    fn line_of(&self, seq: DeviceSeq) -> u64 {
        u64::from(self.lines[(seq - self.first_seq) as usize])
    }

    /// Writes the chunk being filled as a staged chunk (the journal first, once).
    fn flush_chunk(&mut self) -> Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let id = self.record.profile.id;
        if !self.journal_written {
            // Durable before any staged chunk, so that a crash at any point can be cleaned up.
            self.store
                .tree
                .insert(layout::journal_key(id), &(self.first_seq / CHUNK).to_be_bytes())
                .map_err(backend)?;
            self.store.flush()?;
            self.journal_written = true;
        }
        let bytes = compress(self.chunk.take(&self.prefix));
        self.store.tree.insert(layout::chunk_key(id, self.chunk_no), bytes).map_err(backend)?;
        Ok(())
    }

    /// Duplicates inside the file: every row whose IMEI, or serial number and manufacturer, an earlier
    /// accepted row of the file has. Returns the problems by seq.
    fn in_file_duplicates(&mut self) -> Vec<(DeviceSeq, Field, String)> {
        let n = layout::SLOTS;
        let mut found: Vec<(DeviceSeq, Field, String)> = Vec::new();
        let mut rejected: std::collections::HashSet<DeviceSeq> = std::collections::HashSet::new();
        for slot in 0..n {
            let mut recs = std::mem::take(&mut self.new_recs[slot]);
            recs.sort_unstable();
            for w in 1..recs.len() {
                let b = recs[w];
                if recs[w - 1].key() == b.key() {
                    // Sorted by (key, seq): the first of a run is the first occurrence.
                    let first = recs[recs.partition_point(|r| r.key() < b.key())];
                    let imei = Imei::from_stored(b.key()).to_string();
                    let second = self.second_imeis.get(&b.seq()) == Some(&b.key());
                    found.push((
                        b.seq(),
                        if second { Field::Imei2 } else { Field::Imei },
                        format!("IMEI {imei} is already in this file at line {}", self.line_of(first.seq())),
                    ));
                    rejected.insert(b.seq());
                }
            }
            self.new_recs[slot] = recs;
        }
        for slot in n..2 * n {
            let mut recs = std::mem::take(&mut self.new_recs[slot]);
            recs.sort_unstable();
            let mut run_start = 0;
            for i in 0..recs.len() {
                if recs[i].key() != recs[run_start].key() {
                    run_start = i;
                }
                // The first of a run has nothing earlier to repeat (almost every row: skip the arena).
                if i == run_start || rejected.contains(&recs[i].seq()) {
                    continue;
                }
                let key = self.arena_key(recs[i].seq());
                // A serial number without a manufacturer has no key: it repeats nothing.
                if key.is_empty() {
                    continue;
                }
                if let Some(first) =
                    recs[run_start..i].iter().find(|r| !rejected.contains(&r.seq()) && self.arena_key(r.seq()) == key)
                {
                    let (serial, manufacturer) = key.split_once('\u{1f}').unwrap_or((key, ""));
                    rejected.insert(recs[i].seq());
                    found.push((
                        recs[i].seq(),
                        Field::Serial,
                        format!(
                            "serial number {serial} ({manufacturer}) is already in this file at line {}",
                            self.line_of(first.seq())
                        ),
                    ));
                }
            }
            self.new_recs[slot] = recs;
        }
        found
    }

    /// At commit, with the writers' lock, when other changes rewrote index buckets since this import
    /// began: reads the directories and buckets again and checks every staged row against them. Returns
    /// what was taken meanwhile, by line.
    fn recheck(&mut self) -> Result<Vec<String>> {
        self.dirs = [self.store.dir(Index::Imei)?, self.store.dir(Index::Serial)?];
        self.buckets = [Vec::new(), Vec::new()];
        self.chunk_cache.clear();
        let new_recs = std::mem::take(&mut self.new_recs);
        let mut taken: std::collections::BTreeMap<u64, Vec<FieldProblem>> = Default::default();
        let serial_slots = layout::slot_base(Index::Serial);
        for (slot, recs) in new_recs.iter().enumerate() {
            for r in recs {
                let line = self.line_of(r.seq());
                if slot < serial_slots {
                    if let Some(hit) = self.stored_hits(Index::Imei, r.key())?.first().copied() {
                        let what = format!("IMEI {}", Imei::from_stored(r.key()));
                        let place = self.store.profile_label(hit.profile)?;
                        let field =
                            if self.second_imeis.get(&r.seq()) == Some(&r.key()) { Field::Imei2 } else { Field::Imei };
                        taken.entry(line).or_default().push((field, format!("{what} is already in {place}")));
                    }
                    continue;
                }
                let key = self.arena_key(r.seq()).to_string();
                if key.is_empty() {
                    continue;
                }
                for hit in self.stored_hits(Index::Serial, r.key())? {
                    if let Some(d) = self.stored_device(hit)?
                        && d.ids.serial_key().as_deref() == Some(key.as_str())
                    {
                        let (serial, manufacturer) = key.split_once('\u{1f}').unwrap_or((&key, ""));
                        let place = self.store.profile_label(hit.profile)?;
                        let what = format!("serial number {serial} ({manufacturer}) is already in {place}");
                        taken.entry(line).or_default().push((Field::Serial, what));
                        break;
                    }
                }
            }
        }
        self.new_recs = new_recs;
        Ok(taken.into_iter().map(|(line, problems)| super::taken_meanwhile(line, &problems)).collect())
    }

    /// Takes rows found to be duplicates out of the staged chunks and the index records.
    fn drop_rows(&mut self, seqs: &std::collections::HashSet<DeviceSeq>) -> Result<()> {
        self.flush_chunk()?;
        for recs in &mut self.new_recs {
            recs.retain(|r| !seqs.contains(&r.seq()));
        }
        let id = self.record.profile.id;
        let mut chunks: Vec<u32> = seqs.iter().map(|s| s / CHUNK).collect();
        chunks.sort_unstable();
        chunks.dedup();
        for c in chunks {
            let mut devices = self.store.chunk(id, c)?;
            devices.retain(|d| !seqs.contains(&d.seq));
            let key = layout::chunk_key(id, c);
            if devices.is_empty() {
                self.store.tree.remove(key).map_err(backend)?;
            } else {
                self.store.tree.insert(key, encode_chunk(&devices, Vec::new())).map_err(backend)?;
            }
        }
        Ok(())
    }
}

impl ImportSession for SledImport {
    fn profile(&self) -> &Profile {
        &self.record.profile
    }

    fn add_prepared(&mut self, encoder: &RowEncoder, rows: &PreparedRows) -> Result<Vec<LineProblems>> {
        if self.prefix.is_empty() {
            self.prefix = encoder.prefix.clone();
        }
        let mut rejected = Vec::new();
        for row in rows.rows() {
            // Duplicates of stored devices are found here; duplicates inside the file in `finish`.
            let mut problems = Vec::new();
            for (field, imei) in [(Field::Imei, row.imei), (Field::Imei2, row.imei2)] {
                if let Some(imei) = imei
                    && let Some(r) = self.stored_hits(Index::Imei, imei)?.first().copied()
                {
                    let source = self.stored_device(r)?.map(|d| d.source);
                    let what = format!("IMEI {}", Imei::from_stored(imei));
                    let place = self.store.profile_label(r.profile)?;
                    problems.push((field, super::already_in(&what, &place, source.as_ref())));
                }
            }
            // Only a serial number with its manufacturer has a key; one without repeats nothing.
            let key = rows.key(row);
            if let Some(h) = row.serial_hash.filter(|_| !key.is_empty()) {
                for r in self.stored_hits(Index::Serial, h)? {
                    if let Some(d) = self.stored_device(r)?
                        && d.ids.serial_key().as_deref() == Some(key)
                    {
                        let (serial, manufacturer) = key.split_once('\u{1f}').unwrap_or((key, ""));
                        let what = format!("serial number {serial} ({manufacturer})");
                        let place = self.store.profile_label(r.profile)?;
                        problems.push((Field::Serial, super::already_in(&what, &place, Some(&d.source))));
                        break;
                    }
                }
            }
            if !problems.is_empty() {
                rejected.push((row.line, problems));
                continue;
            }
            let seq = self.next_seq;
            self.next_seq = seq.checked_add(1).ok_or_else(|| backend("profile is full (2^32 devices)"))?;
            for k in row.imei.into_iter().chain(row.imei2) {
                self.new_recs[layout::slot_base(Index::Imei) + layout::slot_of(k)].push(NewRec::new(k, seq));
            }
            if let Some(k) = row.imei2 {
                self.second_imeis.insert(seq, k);
            }
            self.serial_offsets.push(self.serial_arena.len() as u32);
            if let Some(h) = row.serial_hash {
                self.serial_arena.push_str(rows.key(row));
                let k = h;
                self.new_recs[layout::slot_base(Index::Serial) + layout::slot_of(k)].push(NewRec::new(k, seq));
            }
            self.lines.push(u32::try_from(row.line).unwrap_or(u32::MAX));
            if self.writing {
                if self.chunk.is_empty() {
                    self.chunk_no = seq / CHUNK;
                }
                self.chunk.push(seq, rows.record(row));
                if (seq + 1).is_multiple_of(CHUNK) {
                    self.flush_chunk()?;
                }
            }
        }
        Ok(rejected)
    }

    fn reserve(&mut self, rows: usize) {
        self.lines.reserve(rows);
        self.serial_offsets.reserve(rows);
    }

    fn stop_writing(&mut self) {
        self.writing = false;
        self.chunk.clear();
    }

    fn finish(&mut self) -> Result<Vec<LineProblems>> {
        if self.finished {
            return Ok(Vec::new());
        }
        self.finished = true;
        let found = self.in_file_duplicates();
        let mut by_seq: std::collections::BTreeMap<DeviceSeq, Vec<(Field, String)>> = Default::default();
        for (seq, field, msg) in found {
            by_seq.entry(seq).or_default().push((field, msg));
        }
        // Counted whether or not anything was staged, so that a dry run's counts are the import's.
        self.dropped += by_seq.len() as u64;
        if !by_seq.is_empty() && self.writing {
            let seqs: std::collections::HashSet<DeviceSeq> = by_seq.keys().copied().collect();
            self.drop_rows(&seqs)?;
        }
        Ok(by_seq.into_iter().map(|(seq, problems)| (self.line_of(seq), problems)).collect())
    }

    fn accepted(&self) -> u64 {
        u64::from(self.next_seq - self.first_seq) - self.dropped
    }

    fn commit(mut self: Box<Self>, attributes: &[String], audit: &AuditEntry) -> Result<Profile> {
        if !self.finished && !self.finish()?.is_empty() {
            return Err(StoreError::Refused("the file has duplicate rows; nothing was written".into()));
        }
        if !self.writing {
            return Err(StoreError::Refused(
                "nothing was written: this import is a dry run or had rejected rows".into(),
            ));
        }
        let id = self.record.profile.id;
        // The writers' lock for the commit only. Others wrote while this import staged its rows: if any
        // rewrote index buckets, the rows are checked again against the indexes as they are now.
        let store = self.store.clone();
        let _writers = store.lock();
        if store.index_gen.load(std::sync::atomic::Ordering::SeqCst) != self.index_gen {
            let taken = self.recheck()?;
            if !taken.is_empty() {
                return Err(StoreError::Refused(format!("{}; nothing was imported", taken.join("; "))));
            }
        }
        store.indexes_changed();
        // The profile as it is now (its description, token or devices may have changed meanwhile; an add
        // to it waited for this import, so its numbers end below the staged ones).
        if self.create {
            if store.name_owner(&self.record.profile.name)?.is_some() {
                return Err(StoreError::Refused(format!(
                    "a profile named {:?} was created during this import; nothing was imported",
                    self.record.profile.name
                )));
            }
        } else {
            self.record = store.record(id)?;
        }
        // What only the duplicate search needed goes before the batch is built (a third of the peak).
        self.lines = Vec::new();
        self.serial_arena = String::new();
        self.serial_offsets = Vec::new();
        self.chunk_cache = HashMap::new();
        let mut batch = sled::Batch::default();
        if !self.chunk.is_empty() {
            batch.insert(&layout::chunk_key(id, self.chunk_no), compress(self.chunk.take(&self.prefix)));
        }
        // The new index records, in key order already (slots are key ranges, each sorted by `finish`),
        // merged into the buckets that cover them; a bucket that grows too large is cut into buckets of
        // BUCKET_FILL records, which the directory gains.
        let mut new_recs = std::mem::take(&mut self.new_recs);
        for index in [Index::Imei, Index::Serial] {
            let base = layout::slot_base(index);
            let i = usize::from(index == Index::Serial);
            let mut added_starts: Vec<u64> = Vec::new();
            let mut new = new_recs[base..base + layout::SLOTS].iter_mut().flat_map(std::mem::take).peekable();
            while let Some(first) = new.peek().copied() {
                let (p, start) = self.place(i, first.key());
                let next = self.dirs[i].get(p).copied();
                let cached = self.buckets[i].get_mut(p).and_then(Option::take);
                let stored: Vec<Rec> = match cached {
                    Some(recs) => recs,
                    None => self
                        .store
                        .get_raw(&layout::bucket_key(index, start))?
                        .map(|v| layout::decode_bucket(&v))
                        .unwrap_or_default(),
                };
                // The stored records and the new ones in this bucket's range, merged as they come: an import
                // into an empty index is one stream of every record, never held whole.
                let mut stored = stored.into_iter().peekable();
                let mut pieces = layout::Pieces::new(start, layout::BUCKET_MAX, layout::BUCKET_FILL);
                let mut put = |(s, piece): (u64, Vec<Rec>)| {
                    batch.insert(&layout::bucket_key(index, s), layout::encode_bucket(&piece));
                    added_starts.push(s);
                };
                loop {
                    let fresh = new.peek().filter(|r| next.is_none_or(|n| r.key() < n)).map(|r| r.with_profile(id));
                    let r = match (stored.peek(), fresh) {
                        (Some(s), Some(f)) if *s <= f => stored.next(),
                        (_, Some(f)) => {
                            new.next();
                            Some(f)
                        }
                        (Some(_), None) => stored.next(),
                        (None, None) => break,
                    };
                    if let Some(piece) = r.and_then(|r| pieces.push(r)) {
                        put(piece);
                    }
                }
                if let Some(piece) = pieces.finish() {
                    put(piece);
                }
            }
            if !added_starts.is_empty() {
                let mut dir = std::mem::take(&mut self.dirs[i]);
                dir.extend(added_starts);
                dir.sort_unstable();
                dir.dedup();
                batch.insert(layout::dir_key(index), layout::encode_dir(&dir));
            }
        }
        drop(new_recs);
        let added = self.accepted();
        let rec = &mut self.record;
        rec.next_seq = self.next_seq;
        rec.profile.device_count += added;
        rec.profile.learn_attributes(attributes.iter().map(String::as_str));
        if added > 0 || self.create {
            rec.profile.modified = self.now;
        }
        if self.create {
            // Its id was reserved when the import began.
            batch.insert(layout::name_key(&rec.profile.name), &id.to_be_bytes());
        }
        batch.insert(&layout::profile_key(id), enc(&*rec));
        batch.remove(&layout::journal_key(id));
        let change = self.store.put_audit(
            &mut batch,
            audit,
            if self.create { Subject::Profiles } else { Subject::Profile(id) },
        )?;
        self.store.commit_with(batch, change)?;
        self.committed = true;
        Ok(self.record.profile.clone())
    }
}

impl Drop for SledImport {
    fn drop(&mut self) {
        // Before the importers' lock is let go (the fields drop after this): an add waiting for this
        // import finds it gone.
        if self._guard.is_some() {
            let mut active = self.store.active.lock().unwrap_or_else(|p| p.into_inner());
            if active.is_some_and(|(p, _)| p == self.record.profile.id) {
                *active = None;
            }
        }
        if !self.committed && self.journal_written {
            // Best effort; if this fails, the next open cleans up from the journal.
            let id = self.record.profile.id;
            if self.store.remove_chunks_from(id, self.first_seq / CHUNK).is_ok()
                && self.store.tree.remove(layout::journal_key(id)).is_ok()
            {
                let _ = self.store.flush();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Version 8 kept each user and each DEP record under a key of its own (`u` / `e` + key).
    #[test]
    fn a_version_8_database_gets_its_users_and_dep_records_in_chunks() {
        use crate::domain::dep::DepDevice;
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        {
            let store = SledStore::open(dir.path()).unwrap();
            for i in 0..700 {
                let user = User { username: format!("User{i:03}"), name: format!("N{i}"), ..User::default() };
                store.tree.insert(layout::user_key(&user.username), enc(&user)).unwrap();
                let d = DepDevice {
                    identifier: format!("Apple{i:03}"),
                    user: Some(user.username),
                    ..DepDevice::sample(now)
                };
                let mut key = vec![b'e'];
                key.extend_from_slice(DepDevice::key(&d.identifier).as_bytes());
                store.tree.insert(key, enc(&d)).unwrap();
            }
            store.tree.insert(layout::META_SCHEMA, &8u32.to_be_bytes()).unwrap();
            store.db.flush().unwrap();
        }
        let store = SledStore::open(dir.path()).unwrap();
        let version = store.get_raw(layout::META_SCHEMA).unwrap().unwrap();
        assert_eq!(version.as_ref(), &layout::SCHEMA_VERSION.to_be_bytes());
        assert_eq!(store.tree.scan_prefix(b"u").count() + store.tree.scan_prefix(b"e").count(), 0, "no key each");
        assert_eq!(store.users().unwrap().len(), 700);
        assert_eq!(store.user("user699").unwrap().unwrap().name, "N699");
        let records = crate::store::DepStore::dep_devices(&store).unwrap();
        assert_eq!(records.len(), 700);
        let d = crate::store::DepStore::dep_device(&store, "APPLE350").unwrap().unwrap();
        assert_eq!(d.user.as_deref(), Some("User350"));
        assert!(crate::store::Store::check(&store).unwrap().is_empty());
        let inventory = crate::store::Store::snapshot(&store).unwrap();
        assert!(crate::store::inventory::problems(&inventory).is_empty());
    }

    #[test]
    fn a_version_2_database_is_migrated_with_its_users() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(dir.path()).unwrap();
            // A user as version 2 wrote it: three strings.
            let v2 =
                postcard::to_stdvec(&("alice".to_string(), "Alice".to_string(), "a@example.com".to_string())).unwrap();
            store.tree.insert(layout::user_key("alice"), v2).unwrap();
            store.tree.insert(layout::META_SCHEMA, &2u32.to_be_bytes()).unwrap();
            store.db.flush().unwrap();
        }
        let store = SledStore::open(dir.path()).unwrap();
        let alice = store.user("alice").unwrap().unwrap();
        assert_eq!((alice.name.as_str(), alice.email.as_str()), ("Alice", "a@example.com"));
        assert!(alice.description.is_empty() && alice.organizations.is_empty());
        let version = store.get_raw(layout::META_SCHEMA).unwrap().unwrap();
        assert_eq!(version.as_ref(), &layout::SCHEMA_VERSION.to_be_bytes());
        drop(store);
        // Version 1 (development only) is still refused with both numbers.
        let store = SledStore::open(dir.path()).unwrap();
        store.tree.insert(layout::META_SCHEMA, &1u32.to_be_bytes()).unwrap();
        drop(store);
        let Err(e) = SledStore::open(dir.path()) else { panic!("version 1 opened") };
        let want = format!("schema version 1; this kitting reads version {}", layout::SCHEMA_VERSION);
        assert!(e.to_string().contains(&want), "{e}");
    }

    #[test]
    fn a_version_3_database_is_migrated_with_its_profiles_and_tokens() {
        #[derive(Serialize)]
        struct TokenV3<'a> {
            value: &'a str,
            #[serde(with = "chrono::serde::ts_milliseconds")]
            expires: chrono::DateTime<Utc>,
        }
        #[derive(Serialize)]
        struct ProfileV3<'a> {
            id: ProfileId,
            name: &'a str,
            description: Option<&'a str>,
            kind: &'a str,
            #[serde(with = "chrono::serde::ts_milliseconds")]
            created: chrono::DateTime<Utc>,
            #[serde(with = "chrono::serde::ts_milliseconds")]
            modified: chrono::DateTime<Utc>,
            user: Option<&'a str>,
            token: Option<TokenV3<'a>>,
            config: &'a crate::domain::android::AndroidConfig,
            device_count: u64,
            attributes: Vec<&'a str>,
        }
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let config = crate::domain::android::AndroidConfig::default();
        {
            let store = SledStore::open(dir.path()).unwrap();
            let old = ProfileV3 {
                id: 1,
                name: "Dock 3",
                description: Some("line 1"),
                kind: "Self Maintained",
                created: now,
                modified: now,
                user: None,
                token: Some(TokenV3 { value: "abc", expires: now }),
                config: &config,
                device_count: 0,
                attributes: vec!["Asset Tag"],
            };
            store.tree.insert(layout::profile_key(1), postcard::to_stdvec(&(old, 0u32)).unwrap()).unwrap();
            store.tree.insert(layout::name_key("Dock 3"), &1u32.to_be_bytes()).unwrap();
            store.tree.insert(layout::META_SCHEMA, &3u32.to_be_bytes()).unwrap();
            store.db.flush().unwrap();
        }
        let store = SledStore::open(dir.path()).unwrap();
        let p = store.profile("dock 3").unwrap().unwrap();
        assert_eq!((p.name.as_str(), p.description.as_deref(), p.attributes.len()), ("Dock 3", Some("line 1"), 1));
        let t = p.token.unwrap();
        assert_eq!((t.value.as_str(), t.days, t.lifetime_or(14)), ("abc", None, 14));
        assert_eq!(
            store.get_raw(layout::META_SCHEMA).unwrap().unwrap().as_ref(),
            &layout::SCHEMA_VERSION.to_be_bytes()
        );
    }

    fn test_audit() -> AuditEntry {
        use crate::domain::audit::{Actor, AuditOutcome, FrontEnd};
        AuditEntry {
            id: 0,
            at: Utc::now(),
            actor: Actor::named("test", FrontEnd::Cli),
            command: "test".into(),
            profile: None,
            target: "test".into(),
            outcome: AuditOutcome::Done("test".into()),
            counts: None,
        }
    }

    fn imei(n: u64) -> String {
        let body = format!("35{:012}", n);
        format!("{body}{}", crate::domain::imei::luhn_check_digit(&body))
    }

    fn import(store: &SledStore, dir: &Path, name: &str, numbers: std::ops::Range<u64>) {
        let mut csv = String::from("IMEI,Serial Number,Manufacturer\n");
        for i in numbers {
            csv.push_str(&format!("{},SN{i},Acme\n", imei(i)));
        }
        import_csv(store, dir, name, &csv);
    }

    fn import_csv(store: &SledStore, dir: &Path, name: &str, csv: &str) {
        let file = dir.join(format!("{name}.csv"));
        std::fs::write(&file, csv).unwrap();
        let profile = crate::ops::profiles::new_profile(
            crate::domain::NewProfile { name: name.into(), ..Default::default() },
            7,
            Utc::now(),
        )
        .unwrap();
        let opts = crate::csv::android::ImportOptions { dry_run: false, skip_invalid: false, max_rows: 100_000 };
        let checked =
            crate::csv::android::check(store, &file, ImportTarget::Create(Box::new(profile)), &opts, &mut |_| true)
                .unwrap();
        assert!(checked.report.rejected.is_empty());
        checked.session.commit(&[], &test_audit()).unwrap();
    }

    /// The serials of the devices `candidates` finds for a serial number, in device order.
    fn serials_found(store: &SledStore, serial: &str) -> Vec<String> {
        store.candidates(None, Some(serial)).unwrap().into_iter().filter_map(|(_, d)| d.ids.serial).collect()
    }

    /// A serial number kept without a manufacturer (beside an IMEI) is in the serial index whether it came
    /// by an import or an add; a version 9 database, whose index left it out, gets it by the migration.
    #[test]
    fn a_serial_without_a_manufacturer_is_indexed_and_a_version_9_database_gets_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        {
            let store = SledStore::open(&db).unwrap();
            // Two rows with one serial and no manufacturer are not duplicates: only serial + manufacturer is.
            let csv = format!(
                "IMEI,Serial Number,Manufacturer\n{},KEPT1,\n{},kept1,\n{},KEPT1,Acme\n",
                imei(1),
                imei(2),
                imei(3)
            );
            import_csv(&store, dir.path(), "P", &csv);
            let id = store.profile("P").unwrap().unwrap().id;
            let ids = Identifiers::parse(&imei(4), "Added9", "").unwrap();
            let d =
                NewDevice { ids, attributes: vec![], status: Status::Pending, source: crate::domain::Source::Manual };
            store.add_device(id, d, &test_audit()).unwrap();
            assert_eq!(serials_found(&store, "kept1"), ["KEPT1", "kept1", "KEPT1"]);
            assert_eq!(serials_found(&store, " ADDED9"), ["Added9"]);
            assert_eq!(store.check().unwrap(), Vec::<String>::new());
            // The index as version 9 wrote it: serial numbers with a manufacturer only.
            let mut batch = sled::Batch::default();
            store.rebuild_serial_index(&mut batch, |d| d.ids.manufacturer.is_some()).unwrap();
            batch.insert(layout::META_SCHEMA, &9u32.to_be_bytes());
            store.commit(batch).unwrap();
            assert_eq!(serials_found(&store, "kept1"), ["KEPT1"], "version 9 did not find them");
            assert!(!store.check().unwrap().is_empty(), "check names the missing index records");
        }
        let store = SledStore::open(&db).unwrap();
        assert_eq!(store.get_raw(layout::META_SCHEMA).unwrap().unwrap().as_ref(), &10u32.to_be_bytes());
        assert_eq!(serials_found(&store, "kept1"), ["KEPT1", "kept1", "KEPT1"]);
        assert_eq!(serials_found(&store, "added9"), ["Added9"]);
        assert_eq!(store.check().unwrap(), Vec::<String>::new());
    }

    fn bucket_sizes(store: &SledStore, index: Index) -> Vec<usize> {
        store.tree.scan_prefix([index.prefix()]).map(|kv| layout::bucket_len(&kv.unwrap().1)).collect()
    }

    #[test]
    fn buckets_split_as_single_changes_fill_them_and_every_device_is_still_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&dir.path().join("db")).unwrap();
        import(&store, dir.path(), "P", 0..3000);
        let sizes = bucket_sizes(&store, Index::Imei);
        assert_eq!(sizes.len(), 3000usize.div_ceil(layout::BUCKET_FILL), "an import fills buckets: {sizes:?}");
        assert!(sizes.iter().all(|&n| n <= layout::BUCKET_FILL));
        let id = store.profile("P").unwrap().unwrap().id;
        for i in 3000..4400 {
            let ids = Identifiers::parse(&imei(i), &format!("SN{i}"), "Acme").unwrap();
            let d =
                NewDevice { ids, attributes: vec![], status: Status::Pending, source: crate::domain::Source::Manual };
            store.add_device(id, d, &test_audit()).unwrap();
        }
        for index in [Index::Imei, Index::Serial] {
            let sizes = bucket_sizes(&store, index);
            assert!(sizes.len() > 3000usize.div_ceil(layout::BUCKET_FILL), "{index:?}: buckets split: {sizes:?}");
            assert!(sizes.iter().all(|&n| n <= layout::BUCKET_MAX), "{index:?}: {sizes:?}");
            assert_eq!(store.dir(index).unwrap().len(), sizes.len(), "the directory lists every bucket");
        }
        assert_eq!(store.check().unwrap(), Vec::<String>::new());
        for i in (0..4400).step_by(7) {
            let found = store.find(&Lookup::Imei(Imei::parse(&imei(i)).unwrap())).unwrap();
            assert!(found.is_some(), "IMEI {i}");
            let by_serial = Lookup::Serial { serial: format!("sn{i}"), manufacturer: "ACME".into() };
            assert!(store.find(&by_serial).unwrap().is_some(), "serial {i}");
        }
        // A second import merges into the split buckets.
        import(&store, dir.path(), "Q", 10_000..12_000);
        assert_eq!(store.check().unwrap(), Vec::<String>::new());
        assert!(bucket_sizes(&store, Index::Imei).iter().all(|&n| n <= layout::BUCKET_MAX));
    }

    #[test]
    fn a_version_4_database_gets_its_index_by_key_range() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(&dir.path().join("db")).unwrap();
            import(&store, dir.path(), "P", 0..2000);
            // Rewrite both indexes as schema 4 had them: 128 buckets keyed by a bucket number.
            let mut batch = sled::Batch::default();
            for index in [Index::Imei, Index::Serial] {
                let mut old: HashMap<u16, Vec<Rec>> = HashMap::new();
                for kv in store.tree.scan_prefix([index.prefix()]) {
                    let (k, v) = kv.unwrap();
                    batch.remove(k);
                    for r in layout::decode_bucket(&v) {
                        old.entry((r.key % 128) as u16).or_default().push(r);
                    }
                }
                for (b, mut recs) in old {
                    recs.sort();
                    let be = b.to_be_bytes();
                    batch.insert(&[index.prefix(), be[0], be[1]], layout::encode_fixed_bucket(&recs));
                }
                batch.remove(layout::dir_key(index));
            }
            batch.insert(layout::META_SCHEMA, &4u32.to_be_bytes());
            store.commit(batch).unwrap();
        }
        let store = SledStore::open(&dir.path().join("db")).unwrap();
        assert_eq!(
            store.get_raw(layout::META_SCHEMA).unwrap().unwrap().as_ref(),
            &layout::SCHEMA_VERSION.to_be_bytes()
        );
        assert_eq!(store.check().unwrap(), Vec::<String>::new());
        assert!(store.find(&Lookup::Imei(Imei::parse(&imei(1234)).unwrap())).unwrap().is_some());
        assert_eq!(bucket_sizes(&store, Index::Imei).len(), 2000usize.div_ceil(layout::BUCKET_FILL));
    }

    #[test]
    fn a_version_5_database_gets_its_buckets_delta_encoded() {
        let dir = tempfile::tempdir().unwrap();
        let before;
        {
            let store = SledStore::open(&dir.path().join("db")).unwrap();
            import(&store, dir.path(), "P", 0..2000);
            before = [Index::Imei, Index::Serial].map(|index| bucket_sizes(&store, index));
            // Rewrite every bucket as schema 5 had it: fixed 16-byte records.
            let mut batch = sled::Batch::default();
            for index in [Index::Imei, Index::Serial] {
                for kv in store.tree.scan_prefix([index.prefix()]) {
                    let (k, v) = kv.unwrap();
                    batch.insert(k, layout::encode_fixed_bucket(&layout::decode_bucket(&v)));
                }
            }
            batch.insert(layout::META_SCHEMA, &5u32.to_be_bytes());
            store.commit(batch).unwrap();
        }
        let store = SledStore::open(&dir.path().join("db")).unwrap();
        assert_eq!(
            store.get_raw(layout::META_SCHEMA).unwrap().unwrap().as_ref(),
            &layout::SCHEMA_VERSION.to_be_bytes()
        );
        assert_eq!([Index::Imei, Index::Serial].map(|index| bucket_sizes(&store, index)), before);
        assert_eq!(store.check().unwrap(), Vec::<String>::new());
        for i in (0..2000).step_by(13) {
            assert!(store.find(&Lookup::Imei(Imei::parse(&imei(i)).unwrap())).unwrap().is_some(), "IMEI {i}");
            let by_serial = Lookup::Serial { serial: format!("sn{i}"), manufacturer: "ACME".into() };
            assert!(store.find(&by_serial).unwrap().is_some(), "serial {i}");
        }
    }
}
