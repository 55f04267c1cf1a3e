//! The Android bulk-enrollment CSV: `IMEI,Serial Number,Manufacturer` then custom-attribute columns.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::decode;
use crate::domain::text::{escape_formula, quote, unescape_formula};
use crate::domain::{Device, Field, Identifiers, Profile, Status, check_attribute_name, check_attribute_value};
use crate::store::{ImportSession, ImportTarget, PreparedRows, RowEncoder, Store, StoreError};

pub const TEMPLATE: &str = include_str!("../../assets/android-template.csv");
pub const EXPECTED_HEADER: &str = "IMEI,Serial Number,Manufacturer[,custom attribute...]";

#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub dry_run: bool,
    pub skip_invalid: bool,
    pub max_rows: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RowProblem {
    /// 1-based column number and its header, where the problem is in one column.
    pub column: Option<(usize, String)>,
    pub value: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rejected {
    pub line: u64,
    pub fields: Vec<String>,
    pub problems: Vec<RowProblem>,
}

impl Rejected {
    pub fn reason(&self) -> String {
        self.problems.iter().map(|p| p.reason.as_str()).collect::<Vec<_>>().join("; ")
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub rows: u64,
    pub bytes: u64,
    pub total_bytes: u64,
}

#[derive(Debug)]
pub struct ImportReport {
    pub file: String,
    pub encoding: &'static str,
    pub delimiter: char,
    pub header: Vec<String>,
    /// Data rows read (blank rows are not counted).
    pub rows: u64,
    /// Rows that passed every check.
    pub valid: u64,
    pub rejected: Vec<Rejected>,
    /// The profile as committed, when the import wrote anything.
    pub committed: Option<Profile>,
    /// The target profile's name.
    pub profile: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file as a whole is refused (unreadable, no usable header, too many rows).
    #[error("{0}")]
    File(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("import cancelled; nothing was written")]
    Cancelled,
}

#[derive(Clone, Copy, PartialEq)]
enum Col {
    Imei,
    /// A dual-SIM device's second IMEI.
    Imei2,
    Serial,
    Manufacturer,
    Status,
    RegisteredAt,
    Attribute,
    /// `Line` and `Reason` of a rejects file and `Source` of a listing, ignored so that they import.
    Ignored,
    /// A column with an empty header: its cells must stay empty.
    Unnamed,
}

fn classify(name: &str) -> Col {
    match name.trim().to_lowercase().as_str() {
        "imei" => Col::Imei,
        "imei 2" | "imei2" => Col::Imei2,
        "serial number" | "serial" | "serialnumber" => Col::Serial,
        "manufacturer" => Col::Manufacturer,
        "status" => Col::Status,
        "registered at" => Col::RegisteredAt,
        "line" | "reason" | "source" => Col::Ignored,
        "" => Col::Unnamed,
        _ => Col::Attribute,
    }
}

struct Header {
    /// Positions of the identifier columns.
    imei: Option<usize>,
    imei2: Option<usize>,
    serial: Option<usize>,
    manufacturer: Option<usize>,
    names: Vec<String>,
    /// For each column, its index among the custom-attribute columns.
    attr_index: Vec<Option<u16>>,
    cols: Vec<Col>,
}

impl Header {
    fn find(&self, col: Col) -> Option<usize> {
        self.cols.iter().position(|c| *c == col)
    }

    fn column_of(&self, field: Field) -> Option<usize> {
        match field {
            Field::Imei => self.find(Col::Imei),
            Field::Imei2 => self.find(Col::Imei2),
            Field::Serial => self.find(Col::Serial),
            Field::Manufacturer => self.find(Col::Manufacturer),
            Field::Status => self.find(Col::Status),
            Field::RegisteredAt => self.find(Col::RegisteredAt),
            Field::Attribute => None,
        }
    }

    /// A row the store rejected (a duplicate). Its fields and values are read again at the end.
    fn store_rejection(&self, line: u64, problems: Vec<crate::store::FieldProblem>) -> Rejected {
        let problems = problems
            .into_iter()
            .map(|(field, reason)| RowProblem {
                column: self.column_of(field).map(|i| (i + 1, self.names[i].clone())),
                value: String::new(),
                reason,
            })
            .collect();
        Rejected { line, fields: Vec::new(), problems }
    }

    fn attributes(&self) -> Vec<String> {
        self.names.iter().zip(&self.cols).filter(|(_, c)| **c == Col::Attribute).map(|(n, _)| n.clone()).collect()
    }
}

fn parse_header(file: &str, raw: &csv::StringRecord) -> Result<Header, ImportError> {
    let names: Vec<String> = raw.iter().map(|h| h.trim().to_string()).collect();
    let cols: Vec<Col> = names.iter().map(|n| classify(n)).collect();
    if !cols.iter().any(|c| matches!(c, Col::Imei | Col::Serial)) {
        return Err(ImportError::File(format!(
            "{file}:1: the header has neither an IMEI nor a Serial Number column; expected {EXPECTED_HEADER}, found {}",
            quote(&names.join(","))
        )));
    }
    // Each name, and each identifier column by what it means (`Serial` and `Serial Number` are one
    // column), at most once: looked up, so that a header of many columns is read in linear time.
    let mut by_name: std::collections::HashMap<String, usize> = std::collections::HashMap::with_capacity(names.len());
    let mut by_meaning: Vec<(Col, usize)> = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let col = cols[i];
        if col == Col::Unnamed {
            continue;
        }
        let twice = |j: usize, how: &str| {
            ImportError::File(format!(
                "{file}:1:{}: column {} {how} column {} {}; nothing was imported",
                i + 1,
                quote(n),
                j + 1,
                quote(&names[j])
            ))
        };
        if let Some(&j) = by_name.get(&n.to_lowercase()) {
            return Err(twice(j, "appears twice: also"));
        }
        by_name.insert(n.to_lowercase(), i);
        if !matches!(col, Col::Attribute | Col::Ignored) {
            if let Some(&(_, j)) = by_meaning.iter().find(|(c, _)| *c == col) {
                return Err(twice(j, "means the same as"));
            }
            by_meaning.push((col, i));
        }
        if col == Col::Attribute
            && let Err(e) = check_attribute_name(n)
        {
            return Err(ImportError::File(format!("{file}:1:{}: {e}", i + 1)));
        }
    }
    let mut next = 0u16;
    let attr_index = cols
        .iter()
        .map(|c| {
            (*c == Col::Attribute).then(|| {
                next += 1;
                next - 1
            })
        })
        .collect();
    let find = |col: Col| cols.iter().position(|c| *c == col);
    let (imei, imei2, serial, manufacturer) =
        (find(Col::Imei), find(Col::Imei2), find(Col::Serial), find(Col::Manufacturer));
    Ok(Header { imei, imei2, serial, manufacturer, names, attr_index, cols })
}

/// Checks one data row and encodes it into `out`, or returns the row's problems.
fn prepare_row(
    header: &Header,
    encoder: &RowEncoder,
    fields: &[&str],
    line: u64,
    out: &mut PreparedRows,
) -> Result<(), Vec<RowProblem>> {
    let mut problems = Vec::new();
    let at = |i: usize| (i + 1, header.names[i].clone());
    let cell = |i: Option<usize>| i.map(|i| fields[i]).unwrap_or("");
    let ids = match Identifiers::check(cell(header.imei), cell(header.serial), cell(header.manufacturer)) {
        Ok(mut ids) => match Identifiers::check_second(ids.imei, cell(header.imei2)) {
            Ok(second) => {
                ids.imei2 = second;
                Some(ids)
            }
            Err(reason) => {
                let column = header.imei2.map(at);
                problems.push(RowProblem { column, value: cell(header.imei2).to_string(), reason });
                None
            }
        },
        Err(list) => {
            for (field, reason) in list {
                let column = header.column_of(field).map(at);
                let value = column.as_ref().map(|(n, _)| fields[n - 1].to_string()).unwrap_or_default();
                problems.push(RowProblem { column, value, reason });
            }
            None
        }
    };
    let mut attributes = 0;
    let mut status_raw = "";
    let mut registered_raw = "";
    for (i, col) in header.cols.iter().enumerate() {
        let v = fields[i];
        match col {
            Col::Attribute if !v.is_empty() => match check_attribute_value(&header.names[i], v) {
                Ok(()) => attributes += 1,
                Err(reason) => problems.push(RowProblem { column: Some(at(i)), value: v.into(), reason }),
            },
            Col::Unnamed if !v.is_empty() => problems.push(RowProblem {
                column: Some(at(i)),
                value: v.into(),
                reason: format!("column {} has no header name, so its value would be lost", i + 1),
            }),
            Col::Status => status_raw = v,
            Col::RegisteredAt => registered_raw = v,
            _ => {}
        }
    }
    let status = match status_raw {
        "" => Some(Status::Pending),
        s if s.eq_ignore_ascii_case("pending") => Some(Status::Pending),
        s if s.eq_ignore_ascii_case("registered") || s.eq_ignore_ascii_case("kitted") => {
            let kitted = s.eq_ignore_ascii_case("kitted");
            match DateTime::parse_from_rfc3339(registered_raw) {
                Ok(t) if kitted => Some(Status::Kitted(t.with_timezone(&Utc))),
                Ok(t) => Some(Status::Registered(t.with_timezone(&Utc))),
                Err(_) => {
                    let i = header.find(Col::RegisteredAt);
                    let what = if kitted { "kitted" } else { "registered" };
                    problems.push(RowProblem {
                        column: i.map(at),
                        value: registered_raw.into(),
                        reason: format!(
                            "a {what} device needs Registered At as an RFC 3339 time (2026-01-31T09:00:00Z)"
                        ),
                    });
                    None
                }
            }
        }
        other => {
            problems.push(RowProblem {
                column: header.find(Col::Status).map(at),
                value: other.into(),
                reason: "Status must be pending, kitted or registered".into(),
            });
            None
        }
    };
    match (ids, status) {
        (Some(ids), Some(status)) if problems.is_empty() => {
            let values = header
                .attr_index
                .iter()
                .enumerate()
                .filter_map(|(i, a)| a.map(|a| (a, fields[i])))
                .filter(|(_, v)| !v.is_empty());
            encoder.push(out, ids, attributes, values, &status, line);
            Ok(())
        }
        _ => Err(problems),
    }
}

/// Rows as the reading thread hands them over: the valid ones prepared for the store, the others
/// rejected with their problems.
#[derive(Default)]
struct Batch {
    rows: PreparedRows,
    rejected: Vec<Rejected>,
}

impl Batch {
    fn len(&self) -> usize {
        self.rows.len() + self.rejected.len()
    }
}

/// What the reading thread reports at the end.
struct ReadEnd {
    rows: u64,
}

pub(super) type Reader = csv::Reader<std::io::BufReader<Box<dyn std::io::Read + Send>>>;

/// How messages name an input: its path with control characters escaped (a file name comes from the
/// command line or a directory: untrusted on a terminal), or "standard input" for `-`.
pub fn display_name(path: &Path) -> String {
    if path == Path::new("-") {
        return "standard input".into();
    }
    crate::domain::text::sanitize(&path.display().to_string()).into_owned()
}

pub(super) fn csv_reader(opened: decode::Opened) -> Reader {
    csv::ReaderBuilder::new().delimiter(opened.delimiter).has_headers(false).flexible(true).from_reader(opened.reader)
}

pub(super) fn read_record(file: &str, rdr: &mut Reader, record: &mut csv::StringRecord) -> Result<bool, ImportError> {
    rdr.read_record(record).map_err(|e| {
        if let csv::ErrorKind::Io(io) = e.kind()
            && let Some(long) = io.get_ref().and_then(|e| e.downcast_ref::<decode::TooLong>())
        {
            return ImportError::File(format!("{file}:{}:{}: {long}; nothing was imported", long.line, long.field));
        }
        let line = e.position().map(|p| p.line()).unwrap_or(0);
        ImportError::File(format!("{file}:{line}: cannot read the file: {e}"))
    })
}

pub(super) fn is_blank(record: &csv::StringRecord) -> bool {
    record.iter().all(|f| f.trim().is_empty())
}

/// The cells of a record as the importer sees them: trimmed, the export's formula escape undone.
fn cells(record: &csv::StringRecord) -> Vec<&str> {
    record.iter().map(cell).collect()
}

pub(super) fn cell(f: &str) -> &str {
    unescape_formula(crate::domain::text::trim(f))
}

const BATCH: usize = 512;

/// Reads, parses and validates rows (everything that needs no store) and sends them in batches.
fn read_rows(
    file: &str,
    header: &Header,
    encoder: &RowEncoder,
    mut rdr: Reader,
    max_rows: u64,
    tx: std::sync::mpsc::SyncSender<Batch>,
) -> Result<ReadEnd, ImportError> {
    let mut record = csv::StringRecord::new();
    let mut rows = 0u64;
    let mut batch = Batch::default();
    // Most files have few columns: their cells go in an array on the stack, not a Vec per row.
    const STACK: usize = 16;
    while read_record(file, &mut rdr, &mut record)? {
        let mut on_stack = [""; STACK];
        let on_heap;
        let fields: &[&str] = if record.len() <= STACK {
            for (slot, f) in on_stack.iter_mut().zip(record.iter()) {
                *slot = cell(f);
            }
            &on_stack[..record.len()]
        } else {
            on_heap = cells(&record);
            &on_heap
        };
        if fields.iter().all(|f| f.is_empty()) {
            continue;
        }
        rows += 1;
        if rows > max_rows {
            while read_record(file, &mut rdr, &mut record)? {
                if !is_blank(&record) {
                    rows += 1;
                }
            }
            return Err(ImportError::File(format!(
                "{file}: the file has {rows} data rows; at most {max_rows} are allowed in one import (max_rows); nothing was imported"
            )));
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let owned = || fields.iter().map(|f| f.to_string()).collect::<Vec<String>>();
        if fields.len() != header.names.len() {
            batch.rejected.push(Rejected {
                line,
                fields: owned(),
                problems: vec![RowProblem {
                    column: None,
                    value: String::new(),
                    reason: format!("expected {} fields, found {}", header.names.len(), fields.len()),
                }],
            });
        } else if let Err(problems) = prepare_row(header, encoder, fields, line, &mut batch.rows) {
            batch.rejected.push(Rejected { line, fields: owned(), problems });
        }
        if batch.len() == BATCH && tx.send(std::mem::take(&mut batch)).is_err() {
            return Ok(ReadEnd { rows }); // the receiver stopped (cancelled or failed)
        }
    }
    if batch.len() > 0 {
        let _ = tx.send(batch);
    }
    Ok(ReadEnd { rows })
}

/// A checked import: the report, and the session holding the staged rows for the core to commit (with its
/// audit entry) or to drop.
pub struct Checked {
    pub report: ImportReport,
    pub session: Box<dyn ImportSession>,
    /// The file's custom attribute columns, in order.
    pub attributes: Vec<String>,
}

impl Checked {
    /// Whether the import is to write: not a dry run, and no rejected row unless they are skipped.
    pub fn writes(&self, opts: &ImportOptions) -> bool {
        !opts.dry_run && (self.report.rejected.is_empty() || opts.skip_invalid)
    }
}

/// Reads and checks an Android bulk-enrollment CSV for `target`, staging the valid rows (unless a dry run).
/// All-or-nothing unless `skip_invalid`. `progress` is called every few thousand rows; returning false
/// cancels (nothing is written). Nothing is visible until the session is committed.
///
/// Two threads: one reads and validates rows, this one checks duplicates against the store and stages.
pub fn check(
    store: &dyn Store,
    path: &Path,
    target: ImportTarget,
    opts: &ImportOptions,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<Checked, ImportError> {
    let file = display_name(path);
    let file_name: Arc<str> =
        Arc::from(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| file.clone()));
    let opened = decode::open(path).map_err(|e| ImportError::File(e.located(&file)))?;
    let again = opened.reopen();
    let (encoding, delimiter, total_bytes) = (opened.encoding, opened.delimiter, opened.total_bytes);
    let bytes_read = opened.bytes_read.clone();
    let mut rdr = csv_reader(opened);
    let mut record = csv::StringRecord::new();
    // Blank lines before the header are skipped, as blank rows are.
    while read_record(&file, &mut rdr, &mut record)? {
        if !is_blank(&record) {
            break;
        }
    }
    if record.is_empty() || is_blank(&record) {
        return Err(ImportError::File(format!("{file}: the file is empty; expected the header {EXPECTED_HEADER}")));
    }
    let header = parse_header(&file, &record)?;
    let attributes = header.attributes();
    let mut session = store.begin_import(target, !opts.dry_run)?;
    // About 40 bytes make the shortest useful row; never more than the limit allows.
    session.reserve(opts.max_rows.min(total_bytes / 40) as usize);
    let mut report = ImportReport {
        file: file.clone(),
        encoding,
        delimiter: delimiter as char,
        header: header.names.clone(),
        rows: 0,
        valid: 0,
        rejected: Vec::new(),
        committed: None,
        profile: session.profile().name.clone(),
    };
    // Rows rejected by the store (duplicates) carry no fields yet; they are read again at the end.
    let mut refetch: Vec<usize> = Vec::new();
    let mut seen = 0u64;
    let mut cancelled = false;
    let shared: Vec<Arc<str>> = attributes.iter().map(|a| Arc::from(a.as_str())).collect();
    let encoder = RowEncoder::new(&shared, &file_name, chrono::Utc::now());
    let read = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(8);
        let reader = std::thread::Builder::new()
            .name("kitting-read".into())
            .spawn_scoped(scope, || read_rows(&file, &header, &encoder, rdr, opts.max_rows, tx))
            .map_err(|e| ImportError::File(format!("{file}: cannot start the reading thread: {e}")))?;
        for batch in rx.iter() {
            let before = seen;
            seen += batch.len() as u64;
            if before / 4096 != seen / 4096
                && !progress(Progress {
                    rows: seen,
                    bytes: bytes_read.load(std::sync::atomic::Ordering::Relaxed),
                    total_bytes,
                })
            {
                cancelled = true;
                break;
            }
            for r in batch.rejected {
                reject(&mut report, &mut *session, opts, r);
            }
            for (line, dups) in session.add_prepared(&encoder, &batch.rows)? {
                refetch.push(report.rejected.len());
                reject(&mut report, &mut *session, opts, header.store_rejection(line, dups));
            }
        }
        drop(rx);
        reader.join().map_err(|_| ImportError::File(format!("{file}: the reading thread failed")))?
    });
    if cancelled {
        return Err(ImportError::Cancelled);
    }
    report.rows = read?.rows;
    for (line, dups) in session.finish()? {
        refetch.push(report.rejected.len());
        reject(&mut report, &mut *session, opts, header.store_rejection(line, dups));
    }
    report.valid = session.accepted();
    if !refetch.is_empty() {
        fill_fields(&file, again, &mut report, &refetch)?;
    }
    report.rejected.sort_by_key(|r| r.line);
    progress(Progress { rows: report.rows, bytes: total_bytes, total_bytes });
    Ok(Checked { report, session, attributes })
}

