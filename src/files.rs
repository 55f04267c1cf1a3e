//! Files kitting writes for the technician (exports, rejected rows, QR codes, mails, templates): private
//! (0600, whatever the umask: they can hold tokens, Wi-Fi passwords and check-in codes), never the file
//! being imported, and never an existing file unless the technician said to replace it.

use std::fs::File;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::domain::text::sanitize;

/// Why a file was not written.
#[derive(Debug)]
pub enum NotWritten {
    /// It exists, and replacing was not asked for: it is left as it is.
    Exists(String),
    /// It is the file being read.
    IsTheInput(String),
    Io(String),
}

impl std::fmt::Display for NotWritten {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotWritten::Exists(name) => write!(f, "{name} exists already; it was left as it is"),
            NotWritten::IsTheInput(name) => {
                write!(f, "{name} is the file being imported; it is not written over (choose another file)")
            }
            NotWritten::Io(message) => f.write_str(message),
        }
    }
}

/// A path as messages show it (control characters escaped).
pub fn name(path: &Path) -> String {
    sanitize(&path.display().to_string()).into_owned()
}

/// Creates `path` for writing, 0600: refused when it is `input` (the same file by device and inode, under
/// any name), and, unless `replace`, when it exists (created exclusively: no race with another writer).
pub fn create(path: &Path, replace: bool, input: Option<&Path>) -> Result<File, NotWritten> {
    let shown = name(path);
    if let Some(input) = input
        && same_file(path, input)
    {
        return Err(NotWritten::IsTheInput(shown));
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true).mode(0o600);
    if replace {
        open.create(true).truncate(true);
    } else {
        open.create_new(true);
    }
    let file = open.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => NotWritten::Exists(shown.clone()),
        _ => NotWritten::Io(format!("{shown}: {e}")),
    })?;
    // A file replaced keeps its mode otherwise.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| NotWritten::Io(format!("{shown}: {e}")))?;
    Ok(file)
}

/// Writes `bytes` to a file made by `create`, synced to the disk (a QR code, a mail the outbox then
/// marks written: what kitting says it wrote survives a power cut).
pub fn write(path: &Path, replace: bool, bytes: &[u8]) -> Result<(), NotWritten> {
    let mut file = create(path, replace, None)?;
    std::io::Write::write_all(&mut file, bytes)
        .and_then(|()| file.sync_data())
        .map_err(|e| NotWritten::Io(format!("{}: {e}", name(path))))
}

/// Syncs a directory (the names created, renamed or removed in it); one that is not there has none.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    match File::open(dir) {
        Ok(d) => d.sync_all(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_private_never_the_input_and_replaced_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.csv");
        std::fs::write(&input, "IMEI\n").unwrap();
        let linked = dir.path().join("link.csv");
        std::fs::hard_link(&input, &linked).unwrap();
        for p in [&input, &linked] {
            assert!(matches!(create(p, true, Some(&input)), Err(NotWritten::IsTheInput(_))));
        }
        assert_eq!(std::fs::read_to_string(&input).unwrap(), "IMEI\n");
        let out = dir.path().join("out.csv");
        write(&out, false, b"one").unwrap();
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(matches!(write(&out, false, b"two"), Err(NotWritten::Exists(_))));
        assert_eq!(std::fs::read(&out).unwrap(), b"one");
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&out, true, b"two").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"two");
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
