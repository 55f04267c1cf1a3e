//! The Android CSV import through the command line: all-or-nothing, --skip-invalid, --rejects,
//! --dry-run, the row limit, dialects and encodings, export → import.

mod common;
use common::{Env, devices_csv, imei};

#[test]
fn import_creates_profile_and_counts_devices() {
    let env = Env::new();
    let f = env.write("d.csv", devices_csv(0, 50));
    let out = env.ok(&["import", f.to_str().unwrap(), "--profile", "Dock 3", "--create"]);
    assert!(out.contains("Imported 50 devices"), "{out}");
    assert_eq!(env.device_count("Dock 3"), Some(50));
    let rows = env.devices("Dock 3");
    assert_eq!(rows[0], ["IMEI", "Serial Number", "Manufacturer", "Asset Tag", "Department", "Status", "Source"]);
    assert_eq!(rows[1][0], imei(0));
    assert_eq!(rows[1][3], "A-0");
    assert_eq!(rows[1][6], "d.csv:2");
    env.ok(&["check"]);
}

#[test]
fn missing_profile_without_create_is_refused() {
    let env = Env::new();
    let f = env.write("d.csv", devices_csv(0, 2));
    let (code, _, err) = env.run(&["import", f.to_str().unwrap(), "--profile", "Nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no profile named \"Nope\"") && err.contains("--create"), "{err}");
}

#[test]
fn one_bad_row_imports_nothing_and_names_line_column_value() {
    let env = Env::new();
    env.ok(&["profiles", "create", "P"]);
    let mut csv = devices_csv(0, 10);
    csv.push_str("3.5E+14,,,x,y\n");
    let f = env.write("bad.csv", csv);
    let (code, out, err) = env.run(&["import", f.to_str().unwrap(), "--profile", "P"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("bad.csv:12:1: IMEI \"3.5E+14\": a spreadsheet turned this IMEI into a number"), "{err}");
    assert!(err.contains("nothing imported: 1 of 11 rows were rejected"), "{err}");
    assert_eq!(env.device_count("P"), Some(0));
    assert_eq!(env.devices("P").len(), 1, "only the header");
    env.ok(&["check"]);
}

#[test]
fn duplicates_in_the_file_and_in_other_profiles_are_rejected_with_the_other_place() {
    let env = Env::new();
    let a = env.write("a.csv", devices_csv(0, 3));
    env.ok(&["import", a.to_str().unwrap(), "--profile", "First", "--create"]);
    let csv = format!(
        "IMEI,Serial Number,Manufacturer\n{},,\n{},,\n{},,\n,SN1,Zebra\n,sn1,ZEBRA\n,SN00000001,samsung\n",
        imei(100),
        imei(100),
        imei(1)
    );
    let b = env.write("b.csv", csv);
    let (code, _, err) = env.run(&["import", b.to_str().unwrap(), "--profile", "Second", "--create"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "b.csv:3:1: IMEI \"{}\": IMEI {} is already in this file at line 2",
            imei(100),
            imei(100)
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "b.csv:4:1: IMEI \"{}\": IMEI {} is already in profile \"First\" (a.csv:3)",
            imei(1),
            imei(1)
        )),
        "{err}"
    );
    assert!(
        err.contains("b.csv:6:2: Serial Number \"sn1\": serial number SN1 (zebra) is already in this file at line 5"),
        "{err}"
    );
    assert!(err.contains("b.csv:7:2: Serial Number \"SN00000001\": serial number SN00000001 (samsung) is already in profile \"First\" (a.csv:3)"), "{err}");
    assert_eq!(env.device_count("Second"), None, "the profile --create would make is not created either");
}

