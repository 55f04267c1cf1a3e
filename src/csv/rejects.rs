//! The rejects file (an import's rejected rows in their original columns plus `Line` and `Reason`), and
//! `RejectLog`: an import's rejected rows as they come, the first `KEPT` held for the report and all of
//! them written to a temporary rejects file once there are more, so that an all-rejected file of
//! 200,000 rows is not held whole.

use std::io::{Seek, Write};
use std::sync::{Arc, Mutex};

use super::Rejected;
use crate::domain::text::escape_formula;

/// Rejected rows held for the report (what the terminal shows); the rest only in the rejects file.
pub const KEPT: usize = 1_000;

/// Rejected rows of any import: the header and each row as read, plus `Line` and `Reason`. Written like an
/// export (UTF-8 with a BOM, CRLF, formula cells escaped), so a spreadsheet shows every script correctly.
/// A row with fewer fields than the header is padded and one with more keeps them after `Reason`, so `Line`
/// and `Reason` always stand under their own headers.
pub fn write_rejected(header: &[String], rejected: &[Rejected], out: impl Write) -> csv::Result<()> {
    let mut w = start(header, out)?;
    for r in rejected {
        w.write_record(record(header.len(), r))?;
    }
    w.flush()?;
    Ok(())
}

/// The BOM and the header line.
fn start<W: Write>(header: &[String], mut out: W) -> csv::Result<csv::Writer<W>> {
    out.write_all(b"\xEF\xBB\xBF")?;
    let mut w = writer(out);
    let mut names: Vec<&str> = header.iter().map(String::as_str).collect();
    names.extend(["Line", "Reason"]);
    w.write_record(&names)?;
    Ok(w)
}

fn writer<W: Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new().flexible(true).terminator(csv::Terminator::CRLF).from_writer(out)
}

/// One rejected row as a line of the rejects file.
fn record(columns: usize, r: &Rejected) -> Vec<String> {
    let mut row: Vec<String> = r.fields.iter().take(columns).map(|f| escape_formula(f).into_owned()).collect();
    row.resize(columns, String::new());
    row.push(r.line.to_string());
    row.push(escape_formula(&r.reason()).into_owned());
    row.extend(r.fields.iter().skip(columns).map(|f| escape_formula(f).into_owned()));
    row
}

/// An import's rejected rows as they come (see the module). A clone shares the temporary file.
#[derive(Clone, Default)]
pub struct RejectLog {
    kept: Vec<Rejected>,
    count: usize,
    /// Every row so far as lines of the rejects file, once there are more than `KEPT`.
    spill: Option<Arc<Mutex<csv::Writer<std::fs::File>>>>,
    /// The header's length (rows are padded to it), from the first row on.
    columns: usize,
    /// Why the temporary file could not be written, if it could not.
    failed: Option<String>,
}

impl std::fmt::Debug for RejectLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RejectLog({} rows, {} kept)", self.count, self.kept.len())
    }
}

impl RejectLog {
    /// Notes a rejected row of a file whose header has `columns` names.
    pub fn push(&mut self, columns: usize, r: Rejected) {
        self.count += 1;
        self.columns = columns;
        if self.count <= KEPT {
            self.kept.push(r);
            return;
        }
        if self.spill.is_none() && self.failed.is_none() {
            match tempfile::tempfile() {
                Ok(f) => {
                    let mut w = writer(f);
                    let written = self.kept.iter().try_for_each(|k| w.write_record(record(columns, k)));
                    match written {
                        Ok(()) => self.spill = Some(Arc::new(Mutex::new(w))),
                        Err(e) => self.failed = Some(e.to_string()),
                    }
                }
                Err(e) => self.failed = Some(format!("a temporary file for the rejected rows: {e}")),
            }
        }
        if let Some(spill) = &self.spill {
            let mut w = spill.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = w.write_record(record(columns, &r)) {
                self.failed = Some(e.to_string());
            }
        }
    }

    /// How many rows were rejected.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The first `KEPT` rejected rows, for a report; `len` says how many there are.
    pub fn kept(&self) -> &[Rejected] {
        &self.kept
    }

    /// How many rejected rows are not among `kept`.
    pub fn not_kept(&self) -> usize {
        self.count - self.kept.len()
    }

    /// Writes every rejected row as the rejects file of a file with this header.
    pub fn write(&self, header: &[String], out: impl Write) -> csv::Result<()> {
        if let Some(e) = &self.failed {
            return Err(std::io::Error::other(e.clone()).into());
        }
        let Some(spill) = &self.spill else { return write_rejected(header, &self.kept, out) };
        let mut w = start(header, out)?;
        w.flush()?;
        let mut out = w.into_inner().map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut spill = spill.lock().unwrap_or_else(|p| p.into_inner());
        spill.flush()?;
        let mut file: &std::fs::File = spill.get_ref();
        let end = file.stream_position()?;
        file.rewind()?;
        let copied = std::io::copy(&mut std::io::Read::take(file, end), &mut out);
        // Back to the end, for rows that may still come.
        file.seek(std::io::SeekFrom::Start(end))?;
        copied?;
        out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv::RowProblem;

    fn row(line: u64) -> Rejected {
        let problem =
            RowProblem { column: Some((2, "OS".into())), value: "palmos".into(), reason: "no such OS".into() };
        Rejected { line, fields: vec![format!("D{line}"), "=palmos".into()], problems: vec![problem] }
    }

    /// Past `KEPT` rows the log holds only the first ones, and its rejects file is the one every row
    /// held would have made, byte for byte (written twice, and with rows pushed in between).
    #[test]
    fn a_long_log_keeps_the_first_rows_and_writes_all_of_them() {
        let header = vec!["Identifier".to_string(), "OS".to_string()];
        let mut log = RejectLog::default();
        let all: Vec<Rejected> = (2..KEPT as u64 + 502).map(row).collect();
        for r in &all[..KEPT] {
            log.push(2, r.clone());
        }
        let mut short = Vec::new();
        log.write(&header, &mut short).unwrap();
        let mut expected = Vec::new();
        write_rejected(&header, &all[..KEPT], &mut expected).unwrap();
        assert_eq!(short, expected, "up to KEPT rows, from memory");
        for r in &all[KEPT..] {
            log.push(2, r.clone());
        }
        assert_eq!((log.len(), log.kept().len(), log.not_kept()), (KEPT + 500, KEPT, 500));
        assert_eq!(log.kept(), &all[..KEPT]);
        let mut expected = Vec::new();
        write_rejected(&header, &all, &mut expected).unwrap();
        for _ in 0..2 {
            let mut written = Vec::new();
            log.clone().write(&header, &mut written).unwrap();
            assert_eq!(String::from_utf8_lossy(&written), String::from_utf8_lossy(&expected));
        }
        assert!(String::from_utf8_lossy(&expected).contains("'=palmos"), "formula cells escaped");
        log.push(2, row(9_999));
        let mut written = Vec::new();
        log.write(&header, &mut written).unwrap();
        assert!(String::from_utf8_lossy(&written).ends_with("D9999,'=palmos,9999,no such OS\r\n"));
    }
}
