//! Defects found in the command line (issue 10's list), each with the test that showed it.

mod common;
use common::{Env, devices_csv, imei};

/// Bug 1: in a CRLF file (what spreadsheets on Windows save), the line of a device and of a rejection is
/// the physical line where its row starts, and the quoted value comes from that row.
#[test]
fn crlf_files_name_the_physical_line_and_the_rows_own_value() {
    let env = Env::new();
    let first = "IMEI,Serial Number,Manufacturer\r\n,SN1,Zebra\r\n,SN2,Zebra\r\n";
    let a = env.write("a.csv", first);
    env.ok(&["import", a.to_str().unwrap(), "--profile", "A", "--create"]);
    let rows = env.devices("A");
    assert_eq!(rows[1][4], "a.csv:2", "{rows:?}");
    assert_eq!(rows[2][4], "a.csv:3", "{rows:?}");

    // A quoted newline inside a cell: the next row still starts on its own physical line.
    let second = format!(
        "IMEI,Serial Number,Manufacturer,Note\r\n{},,,\"two\r\nlines\"\r\n,SN2,Zebra,x\r\n{},,,y\r\n",
        imei(1),
        imei(2)
    );
    let b = env.write("b.csv", second);
    let (code, _, err) = env.run(&["import", b.to_str().unwrap(), "--profile", "B", "--create"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(
            "b.csv:4:2: Serial Number \"SN2\": serial number SN2 (zebra) is already in profile \"A\" (a.csv:3)"
        ),
        "{err}"
    );
    let ok = format!(
        "\u{feff}IMEI,Serial Number,Manufacturer,Note\r\n{},,,\"two\r\nlines\"\r\n{},,,y\r\n",
        imei(1),
        imei(2)
    );
    let c = env.write("c.csv", ok);
    env.ok(&["import", c.to_str().unwrap(), "--profile", "C", "--create"]);
    let rows = env.devices("C");
    assert_eq!((rows[1][5].as_str(), rows[2][5].as_str()), ("c.csv:2", "c.csv:4"), "{rows:?}");
    assert_eq!(rows[1][3], "two\r\nlines", "a line break inside a cell is the cell's text");
}

/// Bug 2: a row that repeats an earlier row of the file is not counted as valid; counts add up.
#[test]
fn dry_run_counts_add_up_with_repeated_rows() {
    let env = Env::new();
    let csv = format!("IMEI,Serial Number,Manufacturer\n{},,\n{},,\n", imei(7), imei(7));
    let f = env.write("d.csv", csv);
    let (code, out, _) = env.run(&["import", f.to_str().unwrap(), "--profile", "P", "--create", "--dry-run"]);
    assert_eq!(code, 1);
    assert!(out.contains("2 data rows, 1 valid, 1 rejected"), "{out}");
    let out = env.ok(&["import", f.to_str().unwrap(), "--profile", "P", "--create", "--skip-invalid"]);
    assert!(out.contains("2 data rows, 1 valid, 1 rejected"), "{out}");
    assert!(out.contains("Imported 1 devices"), "{out}");
}

/// Bug 5: `template -o FILE` never overwrites a file without `--force`.
#[test]
fn template_refuses_to_overwrite_without_force() {
    let env = Env::new();
    for kind in ["android", "dep"] {
        let f = env.write(&format!("{kind}.csv"), "mine\n");
        let (code, _, err) = env.run(&["template", kind, "-o", f.to_str().unwrap()]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(&f.display().to_string()) && err.contains("--force"), "{err}");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "mine\n", "the file is kept");
        env.ok(&["template", kind, "-o", f.to_str().unwrap(), "--force"]);
        assert_ne!(std::fs::read_to_string(&f).unwrap(), "mine\n");
    }
}

/// Bug 6: a short row's Line and Reason stay under their own columns; rejects files are UTF-8 with a
/// BOM and CRLF, like exports.
#[test]
fn rejects_files_keep_columns_and_are_written_like_exports() {
    let env = Env::new();
    let csv = format!("IMEI,Serial Number,Manufacturer,部署\n{},,,倉庫\n{}\n", imei(1), imei(2));
    let f = env.write("s.csv", csv);
    let rejects = env.path("r.csv");
    env.run(&["import", f.to_str().unwrap(), "--profile", "P", "--create", "--rejects", rejects.to_str().unwrap()]);
    let bytes = std::fs::read(&rejects).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "BOM");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert!(text.contains("\r\n") && !text.replace("\r\n", "").contains('\n'), "CRLF: {text:?}");
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, ["IMEI", "Serial Number", "Manufacturer", "部署", "Line", "Reason"]);
    let row = r.records().next().unwrap().unwrap();
    assert_eq!(row.len(), 6, "{row:?}");
    assert_eq!(&row[4], "3");
    assert!(row[5].contains("expected 4 fields, found 1"), "{row:?}");
}

/// Bug 8: a refused import's summary stands on its own line, ended and flushed before the error lines
/// (stdout and stderr on one terminal, or `2>&1`).
#[test]
fn refused_import_summary_ends_its_line_before_the_error_lines() {
    let env = Env::new();
    env.ok(&["profiles", "create", "P"]);
    let mut csv = devices_csv(0, 2);
    csv.push_str("12345,,,x,y\n");
    let f = env.write("bad.csv", csv);
    let bin = assert_cmd::cargo::cargo_bin("kitting");
    let script = format!("{:?} --db {:?} --config {:?} import {:?} --profile P 2>&1", bin, env.db(), env.config(), f);
    let out = std::process::Command::new("sh").arg("-c").arg(script).output().unwrap();
    let merged = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = merged.lines().collect();
    assert!(lines[0].ends_with("3 data rows, 2 valid, 1 rejected"), "{merged:?}");
    assert!(lines[1].contains("bad.csv:4:1: IMEI \"12345\""), "{merged:?}");
    assert!(lines[2].starts_with("kitting: nothing imported"), "{merged:?}");
}

/// Bug 4 from the command line: `--attr` names compare as headers do, so the export still imports.
#[test]
fn attr_names_take_the_profiles_spelling() {
    let env = Env::new();
    let f = env.write("d.csv", devices_csv(0, 2));
    env.ok(&["import", f.to_str().unwrap(), "--profile", "P", "--create"]);
    env.ok(&["devices", "add", "--profile", "P", "--imei", &imei(50), "--attr", " department =Returns"]);
    env.ok(&["devices", "edit", "--profile", "P", "--imei", &imei(0), "--attr", "ASSET TAG=X-1"]);
    let rows = env.devices("P");
    assert_eq!(rows[0], ["IMEI", "Serial Number", "Manufacturer", "Asset Tag", "Department", "Status", "Source"]);
    assert_eq!((rows[1][3].as_str(), rows[3][4].as_str()), ("X-1", "Returns"), "{rows:?}");
    let out = env.path("inv.csv");
    env.ok(&["export", "--profile", "P", "-o", out.to_str().unwrap()]);
    env.ok(&["profiles", "delete", "P", "--yes"]);
    env.ok(&["import", out.to_str().unwrap(), "--profile", "P", "--create"]);
    assert_eq!(env.device_count("P"), Some(3));
}

/// Bug 7 from the command line: `token refresh` without --days keeps the token's own lifetime.
#[test]
fn token_refresh_keeps_the_lifetime() {
    let env = Env::new();
    env.ok(&["profiles", "create", "P", "--token-days", "30"]);
    let (code, _, err) = env.run(&["token", "refresh", "--profile", "P"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("(30 days left)"), "{err}");
}
