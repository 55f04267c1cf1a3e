//! `config.toml`: where the database lives, the import limit, token defaults, the site's admin settings.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

pub const DEFAULT_MAX_ROWS: u64 = 200_000;

#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Database directory; `--db` and `KITTING_DB` override it.
    pub db: Option<PathBuf>,
    /// Most data rows in one import.
    pub max_rows: Option<u64>,
    /// Token lifetime in days for new profiles (7 to 99).
    pub token_days: Option<u32>,
    #[serde(default)]
    pub android: AdminSettings,
    /// The workstation's colours: "dark" (default), "light" or "none"; `NO_COLOR` always means none.
    pub theme: Option<String>,
    /// Key bindings for the workstation (read by the terminal UI).
    #[serde(default)]
    pub keys: toml::Table,
    #[serde(default)]
    pub scan: ScanSettings,
    #[serde(default)]
    pub qr: QrSettings,
    #[serde(default)]
    pub server: ServerSettings,
}

/// The kitting server a command or workstation starts when it finds none on its database.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Start a server in the background when none answers (else the database is opened directly, by
    /// one process at a time).
    pub autostart: bool,
    /// Seconds a server started that way lives after its last client left.
    pub idle_exit: u64,
}

impl Default for ServerSettings {
    fn default() -> ServerSettings {
        ServerSettings { autostart: true, idle_exit: 60 }
    }
}

/// How the workstation draws the provisioning QR code.
#[derive(Clone, Debug, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QrSettings {
    pub graphics: Graphics,
}

/// The terminal graphics protocol for the QR code: asked of the terminal (`auto`), named, or none (the
/// code is drawn with characters).
#[derive(Clone, Copy, Debug, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Graphics {
    #[default]
    Auto,
    Sixel,
    Kitty,
    Iterm2,
    Off,
}

/// The scan station's defaults.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ScanSettings {
    /// Ring the terminal bell on every refused scan.
    pub bell: bool,
    /// Remove a leading `S` (a serial-number label's data identifier) from scanned serial numbers.
    pub strip_serial_s: bool,
    /// Pair a serial number scanned right after an IMEI into that IMEI's device.
    pub pair_serial: bool,
    /// Pair a second IMEI scanned right after the first into that device (dual-SIM).
    pub pair_imei: bool,
}

impl Default for ScanSettings {
    fn default() -> ScanSettings {
        ScanSettings { bell: true, strip_serial_s: false, pair_serial: false, pair_imei: false }
    }
}

/// The site's device-admin settings, carried in every provisioning QR code.
#[derive(Clone, Debug, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    pub admin_component_name: Option<String>,
    pub package_download_location: Option<String>,
    pub signature_checksum: Option<String>,
    pub server_url: Option<String>,
}

/// The admin settings once every one is present and valid.
#[derive(Clone, Debug, PartialEq)]
pub struct Admin {
    pub component_name: String,
    pub package_download_location: String,
    pub signature_checksum: String,
    pub server_url: String,
}

impl AdminSettings {
    pub fn complete(&self, source: &str) -> Result<Admin, String> {
        let need = |v: &Option<String>, key: &str| {
            v.clone().filter(|s| !s.trim().is_empty()).ok_or_else(|| {
                format!("{source}: android.{key} is not set; the QR code needs it (see config.example.toml)")
            })
        };
        let admin = Admin {
            component_name: need(&self.admin_component_name, "admin_component_name")?,
            package_download_location: need(&self.package_download_location, "package_download_location")?,
            signature_checksum: need(&self.signature_checksum, "signature_checksum")?,
            server_url: need(&self.server_url, "server_url")?,
        };
        if !admin.component_name.contains('/') {
            return Err(format!(
                "{source}: android.admin_component_name {:?} must look like package/.Receiver",
                admin.component_name
            ));
        }
        for (key, url) in
            [("package_download_location", &admin.package_download_location), ("server_url", &admin.server_url)]
        {
            if !url.starts_with("https://") {
                return Err(format!("{source}: android.{key} {url:?} must be an https:// URL"));
            }
        }
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(admin.signature_checksum.trim_end_matches('='))
            .map_err(|e| format!("{source}: android.signature_checksum is not URL-safe base64: {e}"))?;
        if decoded.len() != 32 {
            return Err(format!(
                "{source}: android.signature_checksum decodes to {} bytes; a SHA-256 checksum has 32",
                decoded.len()
            ));
        }
        Ok(admin)
    }
}

impl Settings {
    pub fn max_rows(&self) -> u64 {
        self.max_rows.unwrap_or(DEFAULT_MAX_ROWS)
    }

    pub fn token_days(&self) -> u32 {
        self.token_days.unwrap_or(crate::domain::token::DEFAULT_DAYS)
    }

