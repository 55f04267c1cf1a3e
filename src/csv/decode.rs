//! Reading CSV files as spreadsheets save them: UTF-8 with or without BOM, UTF-16 with BOM,
//! Shift_JIS/CP932 when the bytes are not UTF-8, CR, LF or CRLF line endings, comma, semicolon or tab.
//! The input is a regular file, or a pipe or standard input (`-`), which is read once, into a private
//! temporary file that the passes then read; anything else (a device, a directory) is refused. The
//! encoding is decided from the whole file before a row is read, and no record may be longer than
//! `MAX_RECORD`, so that a hostile file is refused early and in bounded memory.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
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
    /// The input, to read again from the start (`reopen`).
    input: Arc<Input>,
}

impl Opened {
    /// The same input from the start again, as it was opened (a stream is not read a second time).
    pub fn reopen(&self) -> Opened {
        let bytes_read = Arc::new(AtomicU64::new(0));
        let counting = Counting { inner: self.input.reader(), count: bytes_read.clone() };
        let forced = (self.encoding == "Shift_JIS").then_some(encoding_rs::SHIFT_JIS);
        let reader = BufReader::with_capacity(1 << 16, decoded(counting, forced, self.delimiter));
        Opened { reader, bytes_read, input: self.input.clone(), ..*self }
    }
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

impl Quoting {
    /// The state after byte `b` (not a record-ending LF, which the callers handle).
    fn after(self, b: u8, delimiter: u8) -> Quoting {
        match (self, b) {
            (Quoting::FieldStart, b'"') => Quoting::Quoted,
            (Quoting::Quoted, b'"') => Quoting::QuoteInQuoted,
            (Quoting::QuoteInQuoted, b'"') => Quoting::Quoted,
            (Quoting::Quoted, _) => Quoting::Quoted,
            (_, d) if d == delimiter => Quoting::FieldStart,
            _ => Quoting::Unquoted,
        }
    }
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
    /// The record being read, measured.
    meter: Meter,
    /// Nothing of the current record was written yet (the start, or just after a record's LF).
    at_record_start: bool,
}

/// The most bytes one record (a row, the header) may have: a row of kitting's longest cells has a few
/// kilobytes, a header of 40,000 columns about 400 KB.
pub const MAX_RECORD: usize = 1 << 20;

/// Follows the normalised text (LF endings) with the csv crate's quoting rules: the record being read,
/// its first line, its length and its field, to refuse one longer than `MAX_RECORD` as soon as it is.
struct Meter {
    state: Quoting,
    /// The record's first line (1-based), and the lines ended so far.
    line: u64,
    lines: u64,
    len: usize,
    field: usize,
}

impl Meter {
    fn feed(&mut self, piece: &[u8], delimiter: u8) -> io::Result<()> {
        if !piece.contains(&b'"') {
            // No quote: the state cannot change but at LFs and delimiters outside a quoted field.
            if self.state == Quoting::Quoted {
                self.lines += memchr::memchr_iter(b'\n', piece).count() as u64;
                return self.grow(piece.len());
            }
            let mut rest = piece;
            while let Some(i) = memchr::memchr(b'\n', rest) {
                self.lines += 1;
                (self.line, self.len, self.field, self.state) = (self.lines + 1, 0, 1, Quoting::FieldStart);
                rest = &rest[i + 1..];
            }
            self.field += memchr::memchr_iter(delimiter, rest).count();
            if let Some(&last) = rest.last() {
                self.state = if last == delimiter { Quoting::FieldStart } else { Quoting::Unquoted };
            }
            return self.grow(rest.len());
        }
        for &b in piece {
            if b == b'\n' {
                self.lines += 1;
                if self.state != Quoting::Quoted {
                    (self.line, self.len, self.field, self.state) = (self.lines + 1, 0, 1, Quoting::FieldStart);
                    continue;
                }
            }
            if b == delimiter && self.state != Quoting::Quoted {
                self.field += 1;
            }
            self.state = self.state.after(b, delimiter);
            self.grow(1)?;
        }
        Ok(())
    }

