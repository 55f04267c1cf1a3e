//! Facts about this process from the operating system: its user, its host.

/// The name of the operating-system user this process runs as.
pub fn user() -> String {
    #[cfg(unix)]
    {
        // SAFETY: getuid has no preconditions.
        return user_of(unsafe { libc::getuid() });
    }
    #[allow(unreachable_code)]
    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
}

/// A user's name by id ("uid N" when the system has none).
#[cfg(unix)]
pub fn user_of(uid: u32) -> String {
    // SAFETY: getpwuid_r writes into the buffers we own; the result pointer is checked before use.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 4096];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) == 0
            && !result.is_null()
            && !pwd.pw_name.is_null()
        {
            return std::ffi::CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned();
        }
    }
    format!("uid {uid}")
}

/// This machine's host name.
pub fn host() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: gethostname writes at most buf.len() bytes into buf.
        if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            return String::from_utf8_lossy(&buf[..end]).into_owned();
        }
    }
    "localhost".into()
}

/// Frees a large value on a thread of its own, so that whoever is waiting (a reply, the end of a command)
/// does not wait for it; a command that ends first leaves it to the system. When no thread can be
/// started, the value goes with the thread's closure, here.
pub fn drop_in_background<T: Send + 'static>(value: T) {
    let _ = std::thread::Builder::new().name("kitting-free".into()).spawn(move || drop(value));
}

#[cfg(test)]
mod drop_tests {
    /// A value given to `drop_in_background` is freed, on another thread.
    #[test]
    fn a_value_is_freed_on_another_thread() {
        struct Told(std::sync::mpsc::Sender<Option<String>>);
        impl Drop for Told {
            fn drop(&mut self) {
                let _ = self.0.send(std::thread::current().name().map(String::from));
            }
        }
        let (tx, rx) = std::sync::mpsc::channel();
        super::drop_in_background(Told(tx));
        let by = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(by.as_deref(), Some("kitting-free"));
    }
}