#[test]
fn skip_invalid_imports_the_valid_rows_and_rejects_file_reimports_once_fixed() {
    let env = Env::new();
    env.ok(&["profiles", "create", "P"]);
    let csv = format!(
        "IMEI,Serial Number,Manufacturer,Note\n{},,,ok\n12345,,,short\n{},,,\"=cmd|' /C calc'!A0\"\n,SN9,,no maker\n{},,,dup\n",
        imei(1),
        imei(2),
        imei(1)
    );
    let f = env.write("mixed.csv", csv);
    let rejects = env.path("rejects.csv");
    let (code, out, err) = env.run(&[
        "import",
        f.to_str().unwrap(),
        "--profile",
        "P",
        "--skip-invalid",
        "--rejects",
        rejects.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("5 data rows, 2 valid, 3 rejected"), "{out}");
    assert_eq!(env.device_count("P"), Some(2));
    env.ok(&["check"]);

    let text = std::fs::read_to_string(&rejects).unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        ["IMEI", "Serial Number", "Manufacturer", "Note", "Line", "Reason"]
    );
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(&rows[0][4], "3");
    assert!(rows[0][5].contains("15 digits"), "{:?}", rows[0]);
    assert_eq!(&rows[1][4], "5");
    assert_eq!(&rows[2][4], "6");
    assert!(rows[2][5].contains("already in this file at line 2"), "{:?}", rows[2]);

    // The technician fixes the rejects file in place (Line and Reason columns stay) and imports it.
    let fixed = text
        .replace("12345,", &format!("{},", imei(3)))
        .replace(",SN9,,", ",SN9,Zebra,")
        .replace(&format!("{},,,dup", imei(1)), &format!("{},,,dup", imei(4)));
    let f2 = env.write("fixed.csv", fixed);
    let out = env.ok(&["import", f2.to_str().unwrap(), "--profile", "P"]);
    assert!(out.contains("3 valid, 0 rejected"), "{out}");
    assert_eq!(env.device_count("P"), Some(5));
    let rows = env.devices("P");
    assert_eq!(
        rows[0],
        ["IMEI", "Serial Number", "Manufacturer", "Note", "Status", "Source"],
        "Line and Reason are not attributes"
    );
    env.ok(&["check"]);
}

#[test]
fn dry_run_reports_and_writes_nothing() {
    let env = Env::new();
    env.ok(&["profiles", "create", "P"]);
    let f = env.write("d.csv", devices_csv(0, 20));
    let out = env.ok(&["import", f.to_str().unwrap(), "--profile", "P", "--dry-run"]);
    assert!(out.contains("20 valid") && out.contains("Dry run: nothing was written"), "{out}");
    assert_eq!(env.device_count("P"), Some(0));
    let mut bad = devices_csv(0, 3);
    bad.push_str(&format!("{},,,,\n", imei(0)));
    let f = env.write("bad.csv", bad);
    let (code, _, err) = env.run(&["import", f.to_str().unwrap(), "--profile", "P", "--dry-run"]);
    assert_eq!(code, 1);
    assert!(err.contains("already in this file at line 2"), "{err}");
    assert_eq!(env.device_count("P"), Some(0));
}

#[test]
fn over_limit_file_is_refused_whole_with_count_and_limit() {
    let env = Env::new();
    std::fs::write(env.config(), "max_rows = 5\n").unwrap();
    env.ok(&["profiles", "create", "P"]);
    let f = env.write("big.csv", devices_csv(0, 7));
    let (code, _, err) = env.run(&["import", f.to_str().unwrap(), "--profile", "P"]);
    assert_eq!(code, 1);
    assert!(err.contains("the file has 7 data rows; at most 5 are allowed"), "{err}");
    assert_eq!(env.device_count("P"), Some(0));
    env.ok(&["check"]);
    // Exactly at the limit is fine.
    let f = env.write("five.csv", devices_csv(0, 5));
    env.ok(&["import", f.to_str().unwrap(), "--profile", "P"]);
    assert_eq!(env.device_count("P"), Some(5));
}

#[test]
fn header_without_identifier_columns_is_refused_with_the_expected_header() {
    let env = Env::new();
    env.ok(&["profiles", "create", "P"]);
    let f = env.write("h.csv", "Name,Tag\na,b\n");
    let (code, _, err) = env.run(&["import", f.to_str().unwrap(), "--profile", "P"]);
    assert_eq!(code, 1);
    assert!(err.contains("h.csv:1: the header has neither an IMEI nor a Serial Number column"), "{err}");
    assert!(err.contains("IMEI,Serial Number,Manufacturer"), "{err}");
    let f = env.write("empty.csv", "");
    let (code, _, err) = env.run(&["import", f.to_str().unwrap(), "--profile", "P"]);
    assert_eq!(code, 1);
    assert!(err.contains("empty"), "{err}");
}

