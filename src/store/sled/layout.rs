//! The physical layout of the database: one sled tree, keys by prefix, every committed change one
//! atomic batch (sled recovers a batch whole or not at all).
//!
//! | key                               | value                                              |
//! |-----------------------------------|----------------------------------------------------|
//! | `m` + name                        | meta: `schema` (u32), `next_profile` (u32)         |
//! | `p` + profile id (u32 BE)         | `ProfileRecord` (the profile and its next device sequence number) |
//! | `n` + lower-cased profile name    | profile id: the unique-name index                  |
//! | `d` + profile id + chunk (u32 BE) | up to `CHUNK` devices, seq / CHUNK = chunk          |
//! | `i` + first index key (u64 BE)    | IMEI index bucket: sorted 16-byte records          |
//! | `s` + first index key (u64 BE)    | serial index bucket: sorted 16-byte records        |
//! | `mdir_i`, `mdir_s`                | each index's directory: the first keys of its buckets |
//! | `u` + lower-cased username        | a user                                             |
//! | `j` + profile id                  | journal: an import is staging chunks from this chunk on |
//! | `a` + entry id (u64 BE)           | an audit entry (append-only)                       |
//!
//! Index records are `key u64 | profile u32 | seq u32`, big-endian, so byte order is numeric order and a
//! bucket is binary-searched in place. The key is the IMEI itself, or a 64-bit FNV-1a hash of the
//! upper-cased serial (every serial hit is confirmed on the device record, which also compares the
//! manufacturer). Keys are not spread: a carton of consecutive IMEIs lands in neighbouring buckets, and an
//! import of such a file arrives in key order (its sort is almost free).
//!
//! Each index is split into buckets by key range. A bucket holds the keys from its first key (its name)
//! to the next bucket's; the index's directory lists the first keys. A bucket that grows past
//! `BUCKET_MAX` records splits in two, so a single change rewrites at most one chunk and one bucket per
//! index it touches, however large the database (at most 16 KB each, schema 5; schema 4 had 128 buckets
//! per index that grew with the database: 125 KB each at 1,000,000 devices). An import fills buckets to
//! `BUCKET_FILL`, leaving room to grow. sled pays per value written, which is why buckets are not smaller.

use serde::{Deserialize, Serialize};

use crate::domain::{DeviceSeq, Profile, ProfileId};

/// 3: users gained description and organizations; DEP device information, catalog and outbox keys.
/// 4: tokens keep their lifetime, profiles their version; the audit trail. 5: index buckets by key range.
pub const SCHEMA_VERSION: u32 = 5;
pub const CHUNK: u32 = 1024;
/// Partitions of an import's new index records, by the top bits of the index key (so, in key order).
pub const SLOTS: usize = 128;
pub const RECORD: usize = 16;
/// A bucket with more records splits: 16 KB. With a chunk (about 16 KB compressed), a single change of
/// kitting's own writes stays well under 64 KB. Larger buckets cost import time: sled writes a node of
/// values over its blob threshold (a quarter of a segment) as a file of its own, and 24 KB buckets made a
/// 1,000,000-row import create some 1,700 such files (840 ms against 675). Smaller values cost memory
/// instead: a 1,000,000-row import peaks at 151 MiB with 16 KB buckets, 103 MiB with 48 KB ones.
pub const BUCKET_MAX: usize = 1024;
/// How full an import leaves the buckets it writes.
pub const BUCKET_FILL: usize = 768;

pub const META_SCHEMA: &[u8] = b"mschema";
pub const META_NEXT_PROFILE: &[u8] = b"mnext_profile";
/// The next audit entry id (u64 BE).
pub const META_NEXT_AUDIT: &[u8] = b"mnext_audit";

