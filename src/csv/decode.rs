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

/// Where the normaliser is in the CSV text: it follows the quoting rules of the csv crate (a quote opens a
/// quoted field only at the start of a field; `""` inside one is a quote) so that it knows which line
/// endings end records.
#[derive(Clone, Copy, PartialEq)]
enum Quoting {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: the field's end, or the first half of `""`.
    QuoteInQuoted,
}

/// Makes every line ending that ends a record a single LF (CRLF and a lone CR, the old Mac ending), and
/// a lone CR inside a quoted field LF too; a CRLF inside a quoted field is kept as it is (it is the
/// cell's text). The csv crate counts lines by LF and, after a CRLF, would place the next record on the
/// line before; with one LF per line ending every record's line is the physical line where it starts.
pub struct LineEndings<R> {
    inner: R,
    delimiter: u8,
    state: Quoting,
    /// A CR was read; what it becomes depends on the next byte.
    pending_cr: bool,
    buf: Vec<u8>,
    pos: usize,
}

impl<R: Read> LineEndings<R> {
    pub fn new(inner: R, delimiter: u8) -> Self {
        LineEndings { inner, delimiter, state: Quoting::FieldStart, pending_cr: false, buf: Vec::new(), pos: 0 }
    }

    /// The CR read before `next` (None: the end of the input).
    fn resolve_cr(&mut self, next: Option<u8>) {
        let quoted = matches!(self.state, Quoting::Quoted);
        if quoted && next == Some(b'\n') {
            self.buf.push(b'\r'); // a CRLF inside a cell: kept, its LF follows
        } else {
            self.buf.push(b'\n');
            if !quoted {
                self.state = Quoting::FieldStart;
            }
        }
    }

    fn step(&mut self, b: u8) {
        if self.pending_cr {
            self.pending_cr = false;
            let quoted = matches!(self.state, Quoting::Quoted);
            self.resolve_cr(Some(b));
            if b == b'\n' && !quoted {
                return; // the LF of a record-ending CRLF: already written as one LF
            }
        }
        if b == b'\r' {
            if self.state == Quoting::QuoteInQuoted {
                self.state = Quoting::Unquoted; // the quoted field ended; this CR ends the record
            }
            self.pending_cr = true;
            return;
        }
        self.state = match (self.state, b) {
            (Quoting::FieldStart, b'"') => Quoting::Quoted,
            (Quoting::Quoted, b'"') => Quoting::QuoteInQuoted,
            (Quoting::QuoteInQuoted, b'"') => Quoting::Quoted,
            (Quoting::Quoted, _) => Quoting::Quoted,
            (_, b'\n') => Quoting::FieldStart,
            (_, d) if d == self.delimiter => Quoting::FieldStart,
            _ => Quoting::Unquoted,
        };
        self.buf.push(b);
    }
}

impl<R: Read> Read for LineEndings<R> {
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
                self.resolve_cr(None);
                break;
            }
            // Most files have LF endings and few quotes: such a piece passes as it is, and only the state
            // at its end is needed.
            if !self.pending_cr && !self.buf.contains(&b'\r') && !self.buf.contains(&b'"') {
                if self.state != Quoting::Quoted {
                    let last = self.buf[n - 1];
                    self.state =
                        if last == b'\n' || last == self.delimiter { Quoting::FieldStart } else { Quoting::Unquoted };
                }
                break;
            }
            let raw = std::mem::take(&mut self.buf);
            self.buf.reserve(raw.len() + 1);
            for &b in &raw {
                self.step(b);
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

/// The file's bytes as UTF-8 text with every record's line ending made one LF.
fn decoded<R: Read + Send + 'static>(
    inner: R,
    forced: Option<&'static encoding_rs::Encoding>,
    delimiter: u8,
) -> Box<dyn Read + Send> {
    let text = DecodeReaderBytesBuilder::new()
        .encoding(forced)
        .bom_sniffing(true)
        .strip_bom(true)
        .utf8_passthru(true)
        .build(inner);
    Box::new(LineEndings::new(text, delimiter))
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
    let mut first = decoded(File::open(path)?, forced, b',');
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
    let reader = BufReader::with_capacity(1 << 16, decoded(counting, forced, delimiter));
    Ok(Opened { reader, encoding, delimiter, bytes_read, total_bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalised(input: &[u8], piece: usize) -> Vec<u8> {
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
        LineEndings::new(Pieces(input, piece), b',').read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn record_endings_become_one_lf_and_a_crlf_inside_quotes_is_kept_at_any_read_boundary() {
        for piece in [1, 2, 3, 7, 1024] {
            assert_eq!(normalised(b"a\rb\rc", piece), b"a\nb\nc", "piece {piece}");
            assert_eq!(normalised(b"a\r\nb\r\n", piece), b"a\nb\n", "piece {piece}");
            assert_eq!(normalised(b"a\r", piece), b"a\n", "piece {piece}");
            assert_eq!(normalised(b"\r\r\n\r", piece), b"\n\n\n", "piece {piece}");
            assert_eq!(normalised(b"\"x\r\ny\"\r\nb\r\n", piece), b"\"x\r\ny\"\nb\n", "piece {piece}");
            assert_eq!(normalised(b"\"x\ry\"\r\n", piece), b"\"x\ny\"\n", "piece {piece}");
            assert_eq!(normalised(b"\"a\"\"\r\nb\"\r\n", piece), b"\"a\"\"\r\nb\"\n", "piece {piece}");
            // A quote inside an unquoted field is text, not the start of a quoted part.
            assert_eq!(normalised(b"5\" screen\r\nb\r\n", piece), b"5\" screen\nb\n", "piece {piece}");
            assert_eq!(normalised(b"\"q\"\r\nb", piece), b"\"q\"\nb", "piece {piece}");
        }
    }

    #[test]
    fn the_csv_crate_then_numbers_lines_physically() {
        let text = normalised(b"h\r\na\r\n\"x\r\ny\"\r\nb\r\n", 5);
        let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(&text[..]);
        let lines: Vec<u64> = r.records().map(|rec| rec.unwrap().position().unwrap().line()).collect();
        assert_eq!(lines, [1, 2, 3, 5]);
    }

    #[test]
    fn delimiter_is_sniffed_from_the_header_outside_quotes() {
        assert_eq!(sniff_delimiter(b"IMEI,Serial Number,Manufacturer\n1;2;3;4;5"), b',');
        assert_eq!(sniff_delimiter(b"IMEI;Serial Number;Manufacturer;\"a,b,c,d\"\n"), b';');
        assert_eq!(sniff_delimiter(b"IMEI\tSerial Number\tManufacturer"), b'\t');
        assert_eq!(sniff_delimiter(b"IMEI"), b',');
    }
}