#[test]
fn headers_match_case_insensitively_in_any_order_with_spaces() {
    let env = Env::new();
    let csv = format!(" manufacturer ,Custom A, serial NUMBER ,imei\nSamsung,x,SN1,{}\n", imei(9));
    let f = env.write("o.csv", csv);
    env.ok(&["import", f.to_str().unwrap(), "--profile", "P", "--create"]);
    let rows = env.devices("P");
    assert_eq!(rows[1][..4], [imei(9), "SN1".into(), "Samsung".into(), "x".into()]);
}

/// Imports `bytes` as a file and returns the devices' (IMEI, serial, manufacturer, first attribute).
fn import_bytes(bytes: &[u8]) -> Vec<Vec<String>> {
    let env = Env::new();
    let f = env.write("f.csv", bytes);
    let (code, out, err) = env.run(&["import", f.to_str().unwrap(), "--profile", "P", "--create"]);
    assert_eq!(code, 0, "{out}\n{err}");
    env.devices("P").into_iter().skip(1).map(|r| r[..4].to_vec()).collect()
}

fn expected() -> Vec<Vec<String>> {
    vec![
        vec![imei(1), "SN1".into(), "Sony".into(), "東京 倉庫".into()],
        vec![imei(2), "SN2".into(), "Sharp".into(), "a, \"b\"\nc".into()],
    ]
}

fn sample(delim: &str, eol: &str, last_eol: bool) -> String {
    let rows = [
        format!("IMEI{d}Serial Number{d}Manufacturer{d}Place", d = delim),
        format!("{}{d}SN1{d}Sony{d}東京 倉庫", imei(1), d = delim),
        format!("{}{d}SN2{d}Sharp{d}\"a, \"\"b\"\"\nc\"", imei(2), d = delim),
    ];
    let mut s = rows.join(eol);
    if last_eol {
        s.push_str(eol);
    }
    s
}

#[test]
fn line_endings_delimiters_quotes_and_last_line_without_newline() {
    for eol in ["\n", "\r\n", "\r"] {
        for delim in [",", ";", "\t"] {
            for last in [true, false] {
                let got = import_bytes(sample(delim, eol, last).as_bytes());
                assert_eq!(got, expected(), "eol {eol:?} delimiter {delim:?} last newline {last}");
            }
        }
    }
}

#[test]
fn blank_trailing_lines_and_empty_rows_are_ignored() {
    let mut s = sample(",", "\r\n", true);
    s.push_str("\r\n,,,\r\n\r\n");
    assert_eq!(import_bytes(s.as_bytes()), expected());
}

#[test]
fn encodings_utf8_bom_utf16_and_shift_jis() {
    let text = sample(",", "\r\n", true);
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(text.as_bytes());
    assert_eq!(import_bytes(&bom), expected(), "UTF-8 with BOM");

    let mut le = vec![0xFF, 0xFE];
    le.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
    assert_eq!(import_bytes(&le), expected(), "UTF-16LE");

    let mut be = vec![0xFE, 0xFF];
    be.extend(text.encode_utf16().flat_map(|u| u.to_be_bytes()));
    assert_eq!(import_bytes(&be), expected(), "UTF-16BE");

    let (sjis, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&text);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&sjis).is_err(), "the sample must not be valid UTF-8");
    assert_eq!(import_bytes(&sjis), expected(), "Shift_JIS");
}

