//! The physical layout of the database: one sled tree, keys by prefix, every committed change one
//! atomic batch (sled recovers a batch whole or not at all).
//!
//! | key                               | value                                              |
//! |-----------------------------------|----------------------------------------------------|
//! | `m` + name                        | meta: `schema` (u32), `next_profile` (u32)         |
//! | `p` + profile id (u32 BE)         | `ProfileRecord` (the profile and its next device sequence number) |
//! | `n` + lower-cased profile name    | profile id: the unique-name index                  |
//! | `d` + profile id + chunk (u32 BE) | up to `CHUNK` devices, seq / CHUNK = chunk          |
//! | `i` + first index key (u64 BE)    | IMEI index bucket: sorted records, delta-encoded   |
//! | `s` + first index key (u64 BE)    | serial index bucket: sorted records, delta-encoded |
//! | `mdir_i`, `mdir_s`                | each index's directory: the first keys of its buckets |
//! | `U` + a lower-cased username      | users from that username on, in a chunk (`shelf.rs`; schema 9) |
//! | `j` + profile id                  | journal: an import is staging chunks from this chunk on |
//! | `a` + entry id (u64 BE)           | an audit entry (append-only)                       |
//!
//! Index records are `(key u64, profile u32, seq u32)`, sorted, each stored as its differences from the
//! record before it (`encode_bucket`): 3 bytes for a carton of consecutive IMEIs, about 11 for serial
//! hashes, instead of 16 (schemas 4 and 5). A lookup reads one bucket up to the key. The key is the IMEI itself, or a 64-bit FNV-1a hash of the
//! upper-cased serial (every serial hit is confirmed on the device record, which also compares the
//! manufacturer). Keys are not spread: a carton of consecutive IMEIs lands in neighbouring buckets, and an
//! import of such a file arrives in key order (its sort is almost free).
//!
//! Each index is split into buckets by key range. A bucket holds the keys from its first key (its name)
//! to the next bucket's; the index's directory lists the first keys. A bucket that grows past
//! `BUCKET_MAX` records splits in two, so a single change rewrites at most one chunk and one bucket per
//! index it touches, however large the database (at most about 11 KB each; schema 4 had 128 buckets per
//! index that grew with the database: 125 KB each at 1,000,000 devices). An import fills buckets to
//! `BUCKET_FILL`, leaving room to grow. sled pays per value written, which is why buckets are not smaller.

use serde::{Deserialize, Serialize};

use crate::domain::{DeviceSeq, Profile, ProfileId};

/// 3: users gained description and organizations; DEP device information, catalog and outbox keys.
/// 4: tokens keep their lifetime, profiles their version; the audit trail. 5: index buckets by key range.
/// 6: index buckets delta-encoded (`encode_bucket`). 7: a device may be kitted (a status older versions
/// cannot read; nothing stored changes). 8: a device may have a second IMEI (dual-SIM; a device record
/// older versions cannot read; nothing stored changes). 9: users and DEP device records in chunks by key
/// range (`shelf.rs`), not a key each. 10: the serial index holds every serial number, one kept without a
/// manufacturer too.
pub const SCHEMA_VERSION: u32 = 10;
pub const CHUNK: u32 = 1024;
/// Partitions of an import's new index records, by the top bits of the index key (so, in key order).
pub const SLOTS: usize = 128;
/// An index record's size in schemas 4 and 5 (fixed-size records); see `encode_bucket` for 6.
pub const RECORD: usize = 16;
/// A bucket with more records splits (at most about 3 KB of consecutive IMEIs, 11 KB of serial hashes).
/// With a chunk (about 16 KB compressed), a single change of kitting's own writes stays well under 64 KB.
/// What an import costs is the index's bytes more than its values: sled logs every leaf node it splits
/// whole, and keeps every log buffer of one batch until the batch ends, so with fixed 16-byte records
/// (schema 5) a 1,000,000-row import wrote 111 MB and peaked at 151 MiB; delta-encoded, 85 MiB. Larger
/// buckets cross sled's blob threshold (a node over a quarter of a segment becomes a file of its own).
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

