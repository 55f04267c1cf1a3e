//! The Apple DEP device-information CSV as a file: a header of exact, case-sensitive names decides what the
//! file does (users and devices together, devices only, users only); then its rows, whose rules (blank
//! means "no value" on create and "clear" on update, a column left out leaves its field alone, ...) are the
//! core's (`ops::dep_rows`); and the export in the same format.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use super::android::{ImportError, cell, csv_reader, is_blank, read_record};
use super::decode;
use crate::domain::User;
pub use crate::domain::dep::{Col, HEADERS, Mode};
use crate::domain::text::escape_formula;
use crate::store::{DepChange, Store};

/// The template: the header and the seed's first example.
pub const TEMPLATE: &str = "UserName,Name,EmailAddress,UserDescription,Organizations,Identifier,Template,Code,OS,\
DeviceTags,WifiMac,IMEI,MEID,UDID,Serial,ExpirationDays,DisplayName,Description,RegistrationEmail,DEPMethod\r\n\
user0001,Test User 1,,User description 1,,apple001,,,ios,,,,,,AAABBBCCCDDD,,iOS Device 1,,,Serial\r\n";

/// A stored value that a row clears.
#[derive(Clone, Debug, PartialEq)]
pub struct Cleared {
    pub line: u64,
    pub record: String,
    pub field: &'static str,
    pub old: String,
}

#[derive(Clone, Debug, Default)]
pub struct DepReport {
    pub file: String,
    pub encoding: &'static str,
    pub delimiter: char,
    pub header: Vec<String>,
    pub mode: Option<Mode>,
    pub rows: u64,
    pub users_created: u64,
    pub users_updated: u64,
    pub devices_created: u64,
    pub devices_updated: u64,
    /// Rows (or parts of rows) that change nothing.
    pub unchanged: u64,
    pub cleared: Vec<Cleared>,
    /// The rejected rows: the first `rejects::KEPT`, and all of them for the rejects file.
    pub rejected: super::RejectLog,
    /// Check-in emails queued (or that would be).
    pub mails: u64,
    pub committed: bool,
    /// What the import writes, when it is to write anything (not a dry run, and no rejected row unless
    /// rejected rows are skipped): the core applies it with its audit entry and sets `committed`.
    pub pending: Option<DepChange>,
}

impl DepReport {
    pub fn valid(&self) -> u64 {
        self.rows - self.rejected.len() as u64
    }
}

struct Header {
    names: Vec<String>,
    cols: Vec<Col>,
    mode: Mode,
}

impl Header {
    fn parse(file: &str, record: &csv::StringRecord) -> Result<Header, ImportError> {
        let mut cols = Vec::new();
        let mut names = Vec::new();
        for (i, raw) in record.iter().enumerate() {
            let name = raw.trim_start_matches('\u{feff}');
            let Some(col) = Col::from_name(name) else {
                return Err(ImportError::File(format!(
                    "{file}:1:{}: unknown header {name:?} (header names are exact and case-sensitive, without \
                     spaces); valid: {}",
                    i + 1,
                    HEADERS.join(", ")
                )));
            };
            if cols.contains(&col) {
                return Err(ImportError::File(format!("{file}:1:{}: header {name} appears twice", i + 1)));
            }
            cols.push(col);
            names.push(name.to_string());
        }
        let mode = Mode::of(&cols).map_err(|e| ImportError::File(format!("{file}:1: {e}")))?;
        Ok(Header { names, cols, mode })
    }
}

/// A device-information file being read: its header (what it does) and then its data rows, one at a time,
/// blank rows skipped. The rules a row must follow are the core's (`ops::dep_rows`).
pub struct DepFile {
    report: DepReport,
    header: Header,
    rdr: super::android::Reader,
    pub bytes_read: std::sync::Arc<std::sync::atomic::AtomicU64>,
    pub total_bytes: u64,
}

