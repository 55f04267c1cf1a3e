//! The devices of an open profile, held compactly: a profile of 1,000,000 devices open in the workstation
//! takes about 100 bytes a device instead of the 500 of decoded `Device`s (strings, vectors and their
//! allocations).
//!
//! Each device is a fixed row (sequence number, IMEI, times, status) and its text (serial number,
//! manufacturer, attribute values, the source file) packed in one shared byte arena, lengths as varints,
//! attribute and file names interned once. A device is decoded only when it is drawn or acted on; the
//! filter reads the arena in place, case-insensitively, without decoding or allocating.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::domain::{Device, DeviceSeq, Identifiers, Imei, Source, Status};

/// What the filter reads of a device, kept apart from the rest so that a filter over a million devices
/// walks 12 bytes a device plus its text (memory, not comparisons, is what such a pass costs).
#[derive(Clone, Copy, Debug)]
struct Hot {
    /// Where its text starts in the arena, and how long it is.
    text: u32,
    len: u32,
    /// 0 pending, 1 registered, 2 kitted.
    status: u8,
    /// Its values are all ASCII (the filter's fast path).
    ascii: bool,
    /// Every byte of its text that is not a value's (lengths, counts, names' numbers) is below 0x20, so
    /// text typed in a filter found in it lies inside one value.
    plain: bool,
}

#[derive(Clone, Copy, Debug)]
struct Row {
    /// The IMEI, or 0 (no IMEI is 0: it has 15 digits); a dual-SIM device's second one, or 0.
    imei: u64,
    imei2: u64,
    created: i64,
    modified: i64,
    /// When it was registered or kitted (nanoseconds), by `Hot::status`.
    status_at: i64,
    /// The line of its file (`file` names it: the name's number + 1, 0 when added by hand).
    line: u64,
    file: u32,
    seq: DeviceSeq,
}

/// The devices of one profile in sequence order.
#[derive(Debug, Default)]
pub struct DeviceTable {
    rows: Vec<Row>,
    /// `hot[i]` goes with `rows[i]`.
    hot: Vec<Hot>,
    text: Vec<u8>,
    /// Bytes of the arena no row points at any more (edited or deleted devices).
    dead: usize,
    /// The rows' texts lie in the arena in row order (rows read in order; an edit or an insert appends its
    /// text out of order until the arena is rewritten): then one search of the arena serves every row.
    disordered: bool,
    names: Vec<Arc<str>>,
    index: HashMap<Arc<str>, u32>,
    /// Changes whenever the devices do, never the same for two tables (see `version`).
    version: u64,
}

/// Versions for every table of the process: a view made from one table is never taken for another's.
static VERSIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_version() -> u64 {
    VERSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

#[inline]
fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

#[inline]
fn varint(b: &[u8], at: &mut usize) -> u64 {
    let mut n = 0u64;
    let mut shift = 0;
    loop {
        let byte = b[*at];
        *at += 1;
        n |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return n;
        }
        shift += 7;
    }
}

fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn time(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(n)
}

/// The fields of one row's text, in place.
struct Text<'a> {
    serial: Option<&'a str>,
    manufacturer: Option<&'a str>,
    attributes: Vec<(u32, &'a str)>,
}

fn str_at<'a>(b: &'a [u8], at: &mut usize) -> Option<&'a str> {
    let n = varint(b, at) as usize;
    if n == 0 {
        return None;
    }
    let s = &b[*at..*at + n - 1];
    *at += n - 1;
    // Written from `&str` by `encode`: always UTF-8.
    Some(std::str::from_utf8(s).unwrap_or_default())
}

fn decode(b: &[u8]) -> Text<'_> {
    let mut at = 0;
    let serial = str_at(b, &mut at);
    let manufacturer = str_at(b, &mut at);
    let count = varint(b, &mut at) as usize;
    let mut attributes = Vec::with_capacity(count);
    for _ in 0..count {
        let name = varint(b, &mut at) as u32;
        attributes.push((name, str_at(b, &mut at).unwrap_or_default()));
    }
    Text { serial, manufacturer, attributes }
}

