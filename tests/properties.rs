//! Property tests (issue 14) for the parsers the fuzz targets cover (`fuzz/`, the same properties in
//! `kitting::fuzzing`): every seed of the fuzz corpora, arbitrary bytes, and files generated with a known
//! physical line for every row, whose rejected rows must be reported at exactly those lines.

use proptest::prelude::*;

mod common;

/// Every seed in `fuzz/corpus/TARGET/` holds the target's property.
fn seeds(target: &str, property: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|f| f.to_string_lossy().starts_with("seed-")) {
            property(&std::fs::read(&path).unwrap());
            n += 1;
        }
    }
    assert!(n >= 2, "{target}: {n} seeds");
}

#[test]
fn the_fuzz_seeds_hold_their_properties() {
    seeds("android_import", kitting::fuzzing::android_import);
    seeds("dep_import", kitting::fuzzing::dep_import);
    seeds("qr_payload", kitting::fuzzing::qr_payload);
    seeds("server_message", kitting::fuzzing::server_message);
}

/// One generated Android row: valid or not, how its line ends, whether a cell spans lines, blank lines
/// after it.
#[derive(Clone, Debug)]
struct Row {
    valid: bool,
    ending: &'static str,
    /// Line breaks inside a quoted attribute cell.
    inner_breaks: usize,
    blank_after: usize,
}

fn row() -> impl Strategy<Value = Row> {
    (any::<bool>(), prop::sample::select(vec!["\n", "\r\n", "\r"]), 0usize..3, 0usize..2)
        .prop_map(|(valid, ending, inner_breaks, blank_after)| Row { valid, ending, inner_breaks, blank_after })
}

/// A file of `rows` after `header`, and the physical line each invalid row starts on: `text(i, row,
/// cell)` writes row `i` around its multi-line cell, `invalid(row)` says whether it is refused.
fn file_of(
    header: &str,
    rows: &[Row],
    text: impl Fn(usize, &Row, &str) -> String,
    invalid: impl Fn(&Row) -> bool,
) -> (String, Vec<u64>) {
    let mut out = format!("{header}\n");
    let (mut line, mut lines) = (2u64, Vec::new());
    for (i, r) in rows.iter().enumerate() {
        if invalid(r) {
            lines.push(line);
        }
        let cell: Vec<String> = (0..=r.inner_breaks).map(|k| format!("part {k}")).collect();
        out.push_str(&text(i, r, &cell.join(r.ending)));
        out.push_str(r.ending);
        line += 1 + r.inner_breaks as u64;
        for _ in 0..r.blank_after {
            out.push_str(r.ending);
            line += 1;
        }
    }
    (out, lines)
}

