//! Records kept by a text key in chunks, ordered by key: DEP device records and users. sled pays about
//! 10 µs for every key a batch writes, whatever the batching (400,000 keys: 3.9 s at best), so one key
//! per record cannot import 200,000 users and devices in sqlite3's time. A shelf keeps up to `MAX`
//! records per sled value, LZ4-compressed, under the prefix byte + the first record's key; a chunk holds
//! the keys from its name up to the next chunk's name. A lookup reads one chunk; a change rewrites the
//! chunks it touches (a chunk grown past `MAX` splits into chunks of `FILL`), in the change's batch.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{backend, dec, enc};
use crate::store::{Result, StoreError};

/// Records per chunk at most; a rewritten chunk over it is cut into chunks of `FILL`.
const MAX: usize = 512;
const FILL: usize = 256;

pub(super) struct Shelf<T> {
    /// The prefix byte of the shelf's chunk keys.
    pub prefix: u8,
    /// What the records are called in a message about a corrupt chunk.
    pub what: &'static str,
    /// A record's key (normalised: the same record, the same key).
    pub key: fn(&T) -> String,
}

/// Where a shelf's writes go: a change's batch, or a list of them made on another thread and put into
/// the batch afterwards, in order (`Writes`).
pub(super) trait Sink {
    fn insert(&mut self, key: Vec<u8>, value: Vec<u8>);
    fn remove(&mut self, key: Vec<u8>);
}

impl Sink for sled::Batch {
    fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        sled::Batch::insert(self, key, value)
    }
    fn remove(&mut self, key: Vec<u8>) {
        sled::Batch::remove(self, key)
    }
}

/// Inserts (`Some`) and removes (`None`) in the order made.
#[derive(Default)]
pub(super) struct Writes(Vec<(Vec<u8>, Option<Vec<u8>>)>);

impl Sink for Writes {
    fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.0.push((key, Some(value)))
    }
    fn remove(&mut self, key: Vec<u8>) {
        self.0.push((key, None))
    }
}

impl Writes {
    /// These, then `other`'s.
    pub(super) fn extend(&mut self, other: Writes) {
        self.0.extend(other.0);
    }

    /// Into a batch, in the order made (a key written twice: the last).
    pub(super) fn apply(self, batch: &mut sled::Batch) {
        for (key, value) in self.0 {
            match value {
                Some(v) => batch.insert(key, v),
                None => batch.remove(key),
            }
        }
    }
}

/// The chunks a change touches, by the name they are stored under (`None`: no chunk yet).
type Touched<T> = BTreeMap<Option<Vec<u8>>, BTreeMap<String, T>>;

impl<T: Serialize + DeserializeOwned + Clone> Shelf<T> {
    fn chunk_key(&self, first: &str) -> Vec<u8> {
        let mut k = vec![self.prefix];
        k.extend_from_slice(first.as_bytes());
        k
    }

    fn decode(&self, bytes: &[u8]) -> Result<Vec<T>> {
        let raw = lz4_flex::decompress_size_prepended(bytes)
            .map_err(|e| StoreError::Backend(format!("corrupt {} chunk: {e}", self.what)))?;
        dec(&raw, self.what)
    }

    fn encode(records: &[&T]) -> Vec<u8> {
        lz4_flex::compress_prepend_size(&enc(&records))
    }

    /// The chunk that holds `key` (the last one named at or before it, else the first), if any.
    fn locate(&self, tree: &sled::Tree, key: &str) -> Result<Option<(sled::IVec, sled::IVec)>> {
        let start = vec![self.prefix];
        let at = self.chunk_key(key);
        if let Some(kv) = tree.range(start.clone()..=at).next_back() {
            return kv.map(Some).map_err(backend);
        }
        tree.scan_prefix(&start).next().transpose().map_err(backend)
    }

