//! Files the workstation's forms name: the CSV to import (its template written where it is missing), the
//! file an export writes, the rejected rows saved beside an import.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::form::{FieldId, Form, FormField, FormPurpose};
use crate::domain::Profile;

pub const CSV_FILE: &str = "CSV file";

/// The import form's CSV file: it must exist; a `.csv` name that does not is given the `template` to fill in.
pub fn import_path(form: &Form, template: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(form.value(FieldId::CsvFile));
    if path.as_os_str().is_empty() {
        return Err("type the CSV file's path (Tab completes)".into());
    }
    if path.is_dir() || !path.exists() {
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) && !path.exists() {
            std::fs::write(&path, template).map_err(|e| format!("{}: {e}", path.display()))?;
            return Err(format!("{} did not exist: the template is written there; fill it in", path.display()));
        }
        return Err(format!("{}: no such file", path.display()));
    }
    Ok(path)
}

/// Writes the Android CSV template at `typed`: a new `.csv` path, or `devices.csv` in a folder (empty: the
/// current one). An existing file is never overwritten.
pub fn write_template(typed: &str, name: &str, template: &str) -> Result<PathBuf, String> {
    let typed = Path::new(if typed.is_empty() { "." } else { typed });
    let path = if typed.is_dir() { typed.join(name) } else { typed.to_path_buf() };
    if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        return Err(format!("{}: type a folder or a new .csv file name for the template", path.display()));
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| format!("{}: {e} (an existing file is not overwritten)", path.display()))?;
    std::io::Write::write_all(&mut file, template.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

pub fn export_form(p: &Profile, now: DateTime<Utc>) -> Form {
    let path = format!("{}-inventory-{}.csv", file_stem(&p.name), now.format("%Y%m%d"));
    Form::new(
        format!("Download the inventory of {}", p.name),
        FormPurpose::Export(p.id),
        vec![FormField::path(FieldId::File, "File", &path, "Tab completes the path")],
    )
}

/// A profile name as a safe file name part.
pub fn file_stem(name: &str) -> String {
    name.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}

fn rejects_path(csv: &Path) -> PathBuf {
    let stem = csv.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "import".into());
    csv.with_file_name(format!("{stem}-rejected.csv"))
}

/// A new file for an import's rejected rows, beside it: `NAME-rejected.csv`, or when that exists
/// `NAME-rejected-2.csv` and so on (the wizard writes with one key: it never replaces a file, the
/// import's own included, and never asks).
pub fn create_rejects(csv: &Path) -> Result<(PathBuf, std::fs::File), String> {
    let first = rejects_path(csv);
    for n in 1..1000 {
        let path = match n {
            1 => first.clone(),
            n => first.with_file_name(format!(
                "{}-{n}.csv",
                first.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
            )),
        };
        match crate::files::create(&path, false, Some(csv)) {
            Ok(file) => return Ok((path, file)),
            Err(crate::files::NotWritten::Exists(_) | crate::files::NotWritten::IsTheInput(_)) => continue,
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(format!("{} and 998 names after it exist already", crate::files::name(&first)))
}