/// Reads the file again to give the rows rejected as duplicates their original fields and values.
fn fill_fields(
    file: &str,
    opened: decode::Opened,
    report: &mut ImportReport,
    which: &[usize],
) -> Result<(), ImportError> {
    let mut wanted: std::collections::HashMap<u64, usize> =
        which.iter().map(|&i| (report.rejected[i].line, i)).collect();
    let mut rdr = csv_reader(opened);
    let mut record = csv::StringRecord::new();
    while !wanted.is_empty() && read_record(file, &mut rdr, &mut record)? {
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if let Some(i) = wanted.remove(&line) {
            let r = &mut report.rejected[i];
            r.fields = cells(&record).iter().map(|f| f.to_string()).collect();
            for p in &mut r.problems {
                if let Some((n, _)) = &p.column {
                    p.value = r.fields.get(n - 1).cloned().unwrap_or_default();
                }
            }
        }
    }
    Ok(())
}

fn reject(report: &mut ImportReport, session: &mut dyn ImportSession, opts: &ImportOptions, r: Rejected) {
    if !opts.skip_invalid && report.rejected.is_empty() {
        session.stop_writing();
    }
    report.rejected.push(r);
}

/// Writes the rejected rows in their original columns plus `Line` and `Reason`.
pub fn write_rejects(report: &ImportReport, out: impl Write) -> csv::Result<()> {
    write_rejected(&report.header, &report.rejected, out)
}

