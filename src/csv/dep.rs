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
    record: csv::StringRecord,
    pub bytes_read: std::sync::Arc<std::sync::atomic::AtomicU64>,
    pub total_bytes: u64,
}

/// One data row: its physical line, its fields as read, and its cells by column (`None` when the row has
/// another number of fields than the header).
pub type DepRow<'a> = (u64, Vec<&'a str>, Option<Vec<(Col, usize, &'a str)>>);

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
        Ok(DepFile { report, header, rdr, record, bytes_read, total_bytes })
    }

    pub fn mode(&self) -> Mode {
        self.header.mode
    }

    /// The report so far: file, encoding, delimiter, header and mode.
    pub fn report(&self) -> DepReport {
        self.report.clone()
    }

    /// The next data row, or `None` at the end.
    pub fn next_row(&mut self) -> Result<Option<DepRow<'_>>, ImportError> {
        loop {
            if !read_record(&self.report.file, &mut self.rdr, &mut self.record)? {
                return Ok(None);
            }
            if !is_blank(&self.record) {
                break;
            }
        }
        let line = self.record.position().map(|p| p.line()).unwrap_or(0);
        let fields: Vec<&str> = self.record.iter().collect();
        let cells = (self.record.len() == self.header.cols.len()).then(|| {
            self.header
                .cols
                .iter()
                .zip(self.record.iter())
                .enumerate()
                .map(|(i, (c, v))| (*c, i + 1, cell(v)))
                .collect()
        });
        Ok(Some((line, fields, cells)))
    }
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
