//! The properties the fuzz targets (`fuzz/`) and the property tests (`tests/properties.rs`) check, one
//! function each, so that both run the same checks: each takes arbitrary bytes and panics when kitting
//! breaks a rule on them. A refused input is fine; a crash, an inconsistent store, an export that does
//! not import back the same, or a wrong line number is not.

use std::path::Path;

use chrono::Utc;

use crate::domain::NewProfile;
use crate::domain::audit::{Actor, FrontEnd};
use crate::ops::{self, Ctx};
use crate::store::MemoryStore;
use crate::store::Store;

fn ctx(store: &dyn Store) -> Ctx<'_> {
    Ctx::new(store, Actor::named("fuzz", FrontEnd::Cli), Utc::now())
}

/// The physical lines of `bytes` as a spreadsheet counts them: LF, CRLF and a lone CR each end one.
pub fn physical_lines(bytes: &[u8]) -> u64 {
    let mut lines = 1;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => lines += 1,
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                lines += 1;
                i += 1;
            }
            b'\r' => lines += 1,
            _ => {}
        }
        i += 1;
    }
    lines
}

/// Rejected rows' lines are lines of `bytes` after the header, once each, in order.
fn lines_in_order(bytes: &[u8], rejected: &[crate::csv::Rejected]) {
    let lines = physical_lines(bytes);
    let mut last = 1;
    for r in rejected {
        assert!(r.line > last && r.line <= lines, "rejected line {} after {last}, of {lines}", r.line);
        last = r.line;
    }
}

fn import_android(store: &dyn Store, file: &Path, name: &str) -> Result<crate::csv::ImportReport, ops::OpError> {
    let new = NewProfile { name: name.into(), token_days: Some(7), ..NewProfile::default() };
    let command = ops::import::Import {
        file: file.to_path_buf(),
        to: ops::import::ImportTo::New(new),
        default_token_days: 7,
        dry_run: false,
        skip_invalid: true,
        max_rows: 200_000,
    };
    ops::import::run(&ctx(store), command, &mut |_| true)
}

/// An Android import of `bytes` (valid rows kept): whatever it refuses, every rejected row's line is a
/// line of the input after the header, once each, in order; what it commits leaves `check` clean; and
/// the profile's export imports into an empty store unchanged, and exports the same again.
pub fn android_import(bytes: &[u8]) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("in.csv");
    std::fs::write(&file, bytes).expect("the input written");
    let store = MemoryStore::new();
    let Ok(report) = import_android(&store, &file, "Fuzz") else { return };
    lines_in_order(bytes, &report.rejected);
    assert!(store.check().expect("check runs").is_empty(), "check after an import: {:?}", store.check());
    let Some(profile) = report.committed else { return };
    let mut first = Vec::new();
    crate::csv::android::export(&store, &profile, &mut first).expect("the export");
    let exported = dir.path().join("export.csv");
    std::fs::write(&exported, &first).expect("the export written");
    let again = MemoryStore::new();
    let back = import_android(&again, &exported, "Again").expect("an export imports");
    assert!(back.rejected.is_empty(), "the export's rows are all valid: {:?}", back.rejected);
    let again_profile = back.committed.expect("the export's import commits");
    assert_eq!(again_profile.device_count, profile.device_count);
    let mut second = Vec::new();
    crate::csv::android::export(&again, &again_profile, &mut second).expect("the second export");
    assert_eq!(String::from_utf8_lossy(&first), String::from_utf8_lossy(&second), "export, import, export");
}

fn import_dep(store: &dyn Store, file: &Path) -> Result<crate::csv::dep::DepReport, ops::OpError> {
    let command =
        ops::dep::DepImport { file: file.to_path_buf(), dry_run: false, skip_invalid: true, max_rows: 200_000 };
    ops::dep::import(&ctx(store), command, &mut |_| true)
}