    fn grow(&mut self, n: usize) -> io::Result<()> {
        self.len += n;
        if self.len <= MAX_RECORD {
            return Ok(());
        }
        let why = if self.state == Quoting::Quoted { " (a quote that is never closed?)" } else { "" };
        Err(io::Error::new(io::ErrorKind::InvalidData, TooLong { line: self.line, field: self.field, why }))
    }
}

/// A record over `MAX_RECORD`: where it starts and the field it had reached.
#[derive(Debug)]
pub struct TooLong {
    pub line: u64,
    pub field: usize,
    why: &'static str,
}

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the row is longer than {} bytes (1 MiB){}", MAX_RECORD, self.why)
    }
}

impl std::error::Error for TooLong {}

impl<R: Read> LineEndings<R> {
    pub fn new(inner: R, delimiter: u8) -> Self {
        let meter = Meter { state: Quoting::FieldStart, line: 1, lines: 0, len: 0, field: 1 };
        LineEndings {
            inner,
            delimiter,
            state: Quoting::FieldStart,
            pending_cr: false,
            buf: Vec::new(),
            pos: 0,
            meter,
            at_record_start: true,
        }
    }

    /// The CR read before `next` (None: the end of the input).
    fn resolve_cr(&mut self, next: Option<u8>) {
        let quoted = matches!(self.state, Quoting::Quoted);
        if quoted && next == Some(b'\n') {
            self.buf.push(b'\r'); // a CRLF inside a cell: kept, its LF follows
        } else if quoted {
            self.buf.push(b'\n');
        } else {
            self.end_record();
            self.state = Quoting::FieldStart;
        }
    }