    pub fn get(&self, tree: &sled::Tree, key: &str) -> Result<Option<T>> {
        let Some((_, v)) = self.locate(tree, key)? else { return Ok(None) };
        let records = self.decode(&v)?;
        Ok(records.binary_search_by(|r| (self.key)(r).as_str().cmp(key)).ok().map(|i| records[i].clone()))
    }

    /// Every record, in key order.
    pub fn all(&self, tree: &sled::Tree) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for kv in tree.scan_prefix([self.prefix]) {
            out.extend(self.decode(&kv.map_err(backend)?.1)?);
        }
        Ok(out)
    }

    /// Up to `limit` records after the key `after` (from the first without), in key order.
    pub fn after(&self, tree: &sled::Tree, after: Option<&str>, limit: usize) -> Result<Vec<T>> {
        let from = match after {
            Some(a) => self.locate(tree, a)?.map_or_else(|| vec![self.prefix], |(k, _)| k.to_vec()),
            None => vec![self.prefix],
        };
        let mut out = Vec::new();
        for kv in tree.range(from..) {
            let (k, v) = kv.map_err(backend)?;
            if k.first() != Some(&self.prefix) || out.len() >= limit {
                break;
            }
            out.extend(self.decode(&v)?.into_iter().filter(|r| after.is_none_or(|a| (self.key)(r).as_str() > a)));
        }
        out.truncate(limit);
        Ok(out)
    }

    /// The chunk names in order, for a change touching many keys (one pass over the shelf).
    fn names(&self, tree: &sled::Tree) -> Result<Vec<sled::IVec>> {
        tree.scan_prefix([self.prefix]).map(|kv| kv.map(|(k, _)| k).map_err(backend)).collect()
    }

    /// Reads the chunks that hold `keys`, once each.
    fn touched<'a>(&self, tree: &sled::Tree, keys: impl Iterator<Item = &'a str> + Clone) -> Result<Touched<T>> {
        let mut touched: Touched<T> = BTreeMap::new();
        let many = keys.clone().nth(16).is_some();
        let names = if many { Some(self.names(tree)?) } else { None };
        for key in keys {
            let name = match &names {
                Some(names) => {
                    let at = self.chunk_key(key);
                    let i = names.partition_point(|n| n.as_ref() <= at.as_slice());
                    names.get(i.saturating_sub(1)).map(|n| n.to_vec())
                }
                None => self.locate(tree, key)?.map(|(k, _)| k.to_vec()),
            };
            if touched.contains_key(&name) {
                continue;
            }
            let records = match &name {
                Some(n) => match tree.get(n).map_err(backend)? {
                    Some(v) => self.decode(&v)?,
                    None => Vec::new(),
                },
                None => Vec::new(),
            };
            touched.insert(name, records.into_iter().map(|r| ((self.key)(&r), r)).collect());
        }
        Ok(touched)
    }

    /// The stored records with these keys (those there are).
    pub fn get_many<'a>(
        &self,
        tree: &sled::Tree,
        keys: impl Iterator<Item = &'a str> + Clone,
    ) -> Result<HashMap<String, T>> {
        let wanted: std::collections::HashSet<&str> = keys.clone().collect();
        let mut out = HashMap::new();
        for (_, records) in self.touched(tree, keys)? {
            out.extend(records.into_iter().filter(|(k, _)| wanted.contains(k.as_str())));
        }
        Ok(out)
    }

    /// Writes `puts` (replacing a record with the same key) and removes `removes`, into `batch`.
    pub fn write(&self, tree: &sled::Tree, batch: &mut sled::Batch, puts: Vec<T>, removes: &[String]) -> Result<()> {
        if puts.is_empty() && removes.is_empty() {
            return Ok(());
        }
        let puts: Vec<(String, T)> = puts.into_iter().map(|r| ((self.key)(&r), r)).collect();
        let keys = puts.iter().map(|(k, _)| k.as_str()).chain(removes.iter().map(String::as_str));
        let mut touched = self.touched(tree, keys)?;
        // Each key goes to the chunk that holds it: the last chunk named at or before it.
        let names: Vec<Option<Vec<u8>>> = touched.keys().cloned().collect();
        let home = |key: &str| -> Option<Vec<u8>> {
            let at = self.chunk_key(key);
            let i = names.partition_point(|n| n.as_deref().is_none_or(|n| n <= at.as_slice()));
            names[i.saturating_sub(1)].clone()
        };
        for (key, record) in puts {
            let name = home(&key);
            touched.entry(name).or_default().insert(key, record);
        }
        for key in removes {
            if let Some(records) = touched.get_mut(&home(key)) {
                records.remove(key);
            }
        }
        for (name, records) in touched {
            if let Some(n) = &name {
                batch.remove(n.as_slice());
            }
            let records: Vec<(&String, &T)> = records.iter().collect();
            let size = if records.len() > MAX { FILL } else { MAX };
            for piece in records.chunks(size) {
                let values: Vec<&T> = piece.iter().map(|(_, r)| *r).collect();
                batch.insert(self.chunk_key(piece[0].0), Self::encode(&values));
            }
        }
        Ok(())
    }

    /// Where to cut `len` keys in key order (`key(i)`) near `at` so that the keys before and after touch
    /// no chunk in common, and no key given twice is cut apart: two `write_sorted`s of the two parts may
    /// then run at once. `len` when there is no such place.
    pub fn split<'k>(&self, tree: &sled::Tree, len: usize, key: impl Fn(usize) -> &'k str, at: usize) -> Result<usize> {
        let at = at.min(len);
        let names = self.names(tree)?;
        // The first place in 0..len where `after` holds (it holds from some place on).
        let first = |after: &dyn Fn(usize) -> bool| {
            let (mut lo, mut hi) = (0, len);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if after(mid) { hi = mid } else { lo = mid + 1 }
            }
            lo
        };
        if at == len {
            return Ok(len);
        }
        // The chunk a key goes to (the last named at or before it, else the first); with no chunk yet, any
        // place between two different keys will do, so each key is its own.
        let chunk = |i: usize| {
            let at = self.chunk_key(key(i));
            names.partition_point(|n| n.as_ref() <= at.as_slice()).saturating_sub(1)
        };
        let before = |i: usize, j: usize| if names.is_empty() { key(i) < key(j) } else { chunk(i) < chunk(j) };
        // The first key of `at`'s chunk, or, when that is the first key of all, the first after that chunk.
        let start = first(&|i| !before(i, at));
        Ok(if start > 0 { start } else { first(&|i| before(at, i)) })
    }

    /// Writes records given in key order (a key given twice: the last), each encoded from its put by
    /// `record` onto the end of the buffer it is given (as postcard encodes a `T`), which sees the stored
    /// record it replaces (if any) and may refuse it: a record already encoded is written as it is. The
    /// chunks the keys fall in are merged one at a time as the puts come, and what grows past `MAX` is
    /// cut into chunks of `FILL`: only about a chunk's records are held at once, however many there are.
    pub fn write_sorted<K: AsRef<str>, P>(
        &self,
        tree: &sled::Tree,
        batch: &mut impl Sink,
        puts: impl Iterator<Item = Result<(K, P)>>,
        mut record: impl FnMut(Option<&T>, P, &mut Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        let names = self.names(tree)?;
        let mut puts = puts.peekable();
        let mut out = Pieces::new(self);
        // The chunk being merged (its place in `names`) and its records not yet passed.
        let mut current: Option<usize> = None;
        let mut stored: std::iter::Peekable<std::vec::IntoIter<(String, T)>> = Vec::new().into_iter().peekable();
        let mut last = String::new();
        while let Some(put) = puts.next() {
            let (key, put) = put?;
            let key = key.as_ref();
            if last.as_str() > key {
                return Err(StoreError::Backend(format!("{} writes out of key order", self.what)));
            }
            if matches!(puts.peek(), Some(Ok((next, _))) if next.as_ref() == key) {
                continue;
            }
            let at = self.chunk_key(key);
            let target =
                (!names.is_empty()).then(|| names.partition_point(|n| n.as_ref() <= at.as_slice()).saturating_sub(1));
            if target != current {
                for (k, r) in stored.by_ref() {
                    out.push_record(batch, &k, &r);
                }
                out.finish(batch);
                if let Some(t) = target {
                    let name = &names[t];
                    batch.remove(name.to_vec());
                    let records = match tree.get(name).map_err(backend)? {
                        Some(v) => self.decode(&v)?,
                        None => Vec::new(),
                    };
                    stored =
                        records.into_iter().map(|r| ((self.key)(&r), r)).collect::<Vec<_>>().into_iter().peekable();
                }
                current = target;
            }
            while let Some((k, r)) = stored.next_if(|(k, _)| k.as_str() < key) {
                out.push_record(batch, &k, &r);
            }
            let replaced = stored.next_if(|(k, _)| k == key);
            out.push(batch, key, |buf| record(replaced.as_ref().map(|(_, r)| r), put, buf))?;
            last.clear();
            last.push_str(key);
        }
        for (k, r) in stored {
            out.push_record(batch, &k, &r);
        }
        out.finish(batch);
        Ok(())
    }
}

