//! Reading CSV files as spreadsheets save them: UTF-8 with or without BOM, UTF-16 with BOM,
//! Shift_JIS/CP932 when the bytes are not UTF-8, CR, LF or CRLF line endings, comma, semicolon or tab.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use encoding_rs_io::DecodeReaderBytesBuilder;

/// A decoded, UTF-8 text stream over a CSV file.
pub struct Opened {
    pub reader: BufReader<Box<dyn Read + Send>>,
    pub encoding: &'static str,
    pub delimiter: u8,
    /// Bytes of the file read so far (for progress).
    pub bytes_read: Arc<AtomicU64>,
    pub total_bytes: u64,
}

/// Counts the bytes that pass through.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Turns a lone CR (old Mac line ending) into LF, so that line numbers count every line ending.
/// CRLF passes through unchanged.
pub struct LoneCr<R> {
    inner: R,
    pending_cr: bool,
    buf: Vec<u8>,
    pos: usize,
}

impl<R: Read> LoneCr<R> {
    pub fn new(inner: R) -> Self {
        LoneCr { inner, pending_cr: false, buf: Vec::new(), pos: 0 }
    }
}

impl<R: Read> Read for LoneCr<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.buf.len() {
            self.buf.resize(out.len().max(1), 0);
            let n = self.inner.read(&mut self.buf)?;
            self.buf.truncate(n);
            self.pos = 0;
            if n == 0 {
                if !self.pending_cr {
                    return Ok(0);
                }
                self.pending_cr = false;
                self.buf.push(b'\n');
                break;
            }
            if !self.pending_cr && !self.buf.contains(&b'\r') {
                break;
            }
            let raw = std::mem::take(&mut self.buf);
            for &b in &raw {
                if self.pending_cr {
                    self.pending_cr = false;
                    self.buf.extend_from_slice(if b == b'\n' { b"\r" } else { b"\n" });
                }
                if b == b'\r' {
                    self.pending_cr = true;
                } else {
                    self.buf.push(b);
                }
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Whether a file is valid UTF-8 throughout, read in pieces (the file is never held whole).
fn is_utf8(path: &Path) -> io::Result<bool> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut carry = 0usize;
    loop {
        let n = f.read(&mut buf[carry..])?;
        if n == 0 {
            return Ok(carry == 0);
        }
        let len = carry + n;
        match std::str::from_utf8(&buf[..len]) {
            Ok(_) => carry = 0,
            Err(e) if e.error_len().is_none() => {
                // An incomplete character at the end: keep it for the next read.
                let valid = e.valid_up_to();
                buf.copy_within(valid..len, 0);
                carry = len - valid;
            }
            Err(_) => return Ok(false),
        }
    }
}

/// Picks the delimiter that occurs most in the first line, outside quotes: comma, semicolon or tab.
pub fn sniff_delimiter(head: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in head {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = (0..3).max_by_key(|&i| (counts[i], std::cmp::Reverse(i))).unwrap_or(0);
    if counts[best] == 0 { b',' } else { [b',', b';', b'\t'][best] }
}

/// The file's bytes as UTF-8 text with CR line endings made LF.
fn decoded<R: Read + Send + 'static>(inner: R, forced: Option<&'static encoding_rs::Encoding>) -> Box<dyn Read + Send> {
    let text = DecodeReaderBytesBuilder::new()
        .encoding(forced)
        .bom_sniffing(true)
        .strip_bom(true)
        .utf8_passthru(true)
        .build(inner);
    Box::new(LoneCr::new(text))
}

pub fn open(path: &Path) -> io::Result<Opened> {
    let total_bytes = std::fs::metadata(path)?.len();
    let mut head = [0u8; 3];
    let mut f = File::open(path)?;
    let n = f.read(&mut head)?;
    let head = &head[..n];
    let (encoding, forced): (&'static str, Option<&'static encoding_rs::Encoding>) =
        if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
            ("UTF-8 (BOM)", None)
        } else if head.starts_with(&[0xFF, 0xFE]) {
            ("UTF-16LE", None)
        } else if head.starts_with(&[0xFE, 0xFF]) {
            ("UTF-16BE", None)
        } else if is_utf8(path)? {
            ("UTF-8", None)
        } else {
            ("Shift_JIS", Some(encoding_rs::SHIFT_JIS))
        };
    // Sniff the delimiter from the decoded first line (up to 64 KiB), then start again from the top.
    let mut head = Vec::new();
    let mut first = decoded(File::open(path)?, forced);
    let mut piece = [0u8; 4096];
    while head.len() < (1 << 16) && !head.contains(&b'\n') {
        let n = first.read(&mut piece)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&piece[..n]);
    }
    let delimiter = sniff_delimiter(&head);
    let bytes_read = Arc::new(AtomicU64::new(0));
    let counting = Counting { inner: File::open(path)?, count: bytes_read.clone() };
    let reader = BufReader::with_capacity(1 << 16, decoded(counting, forced));
    Ok(Opened { reader, encoding, delimiter, bytes_read, total_bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through_lone_cr(input: &[u8], piece: usize) -> Vec<u8> {
        struct Pieces<'a>(&'a [u8], usize);
        impl Read for Pieces<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut out = Vec::new();
        LoneCr::new(Pieces(input, piece)).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn lone_cr_becomes_lf_and_crlf_is_kept_at_any_read_boundary() {
        for piece in [1, 2, 3, 7, 1024] {
            assert_eq!(through_lone_cr(b"a\rb\rc", piece), b"a\nb\nc", "piece {piece}");
            assert_eq!(through_lone_cr(b"a\r\nb\r\n", piece), b"a\r\nb\r\n", "piece {piece}");
            assert_eq!(through_lone_cr(b"a\r", piece), b"a\n", "piece {piece}");
            assert_eq!(through_lone_cr(b"\r\r\n\r", piece), b"\n\r\n\n", "piece {piece}");
        }
    }

    #[test]
    fn delimiter_is_sniffed_from_the_header_outside_quotes() {
        assert_eq!(sniff_delimiter(b"IMEI,Serial Number,Manufacturer\n1;2;3;4;5"), b',');
        assert_eq!(sniff_delimiter(b"IMEI;Serial Number;Manufacturer;\"a,b,c,d\"\n"), b';');
        assert_eq!(sniff_delimiter(b"IMEI\tSerial Number\tManufacturer"), b'\t');
        assert_eq!(sniff_delimiter(b"IMEI"), b',');
    }
}