pub use super::rejects::write_rejected;

/// "Download Existing Inventory": every device with its status, in a file `import` reads back unchanged.
/// UTF-8 with a BOM (so spreadsheets read it as UTF-8), formula cells escaped.
pub fn export(store: &dyn Store, profile: &Profile, mut out: impl Write) -> Result<u64, String> {
    out.write_all(b"\xEF\xBB\xBF").map_err(|e| e.to_string())?;
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out);
    // An IMEI 2 column only for a profile with a dual-SIM device (the others' files stay as they were).
    let dual = crate::store::has_dual_sim(store, profile.id).map_err(|e| e.to_string())?;
    let mut header = vec!["IMEI".to_string()];
    if dual {
        header.push("IMEI 2".into());
    }
    header.extend(["Serial Number".to_string(), "Manufacturer".into()]);
    header.extend(profile.attributes.iter().cloned());
    header.extend(["Status".to_string(), "Registered At".into()]);
    w.write_record(&header).map_err(|e| e.to_string())?;
    let mut count = 0u64;
    let mut failure = None;
    let mut row: Vec<String> = Vec::new();
    crate::store::each_device(store, profile.id, &mut |d: Device| {
        row.clear();
        row.push(d.ids.imei.map(|i| i.to_string()).unwrap_or_default());
        if dual {
            row.push(d.ids.imei2.map(|i| i.to_string()).unwrap_or_default());
        }
        row.push(d.ids.serial.clone().unwrap_or_default());
        row.push(d.ids.manufacturer.clone().unwrap_or_default());
        for a in &profile.attributes {
            row.push(d.attribute(a).unwrap_or("").to_string());
        }
        row.push(d.status.label().to_string());
        // Registered At holds the time of the status: registered, or kitted at a scan station.
        row.push(d.status.at().map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)).unwrap_or_default());
        let escaped: Vec<_> = row.iter().map(|c| escape_formula(c)).collect();
        match w.write_record(escaped.iter().map(|c| c.as_ref())) {
            Ok(()) => {
                count += 1;
                true
            }
            Err(e) => {
                failure = Some(e.to_string());
                false
            }
        }
    })
    .map_err(|e| e.to_string())?;
    if let Some(e) = failure {
        return Err(e);
    }
    w.flush().map_err(|e| e.to_string())?;
    Ok(count)
}