/// The records of a chunk being rewritten, in key order and encoded, back to back: written out a chunk
/// of `FILL` at a time once there are `MAX`, the rest as one chunk at the end. A chunk's value is what
/// `Shelf::encode` makes of the same records (postcard's list: the count, then each record's encoding).
struct Pieces<'s, T> {
    shelf: &'s Shelf<T>,
    /// The records' encodings, and where each ends.
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// Their keys, and where each ends.
    keys: String,
    key_ends: Vec<usize>,
}

impl<'s, T: Serialize + DeserializeOwned + Clone> Pieces<'s, T> {
    fn new(shelf: &'s Shelf<T>) -> Self {
        Pieces { shelf, bytes: Vec::new(), ends: Vec::new(), keys: String::new(), key_ends: Vec::new() }
    }

    /// A record with this key, encoded onto the end of the buffer by `encode`.
    fn push(
        &mut self,
        batch: &mut impl Sink,
        key: &str,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        encode(&mut self.bytes)?;
        self.ends.push(self.bytes.len());
        self.keys.push_str(key);
        self.key_ends.push(self.keys.len());
        if self.ends.len() >= MAX {
            self.write(batch, FILL);
        }
        Ok(())
    }

    /// A stored record carried into the rewritten chunks.
    fn push_record(&mut self, batch: &mut impl Sink, key: &str, record: &T) {
        // Writing into a Vec cannot fail.
        let _ = self.push(batch, key, |buf| {
            *buf = postcard::to_extend(record, std::mem::take(buf)).expect("records always serialize");
            Ok(())
        });
    }