#[test]
fn ragged_rows_are_rejected_not_a_crash() {
    let env = Env::new();
    let csv =
        format!("IMEI,Serial Number,Manufacturer\n{},SN1,Sony,extra\n{}\n{},SN3,Sony\n", imei(1), imei(2), imei(3));
    let f = env.write("r.csv", csv);
    let (code, out, err) = env.run(&["import", f.to_str().unwrap(), "--profile", "P", "--create", "--skip-invalid"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("r.csv:2: expected 3 fields, found 4"), "{err}");
    assert!(err.contains("r.csv:3: expected 3 fields, found 1"), "{err}");
    assert_eq!(env.device_count("P"), Some(1));
}

#[test]
fn export_then_import_is_lossless() {
    let env = Env::new();
    let csv = format!(
        "IMEI,Serial Number,Manufacturer,Note,Owner\n{},SN1,Sony,\"=HYPERLINK(\"\"http://x\"\")\",山田\n,SN2,Zebra,\"-5\",\n{},,,\"multi\nline, \"\"quoted\"\"\",'+81 3\n",
        imei(1),
        imei(3)
    );
    let f = env.write("a.csv", csv);
    env.ok(&["import", f.to_str().unwrap(), "--profile", "A", "--create"]);
    let token = env.ok(&["token", "show", "--profile", "A"]);
    env.ok(&["register", "--token", token.trim(), "--imei", &imei(1)]);
    let out1 = env.path("a-export.csv");
    env.ok(&["export", "--profile", "A", "-o", out1.to_str().unwrap()]);
    let exported = std::fs::read_to_string(&out1).unwrap();
    assert!(exported.starts_with('\u{feff}'), "UTF-8 BOM for spreadsheets");
    assert!(
        exported.starts_with("\u{feff}IMEI,Serial Number,Manufacturer,Note,Owner,Status,Registered At\r\n"),
        "CRLF"
    );
    assert!(exported.contains("'=HYPERLINK"), "formula cells are escaped: {exported}");
    assert!(exported.contains("'-5"), "{exported}");

    // Moving the inventory: delete the profile, import the export into a new one.
    env.ok(&["profiles", "delete", "A", "--yes"]);
    env.ok(&["import", out1.to_str().unwrap(), "--profile", "B", "--create"]);
    let out2 = env.path("b-export.csv");
    env.ok(&["export", "--profile", "B", "-o", out2.to_str().unwrap()]);
    assert_eq!(exported, std::fs::read_to_string(&out2).unwrap(), "export → import → export is identical");
    let rows = env.devices("B");
    assert_eq!(rows[1][3], "=HYPERLINK(\"http://x\")", "the stored value is the original");
    assert_eq!(rows[1][5], "registered", "status survives");
    assert_eq!(rows[2][3], "-5");
    assert_eq!(rows[3][3], "multi\nline, \"quoted\"");
    env.ok(&["check"]);
}

#[test]
fn template_is_the_asset_and_imports() {
    let env = Env::new();
    let t = env.path("template.csv");
    env.ok(&["template", "android", "-o", t.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&t).unwrap(), include_str!("../assets/android-template.csv"));
    assert!(env.ok(&["template", "android"]).starts_with("IMEI,Serial Number,Manufacturer"));
    env.ok(&["import", t.to_str().unwrap(), "--profile", "T", "--create"]);
    assert_eq!(env.device_count("T"), Some(2));
}

#[test]
fn skip_invalid_takes_late_found_duplicates_out_of_staged_chunks() {
    let env = Env::new();
    // 3,000 rows span three chunks of 1,024; duplicates sit in the first (flushed) and the last chunk.
    let mut csv = String::from("IMEI,Serial Number,Manufacturer,Row\n");
    for i in 0..3000u64 {
        let (id, serial) = match i {
            10 => (imei(5), "X10".to_string()),               // IMEI repeats row 5
            2500 => (imei(1), "X2500".to_string()),           // IMEI repeats row 1
            2600 => (imei(99_999), "SN00000007".to_string()), // serial + manufacturer repeat row 7
            _ => (imei(i), format!("SN{i:08}")),
        };
        csv.push_str(&format!("{id},{serial},Zebra,{i}\n"));
    }
    let f = env.write("late.csv", csv);
    let (code, out, err) = env.run(&["import", f.to_str().unwrap(), "--profile", "P", "--create", "--skip-invalid"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("3000 data rows, 2997 valid, 3 rejected"), "{out}");
    assert!(
        err.contains(&format!(
            "late.csv:12:1: IMEI \"{}\": IMEI {} is already in this file at line 7",
            imei(5),
            imei(5)
        )),
        "{err}"
    );
    assert!(err.contains("late.csv:2602:2: Serial Number \"SN00000007\": serial number SN00000007 (zebra) is already in this file at line 9"), "{err}");
    assert_eq!(env.device_count("P"), Some(2997));
    env.ok(&["check"]);
    let rows = env.devices("P");
    assert_eq!(rows.len(), 2998);
    let kept: std::collections::HashSet<&str> = rows.iter().skip(1).map(|r| r[3].as_str()).collect();
    for gone in ["10", "2500", "2600"] {
        assert!(!kept.contains(gone), "row {gone} must not be imported");
    }
    assert!(kept.contains("5") && kept.contains("1") && kept.contains("7"));
}

#[test]
fn piped_output_keeps_control_characters_byte_for_byte() {
    // The terminal-facing forms sanitize (tested by hand in tmux and in the table printer); piped
    // output is data and must stay exact.
    let env = Env::new();
    let f = env.write("e.csv", format!("IMEI,Note\n{},\"\u{1b}[31mred\u{7}\"\n", imei(1)));
    env.ok(&["import", f.to_str().unwrap(), "--profile", "E", "--create"]);
    let export = env.ok(&["export", "--profile", "E"]);
    assert!(export.contains("\u{1b}[31mred\u{7}"), "{export:?}");
    let table = env.ok(&["devices", "list", "--profile", "E"]);
    assert!(table.contains("\\e[31mred\\x07") && !table.contains('\u{1b}'), "{table:?}");
}

/// Dual-SIM devices: an IMEI 2 column and `--imei2`; a bad second IMEI is named by file, line, column.
#[test]
fn a_second_imei_column_is_read_listed_and_checked() {
    let env = Env::new();
    env.ok(&["profiles", "create", "Dual"]);
    let csv = "IMEI,IMEI 2,Serial Number,Manufacturer\n490154203237518,356938035643809,,\n,356938035643817,SN1,Zebra\n\
               353918051234561,353918051234561,,\n";
    let f = env.write("dual.csv", csv);
    let (code, _, err) = env.run(&["import", f.to_str().unwrap(), "--profile", "Dual"]);
    assert_eq!(code, 1);
    assert!(err.contains("dual.csv:3:2: IMEI 2 \"356938035643817\": a second IMEI needs a first one"), "{err}");
    assert!(err.contains("dual.csv:4:2: IMEI 2 \"353918051234561\": the second IMEI"), "{err}");
    // Repeats inside the file are named by the column they are in.
    let f = env.write(
        "rep.csv",
        "IMEI,IMEI 2,Serial Number,Manufacturer\n490154203237518,356938035643809,,\n352099001761481,490154203237518,,\n\
         356938035643809,,,\n",
    );
    let (code, _, err) = env.run(&["import", f.to_str().unwrap(), "--profile", "Dual"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("rep.csv:3:2: IMEI 2 \"490154203237518\": IMEI 490154203237518 is already in this file at line 2"),
        "{err}"
    );
    assert!(
        err.contains("rep.csv:4:1: IMEI \"356938035643809\": IMEI 356938035643809 is already in this file at line 2"),
        "{err}"
    );
    let f = env.write("ok.csv", "IMEI,IMEI 2,Serial Number,Manufacturer\n490154203237518,356938035643809,,\n");
    env.ok(&["import", f.to_str().unwrap(), "--profile", "Dual"]);
    env.ok(&["devices", "add", "--profile", "Dual", "--imei", "352099001761481", "--imei2", "352099001761499"]);
    let (code, _, err) =
        env.run(&["devices", "add", "--profile", "Dual", "--imei", "353918051234561", "--imei2", "356938035643809"]);
    assert_eq!(code, 1);
    assert!(err.contains("IMEI 356938035643809 is already in profile \"Dual\""), "{err}");
    let list = env.ok(&["devices", "list", "--profile", "Dual", "--format", "csv"]);
    assert!(list.starts_with("IMEI,IMEI 2,Serial Number"), "{list}");
    assert!(list.contains("352099001761481,352099001761499"), "{list}");
    let found = env.ok(&["find", "352099001761499"]);
    assert!(found.contains("352099001761481"), "found by its second IMEI: {found}");
}