/// A DEP import of `bytes` (valid rows kept): rejected lines are lines of the input, in order; what it
/// commits leaves `check` clean; its export imported again changes nothing and is refused nowhere.
pub fn dep_import(bytes: &[u8]) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("dep.csv");
    std::fs::write(&file, bytes).expect("the input written");
    let store = MemoryStore::new();
    // The catalog a file may name: organizations, templates and tags must exist.
    for kind in [crate::domain::dep::CatalogKind::Organization, crate::domain::dep::CatalogKind::Template] {
        let add = ops::catalog::CatalogAdd { kind, name: "Sales".into(), description: None };
        let _ = ops::catalog::add(&ctx(&store), add);
    }
    let Ok(report) = import_dep(&store, &file) else { return };
    lines_in_order(bytes, report.rejected.kept());
    assert!(store.check().expect("check runs").is_empty(), "check after a DEP import: {:?}", store.check());
    if !report.committed {
        return;
    }
    let mut first = Vec::new();
    crate::csv::dep::export(&store, &mut first).expect("the export");
    let exported = dir.path().join("export.csv");
    std::fs::write(&exported, &first).expect("the export written");
    let back = import_dep(&store, &exported).expect("an export imports");
    assert!(back.rejected.is_empty(), "the export's rows are all valid: {:?}", back.rejected);
    let changed = (back.users_created, back.users_updated, back.devices_created, back.devices_updated);
    assert_eq!(changed, (0, 0, 0, 0), "importing the export changes nothing");
}

/// A profile configured from `bytes` (lines `vendor|system|custom KEY=VALUE`): whatever it accepts,
/// the payload is JSON whose device-admin keys are the site's own (no key of a profile replaces them),
/// whose bundle carries the server URL and the token, and each accepted value is in it as given.
pub fn qr_payload(bytes: &[u8]) {
    use crate::domain::android::KeyGroup;
    let text = String::from_utf8_lossy(bytes);
    let mut profile =
        ops::profiles::new_profile(NewProfile { name: "Q".into(), ..NewProfile::default() }, 7, Utc::now())
            .expect("a profile");
    for line in text.lines() {
        let (group, rest) = line.split_once(' ').unwrap_or((line, ""));
        let (k, v) = rest.split_once('=').unwrap_or((rest, ""));
        let _ = match group {
            "vendor" => profile.config.set_vendor(k, v),
            "system" => profile.config.set_system(k, v),
            "custom" => profile.config.set_custom(k, v),
            _ => profile.config.set_lines(KeyGroup::Custom, line),
        };
    }
    let admin = crate::settings::Admin {
        component_name: "com.example.mdm/.AdminReceiver".into(),
        package_download_location: "https://mdm.example.com/agent.apk".into(),
        signature_checksum: "I5YvS0O5hXY46mb01BlRjq4oJJGs2kuUcHvVkAPEXlg".into(),
        server_url: "https://mdm.example.com/enroll".into(),
    };
    let payload = crate::qr::payload_text(&admin, &profile);
    let v: serde_json::Value = serde_json::from_str(&payload).expect("the payload is JSON");
    let key = |k: &str| v.get(format!("android.app.extra.PROVISIONING_{k}")).and_then(|x| x.as_str());
    assert_eq!(key("DEVICE_ADMIN_COMPONENT_NAME"), Some(admin.component_name.as_str()), "{payload}");
    assert_eq!(key("DEVICE_ADMIN_SIGNATURE_CHECKSUM"), Some(admin.signature_checksum.as_str()), "{payload}");
    let bundle = &v[crate::qr::ADMIN_EXTRAS_BUNDLE];
    assert_eq!(bundle["server_url"], admin.server_url.as_str(), "{payload}");
    let token = profile.token.as_ref().map(|t| t.value.as_str());
    assert_eq!(bundle["enrollment_token"].as_str(), token, "{payload}");
    for (k, value) in &profile.config.custom {
        assert_eq!(v[k.as_str()], value.as_str(), "custom key {k}: {payload}");
    }
}

/// A server's incoming message: `bytes` either decode to a request or are refused, and a request
/// encoded again decodes to the same encoding.
pub fn server_message(bytes: &[u8]) {
    use crate::store::remote::{Request, read_msg, write_msg};
    let Ok(request) = read_msg::<Request>(&mut &bytes[..]) else { return };
    let mut once = Vec::new();
    write_msg(&mut once, &request).expect("a request encodes");
    let again: Request = read_msg(&mut &once[..]).expect("what was encoded decodes");
    let mut twice = Vec::new();
    write_msg(&mut twice, &again).expect("a request encodes");
    assert_eq!(once, twice, "{request:?}");
}