    pub fn parse(text: &str, source: &str) -> Result<Settings, String> {
        let s: Settings = toml::from_str(text).map_err(|e| format!("{source}: {}", e.to_string().trim()))?;
        if let Some(d) = s.token_days {
            crate::domain::token::check_days(d).map_err(|e| format!("{source}: token_days: {e}"))?;
        }
        if s.max_rows == Some(0) {
            return Err(format!("{source}: max_rows must be at least 1"));
        }
        Ok(s)
    }

    /// Loads `--config FILE` (which must exist) or the default file (which may be absent).
    pub fn load(explicit: Option<&Path>) -> Result<(Settings, String), String> {
        let (path, must_exist) = match explicit {
            Some(p) => (p.to_path_buf(), true),
            None => match default_config_path() {
                Some(p) => (p, false),
                None => return Ok((Settings::default(), "built-in defaults".into())),
            },
        };
        let source = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let settings = Settings::parse(&text, &source)?;
                if let Some(warning) = exposure(&path, &settings)? {
                    eprintln!("kitting: warning: {warning}");
                }
                Ok((settings, source))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
                Ok((Settings::default(), "built-in defaults".into()))
            }
            Err(e) => Err(format!("{source}: {e}")),
        }
    }
}

/// A config file others can write is refused: it decides the server URL and the DPC checksum every QR
/// code carries, and the database. One that others can read while it holds a secret (a password in a
/// PostgreSQL URL; kitting keeps Wi-Fi passwords in the database, not here) is warned about.
#[cfg(unix)]
fn exposure(path: &Path, settings: &Settings) -> Result<Option<String>, String> {
    use std::os::unix::fs::PermissionsExt;
    let shown = crate::domain::text::sanitize(&path.display().to_string()).into_owned();
    let mode = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?.permissions().mode() & 0o7777;
    if mode & 0o002 != 0 {
        return Err(format!(
            "{shown}: others can write this config file (mode {mode:04o}), and it decides the server URL, the DPC \
             checksum every QR code carries and the database; refused (chmod o-w {shown})"
        ));
    }
    let secret = settings.db.as_ref().is_some_and(|db| {
        let db = db.to_string_lossy();
        (db.starts_with("postgres://") || db.starts_with("postgresql://"))
            && db.split_once("://").and_then(|(_, rest)| rest.split_once('@')).is_some_and(|(who, _)| who.contains(':'))
    });
    Ok((secret && mode & 0o004 != 0).then(|| {
        format!(
            "{shown} holds a database password and others can read it (mode {mode:04o}): chmod o-r {shown}, or put \
             the password in ~/.pgpass or PGPASSWORD instead"
        )
    }))
}

#[cfg(not(unix))]
fn exposure(_path: &Path, _settings: &Settings) -> Result<Option<String>, String> {
    Ok(None)
}

pub fn default_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("kitting").join("config.toml"))
}

pub fn default_db_path() -> PathBuf {
    dirs::data_dir().unwrap_or_else(|| PathBuf::from(".")).join("kitting").join("db")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_is_complete() {
        let s = Settings::parse(include_str!("../config.example.toml"), "config.example.toml").unwrap();
        assert_eq!(s.max_rows(), 200_000);
        s.android.complete("config.example.toml").unwrap();
    }

    #[test]
    fn bad_settings_are_named() {
        assert!(Settings::parse("token_days = 3", "c.toml").unwrap_err().contains("token_days"));
        assert!(Settings::parse("colour = 1", "c.toml").unwrap_err().contains("colour"));
        let a = AdminSettings {
            admin_component_name: Some("com.x/.R".into()),
            package_download_location: Some("https://x/a.apk".into()),
            signature_checksum: Some("abc".into()),
            server_url: Some("https://x".into()),
        };
        assert!(a.complete("c.toml").unwrap_err().contains("32"));
        assert!(AdminSettings::default().complete("c.toml").unwrap_err().contains("admin_component_name"));
    }

    #[test]
    fn the_qr_graphics_protocol_is_asked_named_or_off() {
        assert_eq!(Settings::default().qr.graphics, Graphics::Auto);
        let example = Settings::parse(include_str!("../config.example.toml"), "config.example.toml").unwrap();
        assert_eq!(example.qr.graphics, Graphics::Auto);
        for (text, g) in [
            ("sixel", Graphics::Sixel),
            ("kitty", Graphics::Kitty),
            ("iterm2", Graphics::Iterm2),
            ("off", Graphics::Off),
        ] {
            let s = Settings::parse(&format!("[qr]\ngraphics = \"{text}\""), "c.toml").unwrap();
            assert_eq!(s.qr.graphics, g);
        }
        let e = Settings::parse("[qr]\ngraphics = \"png\"", "c.toml").unwrap_err();
        assert!(e.contains("c.toml") && e.contains("png") && e.contains("sixel"), "{e}");
        // Off never asks the terminal (nothing is written to it, nothing read).
        assert!(crate::tui::graphics::detect(Graphics::Off).is_none());
    }
}