    /// A record-ending LF. An empty line gets a space first: the csv crate skips empty lines without
    /// counting them, so that every record after one was numbered a line too early; a line holding a
    /// space is a record of one blank field, which the importers skip as the blank row it is, counted.
    fn end_record(&mut self) {
        if self.at_record_start {
            self.buf.push(b' ');
        }
        self.buf.push(b'\n');
        self.at_record_start = true;
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
        if b == b'\n' && self.state != Quoting::Quoted {
            self.end_record();
            self.state = Quoting::FieldStart;
            return;
        }
        self.state = self.state.after(b, self.delimiter);
        self.at_record_start = false;
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
            // (Nor an empty line, which gets a space: `end_record`.)
            let empty_line =
                (self.at_record_start && self.buf[0] == b'\n') || memchr::memmem::find(&self.buf, b"\n\n").is_some();
            if !self.pending_cr && !self.buf.contains(&b'\r') && !self.buf.contains(&b'"') && !empty_line {
                let last = self.buf[n - 1];
                if self.state != Quoting::Quoted {
                    self.state =
                        if last == b'\n' || last == self.delimiter { Quoting::FieldStart } else { Quoting::Unquoted };
                    self.at_record_start = last == b'\n';
                } else {
                    self.at_record_start = false;
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
        self.meter.feed(&out[..n], self.delimiter)?;
        self.pos += n;
        Ok(n)
    }
}

/// Why an input is refused before a row is read, with where in the file when there is a where.
#[derive(Debug)]
pub struct Refused {
    pub line: Option<u64>,
    pub message: String,
}

impl Refused {
    fn plain(message: impl Into<String>) -> Refused {
        Refused { line: None, message: message.into() }
    }

    /// The message after `FILE:` (with the line when there is one).
    pub fn located(&self, file: &str) -> String {
        match self.line {
            Some(line) => format!("{file}:{line}: {}", self.message),
            None => format!("{file}: {}", self.message),
        }
    }
}

impl From<io::Error> for Refused {
    fn from(e: io::Error) -> Refused {
        Refused::plain(e.to_string())
    }
}

/// The most bytes kitting takes from a pipe or standard input (copied into a temporary file as they
/// come: a stream is read once).
pub const MAX_STREAM: u64 = 1 << 30;

/// An import's input, open once: a regular file, or what a pipe or standard input brought, in a
/// private temporary file (0600, already unlinked). Every pass reads it from the start.
pub struct Input {
    file: Arc<File>,
    len: u64,
}

/// Reads the input from `pos` on, with positional reads (the passes do not share a file offset).
struct At {
    file: Arc<File>,
    pos: u64,
}

impl Read for At {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Input {
    /// `-` is standard input; a named pipe is opened without waiting for a writer (one that no process
    /// has open for writing is refused, instead of hanging); a device, a directory or a socket is refused.
    pub fn open(path: &Path) -> Result<Input, Refused> {
        use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
        if path == Path::new("-") {
            return Input::spool(io::stdin().lock(), "standard input");
        }
        let kind = std::fs::metadata(path)?.file_type();
        if kind.is_file() {
            let file = File::open(path)?;
            let len = file.metadata()?.len();
            return Ok(Input { file: Arc::new(file), len });
        }
        if kind.is_fifo() {
            let mut pipe = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
            // One read that does not wait tells the cases apart: the end at once is a pipe no program
            // has open for writing (said as such, rather than "empty"); "would block" is a writer that
            // has not written yet; a byte is the start of the data.
            let mut first = [0u8; 1];
            let head: &[u8] = match pipe.read(&mut first) {
                Ok(0) => {
                    return Err(Refused::plain(
                        "is a named pipe that no program is writing to: nothing was read (start the program that \
                         writes to it first, or pipe its output into `kitting ... -`)",
                    ));
                }
                Ok(_) => &first,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => &[],
                Err(e) => return Err(e.into()),
            };
            // Reads wait for the writer's data from here on (a writer that is there is read to its end).
            use std::os::fd::AsRawFd;
            let fd = pipe.as_raw_fd();
            // SAFETY: fcntl on a descriptor this function owns, with flags it read from it.
            unsafe { libc::fcntl(fd, libc::F_SETFL, libc::fcntl(fd, libc::F_GETFL) & !libc::O_NONBLOCK) };
            return Input::spool(head.chain(pipe), "the pipe");
        }
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a file"
        };
        Err(Refused::plain(format!(
            "is {what}, not a regular file or a pipe: nothing was read (give a CSV file, or - for standard input)"
        )))
    }

    fn spool(from: impl Read, what: &str) -> Result<Input, Refused> {
        let mut file = tempfile::tempfile()
            .map_err(|e| Refused::plain(format!("cannot make a temporary file for {what}: {e}")))?;
        let len = io::copy(&mut from.take(MAX_STREAM + 1), &mut file)?;
        if len > MAX_STREAM {
            return Err(Refused::plain(format!(
                "{what} brought more than {MAX_STREAM} bytes (1 GiB), the most kitting reads from a stream; nothing was imported"
            )));
        }
        Ok(Input { file: Arc::new(file), len })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn reader(&self) -> At {
        At { file: self.file.clone(), pos: 0 }
    }
}

/// What the bytes of a file without a byte-order mark are, read once from start to end.
struct Utf8Scan {
    /// Bytes that are not UTF-8 (each invalid sequence counted once), and the first one's line, offset and byte.
    invalid: u64,
    first: Option<(u64, u64, u8)>,
    /// Characters of more than one byte that are UTF-8.
    multibyte: u64,
}

fn scan_utf8(input: &Input) -> io::Result<Utf8Scan> {
    let mut r = input.reader();
    let mut buf = vec![0u8; 1 << 16];
    let (mut carry, mut offset, mut lines) = (0usize, 0u64, 1u64);
    let mut scan = Utf8Scan { invalid: 0, first: None, multibyte: 0 };
    // The bytes since the last line end: a line longer than a record may be stops the scan (the reading
    // pass refuses it, at once, naming where), so that a huge file without line ends is not read whole.
    let mut line_len = 0usize;
    let count = |piece: &[u8], lines: &mut u64, line_len: &mut usize| {
        *lines += memchr::memchr_iter(b'\n', piece).count() as u64;
        *line_len = match memchr::memrchr(b'\n', piece) {
            Some(i) => piece.len() - i - 1,
            None => *line_len + piece.len(),
        };
        if piece.is_ascii() { 0 } else { scan_multibyte(piece) }
    };
    loop {
        let n = r.read(&mut buf[carry..])?;
        let len = carry + n;
        let mut i = 0;
        while i < len {
            match std::str::from_utf8(&buf[i..len]) {
                Ok(_) => {
                    scan.multibyte += count(&buf[i..len], &mut lines, &mut line_len);
                    i = len;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    scan.multibyte += count(&buf[i..i + valid], &mut lines, &mut line_len);
                    match e.error_len() {
                        Some(bad) => {
                            scan.invalid += 1;
                            let at = offset + (i + valid) as u64;
                            scan.first.get_or_insert((lines, at, buf[i + valid]));
                            i += valid + bad;
                        }
                        // An incomplete character at the end of what was read: kept for the next read,
                        // or, at the end of the file, one more byte that is not UTF-8.
                        None if n > 0 => break,
                        None => {
                            scan.invalid += 1;
                            scan.first.get_or_insert((lines, offset + (i + valid) as u64, buf[i + valid]));
                            i = len;
                        }
                    }
                }
            }
        }
        if n == 0 || line_len > MAX_RECORD {
            return Ok(scan);
        }
        buf.copy_within(i..len, 0);
        carry = len - i;
        offset += i as u64;
    }
}

/// The characters of more than one byte in valid UTF-8 (their first bytes).
fn scan_multibyte(valid: &[u8]) -> u64 {
    valid.iter().filter(|&&b| b >= 0xC0).count() as u64
}

/// The first byte of the file that is not Shift_JIS (its line and offset), if one is not.
fn first_not_shift_jis(input: &Input) -> io::Result<Option<(u64, u64)>> {
    let mut decoder = encoding_rs::SHIFT_JIS.new_decoder_without_bom_handling();
    let mut r = input.reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut out = vec![0u8; 3 << 16];
    let (mut offset, mut lines) = (0u64, 1u64);
    loop {
        let n = r.read(&mut buf)?;
        let mut src = &buf[..n];
        loop {
            let (result, read, _) = decoder.decode_to_utf8_without_replacement(src, &mut out, n == 0);
            match result {
                encoding_rs::DecoderResult::Malformed(bad, extra) => {
                    // The malformed bytes may have begun in the previous piece: then the piece's start.
                    let at = read.saturating_sub(bad as usize + extra as usize);
                    lines += memchr::memchr_iter(b'\n', &src[..at]).count() as u64;
                    return Ok(Some((lines, offset + at as u64)));
                }
                encoding_rs::DecoderResult::OutputFull => {}
                encoding_rs::DecoderResult::InputEmpty => {
                    lines += memchr::memchr_iter(b'\n', src).count() as u64;
                    offset += src.len() as u64;
                    break;
                }
            }
            lines += memchr::memchr_iter(b'\n', &src[..read]).count() as u64;
            offset += read as u64;
            src = &src[read..];
        }
        if n == 0 {
            return Ok(None);
        }
    }
}

/// Whether the first bytes look like UTF-16 without a byte-order mark (text of mostly ASCII letters has
/// every other byte zero): `Some("little-endian")` or `Some("big-endian")`.
fn looks_like_utf16(head: &[u8]) -> Option<&'static str> {
    let pairs = head.len() / 2;
    if pairs < 2 {
        return None;
    }
    let zero_at = |odd: usize| head.chunks_exact(2).filter(|p| p[odd] == 0 && p[1 - odd] != 0).count();
    let (le, be) = (zero_at(1), zero_at(0));
    if le * 10 >= pairs * 9 {
        Some("little-endian")
    } else if be * 10 >= pairs * 9 {
        Some("big-endian")
    } else {
        None
    }
}

/// The encoding, decided from the whole file: a byte-order mark says it; else UTF-8 when every byte is;
/// Shift_JIS when the bytes are Shift_JIS and none of them is a UTF-8 character of more than one byte; a
/// file that is UTF-8 but for a few bytes, or neither, is refused naming the first such byte.
fn decide(input: &Input) -> Result<(&'static str, Option<&'static encoding_rs::Encoding>), Refused> {
    let mut head = [0u8; 512];
    let n = input.file.read_at(&mut head, 0)?;
    let head = &head[..n];
    if head.starts_with(&[0xFF, 0xFE]) {
        return Ok(("UTF-16LE", None));
    }
    if head.starts_with(&[0xFE, 0xFF]) {
        return Ok(("UTF-16BE", None));
    }
    let bom = head.starts_with(&[0xEF, 0xBB, 0xBF]);
    if !bom && let Some(order) = looks_like_utf16(head) {
        return Err(Refused::plain(format!(
            "the file looks like UTF-16 ({order}) without a byte-order mark; save it as UTF-8, or as UTF-16 with a \
             byte-order mark (\"Unicode text\"); nothing was imported"
        )));
    }
    let scan = scan_utf8(input)?;
    let Some((line, offset, byte)) = scan.first else {
        return Ok((if bom { "UTF-8 (BOM)" } else { "UTF-8" }, None));
    };
    let others = match scan.invalid {
        1 => String::new(),
        n => format!(" (and {} more bytes like it)", n - 1),
    };
    let not_utf8 = |why: &str| Refused {
        line: Some(line),
        message: format!(
            "byte offset {offset}: byte 0x{byte:02X} is not UTF-8{others}, {why}; save the file as UTF-8; nothing was imported"
        ),
    };
    if bom {
        return Err(not_utf8("though the file starts with a UTF-8 byte-order mark"));
    }
    if scan.multibyte > 0 {
        return Err(not_utf8(&format!("while {} characters of the file are UTF-8", scan.multibyte)));
    }
    match first_not_shift_jis(input)? {
        None => Ok(("Shift_JIS", Some(encoding_rs::SHIFT_JIS))),
        Some((sline, soffset)) => Err(Refused {
            line: Some(line),
            message: format!(
                "byte offset {offset}: byte 0x{byte:02X} is not UTF-8{others}, and the file is not Shift_JIS either \
                 (line {sline}, byte offset {soffset}); save the file as UTF-8; nothing was imported"
            ),
        }),
    }
}

/// Picks the delimiter that occurs most in the first line that is not blank, outside quotes: comma,
/// semicolon or tab.
pub fn sniff_delimiter(head: &[u8]) -> u8 {
    let start = first_text_line(head);
    let head = &head[start..];
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

/// Where the first line holding more than white space starts in `head` (its length when none does).
fn first_text_line(head: &[u8]) -> usize {
    let mut start = 0;
    for (i, &b) in head.iter().enumerate() {
        match b {
            b'\n' => start = i + 1,
            b' ' | b'\t' | b'\r' => {}
            _ => return start,
        }
    }
    head.len()
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

/// Opens the input, decides its encoding from the whole of it and its delimiter from its first line.
pub fn open(path: &Path) -> Result<Opened, Refused> {
    let input = Input::open(path)?;
    let (encoding, forced) = decide(&input)?;
    // Sniff the delimiter from the decoded first line (up to 64 KiB), then start again from the top.
    let mut head = Vec::new();
    let mut first = decoded(input.reader(), forced, b',');
    let mut piece = [0u8; 4096];
    while head.len() < (1 << 16) && !head[first_text_line(&head)..].contains(&b'\n') {
        let n = match first.read(&mut piece) {
            Ok(n) => n,
            // A first line too long to be a header: the reading pass says where.
            Err(e) if e.get_ref().is_some_and(|e| e.is::<TooLong>()) => break,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            break;
        }
        head.extend_from_slice(&piece[..n]);
    }
    let delimiter = sniff_delimiter(&head);
    let bytes_read = Arc::new(AtomicU64::new(0));
    let counting = Counting { inner: input.reader(), count: bytes_read.clone() };
    let reader = BufReader::with_capacity(1 << 16, decoded(counting, forced, delimiter));
    Ok(Opened { reader, encoding, delimiter, bytes_read, total_bytes: input.len(), input: Arc::new(input) })
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
            // Empty lines get a space, so that the csv crate counts them (it skips empty lines uncounted).
            assert_eq!(normalised(b"\r\r\n\r", piece), b" \n \n \n", "piece {piece}");
            assert_eq!(normalised(b"a\n\nb\r\n\r\nc\r\rd", piece), b"a\n \nb\n \nc\n \nd", "piece {piece}");
            assert_eq!(normalised(b"\"x\n\ny\"\n", piece), b"\"x\n\ny\"\n", "piece {piece}: inside quotes");
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
        let text = normalised(b"h\r\na\r\n\"x\r\ny\"\r\nb\r\n\r\n\nc\n", 5);
        let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&text[..]);
        let lines: Vec<u64> = r.records().map(|rec| rec.unwrap().position().unwrap().line()).collect();
        // Lines 6 and 7 are empty: records of one blank field, which the importers skip.
        assert_eq!(lines, [1, 2, 3, 5, 6, 7, 8]);
    }

    #[test]
    fn delimiter_is_sniffed_from_the_header_outside_quotes() {
        assert_eq!(sniff_delimiter(b"IMEI,Serial Number,Manufacturer\n1;2;3;4;5"), b',');
        assert_eq!(sniff_delimiter(b"IMEI;Serial Number;Manufacturer;\"a,b,c,d\"\n"), b';');
        assert_eq!(sniff_delimiter(b"IMEI\tSerial Number\tManufacturer"), b'\t');
        assert_eq!(sniff_delimiter(b"IMEI"), b',');
        assert_eq!(sniff_delimiter(b" \n \nIMEI;Serial Number\n"), b';', "blank lines before the header");
    }
}