/// An Android file: a valid row has a valid IMEI, the others a malformed one.
fn android_file(rows: &[Row]) -> (String, Vec<u64>) {
    let text = |i: usize, r: &Row, note: &str| {
        let imei = if r.valid { common::imei(i as u64 + 1) } else { format!("bad{i}") };
        format!("{imei},,,\"{note}\"")
    };
    file_of("IMEI,Serial Number,Manufacturer,Note", rows, text, |r| !r.valid)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Each rejected row is reported at the physical line where it starts, whatever the line endings,
    /// cells spanning lines and blank lines before it.
    #[test]
    fn rejected_rows_are_reported_at_their_physical_line(rows in prop::collection::vec(row(), 1..25)) {
        let (text, invalid) = android_file(&rows);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rows.csv");
        std::fs::write(&file, &text).unwrap();
        let store = kitting::store::MemoryStore::new();
        let new = kitting::ops::profiles::new_profile(
            kitting::domain::NewProfile { name: "P".into(), ..Default::default() }, 7, chrono::Utc::now()).unwrap();
        let opts = kitting::csv::android::ImportOptions { dry_run: true, skip_invalid: false, max_rows: 1000 };
        let checked = kitting::csv::android::check(
            &store, &file, kitting::store::ImportTarget::Create(Box::new(new)), &opts, &mut |_| true).unwrap();
        let lines: Vec<u64> = checked.report.rejected.iter().map(|r| r.line).collect();
        prop_assert_eq!(lines, invalid, "{:?}", text);
        prop_assert_eq!(checked.report.rows, rows.len() as u64);
    }

    /// The same for a DEP file (a device with an unknown OS, or a display name over several lines, is
    /// an invalid row).
    #[test]
    fn rejected_dep_rows_are_reported_at_their_physical_line(rows in prop::collection::vec(row(), 1..25)) {
        let line = |i: usize, r: &Row, name: &str| format!("d{i},{},\"{name}\"", if r.valid { "ios" } else { "palmos" });
        // A display name may not hold a line break: a row whose name spans lines is refused too.
        let (text, invalid) = file_of("Identifier,OS,DisplayName", &rows, line, |r| !r.valid || r.inner_breaks > 0);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dep.csv");
        std::fs::write(&file, &text).unwrap();
        let store = kitting::store::MemoryStore::new();
        let ctx = kitting::ops::Ctx::new(
            &store,
            kitting::domain::audit::Actor::named("t", kitting::domain::audit::FrontEnd::Cli),
            chrono::Utc::now(),
        );
        let c = kitting::ops::dep::DepImport { file, dry_run: true, skip_invalid: false, max_rows: 1000 };
        let report = kitting::ops::dep::import(&ctx, c, &mut |_| true).unwrap();
        let lines: Vec<u64> = report.rejected.kept().iter().map(|r| r.line).collect();
        prop_assert_eq!(lines, invalid, "{:?}", text);
    }

    /// Arbitrary bytes after a header: the fuzz target's property (never a crash, lines in order,
    /// `check` clean, export → import → export unchanged).
    #[test]
    fn any_android_file_holds_the_import_properties(body in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut bytes = b"IMEI,Serial Number,Manufacturer,Dept\n".to_vec();
        bytes.extend_from_slice(&body);
        kitting::fuzzing::android_import(&bytes);
    }

    /// Android rows made of plausible cells: many commit, so the round trip is exercised.
    #[test]
    fn plausible_android_rows_round_trip(cells in prop::collection::vec(
        (0u64..40, prop::sample::select(vec!["", "SN1", "sn1 ", "=cmd", "'x", "\"q\"", "東京", "a,b"]),
         prop::sample::select(vec!["", "Zebra", "zebra", "Samsung"]),
         prop::sample::select(vec!["", "x", "+1", "-", "@a", "multi\nline", " pad "])), 1..12)) {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["IMEI", "Serial Number", "Manufacturer", "Note"]).unwrap();
        for (n, serial, maker, note) in cells {
            let imei = if n % 3 == 0 { String::new() } else { common::imei(n) };
            w.write_record([imei.as_str(), serial, maker, note]).unwrap();
        }
        kitting::fuzzing::android_import(&w.into_inner().unwrap());
    }

    /// Arbitrary bytes after a DEP header.
    #[test]
    fn any_dep_file_holds_the_import_properties(body in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut bytes = kitting::csv::dep::TEMPLATE.as_bytes().to_vec();
        bytes.extend_from_slice(&body);
        kitting::fuzzing::dep_import(&bytes);
    }

    /// Arbitrary configuration lines for the QR payload.
    #[test]
    fn any_configuration_gives_a_payload_with_the_sites_own_keys(lines in prop::collection::vec(
        (prop::sample::select(vec!["vendor", "system", "custom", "x"]),
         prop::sample::select(vec!["wifi_ssid", "wifi_password", "server_url", "enrollment_token",
             "android.app.extra.PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME", "android.app.extra.PROVISIONING_LOCALE",
             "android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE", "k"]),
         ".{0,12}"), 0..8)) {
        let text: String = lines.iter().map(|(g, k, v)| format!("{g} {k}={v}\n")).collect();
        kitting::fuzzing::qr_payload(text.as_bytes());
    }

    /// Arbitrary server messages.
    #[test]
    fn any_server_message_decodes_or_is_refused(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut framed = (bytes.len() as u32).to_le_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        kitting::fuzzing::server_message(&framed);
    }
}