/// Is `needle` (lower-cased ASCII) in `hay`, ignoring ASCII case?
#[inline]
fn has_ascii(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else { return true };
    if hay.len() < needle.len() {
        return false;
    }
    let last = hay.len() - needle.len();
    let upper = first.to_ascii_uppercase();
    if hay.len() >= 64 {
        return has_ascii_long(hay, needle);
    }
    // Most values are short: a plain loop beats setting up a vector search.
    (0..=last)
        .any(|at| (hay[at] == first || hay[at] == upper) && hay[at + 1..at + needle.len()].eq_ignore_ascii_case(rest))
}

/// The 15 digits of an IMEI (leading zeros included, as it is shown).
#[inline]
fn imei_digits(n: u64) -> [u8; 15] {
    const PAIRS: &[u8; 200] = b"00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";
    // Two halves in 32-bit arithmetic (a filter formats every IMEI of a profile on each key).
    let pair = |out: &mut [u8], v: u32| out.copy_from_slice(&PAIRS[v as usize * 2..v as usize * 2 + 2]);
    let four = |out: &mut [u8], v: u32| {
        pair(&mut out[..2], v / 100);
        pair(&mut out[2..], v % 100);
    };
    let (hi, lo) = ((n / 100_000_000) as u32, (n % 100_000_000) as u32);
    let mut out = [b'0'; 15];
    four(&mut out[7..11], lo / 10_000);
    four(&mut out[11..15], lo % 10_000);
    four(&mut out[3..7], hi % 10_000);
    let top = hi / 10_000 % 1000;
    out[0] = b'0' + (top / 100) as u8;
    pair(&mut out[1..3], top % 100);
    out
}

/// A digits needle as a window of an IMEI's 15 digits: the needle's bytes and a mask, little-endian.
#[derive(Clone, Copy, Debug)]
struct DigitWindow {
    value: u128,
    mask: u128,
    len: usize,
}

impl DigitWindow {
    fn new(digits: &[u8]) -> Option<DigitWindow> {
        if digits.is_empty() || digits.len() > 15 {
            return None;
        }
        let mut bytes = [0u8; 16];
        bytes[..digits.len()].copy_from_slice(digits);
        let mask = (1u128 << (8 * digits.len())) - 1;
        Some(DigitWindow { value: u128::from_le_bytes(bytes), mask, len: digits.len() })
    }

    /// Whether the IMEI's digits hold the needle: each window compared at once, without a loop over bytes.
    #[inline]
    fn in_imei(&self, imei: u64) -> bool {
        let mut bytes = [0u8; 16];
        bytes[..15].copy_from_slice(&imei_digits(imei));
        let h = u128::from_le_bytes(bytes);
        (0..=15 - self.len).any(|at| (h >> (8 * at)) & self.mask == self.value)
    }
}

/// What a filter looks for, prepared once for every row.
pub struct Needle {
    lower: String,
    ascii: bool,
    /// Which of the status labels (`STATUS`) it is in.
    statuses: [bool; 3],
    /// No control characters (which a value's text never has and a length byte may be).
    printable: bool,
    /// The search of a whole arena, for printable ASCII text.
    searcher: Option<Searcher>,
    /// For digits: the window an IMEI must hold.
    imei: Option<DigitWindow>,
}