    fn finish(&mut self, batch: &mut impl Sink) {
        if !self.ends.is_empty() {
            self.write(batch, self.ends.len());
        }
    }

    /// The first `n` records as one chunk.
    fn write(&mut self, batch: &mut impl Sink, n: usize) {
        let (end, key_end) = (self.ends[n - 1], self.key_ends[n - 1]);
        let mut value = postcard::to_stdvec(&n).expect("a count always serializes");
        value.extend_from_slice(&self.bytes[..end]);
        batch.insert(self.shelf.chunk_key(&self.keys[..self.key_ends[0]]), lz4_flex::compress_prepend_size(&value));
        self.bytes.drain(..end);
        self.ends.drain(..n);
        self.ends.iter_mut().for_each(|e| *e -= end);
        self.keys.drain(..key_end);
        self.key_ends.drain(..n);
        self.key_ends.iter_mut().for_each(|e| *e -= key_end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
    struct R {
        name: String,
        n: u32,
    }

    fn key(r: &R) -> String {
        r.name.to_lowercase()
    }

    const SHELF: Shelf<R> = Shelf { prefix: b'T', what: "test record", key };

    fn r(name: &str, n: u32) -> R {
        R { name: name.into(), n }
    }

    fn write(tree: &sled::Tree, puts: Vec<R>, removes: &[&str]) {
        let mut batch = sled::Batch::default();
        let removes: Vec<String> = removes.iter().map(|s| s.to_string()).collect();
        SHELF.write(tree, &mut batch, puts, &removes).unwrap();
        tree.apply_batch(batch).unwrap();
    }

    fn chunks(tree: &sled::Tree) -> Vec<usize> {
        tree.scan_prefix([b'T']).map(|kv| SHELF.decode(&kv.unwrap().1).unwrap().len()).collect()
    }

    #[test]
    fn records_split_into_chunks_and_are_found_listed_paged_replaced_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).temporary(true).open().unwrap();
        let tree = db.open_tree("t").unwrap();
        // Other prefixes around the shelf's are not its records.
        tree.insert(b"S-before", b"x").unwrap();
        tree.insert(b"U-after", b"x").unwrap();
        // 2,000 records in one change, out of order: cut into chunks of FILL.
        let mut many: Vec<R> = (0..2000).map(|i| r(&format!("D{:05}", i * 2), i)).collect();
        many.reverse();
        write(&tree, many, &[]);
        assert_eq!(chunks(&tree), vec![FILL; 2000 / FILL].into_iter().chain([2000 % FILL]).collect::<Vec<_>>());
        let all = SHELF.all(&tree).unwrap();
        assert_eq!(all.len(), 2000);
        assert!(all.windows(2).all(|w| key(&w[0]) < key(&w[1])), "in key order");
        assert_eq!(SHELF.get(&tree, "d00000").unwrap(), Some(r("D00000", 0)));
        assert_eq!(SHELF.get(&tree, "d03998").unwrap(), Some(r("D03998", 1999)));
        assert_eq!(SHELF.get(&tree, "d00001").unwrap(), None, "between two records");
        assert_eq!(SHELF.get(&tree, "a").unwrap(), None, "before the first");
        assert_eq!(SHELF.get(&tree, "z").unwrap(), None, "after the last");
        // Pages, across chunk boundaries, from a key that is not stored too.
        let mut paged = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = SHELF.after(&tree, after.as_deref(), 300).unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 300);
            after = Some(key(page.last().unwrap()));
            paged.extend(page);
        }
        assert_eq!(paged, all);
        assert_eq!(SHELF.after(&tree, Some("d00511"), 2).unwrap(), vec![r("D00512", 256), r("D00514", 257)]);
        // New keys before the first chunk, inside chunks, after the last; one replaced; some removed.
        let puts = vec![r("A", 9000), r("D00001", 9001), r("Z", 9002), r("d00002", 9003)];
        write(&tree, puts, &["d00004", "d03998", "missing"]);
        let all = SHELF.all(&tree).unwrap();
        assert_eq!(all.len(), 2000 + 3 - 2);
        assert_eq!(SHELF.get(&tree, "a").unwrap(), Some(r("A", 9000)));
        assert_eq!(SHELF.get(&tree, "d00001").unwrap(), Some(r("D00001", 9001)));
        assert_eq!(SHELF.get(&tree, "d00002").unwrap(), Some(r("d00002", 9003)), "replaced");
        assert_eq!(SHELF.get(&tree, "d00004").unwrap(), None, "removed");
        assert_eq!(SHELF.get(&tree, "z").unwrap(), Some(r("Z", 9002)));
        assert!(all.windows(2).all(|w| key(&w[0]) < key(&w[1])), "still in key order");
        let keys = ["a", "d00002", "d00004", "z"];
        let found = SHELF.get_many(&tree, keys.iter().copied()).unwrap();
        assert_eq!(found.len(), 3);
        // A chunk that grows past MAX splits; one emptied goes.
        write(&tree, (0..MAX as u32).map(|i| r(&format!("D00000-{i:04}"), i)).collect(), &[]);
        assert!(chunks(&tree).iter().all(|&n| n <= MAX), "{:?}", chunks(&tree));
        let everything: Vec<String> = SHELF.all(&tree).unwrap().iter().map(key).collect();
        write(&tree, Vec::new(), &everything.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(chunks(&tree).is_empty() && SHELF.all(&tree).unwrap().is_empty());
        assert_eq!(tree.len(), 2, "the other keys are untouched");
    }

    fn write_sorted(tree: &sled::Tree, puts: Vec<R>, seen: &mut Vec<(String, Option<u32>)>) -> Result<()> {
        let mut batch = sled::Batch::default();
        let puts = puts.into_iter().map(|r| Ok((key(&r), r)));
        SHELF.write_sorted(tree, &mut batch, puts, |stored, r: R, buf| {
            seen.push((r.name.clone(), stored.map(|s| s.n)));
            if r.n == u32::MAX {
                return Err(StoreError::Refused("no".into()));
            }
            buf.extend(enc(&r));
            Ok(())
        })?;
        tree.apply_batch(batch).unwrap();
        Ok(())
    }

    /// A change cut where `split` says and written as two parts (as two threads would) stores what
    /// writing it whole stores, into an empty shelf and into stored chunks, wherever it is asked to cut
    /// (keys before the first chunk, inside and after the last, a key given twice).
    #[test]
    fn a_change_cut_where_split_says_writes_what_it_would_whole() {
        let stored: Vec<R> = (0..2000).map(|i| r(&format!("D{:05}", i * 2), i)).collect();
        let mut keys: Vec<String> = vec!["A".into(), "B".into(), "B".into()];
        keys.extend((0..3000).map(|i| format!("D{:05}", i * 3)));
        keys.extend(["D04000x".into(), "D04000x".into(), "Z".into()]);
        keys.sort_by_key(|k| k.to_lowercase());
        let puts: Vec<R> = keys.iter().enumerate().map(|(n, k)| r(k, 10_000 + n as u32)).collect();
        let keys: Vec<String> = puts.iter().map(key).collect();
        for with_stored in [false, true] {
            let fresh = || {
                let dir = tempfile::tempdir().unwrap();
                let db = sled::Config::new().path(dir.path()).temporary(true).open().unwrap();
                let tree = db.open_tree("t").unwrap();
                if with_stored {
                    let mut seen = Vec::new();
                    write_sorted(&tree, stored.clone(), &mut seen).unwrap();
                }
                (dir, db, tree)
            };
            let write = |tree: &sled::Tree, part: &[R], out: &mut Writes| {
                let puts = part.iter().map(|p| Ok((key(p), p.clone())));
                SHELF
                    .write_sorted(tree, out, puts, |_, p: R, buf| {
                        buf.extend(enc(&p));
                        Ok(())
                    })
                    .unwrap();
            };
            let (_d, _db, whole) = fresh();
            let mut out = Writes::default();
            write(&whole, &puts, &mut out);
            let mut batch = sled::Batch::default();
            out.apply(&mut batch);
            whole.apply_batch(batch).unwrap();
            let want = SHELF.all(&whole).unwrap();
            for at in [0, 1, 2, 3, 700, 1500, 2999, 3004, 3005, 3006, 9999] {
                let (_d, _db, tree) = fresh();
                let cut = SHELF.split(&tree, puts.len(), |i| keys[i].as_str(), at).unwrap();
                assert!(cut <= puts.len());
                if 0 < cut && cut < puts.len() {
                    assert_ne!(keys[cut - 1], keys[cut], "a key cut apart at {at}");
                }
                let (mut lower, mut upper) = (Writes::default(), Writes::default());
                write(&tree, &puts[..cut], &mut lower);
                write(&tree, &puts[cut..], &mut upper);
                let lower_keys: std::collections::HashSet<Vec<u8>> = lower.0.iter().map(|(k, _)| k.clone()).collect();
                assert!(upper.0.iter().all(|(k, _)| !lower_keys.contains(k)), "a chunk in both parts at {at}");
                lower.extend(upper);
                let mut batch = sled::Batch::default();
                lower.apply(&mut batch);
                tree.apply_batch(batch).unwrap();
                assert_eq!(SHELF.all(&tree).unwrap(), want, "cut at {cut} for {at}, stored: {with_stored}");
                assert!(chunks(&tree).iter().all(|&n| n <= MAX));
            }
        }
    }

    /// Records written in key order merge into the chunks they fall in, as `write` would have put them:
    /// into an empty shelf (cut into chunks no larger than MAX), before, between and after the stored
    /// ones, replacing one (its maker sees the stored record), a key given twice keeping the last; puts
    /// out of key order, or one the maker refuses, write nothing.
    #[test]
    fn sorted_writes_merge_into_the_chunks_they_fall_in() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).temporary(true).open().unwrap();
        let tree = db.open_tree("t").unwrap();
        tree.insert(b"S-before", b"x").unwrap();
        tree.insert(b"U-after", b"x").unwrap();
        let mut seen = Vec::new();
        write_sorted(&tree, (0..2000).map(|i| r(&format!("D{:05}", i * 2), i)).collect(), &mut seen).unwrap();
        assert!(seen.iter().all(|(_, stored)| stored.is_none()) && seen.len() == 2000);
        let sizes = chunks(&tree);
        assert!(sizes.iter().all(|&n| n > 0 && n <= MAX) && sizes.len() > 1, "{sizes:?}");
        let all = SHELF.all(&tree).unwrap();
        assert_eq!(all.len(), 2000);
        assert!(all.windows(2).all(|w| key(&w[0]) < key(&w[1])), "in key order");
        // Before the first, inside chunks (one replaced, one given twice), after the last.
        seen.clear();
        let puts =
            vec![r("A", 9000), r("D00001", 9001), r("d00002", 9003), r("D01001", 1), r("D01001", 2), r("Z", 9002)];
        write_sorted(&tree, puts, &mut seen).unwrap();
        assert_eq!(seen.iter().find(|(n, _)| n == "d00002").unwrap().1, Some(1), "the maker sees the stored record");
        assert_eq!(seen.iter().filter(|(n, _)| n == "D01001").count(), 1, "the last of a key given twice");
        let all = SHELF.all(&tree).unwrap();
        assert_eq!(all.len(), 2000 + 4);
        assert!(all.windows(2).all(|w| key(&w[0]) < key(&w[1])), "still in key order");
        for (k, want) in [("a", 9000), ("d00001", 9001), ("d00002", 9003), ("d01001", 2), ("z", 9002), ("d03998", 1999)]
        {
            assert_eq!(SHELF.get(&tree, k).unwrap().map(|r| r.n), Some(want), "{k}");
        }
        assert!(chunks(&tree).iter().all(|&n| n <= MAX));
        // Many into one chunk: it splits.
        write_sorted(&tree, (0..3 * MAX as u32).map(|i| r(&format!("D00000-{i:04}"), i)).collect(), &mut seen).unwrap();
        assert!(chunks(&tree).iter().all(|&n| n <= MAX), "{:?}", chunks(&tree));
        assert_eq!(SHELF.all(&tree).unwrap().len(), 2004 + 3 * MAX);
        // Out of order, or refused: nothing is written.
        let before = SHELF.all(&tree).unwrap();
        assert!(write_sorted(&tree, vec![r("B", 1), r("A2", 1)], &mut seen).is_err());
        assert!(write_sorted(&tree, vec![r("B", 1), r("C", u32::MAX)], &mut seen).is_err());
        assert_eq!(SHELF.all(&tree).unwrap(), before);
        assert_eq!(tree.get(b"S-before").unwrap().as_deref(), Some(&b"x"[..]), "the other keys are untouched");
        assert_eq!(tree.get(b"U-after").unwrap().as_deref(), Some(&b"x"[..]));
    }
}