/// A user's key before schema 9 (each user a key of its own), for the migration tests.
#[cfg(test)]
pub fn user_key(username: &str) -> Vec<u8> {
    let mut k = vec![b'u'];
    k.extend_from_slice(super::user_name_key(username).as_bytes());
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

/// A bucket of schemas 4 and 5: fixed 16-byte records (for the migrations only).
pub fn decode_fixed_bucket(bytes: &[u8]) -> Vec<Rec> {
    bytes.chunks_exact(RECORD).map(Rec::decode).collect()
}

pub fn encode_fixed_bucket(recs: &[Rec]) -> Vec<u8> {
    let mut out = Vec::with_capacity(recs.len() * RECORD);
    for r in recs {
        r.encode(&mut out);
    }
    out
}

/// A bucket (schema 6): its sorted records, each as three LEB128 varints, the differences from the record
/// before it (the first from zero): key (never negative), then profile and seq, zigzag-encoded. A carton of
/// consecutive IMEIs costs 3 bytes a record instead of 16; serial hashes, spread over 64 bits, about 11.
/// Fewer bytes are what makes a large import fast: sled writes each leaf node it splits whole, so an
/// import's index costs several times its size in the log.
pub fn encode_bucket(recs: &[Rec]) -> Vec<u8> {
    let mut out = Vec::with_capacity(recs.len() * 4);
    let mut prev = Rec { key: 0, profile: 0, seq: 0 };
    for r in recs {
        debug_assert!(*r >= prev, "bucket records are sorted");
        put_varint(&mut out, r.key - prev.key);
        put_varint(&mut out, zigzag(i64::from(r.profile) - i64::from(prev.profile)));
        put_varint(&mut out, zigzag(i64::from(r.seq) - i64::from(prev.seq)));
        prev = *r;
    }
    out
}

/// The records of a bucket, in order.
pub fn decode_bucket(bytes: &[u8]) -> Vec<Rec> {
    BucketRecs::new(bytes).collect()
}

/// The records with `key` in an encoded bucket: read up to the first greater key.
pub fn bucket_hits(bytes: &[u8], key: u64) -> Vec<Rec> {
    BucketRecs::new(bytes).skip_while(|r| r.key < key).take_while(|r| r.key == key).collect()
}

/// The number of records in an encoded bucket.
#[cfg(test)]
pub fn bucket_len(bytes: &[u8]) -> usize {
    BucketRecs::new(bytes).count()
}

struct BucketRecs<'a> {
    bytes: &'a [u8],
    pos: usize,
    prev: Rec,
}

impl<'a> BucketRecs<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        BucketRecs { bytes, pos: 0, prev: Rec { key: 0, profile: 0, seq: 0 } }
    }

    fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        while let Some(&b) = self.bytes.get(self.pos) {
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift.min(63);
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        v
    }
}

impl Iterator for BucketRecs<'_> {
    type Item = Rec;

    fn next(&mut self) -> Option<Rec> {
        if self.pos >= self.bytes.len() {
            return None;
        }
        let key = self.prev.key.wrapping_add(self.varint());
        let profile = (i64::from(self.prev.profile) + unzigzag(self.varint())) as u32;
        let seq = (i64::from(self.prev.seq) + unzigzag(self.varint())) as u32;
        self.prev = Rec { key, profile, seq };
        Some(self.prev)
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
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
        // Extremes: the greatest key, profiles and seqs that fall as well as rise.
        let edge = vec![
            Rec { key: 0, profile: u32::MAX, seq: u32::MAX },
            Rec { key: 1, profile: 0, seq: 0 },
            Rec { key: u64::MAX - 1, profile: 7, seq: 3 },
            Rec { key: u64::MAX, profile: 1, seq: u32::MAX },
            Rec { key: u64::MAX, profile: 2, seq: 0 },
        ];
        let bytes = encode_bucket(&edge);
        assert_eq!(decode_bucket(&bytes), edge);
        assert_eq!(bucket_hits(&bytes, u64::MAX), edge[3..]);
        assert_eq!(bucket_len(&bytes), 5);
        assert_eq!(decode_fixed_bucket(&encode_fixed_bucket(&edge)), edge);
        // Consecutive IMEIs of one profile: 3 bytes a record.
        let carton: Vec<Rec> =
            (0..1000u64).map(|i| Rec { key: 350_000_000_000_000 + i * 10, profile: 3, seq: i as u32 }).collect();
        assert!(encode_bucket(&carton).len() < 3 * 1000 + 16, "{}", encode_bucket(&carton).len());
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