impl Needle {
    pub fn new(text: &str) -> Needle {
        let lower = text.to_lowercase();
        let statuses = STATUS.map(|label| label.contains(&lower));
        let printable = !lower.chars().any(char::is_control);
        let digits = !lower.is_empty() && lower.bytes().all(|b| b.is_ascii_digit());
        Needle {
            ascii: lower.is_ascii(),
            statuses,
            printable,
            searcher: if printable { Searcher::new(&lower) } else { None },
            imei: if digits { DigitWindow::new(lower.as_bytes()) } else { None },
            lower,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lower.is_empty()
    }

    pub fn text(&self) -> &str {
        &self.lower
    }

    fn in_str(&self, s: &str) -> bool {
        if self.ascii && s.is_ascii() {
            has_ascii(s.as_bytes(), self.lower.as_bytes())
        } else {
            s.to_lowercase().contains(&self.lower)
        }
    }
}

const STATUS: [&str; 3] = ["pending", "registered", "kitted"];

impl DeviceTable {
    pub fn new() -> DeviceTable {
        DeviceTable { version: next_version(), ..DeviceTable::default() }
    }

    /// Which devices these are: a filter result is reused (narrowed) only for the same version.
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn name(&mut self, name: &Arc<str>) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.clone());
        self.index.insert(name.clone(), i);
        i
    }

    fn encode(&mut self, d: &Device) -> (Row, Hot) {
        let start = self.text.len();
        let mut out = std::mem::take(&mut self.text);
        let put_str = |out: &mut Vec<u8>, s: Option<&str>| match s {
            None => put_varint(out, 0),
            Some(s) => {
                put_varint(out, s.len() as u64 + 1);
                out.extend_from_slice(s.as_bytes());
            }
        };
        put_str(&mut out, d.ids.serial.as_deref());
        put_str(&mut out, d.ids.manufacturer.as_deref());
        put_varint(&mut out, d.attributes.len() as u64);
        for (name, value) in &d.attributes {
            let n = self.name(name);
            put_varint(&mut out, u64::from(n));
            put_str(&mut out, Some(value));
        }
        let (file, line) = match &d.source {
            Source::Manual => (0, 0),
            Source::File { name, line } => (self.name(name) + 1, *line),
        };
        let ascii = d.ids.serial.as_deref().is_none_or(str::is_ascii)
            && d.ids.manufacturer.as_deref().is_none_or(str::is_ascii)
            && d.attributes.iter().all(|(_, v)| v.is_ascii());
        let len = (out.len() - start) as u32;
        // The lengths, the count and the names' numbers are one varint byte each, equal to the number,
        // when below 0x20.
        let short = |s: Option<&str>| s.is_none_or(|s| s.len() + 1 < 0x20);
        let plain = short(d.ids.serial.as_deref())
            && short(d.ids.manufacturer.as_deref())
            && d.attributes.len() < 0x20
            && d.attributes.iter().all(|(name, v)| self.index.get(name).is_some_and(|&n| n < 0x20) && short(Some(v)));
        self.text = out;
        let (status, status_at) = match d.status {
            Status::Pending => (0, 0),
            Status::Registered(t) => (1, nanos(t)),
            Status::Kitted(t) => (2, nanos(t)),
        };
        let row = Row {
            imei: d.ids.imei.map_or(0, Imei::as_u64),
            imei2: d.ids.imei2.map_or(0, Imei::as_u64),
            created: nanos(d.created),
            modified: nanos(d.modified),
            status_at,
            line,
            file,
            seq: d.seq,
        };
        (row, Hot { text: start as u32, len, status, ascii, plain })
    }

    /// Appends a device after the last one (devices are read in sequence order).
    pub fn push(&mut self, d: &Device) {
        debug_assert!(self.rows.last().is_none_or(|r| r.seq < d.seq), "in sequence order");
        let (row, hot) = self.encode(d);
        self.rows.push(row);
        self.hot.push(hot);
        self.version = next_version();
    }

    fn bytes(&self, hot: &Hot) -> &[u8] {
        &self.text[hot.text as usize..(hot.text + hot.len) as usize]
    }

    /// The device in row `i`, decoded.
    pub fn get(&self, i: usize) -> Option<Device> {
        let (row, hot) = (self.rows.get(i)?, self.hot.get(i)?);
        let t = decode(self.bytes(hot));
        Some(Device {
            seq: row.seq,
            ids: Identifiers {
                imei: (row.imei != 0).then(|| Imei::from_stored(row.imei)),
                imei2: (row.imei2 != 0).then(|| Imei::from_stored(row.imei2)),
                serial: t.serial.map(str::to_string),
                manufacturer: t.manufacturer.map(str::to_string),
            },
            attributes: t.attributes.iter().map(|&(n, v)| (self.names[n as usize].clone(), v.to_string())).collect(),
            status: match hot.status {
                1 => Status::Registered(time(row.status_at)),
                2 => Status::Kitted(time(row.status_at)),
                _ => Status::Pending,
            },
            source: match row.file {
                0 => Source::Manual,
                n => Source::File { name: self.names[n as usize - 1].clone(), line: row.line },
            },
            created: time(row.created),
            modified: time(row.modified),
        })
    }

    pub fn seq(&self, i: usize) -> Option<DeviceSeq> {
        self.rows.get(i).map(|r| r.seq)
    }

    pub fn last(&self) -> Option<Device> {
        self.get(self.rows.len().checked_sub(1)?)
    }

    /// Every device, decoded, in order.
    pub fn iter(&self) -> impl Iterator<Item = Device> + '_ {
        (0..self.rows.len()).filter_map(|i| self.get(i))
    }

    /// The row of a sequence number, or where it would go.
    pub fn position(&self, seq: DeviceSeq) -> Result<usize, usize> {
        self.rows.binary_search_by_key(&seq, |r| r.seq)
    }

    /// A device added or edited: replaced in place, or inserted at its sequence number.
    pub fn put(&mut self, d: &Device) {
        let (row, hot) = self.encode(d);
        let at = match self.position(d.seq) {
            Ok(i) => {
                self.dead += self.hot[i].len as usize;
                self.rows[i] = row;
                self.hot[i] = hot;
                i
            }
            Err(i) => {
                self.rows.insert(i, row);
                self.hot.insert(i, hot);
                i
            }
        };
        // Its text went to the arena's end: in order only when it is the last row.
        self.disordered |= at + 1 != self.rows.len();
        self.version = next_version();
        self.compact_if_wasteful();
    }

    pub fn remove(&mut self, gone: &HashSet<DeviceSeq>) {
        let keep: Vec<bool> = self.rows.iter().map(|r| !gone.contains(&r.seq)).collect();
        let mut dead = 0;
        let mut k = keep.iter();
        self.hot.retain(|h| {
            let kept = *k.next().unwrap_or(&true);
            if !kept {
                dead += h.len as usize;
            }
            kept
        });
        let mut k = keep.iter();
        self.rows.retain(|_| *k.next().unwrap_or(&true));
        self.dead += dead;
        self.version = next_version();
        self.compact_if_wasteful();
    }

    /// Rewrites the arena when more than half of it is text no row uses.
    fn compact_if_wasteful(&mut self) {
        if self.dead * 2 <= self.text.len() || self.text.len() < 1 << 16 {
            return;
        }
        let mut text = Vec::with_capacity(self.text.len() - self.dead);
        for hot in &mut self.hot {
            let start = text.len() as u32;
            text.extend_from_slice(&self.text[hot.text as usize..(hot.text + hot.len) as usize]);
            hot.text = start;
        }
        self.text = text;
        self.dead = 0;
        self.disordered = false;
    }

    /// Does the device in row `i` match the filter by what is not in its text: its IMEI (for digits) or
    /// its status?
    fn quick(&self, i: usize, needle: &Needle) -> bool {
        let (Some(hot), Some(row)) = (self.hot.get(i), self.rows.get(i)) else { return false };
        needle.imei.is_some_and(|w| (row.imei != 0 && w.in_imei(row.imei)) || (row.imei2 != 0 && w.in_imei(row.imei2)))
            || needle.statuses[usize::from(hot.status).min(2)]
    }

    /// Does the device in row `i` match the filter: its IMEI (for digits), serial number, manufacturer,
    /// an attribute value or its status, case-insensitively?
    pub fn matches(&self, i: usize, needle: &Needle) -> bool {
        let Some(hot) = self.hot.get(i) else { return false };
        if needle.is_empty() || self.quick(i, needle) {
            return true;
        }
        let bytes = self.bytes(hot);
        if needle.ascii && hot.ascii && hot.plain && needle.printable {
            // Nothing but values can hold what was typed: one search of the whole text.
            has_ascii_long(bytes, needle.lower.as_bytes())
        } else if needle.ascii && hot.ascii {
            any_value(bytes, |v| has_ascii(v, needle.lower.as_bytes()))
        } else {
            any_value(bytes, |v| needle.in_str(std::str::from_utf8(v).unwrap_or_default()))
        }
    }
}

