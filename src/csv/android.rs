//! The Android bulk-enrollment CSV: `IMEI,Serial Number,Manufacturer` then custom-attribute columns.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::decode;
use crate::domain::text::{escape_formula, unescape_formula};
use crate::domain::{Device, Field, Identifiers, NewDevice, Profile, Source, Status, check_attribute};
use crate::store::{ImportTarget, Store, StoreError};

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
    Serial,
    Manufacturer,
    Status,
    RegisteredAt,
    Attribute,
    /// `Line` and `Reason` of a rejects file, ignored so that a fixed rejects file imports.
    Ignored,
    /// A column with an empty header: its cells must stay empty.
    Unnamed,
}

fn classify(name: &str) -> Col {
    match name.trim().to_lowercase().as_str() {
        "imei" => Col::Imei,
        "serial number" | "serial" | "serialnumber" => Col::Serial,
        "manufacturer" => Col::Manufacturer,
        "status" => Col::Status,
        "registered at" => Col::RegisteredAt,
        "line" | "reason" => Col::Ignored,
        "" => Col::Unnamed,
        _ => Col::Attribute,
    }
}

struct Header {
    names: Vec<String>,
    cols: Vec<Col>,
}

impl Header {
    fn find(&self, col: Col) -> Option<usize> {
        self.cols.iter().position(|c| *c == col)
    }

    fn column_of(&self, field: Field) -> Option<usize> {
        match field {
            Field::Imei => self.find(Col::Imei),
            Field::Serial => self.find(Col::Serial),
            Field::Manufacturer => self.find(Col::Manufacturer),
            Field::Status => self.find(Col::Status),
            Field::RegisteredAt => self.find(Col::RegisteredAt),
            Field::Attribute => None,
        }
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
            "{file}:1: the header has neither an IMEI nor a Serial Number column; expected {EXPECTED_HEADER}, found {:?}",
            names.join(",")
        )));
    }
    for (i, n) in names.iter().enumerate() {
        if cols[i] == Col::Unnamed {
            continue;
        }
        if let Some(j) = names[..i].iter().position(|m| m.to_lowercase() == n.to_lowercase()) {
            return Err(ImportError::File(format!(
                "{file}:1:{}: column {:?} appears twice (also column {})",
                i + 1,
                n,
                j + 1
            )));
        }
        if cols[i] == Col::Attribute
            && let Err(e) = check_attribute(n, "")
        {
            return Err(ImportError::File(format!("{file}:1:{}: {e}", i + 1)));
        }
    }
    Ok(Header { names, cols })
}