/// `a` + entry id (u64 BE): one audit entry; ids grow, so key order is time order.
pub fn audit_key(id: u64) -> [u8; 9] {
    let mut k = [b'a'; 9];
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProfileRecord {
    pub profile: Profile,
    /// The next device sequence number; chunks at or beyond `next_seq.div_ceil(CHUNK)` are not committed.
    pub next_seq: DeviceSeq,
}

impl ProfileRecord {
    pub fn committed_chunks(&self) -> u32 {
        self.next_seq.div_ceil(CHUNK)
    }
}

pub fn profile_key(id: ProfileId) -> [u8; 5] {
    let mut k = [b'p'; 5];
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

pub fn name_key(name: &str) -> Vec<u8> {
    let mut k = vec![b'n'];
    k.extend_from_slice(name.trim().to_lowercase().as_bytes());
    k
}

pub fn user_key(username: &str) -> Vec<u8> {
    let mut k = vec![b'u'];
    k.extend_from_slice(username.trim().to_lowercase().as_bytes());
    k
}

pub fn journal_key(id: ProfileId) -> [u8; 5] {
    let mut k = [b'j'; 5];
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

pub fn chunk_key(id: ProfileId, chunk: u32) -> [u8; 9] {
    let mut k = [b'd'; 9];
    k[1..5].copy_from_slice(&id.to_be_bytes());
    k[5..].copy_from_slice(&chunk.to_be_bytes());
    k
}

pub fn chunk_of_key(key: &[u8]) -> u32 {
    u32::from_be_bytes(key[5..9].try_into().expect("chunk keys are 9 bytes"))
}

pub fn profile_chunks_prefix(id: ProfileId) -> [u8; 5] {
    let mut k = [b'd'; 5];
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Index {
    Imei,
    Serial,
}

impl Index {
    pub fn prefix(self) -> u8 {
        match self {
            Index::Imei => b'i',
            Index::Serial => b's',
        }
    }
}

/// A bucket's key: the index's prefix and the bucket's first index key.
pub fn bucket_key(index: Index, start: u64) -> [u8; 9] {
    let mut k = [index.prefix(); 9];
    k[1..].copy_from_slice(&start.to_be_bytes());
    k
}

pub fn dir_key(index: Index) -> &'static [u8] {
    match index {
        Index::Imei => b"mdir_i",
        Index::Serial => b"mdir_s",
    }
}

pub fn encode_dir(starts: &[u64]) -> Vec<u8> {
    starts.iter().flat_map(|s| s.to_be_bytes()).collect()
}

pub fn decode_dir(bytes: &[u8]) -> Vec<u64> {
    bytes.chunks_exact(8).map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes"))).collect()
}

/// The first key of the bucket that holds `key`: the greatest start at or below it (0 when none is).
pub fn covering(starts: &[u64], key: u64) -> u64 {
    match starts.partition_point(|&s| s <= key) {
        0 => 0,
        i => starts[i - 1],
    }
}

/// Cuts a stream of sorted records into buckets as they come, holding at most `max` + 1 of them: the
/// records of one bucket (`start`) and the new ones in its range, which may be many (an import into an
/// empty index is one stream of every record). Fewer than `max` + 1 records make one bucket; more are
/// cut into buckets of about `size`, never between two records of the same key, as in `split`.
pub struct Pieces {
    start: u64,
    max: usize,
    size: usize,
    buf: Vec<Rec>,
    emitted: bool,
}

impl Pieces {
    pub fn new(start: u64, max: usize, size: usize) -> Pieces {
        Pieces { start, max, size, buf: Vec::with_capacity(max + 1), emitted: false }
    }

    /// Adds the next record (in order); returns a full bucket when one is cut.
    pub fn push(&mut self, r: Rec) -> Option<(u64, Vec<Rec>)> {
        self.buf.push(r);
        if self.buf.len() <= self.max {
            return None;
        }
        let mut cut = self.size;
        while cut < self.buf.len() && self.buf[cut].key == self.buf[cut - 1].key {
            cut += 1;
        }
        if cut >= self.buf.len() {
            return None; // one key's records so far: nowhere to cut yet
        }
        let rest = self.buf.split_off(cut);
        let piece = std::mem::replace(&mut self.buf, rest);
        Some(self.name(piece))
    }

    /// The last bucket.
    pub fn finish(mut self) -> Option<(u64, Vec<Rec>)> {
        let piece = std::mem::take(&mut self.buf);
        (!piece.is_empty() || !self.emitted).then(|| self.name(piece))
    }

    fn name(&mut self, piece: Vec<Rec>) -> (u64, Vec<Rec>) {
        let start = if self.emitted { piece[0].key } else { self.start };
        self.emitted = true;
        (start, piece)
    }
}

/// A bucket's records cut into buckets of at most `size` (when it holds more than `max`), never between
/// two records of the same key. The first piece keeps `start`; each other begins at its first key.
pub fn split(start: u64, recs: Vec<Rec>, max: usize, size: usize) -> Vec<(u64, Vec<Rec>)> {
    if recs.len() <= max {
        return vec![(start, recs)];
    }
    let mut out: Vec<(u64, Vec<Rec>)> = Vec::new();
    let mut current: Vec<Rec> = Vec::with_capacity(size);
    for r in recs {
        if current.len() >= size && current.last().is_some_and(|l| l.key != r.key) {
            let s = if out.is_empty() { start } else { current[0].key };
            out.push((s, std::mem::take(&mut current)));
        }
        current.push(r);
    }
    if !current.is_empty() {
        let s = if out.is_empty() { start } else { current[0].key };
        out.push((s, current));
    }
    out
}

/// The slot of an index key among an import's `SLOTS` partitions: by its top bits, so slots are in key
/// order. (IMEIs, below 2^50, all fall in the first; serial hashes spread over all of them.)
pub fn slot_of(key: u64) -> usize {
    (key >> (64 - SLOTS.trailing_zeros())) as usize
}

pub(crate) use crate::store::chunk::serial_hash;
#[cfg(test)]
use crate::store::chunk::upper_serial_hash;

/// Where an index's slots start in a flat per-import list of both indexes.
pub fn slot_base(index: Index) -> usize {
    usize::from(index == Index::Serial) * SLOTS
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rec {
    pub key: u64,
    pub profile: ProfileId,
    pub seq: DeviceSeq,
}

impl Rec {
    pub fn encode(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.key.to_be_bytes());
        out.extend_from_slice(&self.profile.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
    }

    pub fn decode(b: &[u8]) -> Rec {
        Rec {
            key: u64::from_be_bytes(b[0..8].try_into().expect("8 bytes")),
            profile: u32::from_be_bytes(b[8..12].try_into().expect("4 bytes")),
            seq: u32::from_be_bytes(b[12..16].try_into().expect("4 bytes")),
        }
    }
}

/// An index record of an import in progress, without its profile (the same for the whole import):
/// `key u64 | seq u32` big-endian, 12 bytes, so that byte order is (key, seq) order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct NewRec([u8; 12]);

impl NewRec {
    pub fn new(key: u64, seq: DeviceSeq) -> NewRec {
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&key.to_be_bytes());
        b[8..].copy_from_slice(&seq.to_be_bytes());
        NewRec(b)
    }

    pub fn key(self) -> u64 {
        u64::from_be_bytes(self.0[..8].try_into().expect("8 bytes"))
    }

    pub fn seq(self) -> DeviceSeq {
        u32::from_be_bytes(self.0[8..].try_into().expect("4 bytes"))
    }

    pub fn with_profile(self, profile: ProfileId) -> Rec {
        Rec { key: self.key(), profile, seq: self.seq() }
    }
}

pub fn decode_bucket(bytes: &[u8]) -> Vec<Rec> {
    bytes.chunks_exact(RECORD).map(Rec::decode).collect()
}

pub fn encode_bucket(recs: &[Rec]) -> Vec<u8> {
    let mut out = Vec::with_capacity(recs.len() * RECORD);
    for r in recs {
        r.encode(&mut out);
    }
    out
}

/// The records with `key` in an encoded, sorted bucket, found by binary search without decoding it.
pub fn bucket_hits(bytes: &[u8], key: u64) -> Vec<Rec> {
    let n = bytes.len() / RECORD;
    let key_at = |i: usize| u64::from_be_bytes(bytes[i * RECORD..i * RECORD + 8].try_into().expect("8 bytes"));
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if key_at(mid) < key { lo = mid + 1 } else { hi = mid }
    }
    (lo..n).take_while(|&i| key_at(i) == key).map(|i| Rec::decode(&bytes[i * RECORD..(i + 1) * RECORD])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_search_finds_every_record_with_the_key() {
        let mut recs: Vec<Rec> =
            (0..500u64).map(|i| Rec { key: i * 7 % 300, profile: (i % 3) as u32, seq: i as u32 }).collect();
        recs.sort();
        let bytes = encode_bucket(&recs);
        assert_eq!(decode_bucket(&bytes), recs);
        for key in 0..310u64 {
            let want: Vec<Rec> = recs.iter().copied().filter(|r| r.key == key).collect();
            assert_eq!(bucket_hits(&bytes, key), want, "key {key}");
        }
        assert!(bucket_hits(&[], 5).is_empty());
    }

    #[test]
    fn new_records_sort_by_key_then_seq() {
        let mut v = [NewRec::new(5, 2), NewRec::new(u64::MAX, 0), NewRec::new(5, 1), NewRec::new(256, 9)];
        v.sort();
        let got: Vec<(u64, u32)> = v.iter().map(|r| (r.key(), r.seq())).collect();
        assert_eq!(got, [(5, 1), (5, 2), (256, 9), (u64::MAX, 0)]);
        assert_eq!(std::mem::size_of::<NewRec>(), 12);
        assert_eq!(v[0].with_profile(3), Rec { key: 5, profile: 3, seq: 1 });
    }

    #[test]
    fn serial_hash_ignores_case_and_is_stable() {
        assert_eq!(serial_hash("r58m12abc"), serial_hash(" R58M12ABC "));
        // Pinned: the stored index depends on this value never changing.
        assert_eq!(serial_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(serial_hash("a"), 0xaf63_fc4c_8602_22ec, "FNV-1a of \"A\"");
        for s in ["r58m12abc", " x-1 ", "ßtraße", "日本"] {
            let key = crate::domain::serial_key(s, "m");
            let upper = key.split('\u{1f}').next().unwrap();
            assert_eq!(upper_serial_hash(upper), serial_hash(s), "{s:?}");
        }
    }

    #[test]
    fn a_stream_of_records_is_cut_like_a_whole_bucket() {
        let recs: Vec<Rec> = (0..5000u64).map(|i| Rec { key: 100 + i / 3, profile: 1, seq: i as u32 }).collect();
        let mut pieces = Pieces::new(7, 1536, 1152);
        let mut out: Vec<(u64, Vec<Rec>)> = recs.iter().filter_map(|r| pieces.push(*r)).collect();
        out.extend(pieces.finish());
        assert_eq!(out[0].0, 7, "the first keeps the bucket's name");
        assert!(
            out.iter().all(|(_, p)| !p.is_empty() && p.len() <= 1536),
            "{:?}",
            out.iter().map(|p| p.1.len()).collect::<Vec<_>>()
        );
        assert!(out.windows(2).all(|w| w[0].1.last().unwrap().key < w[1].1[0].key), "never between equal keys");
        assert!(out.iter().skip(1).all(|(s, p)| *s == p[0].key));
        assert_eq!(out.iter().map(|p| p.1.len()).sum::<usize>(), 5000);
        let mut small = Pieces::new(7, 1536, 1152);
        assert!(recs[..1536].iter().all(|r| small.push(*r).is_none()), "up to max: one bucket");
        assert_eq!(small.finish().map(|(s, p)| (s, p.len())), Some((7, 1536)));
    }

    #[test]
    fn buckets_split_between_keys_and_are_found_by_their_start() {
        let rec = |key: u64, seq: u32| Rec { key, profile: 1, seq };
        let mut recs: Vec<Rec> = (0..10u64).map(|k| rec(k * 10, k as u32)).collect();
        recs.insert(5, rec(40, 99)); // two records of key 40 must stay together
        recs.sort();
        assert_eq!(split(0, recs.clone(), 20, 4).len(), 1, "small enough: one bucket");
        let pieces = split(0, recs, 8, 4);
        let starts: Vec<u64> = pieces.iter().map(|(s, _)| *s).collect();
        assert_eq!(starts, [0, 40, 70]);
        assert_eq!(pieces[1].1.iter().map(|r| r.key).collect::<Vec<_>>(), [40, 40, 50, 60]);
        assert!(pieces.iter().all(|(s, p)| p.iter().all(|r| r.key >= *s)));
        assert_eq!((covering(&starts, 39), covering(&starts, 40), covering(&starts, u64::MAX)), (0, 40, 70));
        assert_eq!(covering(&[], 7), 0);
        assert_eq!(decode_dir(&encode_dir(&starts)), starts);
    }
}