/// `has_ascii` for a whole row's text: the first byte found with a vector search.
#[inline]
fn has_ascii_long(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else { return true };
    if hay.len() < needle.len() {
        return false;
    }
    let last = hay.len() - needle.len();
    let upper = first.to_ascii_uppercase();
    let mut from = 0;
    while from <= last {
        let Some(i) = memchr::memchr2(first, upper, &hay[from..=last]) else { return false };
        let at = from + i;
        if hay[at + 1..at + needle.len()].eq_ignore_ascii_case(rest) {
            return true;
        }
        from = at + 1;
    }
    false
}

/// Calls `f` on the serial number, the manufacturer and each attribute value of a row's text, in place,
/// until it says yes.
#[inline]
fn any_value(b: &[u8], mut f: impl FnMut(&[u8]) -> bool) -> bool {
    let mut at = 0;
    let value = |at: &mut usize| -> Option<&[u8]> {
        let n = varint(b, at) as usize;
        let s = (n > 0).then(|| &b[*at..*at + n - 1]);
        *at += n.saturating_sub(1);
        s
    };
    for _ in 0..2 {
        if value(&mut at).is_some_and(&mut f) {
            return true;
        }
    }
    let count = varint(b, &mut at);
    for _ in 0..count {
        varint(b, &mut at);
        if value(&mut at).is_some_and(&mut f) {
            return true;
        }
    }
    false
}