/// Builds the device of one data row, or the row's problems.
fn parse_row(header: &Header, fields: &[String], line: u64, file_name: &str) -> Result<NewDevice, Vec<RowProblem>> {
    let mut problems = Vec::new();
    let at = |i: usize| (i + 1, header.names[i].clone());
    let cell = |col: Col| header.find(col).map(|i| fields[i].as_str()).unwrap_or("");
    let ids = match Identifiers::parse(cell(Col::Imei), cell(Col::Serial), cell(Col::Manufacturer)) {
        Ok(ids) => Some(ids),
        Err(list) => {
            for (field, reason) in list {
                let column = header.column_of(field).map(at);
                let value = column.as_ref().map(|(n, _)| fields[n - 1].clone()).unwrap_or_default();
                problems.push(RowProblem { column, value, reason });
            }
            None
        }
    };
    let mut attributes = Vec::new();
    let mut status_raw = "";
    let mut registered_raw = "";
    for (i, col) in header.cols.iter().enumerate() {
        let v = fields[i].as_str();
        match col {
            Col::Attribute if !v.is_empty() => match check_attribute(&header.names[i], v) {
                Ok(()) => attributes.push((header.names[i].clone(), v.to_string())),
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
    let status = match status_raw.to_lowercase().as_str() {
        "" | "pending" => Some(Status::Pending),
        "registered" => match DateTime::parse_from_rfc3339(registered_raw) {
            Ok(t) => Some(Status::Registered(t.with_timezone(&Utc))),
            Err(_) => {
                let i = header.find(Col::RegisteredAt);
                problems.push(RowProblem {
                    column: i.map(at),
                    value: registered_raw.into(),
                    reason: "a registered device needs Registered At as an RFC 3339 time (2026-01-31T09:00:00Z)".into(),
                });
                None
            }
        },
        other => {
            problems.push(RowProblem {
                column: header.find(Col::Status).map(at),
                value: other.into(),
                reason: "Status must be pending or registered".into(),
            });
            None
        }
    };
    match (ids, status) {
        (Some(ids), Some(status)) if problems.is_empty() => {
            Ok(NewDevice { ids, attributes, status, source: Source::File { name: file_name.to_string(), line } })
        }
        _ => Err(problems),
    }
}

/// Imports an Android bulk-enrollment CSV into `target`. All-or-nothing unless `skip_invalid`.
/// `progress` is called every few thousand rows; returning false cancels (nothing is written).
pub fn import(
    store: &dyn Store,
    path: &Path,
    target: ImportTarget,
    opts: &ImportOptions,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<ImportReport, ImportError> {
    let file = path.display().to_string();
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| file.clone());
    let opened = decode::open(path).map_err(|e| ImportError::File(format!("{file}: {e}")))?;
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(opened.delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(opened.reader);
    let mut record = csv::StringRecord::new();
    let read = |rdr: &mut csv::Reader<_>, record: &mut csv::StringRecord| {
        rdr.read_record(record).map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            ImportError::File(format!("{file}:{line}: cannot read the file: {e}"))
        })
    };
    if !read(&mut rdr, &mut record)? {
        return Err(ImportError::File(format!("{file}: the file is empty; expected the header {EXPECTED_HEADER}")));
    }
    let header = parse_header(&file, &record)?;
    let attributes = header.attributes();
    let mut session = store.begin_import(target, !opts.dry_run)?;
    let mut report = ImportReport {
        file: file.clone(),
        encoding: opened.encoding,
        delimiter: opened.delimiter as char,
        header: header.names.clone(),
        rows: 0,
        valid: 0,
        rejected: Vec::new(),
        committed: None,
        profile: session.profile().name.clone(),
    };
    let mut fields: Vec<String> = Vec::with_capacity(header.names.len());
    let total_bytes = opened.total_bytes;
    let bytes_read = opened.bytes_read.clone();
    while read(&mut rdr, &mut record)? {
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        report.rows += 1;
        if report.rows > opts.max_rows {
            let mut total = report.rows;
            while read(&mut rdr, &mut record)? {
                if !record.iter().all(|f| f.trim().is_empty()) {
                    total += 1;
                }
            }
            return Err(ImportError::File(format!(
                "{file}: the file has {total} data rows; at most {} are allowed in one import (max_rows); nothing was imported",
                opts.max_rows
            )));
        }
        if report.rows.is_multiple_of(4096)
            && !progress(Progress {
                rows: report.rows,
                bytes: bytes_read.load(std::sync::atomic::Ordering::Relaxed),
                total_bytes,
            })
        {
            return Err(ImportError::Cancelled);
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        fields.clear();
        fields.extend(record.iter().map(|f| unescape_formula(f.trim()).to_string()));
        if fields.len() != header.names.len() {
            reject(
                &mut report,
                &mut *session,
                opts,
                Rejected {
                    line,
                    fields: fields.clone(),
                    problems: vec![RowProblem {
                        column: None,
                        value: String::new(),
                        reason: format!("expected {} fields, found {}", header.names.len(), fields.len()),
                    }],
                },
            );
            continue;
        }
        let device = match parse_row(&header, &fields, line, &file_name) {
            Ok(d) => d,
            Err(problems) => {
                reject(&mut report, &mut *session, opts, Rejected { line, fields: fields.clone(), problems });
                continue;
            }
        };
        match session.add(device, line)? {
            Ok(()) => report.valid += 1,
            Err(dups) => {
                let problems = dups
                    .into_iter()
                    .map(|(field, reason)| {
                        let column = header.column_of(field).map(|i| (i + 1, header.names[i].clone()));
                        let value = column.as_ref().map(|(n, _)| fields[n - 1].clone()).unwrap_or_default();
                        RowProblem { column, value, reason }
                    })
                    .collect();
                reject(&mut report, &mut *session, opts, Rejected { line, fields: fields.clone(), problems });
            }
        }
    }
    progress(Progress { rows: report.rows, bytes: total_bytes, total_bytes });
    if !opts.dry_run && (report.rejected.is_empty() || opts.skip_invalid) {
        report.committed = Some(session.commit(&attributes)?);
    }
    Ok(report)
}

fn reject(report: &mut ImportReport, session: &mut dyn crate::store::ImportSession, opts: &ImportOptions, r: Rejected) {
    if !opts.skip_invalid && report.rejected.is_empty() {
        session.stop_writing();
    }
    report.rejected.push(r);
}

/// Writes the rejected rows in their original columns plus `Line` and `Reason`.
pub fn write_rejects(report: &ImportReport, out: impl Write) -> csv::Result<()> {
    let mut w = csv::WriterBuilder::new().flexible(true).from_writer(out);
    let mut header: Vec<&str> = report.header.iter().map(String::as_str).collect();
    header.extend(["Line", "Reason"]);
    w.write_record(&header)?;
    for r in &report.rejected {
        let mut row: Vec<String> = r.fields.iter().map(|f| escape_formula(f).into_owned()).collect();
        row.push(r.line.to_string());
        row.push(escape_formula(&r.reason()).into_owned());
        w.write_record(&row)?;
    }
    w.flush()?;
    Ok(())
}

/// "Download Existing Inventory": every device with its status, in a file `import` reads back unchanged.
/// UTF-8 with a BOM (so spreadsheets read it as UTF-8), formula cells escaped.
pub fn export(store: &dyn Store, profile: &Profile, mut out: impl Write) -> Result<u64, String> {
    out.write_all(b"\xEF\xBB\xBF").map_err(|e| e.to_string())?;
    let mut w = csv::Writer::from_writer(out);
    let mut header = vec!["IMEI".to_string(), "Serial Number".into(), "Manufacturer".into()];
    header.extend(profile.attributes.iter().cloned());
    header.extend(["Status".to_string(), "Registered At".into()]);
    w.write_record(&header).map_err(|e| e.to_string())?;
    let mut count = 0u64;
    let mut failure = None;
    let mut row: Vec<String> = Vec::new();
    store
        .devices(profile.id, &mut |d: Device| {
            row.clear();
            row.push(d.ids.imei.map(|i| i.to_string()).unwrap_or_default());
            row.push(d.ids.serial.clone().unwrap_or_default());
            row.push(d.ids.manufacturer.clone().unwrap_or_default());
            for a in &profile.attributes {
                row.push(d.attribute(a).unwrap_or("").to_string());
            }
            row.push(d.status.label().to_string());
            row.push(match &d.status {
                Status::Registered(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                Status::Pending => String::new(),
            });
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
