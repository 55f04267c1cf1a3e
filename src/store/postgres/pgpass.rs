//! The password file as libpq reads it (`~/.pgpass`, or `PGPASSFILE`): lines of
//! `hostname:port:database:username:password`, each of the first four a value or `*`, `\:` and `\\`
//! escaping; the first line that matches gives the password. A file that its group or others may read is
//! passed over, as libpq does.

use std::path::Path;

/// The password for this connection, if the file has one.
pub fn lookup(file: &Path, host: &str, port: u16, dbname: &str, user: &str) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if std::fs::metadata(file).ok()?.permissions().mode() & 0o077 != 0 {
            return None;
        }
    }
    let text = std::fs::read_to_string(file).ok()?;
    let port = port.to_string();
    // A Unix socket connection matches the host name "localhost", as in libpq.
    let host = if host.starts_with('/') { "localhost" } else { host };
    text.lines().filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty()).find_map(|line| {
        let fields = split(line);
        let [h, p, d, u, password] = <[String; 5]>::try_from(fields).ok()?;
        let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        (matches(&h, host) && matches(&p, &port) && matches(&d, dbname) && matches(&u, user)).then_some(password)
    })
}

/// A line's fields: split at `:` that is not escaped, escapes undone; the password takes the rest.
fn split(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut().expect("one field at least").push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().expect("one field at least").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str, mode: u32) -> tempfile::NamedTempFile {
        use std::os::unix::fs::PermissionsExt;
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        f
    }

    #[test]
    fn the_first_matching_line_gives_the_password_with_wildcards_and_escapes() {
        let f = file(
            "# comment\nother:5432:kitting:ann:wrong\ndb.example.com:5432:kitting:ann:p\\:w\\\\1\n*:*:*:ann:fallback\n",
            0o600,
        );
        assert_eq!(lookup(f.path(), "db.example.com", 5432, "kitting", "ann").as_deref(), Some("p:w\\1"));
        assert_eq!(lookup(f.path(), "elsewhere", 6543, "x", "ann").as_deref(), Some("fallback"));
        assert_eq!(lookup(f.path(), "elsewhere", 6543, "x", "bob"), None);
        assert_eq!(lookup(f.path(), "/run/postgresql", 5432, "kitting", "ann").as_deref(), Some("fallback"));
    }

    #[test]
    fn a_file_others_may_read_is_passed_over() {
        let f = file("*:*:*:*:secret\n", 0o644);
        assert_eq!(lookup(f.path(), "h", 5432, "d", "u"), None);
    }
}