impl DeviceTable {
    /// The rows that match, in order: among `among` (a narrower filter than the last one), or all rows.
    /// A large table is split between the machine's cores.
    pub fn filter(&self, among: Option<&[u32]>, needle: &Needle) -> Vec<u32> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
        let n = among.map_or(self.rows.len(), <[u32]>::len);
        let parts = if n < PARALLEL_FROM { 1 } else { threads };
        let size = n.div_ceil(parts.max(1)).max(1);
        // Many candidates among many rows: one search of each part's stretch of the arena.
        // (A short needle is everywhere: its many matches cost more than a search of each row.)
        let whole =
            !self.disordered && n >= WHOLE_FROM && needle.lower.len() >= WHOLE_NEEDLE && needle.searcher.is_some();
        // Part `k` of the candidates: a slice of `among`, or a range of all rows.
        let keep = |k: usize| -> Vec<u32> {
            let (from, to) = (k * size, ((k + 1) * size).min(n));
            if whole {
                return match among {
                    Some(rows) => self.scan(rows[from..to].iter().copied(), needle),
                    None => self.scan(from as u32..to as u32, needle),
                };
            }
            let mut out = Vec::with_capacity(to.saturating_sub(from));
            match among {
                Some(rows) => out.extend(rows[from..to].iter().copied().filter(|&i| self.matches(i as usize, needle))),
                None => out.extend((from as u32..to as u32).filter(|&i| self.matches(i as usize, needle))),
            }
            out
        };
        if parts == 1 {
            return keep(0);
        }
        let found: Vec<Vec<u32>> = std::thread::scope(|scope| {
            let keep = &keep;
            let handles: Vec<_> = (0..parts).map(|k| scope.spawn(move || keep(k))).collect();
            handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
        });
        found.concat()
    }

    /// The candidates (ascending rows, their texts in arena order) that match: the stretch of the arena
    /// they cover is searched once, and each row keeps the matches that lie inside one of its values.
    fn scan(&self, candidates: impl Iterator<Item = u32> + Clone, needle: &Needle) -> Vec<u32> {
        let Some(searcher) = &needle.searcher else { return Vec::new() };
        let mut first = candidates.clone();
        let Some(start) = first.next().map(|i| self.hot[i as usize].text as usize) else { return Vec::new() };
        let end = candidates.clone().last().map_or(start, |i| {
            let h = &self.hot[i as usize];
            (h.text + h.len) as usize
        });
        let stretch = &self.text[start..end.max(start)];
        let mut hits = searcher.find_iter(stretch).map(|at| start + at).peekable();
        let width = needle.lower.len();
        let mut out = Vec::new();
        for i in candidates {
            let hot = &self.hot[i as usize];
            let (from, to) = (hot.text as usize, (hot.text + hot.len) as usize);
            while hits.next_if(|&h| h < from).is_some() {}
            let found = if hot.ascii && hot.plain {
                hits.peek().is_some_and(|&h| h + width <= to) || self.quick(i as usize, needle)
            } else {
                self.matches(i as usize, needle)
            };
            if found {
                out.push(i);
            }
        }
        out
    }
}

