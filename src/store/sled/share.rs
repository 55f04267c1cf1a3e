//! Who may use a database directory: its owner alone (0700 directories, 0600 files), or a Unix group
//! (`kitting db share --group G`: 2770 directories, so that new files take the group, and 0660 files).
//! A shared database is opened with umask 007, so that what sled creates later stays usable by the group.

use std::path::Path;

use crate::store::{Result, StoreError};

/// The group a database is shared with, or none (private).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sharing {
    Private,
    Group { name: String, gid: u32 },
}

/// How a directory's mode says it is shared: set-group-id and the group's read, write and search bits.
const SHARED: u32 = 0o2070;

/// Whether `dir` is set up as shared with its group.
#[cfg(unix)]
pub fn is_shared(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & SHARED == SHARED)
}

#[cfg(not(unix))]
pub fn is_shared(_dir: &Path) -> bool {
    false
}

/// A group's id by name.
#[cfg(unix)]
pub fn group_id(name: &str) -> Result<u32> {
    let c = std::ffi::CString::new(name).map_err(|_| StoreError::NotFound(format!("no group named {name:?}")))?;
    // SAFETY: getgrnam_r writes into the buffers we own; the result pointer is checked before use.
    unsafe {
        let mut grp: libc::group = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 16 * 1024];
        let mut result: *mut libc::group = std::ptr::null_mut();
        if libc::getgrnam_r(c.as_ptr(), &mut grp, buf.as_mut_ptr(), buf.len(), &mut result) == 0 && !result.is_null() {
            return Ok(grp.gr_gid);
        }
    }
    Err(StoreError::NotFound(format!(
        "no group named {} on this host (see /etc/group)",
        crate::domain::text::quote(name)
    )))
}

/// A group's name by id (its number when it has none).
#[cfg(unix)]
pub fn group_name(gid: u32) -> String {
    // SAFETY: getgrgid_r writes into the buffers we own; the result pointer is checked before use.
    unsafe {
        let mut grp: libc::group = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 16 * 1024];
        let mut result: *mut libc::group = std::ptr::null_mut();
        if libc::getgrgid_r(gid, &mut grp, buf.as_mut_ptr(), buf.len(), &mut result) == 0
            && !result.is_null()
            && !grp.gr_name.is_null()
        {
            return std::ffi::CStr::from_ptr(grp.gr_name).to_string_lossy().into_owned();
        }
    }
    gid.to_string()
}

/// What a technician outside a shared database's group is told.
#[cfg(unix)]
pub fn denied(dir: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Ok(m) if is_shared(dir) => {
            let group = group_name(m.gid());
            format!("database {shown}: permission denied: ask an administrator to add you to group {group}")
        }
        _ => format!(
            "database {shown}: permission denied: it is private to its owner (kitting db share --group G shares it)"
        ),
    }
}

/// What kitting keeps in a database directory besides the directory itself (`tighten` touches only these).
const OWN: [&str; 4] = ["kitting.lock", crate::store::remote::SOCKET, "server.log", "sled"];

/// Takes back from others (and, private, from the group) what the database directory and kitting's files
/// in it give them: a directory made readable by a umask, or by hand, while it holds tokens and Wi-Fi
/// passwords. Directories become 0700 (2770 shared), files 0600 (0660 shared); what others may not
/// touch is left alone. A file that is too open and not this user's to change refuses the database.
/// Returns how many were changed.
#[cfg(unix)]
pub fn tighten(dir: &Path) -> Result<u64> {
    use std::os::unix::fs::PermissionsExt;
    let shared = is_shared(dir);
    let (dir_mode, file_mode) = if shared { (0o2770, 0o660) } else { (0o700, 0o600) };
    let allowed = if shared { 0o2770 } else { 0o700 };
    let mut changed = 0u64;
    // The directory itself (not what else it may hold), then kitting's own files, all of them.
    let mut todo: Vec<(std::path::PathBuf, bool)> = vec![(dir.to_path_buf(), false)];
    todo.extend(OWN.iter().map(|n| (dir.join(n), true)));
    while let Some((path, descend)) = todo.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode() & 0o7777;
        let wanted = if meta.is_dir() { dir_mode } else { file_mode };
        if mode & !allowed != 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(wanted)).map_err(|e| {
                StoreError::Denied(format!(
                    "database {}: {} can be read by others (mode {mode:04o}) and cannot be made private ({e}); \
                     its owner can run kitting db share --private",
                    crate::domain::text::sanitize(&dir.display().to_string()),
                    crate::domain::text::sanitize(&path.display().to_string())
                ))
            })?;
            changed += 1;
        }
        if meta.is_dir() && descend {
            for entry in
                std::fs::read_dir(&path).map_err(|e| StoreError::Backend(format!("{}: {e}", path.display())))?
            {
                todo.push((entry.map_err(|e| StoreError::Backend(format!("{}: {e}", path.display())))?.path(), true));
            }
        }
    }
    Ok(changed)
}

#[cfg(not(unix))]
pub fn tighten(_dir: &Path) -> Result<u64> {
    Ok(0)
}

/// Makes the database directory and everything in it private (`Sharing::Private`) or usable by one group.
/// Returns how many files and directories were changed.
#[cfg(unix)]
pub fn share(dir: &Path, sharing: &Sharing) -> Result<u64> {
    use std::os::unix::fs::PermissionsExt;
    let io = |p: &Path, e: std::io::Error| StoreError::Backend(format!("{}: {e}", p.display()));
    let (dir_mode, file_mode, gid) = match sharing {
        Sharing::Private => (0o700, 0o600, None),
        Sharing::Group { gid, .. } => (0o2770, 0o660, Some(*gid)),
    };
    let mut changed = 0u64;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        let meta = std::fs::symlink_metadata(&path).map_err(|e| io(&path, e))?;
        if meta.file_type().is_symlink() {
            continue;
        }
        if let Some(gid) = gid {
            let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
                .map_err(|_| StoreError::Backend(format!("{}: a NUL in the path", path.display())))?;
            // SAFETY: a valid C string; -1 (as uid_t) keeps the owner.
            if unsafe { libc::chown(c.as_ptr(), u32::MAX, gid) } != 0 {
                let e = std::io::Error::last_os_error();
                let why = if e.kind() == std::io::ErrorKind::PermissionDenied {
                    format!("{e} (only the owner, in the group, or root can give it to the group)")
                } else {
                    e.to_string()
                };
                return Err(StoreError::Backend(format!("{}: {why}", path.display())));
            }
        }
        let mode = if meta.is_dir() { dir_mode } else { file_mode };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(|e| io(&path, e))?;
        changed += 1;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).map_err(|e| io(&path, e))? {
                todo.push(entry.map_err(|e| io(&path, e))?.path());
            }
        }
    }
    Ok(changed)
}