/// One data row: its physical line, its fields as read, and its cells by column with their 1-based column
/// numbers (`None` when the row has another number of fields than the header).
pub type DepRow<'a> = (u64, &'a [&'a str], Option<&'a [(Col, usize, &'a str)]>);

/// Records read ahead, a batch at a time, and what stopped the reading after them (an error), if anything.
struct Batch {
    records: Vec<csv::StringRecord>,
    len: usize,
    error: Option<ImportError>,
}

/// Records a batch holds: enough that handing batches over costs little, few enough to start soon.
const BATCH: usize = 512;

impl DepFile {
    pub fn open(path: &Path) -> Result<DepFile, ImportError> {
        let file = super::android::display_name(path);
        let opened = decode::open(path).map_err(|e| ImportError::File(e.located(&file)))?;
        DepFile::from_opened(file, opened)
    }

    fn from_opened(file: String, opened: decode::Opened) -> Result<DepFile, ImportError> {
        let (encoding, delimiter) = (opened.encoding, opened.delimiter as char);
        let (total_bytes, bytes_read) = (opened.total_bytes, opened.bytes_read.clone());
        let mut rdr = csv_reader(opened);
        let mut record = csv::StringRecord::new();
        // Blank lines before the header are skipped, as blank rows are.
        while read_record(&file, &mut rdr, &mut record)? {
            if !is_blank(&record) {
                break;
            }
        }
        if record.is_empty() || is_blank(&record) {
            return Err(ImportError::File(format!(
                "{file}: the file is empty; expected a header of: {}",
                HEADERS.join(",")
            )));
        }
        let header = Header::parse(&file, &record)?;
        let report = DepReport {
            file,
            encoding,
            delimiter,
            header: header.names.clone(),
            mode: Some(header.mode),
            ..DepReport::default()
        };
        Ok(DepFile { report, header, rdr, bytes_read, total_bytes })
    }

    pub fn mode(&self) -> Mode {
        self.header.mode
    }

    /// The report so far: file, encoding, delimiter, header and mode.
    pub fn report(&self) -> DepReport {
        self.report.clone()
    }

    /// Hands every data row to `each`, in order, blank rows skipped, while a second thread reads and
    /// parses the rows after it (batches of records, used again once handed over). `each` returns false to
    /// stop early. A read error ends the rows where it happened: the rows before it are handed over first.
    pub fn each_row<E: From<ImportError>>(self, mut each: impl FnMut(DepRow) -> Result<bool, E>) -> Result<(), E> {
        let DepFile { report, header, mut rdr, .. } = self;
        let file = report.file.as_str();
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Batch>(2);
        let (free_tx, free_rx) = std::sync::mpsc::channel::<Vec<csv::StringRecord>>();
        std::thread::scope(|scope| {
            let reader = std::thread::Builder::new().name("kitting-read".into()).spawn_scoped(scope, move || {
                loop {
                    let mut records = free_rx.try_recv().unwrap_or_default();
                    records.resize_with(BATCH, csv::StringRecord::new);
                    let (mut len, mut error, mut end) = (0, None, false);
                    while len < BATCH {
                        match read_record(file, &mut rdr, &mut records[len]) {
                            Ok(true) if is_blank(&records[len]) => {}
                            Ok(true) => len += 1,
                            Ok(false) => {
                                end = true;
                                break;
                            }
                            Err(e) => {
                                (error, end) = (Some(e), true);
                                break;
                            }
                        }
                    }
                    // The rows' taker stopped: nothing more to read.
                    if full_tx.send(Batch { records, len, error }).is_err() || end {
                        return;
                    }
                }
            });
            let reader =
                reader.map_err(|e| ImportError::File(format!("{file}: cannot start the reading thread: {e}")))?;
            // The batches are taken here, and no longer once this returns: a reader still reading then stops.
            let taken = take_rows(full_rx, free_tx, &header.cols, &mut each);
            reader.join().map_err(|_| ImportError::File(format!("{file}: the reading thread failed")))?;
            taken
        })
    }
}

/// The rows of the batches `full` brings, to `each` in order; each batch's records go back by `free`.
fn take_rows<E: From<ImportError>>(
    full: std::sync::mpsc::Receiver<Batch>,
    free: std::sync::mpsc::Sender<Vec<csv::StringRecord>>,
    cols: &[Col],
    each: &mut impl FnMut(DepRow) -> Result<bool, E>,
) -> Result<(), E> {
    let width = cols.len();
    for batch in full.iter() {
        let mut fields: Vec<&str> = Vec::with_capacity(width);
        let mut cells: Vec<(Col, usize, &str)> = Vec::with_capacity(width);
        for record in &batch.records[..batch.len] {
            let line = record.position().map(|p| p.line()).unwrap_or(0);
            fields.clear();
            fields.extend(record.iter());
            cells.clear();
            let full = record.len() == width;
            if full {
                let by_column = cols.iter().zip(record.iter()).enumerate();
                cells.extend(by_column.map(|(i, (c, v))| (*c, i + 1, cell(v))));
            }
            if !each((line, &fields, full.then_some(cells.as_slice())))? {
                return Ok(());
            }
        }
        if let Some(e) = batch.error {
            return Err(e.into());
        }
        let _ = free.send(batch.records);
    }
    Ok(())
}

/// Every user and device in the import's format: devices with their owner's columns, then users who own
/// no device. UTF-8 with a BOM, formula cells escaped; importing it back changes nothing.
pub fn export(store: &dyn Store, out: impl Write) -> Result<u64, String> {
    let mut out = out;
    out.write_all(b"\xEF\xBB\xBF").map_err(|e| e.to_string())?;
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out);
    w.write_record(HEADERS).map_err(|e| e.to_string())?;
    let users: HashMap<String, User> =
        store.users().map_err(|e| e.to_string())?.into_iter().map(|u| (u.username.to_lowercase(), u)).collect();
    let mut owning = std::collections::HashSet::new();
    let mut n = 0u64;
    let user_cells = |u: Option<&User>| -> Vec<String> {
        match u {
            Some(u) => vec![
                u.username.clone(),
                u.name.clone(),
                u.email.clone(),
                u.description.clone(),
                u.organizations.join("|"),
            ],
            None => vec![String::new(); 5],
        }
    };
    let mut write = |row: Vec<String>| -> Result<(), String> {
        let escaped: Vec<_> = row.iter().map(|c| escape_formula(c)).collect();
        w.write_record(escaped.iter().map(|c| c.as_ref())).map_err(|e| e.to_string())
    };
    for d in store.dep_devices().map_err(|e| e.to_string())? {
        let owner = d.user.as_ref().and_then(|u| users.get(&u.to_lowercase()));
        if let Some(u) = owner {
            owning.insert(u.username.to_lowercase());
        }
        let mut row = user_cells(owner);
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        row.extend([
            d.identifier.clone(),
            o(&d.template),
            d.code.clone(),
            d.os.as_str().to_string(),
            d.tags.join("|"),
            o(&d.wifi_mac),
            o(&d.imei),
            o(&d.meid),
            o(&d.udid),
            o(&d.serial),
            d.expiration_days.to_string(),
            o(&d.display_name),
            o(&d.description),
            o(&d.registration_email),
            d.dep_method.map(|m| m.as_str().to_string()).unwrap_or_default(),
        ]);
        write(row)?;
        n += 1;
    }
    let mut rest: Vec<&User> = users.values().filter(|u| !owning.contains(&u.username.to_lowercase())).collect();
    rest.sort_by(|a, b| a.username.cmp(&b.username));
    for u in rest {
        let mut row = user_cells(Some(u));
        row.extend(std::iter::repeat_n(String::new(), 15));
        write(row)?;
    }
    w.flush().map_err(|e| e.to_string())?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(text: &str) -> (tempfile::TempDir, DepFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.csv");
        std::fs::write(&path, text).unwrap();
        let file = DepFile::open(&path).unwrap();
        (dir, file)
    }

    fn rows(n: usize) -> String {
        let mut text = String::from("Identifier,OS\n");
        for i in 0..n {
            text.push_str(&format!("D{i},ios\n"));
            if i % 700 == 0 {
                text.push_str(",\n\n");
            }
        }
        text
    }

    /// Rows read on the second thread come in order, with their physical lines (blank rows skipped),
    /// across many batches; a row with another number of cells has none by column.
    #[test]
    fn rows_come_in_order_with_their_lines() {
        let mut text = rows(3000);
        text.push_str("D3000,ios,extra\n");
        let (_dir, file) = open(&text);
        let mut seen = Vec::new();
        file.each_row(|(line, fields, cells)| {
            seen.push((line, fields[0].to_string(), cells.map(|c| c.to_vec().len())));
            Ok::<_, ImportError>(true)
        })
        .unwrap();
        assert_eq!(seen.len(), 3001);
        let mut line = 1;
        for (i, (at, id, cells)) in seen.iter().enumerate().take(3000) {
            line += 1;
            assert_eq!((*at, id.as_str(), *cells), (line, format!("D{i}").as_str(), Some(2)));
            if i % 700 == 0 {
                line += 2;
            }
        }
        assert_eq!(seen[3000].2, None);
    }

    /// Stopping early returns at once (the reader, ahead by a batch or two, stops too), and an error in
    /// the file comes after the rows before it.
    #[test]
    fn stopping_early_and_an_error_after_many_rows() {
        let (_dir, file) = open(&rows(20_000));
        let mut taken = 0;
        file.each_row(|_| {
            taken += 1;
            Ok::<_, ImportError>(taken < 10)
        })
        .unwrap();
        assert_eq!(taken, 10);
        let mut text = rows(1300);
        text.push_str(&format!("{},ios\n", "x".repeat(2 << 20)));
        text.push_str(&rows(10));
        let (_dir, file) = open(&text);
        let mut taken = 0;
        let e = file
            .each_row(|_| {
                taken += 1;
                Ok::<_, ImportError>(true)
            })
            .unwrap_err();
        // Line 1,306: the header, 1,300 rows and two blank lines after each of rows 0 and 700.
        assert_eq!(taken, 1300);
        assert!(e.to_string().contains("rows.csv:1306:1"), "{e}");
    }
}