/// Candidates from which a filter searches the arena once instead of each row's text, and the shortest
/// needle it does it for.
const WHOLE_FROM: usize = 20_000;
const WHOLE_NEEDLE: usize = 4;

/// A search of the arena for a needle: exact for text without letters, else ASCII case-insensitive.
pub(crate) enum Searcher {
    Exact(Box<memchr::memmem::Finder<'static>>),
    Folded(aho_corasick::AhoCorasick),
}

impl Searcher {
    fn new(lower: &str) -> Option<Searcher> {
        if lower.is_empty() || !lower.is_ascii() {
            return None;
        }
        if !lower.bytes().any(|b| b.is_ascii_alphabetic()) {
            return Some(Searcher::Exact(Box::new(memchr::memmem::Finder::new(lower.as_bytes()).into_owned())));
        }
        aho_corasick::AhoCorasick::builder().ascii_case_insensitive(true).build([lower]).ok().map(Searcher::Folded)
    }

    /// Where the needle starts in `hay`, each time (overlapping matches too, for the exact search).
    fn find_iter<'h>(&'h self, hay: &'h [u8]) -> Box<dyn Iterator<Item = usize> + 'h> {
        match self {
            Searcher::Exact(f) => Box::new(f.find_iter(hay)),
            Searcher::Folded(a) => Box::new(a.find_iter(hay).map(|m| m.start())),
        }
    }
}

/// Rows from which a filter is split between cores (below, a thread costs more than it saves).
const PARALLEL_FROM: usize = 50_000;

impl FromIterator<Device> for DeviceTable {
    fn from_iter<I: IntoIterator<Item = Device>>(devices: I) -> DeviceTable {
        let mut t = DeviceTable::new();
        for d in devices {
            t.push(&d);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(seq: DeviceSeq, serial: Option<&str>, attrs: &[(&str, &str)], status: Status, source: Source) -> Device {
        let t = DateTime::from_timestamp(1_700_000_000 + i64::from(seq), 123_456_789).unwrap();
        Device {
            seq,
            ids: Identifiers {
                imei: seq.is_multiple_of(2).then(|| Imei::parse("490154203237518").unwrap()),
                imei2: (seq == 0).then(|| Imei::parse("356938035643809").unwrap()),
                serial: serial.map(str::to_string),
                manufacturer: serial.map(|_| "Zebra".to_string()),
            },
            attributes: attrs.iter().map(|(n, v)| (Arc::from(*n), v.to_string())).collect(),
            status,
            source,
            created: t,
            modified: t + chrono::Duration::nanoseconds(7),
        }
    }

    fn sample() -> Vec<Device> {
        let t = DateTime::from_timestamp(1_750_000_000, 5).unwrap();
        let file: Arc<str> = Arc::from("dock 7.csv");
        vec![
            device(0, None, &[("Asset Tag", "A-001")], Status::Pending, Source::File { name: file.clone(), line: 2 }),
            device(1, Some("SN-ZEBRA-7"), &[], Status::Registered(t), Source::Manual),
            device(3, Some("Ünïcode-Ω"), &[("Asset Tag", "B-ÄÖ"), ("Dept", "")], Status::Kitted(t), Source::Manual),
            device(
                8,
                Some(&"x".repeat(300)),
                &[("Dept", &"y".repeat(70_000))],
                Status::Pending,
                Source::File { name: file, line: 1 << 40 },
            ),
        ]
    }

    #[test]
    fn an_imei_is_searched_as_its_15_digits_leading_zeros_too() {
        assert_eq!(&imei_digits(490_154_203_237_518), b"490154203237518");
        assert_eq!(&imei_digits(12), b"000000000000012");
        assert_eq!(&imei_digits(999_999_999_999_999), b"999999999999999");
        let w = |d: &str| DigitWindow::new(d.as_bytes()).unwrap();
        assert!(w("4901").in_imei(490_154_203_237_518) && w("7518").in_imei(490_154_203_237_518));
        assert!(w("490154203237518").in_imei(490_154_203_237_518));
        assert!(!w("4902").in_imei(490_154_203_237_518));
        assert!(w("0000000000000").in_imei(12) && w("012").in_imei(12) && !w("0121").in_imei(12));
        assert!(DigitWindow::new(b"1234567890123456").is_none(), "longer than an IMEI");
    }

    /// The one search of the arena finds what a search of each row finds: plain and long values,
    /// non-ASCII text, edited rows (texts out of order), deleted rows (dead text), a narrowed filter.
    #[test]
    fn searching_the_whole_arena_finds_what_each_row_finds() {
        let t = DateTime::from_timestamp(1_750_000_000, 5).unwrap();
        let mut table = DeviceTable::new();
        for seq in 0..3 * WHOLE_FROM as DeviceSeq {
            let serial = match seq % 7 {
                0 => format!("SN-{seq:06}"),
                1 => format!("ünï-{seq}"),
                2 => format!("{}-{seq}", "L".repeat(40)),
                _ => format!("sn{seq}"),
            };
            let dept = format!("Dept {} A-00{}", seq % 13, seq % 101);
            let status = if seq % 5 == 0 { Status::Kitted(t) } else { Status::Pending };
            table.push(&device(seq, Some(&serial), &[("Dept", &dept)], status, Source::Manual));
        }
        let needles = ["a-001", "sn-0001", "ünï-1", "llll-12", "dept 12 a", "0012", "kitted", "4903", "zzzz"];
        let each = |table: &DeviceTable, needle: &Needle, among: Option<&[u32]>| -> Vec<u32> {
            match among {
                Some(rows) => rows.iter().copied().filter(|&i| table.matches(i as usize, needle)).collect(),
                None => (0..table.len() as u32).filter(|&i| table.matches(i as usize, needle)).collect(),
            }
        };
        let check = |table: &DeviceTable, what: &str| {
            for text in needles {
                let needle = Needle::new(text);
                let all = table.filter(None, &needle);
                assert_eq!(all, each(table, &needle, None), "{text:?} {what}");
                let wider = Needle::new(&text[..text.len() - 1]);
                let among = table.filter(None, &wider);
                assert_eq!(table.filter(Some(&among), &needle), all, "{text:?} narrowed, {what}");
            }
        };
        assert!(!table.disordered);
        check(&table, "in order");
        table.remove(&(0..3000).step_by(3).collect());
        check(&table, "with dead text");
        table.put(&device(10, Some("SN-EDITED-A-001"), &[], Status::Pending, Source::Manual));
        assert!(table.disordered);
        check(&table, "out of order");
    }

    #[test]
    fn every_field_of_every_device_comes_back_exactly() {
        let devices = sample();
        let table: DeviceTable = devices.clone().into_iter().collect();
        assert_eq!(table.len(), 4);
        assert_eq!(table.iter().collect::<Vec<_>>(), devices);
        assert_eq!(table.last(), devices.last().cloned());
        assert_eq!(table.position(3), Ok(2));
        assert_eq!(table.position(5), Err(3));
    }

    #[test]
    fn put_replaces_or_inserts_and_remove_drops_by_sequence_number() {
        let mut devices = sample();
        let mut table: DeviceTable = devices.clone().into_iter().collect();
        let other: DeviceTable = devices.clone().into_iter().collect();
        assert_ne!(table.version(), other.version(), "two tables never share a version");
        let before = table.version();
        let mut edited = devices[1].clone();
        edited.ids.serial = Some("SN-NEW".into());
        edited.attributes.push((Arc::from("New"), "v".into()));
        table.put(&edited);
        assert_ne!(table.version(), before, "an edit is a new version (a filter result is not narrowed)");
        devices[1] = edited;
        let added = device(2, Some("SN-2"), &[], Status::Pending, Source::Manual);
        table.put(&added);
        devices.insert(2, added);
        assert_eq!(table.iter().collect::<Vec<_>>(), devices);
        table.remove(&[0, 8].into_iter().collect());
        devices.retain(|d| d.seq != 0 && d.seq != 8);
        assert_eq!(table.iter().collect::<Vec<_>>(), devices);
        // The 70,000-byte value is garbage now: the arena was rewritten, and nothing was lost.
        assert!(table.text.len() < 1000, "{}", table.text.len());
    }

    #[test]
    fn the_filter_finds_what_the_decoded_devices_hold_and_nothing_else() {
        let devices = sample();
        let table: DeviceTable = devices.clone().into_iter().collect();
        let matching = |needle: &str| -> Vec<DeviceSeq> {
            let n = Needle::new(needle);
            (0..table.len()).filter(|&i| table.matches(i, &n)).map(|i| table.seq(i).unwrap()).collect()
        };
        assert_eq!(matching(""), vec![0, 1, 3, 8]);
        assert_eq!(matching("a-001"), vec![0]);
        assert_eq!(matching("zebra-7"), vec![1]);
        assert_eq!(matching("ZEBRA"), vec![1, 3, 8], "the manufacturer");
        assert_eq!(matching("ünï"), vec![3], "non-ASCII, case-insensitively");
        assert_eq!(matching("b-äö"), vec![3]);
        assert_eq!(matching("kitted"), vec![3]);
        assert_eq!(matching("registered"), vec![1]);
        assert_eq!(matching("490154"), vec![0, 8], "the IMEI, for digits");
        assert_eq!(matching("37518"), vec![0, 8]);
        assert_eq!(matching("35693803"), vec![0], "a dual-SIM device's second IMEI");
        assert_eq!(matching("dock"), Vec::<DeviceSeq>::new(), "the source file is not a column");
        assert_eq!(matching("asset"), Vec::<DeviceSeq>::new(), "attribute names are not values");
        assert_eq!(matching("yyyy"), vec![8]);
        assert_eq!(&imei_digits(12_345_678_901_234), b"012345678901234", "leading zeros are digits too");
        // A 64-character value's length byte is 'A' (65): text around it is not one value's.
        let long: DeviceTable = [device(0, Some(&"B".repeat(64)), &[("Tag", "xyz")], Status::Pending, Source::Manual)]
            .into_iter()
            .collect();
        let has = |needle: &str| long.matches(0, &Needle::new(needle));
        assert!(!has("ab"), "the length byte and the serial are not one value");
        assert!(has("bbb") && has("xyz") && has("zebra"));
        assert!(!has("bzebra"), "two values are never joined");
        assert_eq!(&imei_digits(490_154_203_237_518), b"490154203237518");
    }
}
