//! Hostile and careless input files (issue 14): each is refused with a clear message that names the
//! file, the line (and the column or byte offset where there is one), in bounded time and memory, and
//! the database is left as it was.

mod common;

use common::{Env, imei};

/// Runs `args`, expecting exit code 1, and returns stderr.
fn refused(env: &Env, args: &[&str]) -> String {
    let (code, out, err) = env.run(args);
    assert_eq!(code, 1, "kitting {args:?}: expected a refusal\nstdout: {out}\nstderr: {err}");
    err
}

/// No profile, no DEP record, and `check` clean: nothing was written.
fn unchanged(env: &Env) {
    let profiles: serde_json::Value = serde_json::from_str(&env.ok(&["profiles", "list", "--format", "json"])).unwrap();
    assert_eq!(profiles.as_array().map(Vec::len), Some(0), "{profiles}");
    assert!(env.ok(&["dep", "list"]).lines().count() <= 1, "no DEP record");
    assert!(env.ok(&["check"]).contains("is consistent"));
}

fn import(file: &std::path::Path) -> Vec<String> {
    ["import", file.to_str().unwrap(), "--profile", "P", "--create"].map(String::from).to_vec()
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Fixture 1: 2 GiB without a line end (sparse: `truncate -s 2G`), and a quote that is never closed.
#[test]
fn a_huge_line_is_refused_at_once_naming_where_it_starts() {
    let env = Env::new();
    let big = env.path("big.csv");
    std::fs::File::create(&big).unwrap().set_len(2 << 30).unwrap();
    let err = refused(&env, &args(&import(&big)));
    assert!(err.contains("big.csv:1:1: the row is longer than 1048576 bytes (1 MiB)"), "{err}");
    assert!(err.len() < 500, "a short message, not the line: {} bytes", err.len());
    let err = refused(&env, &["dep", "import", big.to_str().unwrap()]);
    assert!(err.contains("big.csv:1:1: the row is longer than 1048576 bytes"), "{err}");
    assert!(err.len() < 500, "{} bytes", err.len());
    // A quoted cell that never closes swallows the rest of the file: refused where it starts.
    let mut text = format!("IMEI,Serial Number,Manufacturer\n{},,\n{},\"open\n", imei(1), imei(2));
    text.push_str(&"more text\n".repeat(120_000));
    let open = env.write("open.csv", text);
    let err = refused(&env, &args(&import(&open)));
    assert!(err.contains("open.csv:3:2: the row is longer than 1048576 bytes"), "{err}");
    assert!(err.contains("a quote that is never closed"), "{err}");
    unchanged(&env);
}

/// Fixture 2: a named pipe with no writer and `/dev/zero` no longer hang; a pipe with a writer and
/// standard input are read once.
#[test]
fn pipes_and_devices_neither_hang_nor_are_read_twice() {
    let env = Env::new();
    let fifo = env.path("pipe.csv");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let err = refused(&env, &args(&import(&fifo)));
    assert!(err.contains("pipe.csv: is a named pipe that no program is writing to: nothing was read"), "{err}");
    let err = refused(&env, &args(&import(std::path::Path::new("/dev/zero"))));
    assert!(err.contains("/dev/zero: is a character device, not a regular file or a pipe"), "{err}");
    let err = refused(&env, &args(&import(env.dir.path())));
    assert!(err.contains("is a directory, not a regular file or a pipe"), "{err}");
    unchanged(&env);
    // A writer on the pipe: its rows are imported (the pipe is read once, to its end).
    let rows = common::devices_csv(1, 3);
    let writer = {
        let fifo = fifo.clone();
        let rows = rows.clone();
        std::thread::spawn(move || std::fs::write(&fifo, rows).unwrap())
    };
    // The writer opens the pipe before kitting does: wait until it is blocked in open().
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = env.ok(&args(&import(&fifo)));
    writer.join().unwrap();
    assert!(out.contains("3 data rows, 3 valid"), "{out}");
    // Standard input.
    let out = env
        .cmd()
        .args(["import", "-", "--profile", "S", "--create"])
        .write_stdin(common::devices_csv(10, 2))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("standard input (UTF-8, delimiter ','): 2 data rows, 2 valid"), "{stdout}");
    assert_eq!(env.device_count("S"), Some(2));
}

/// Fixture 3: a UTF-8 file with one stray byte is refused, naming its line and byte offset, instead of
/// being read as Shift_JIS; a file in Shift_JIS throughout still imports.
#[test]
fn a_stray_byte_in_a_utf8_file_is_refused_by_line_and_offset() {
    let env = Env::new();
    let mut bytes = format!("IMEI,Serial Number,Manufacturer,Dept\n{},,,東京\n{},,,caf", imei(1), imei(2)).into_bytes();
    let offset = bytes.len();
    bytes.extend_from_slice(b"\xe9\n");
    let stray = env.write("stray.csv", &bytes);
    let err = refused(&env, &args(&import(&stray)));
    assert!(err.contains(&format!("stray.csv:3: byte offset {offset}: byte 0xE9 is not UTF-8")), "{err}");
    assert!(err.contains("save the file as UTF-8"), "{err}");
    // A stray byte in the header cannot move a column either.
    let mut head = b"IMEI,Serial\xa0Number,Manufacturer,Dept\n".to_vec();
    head.extend_from_slice(format!("{},SN1,Zebra,東京\n", imei(3)).as_bytes());
    let err = refused(&env, &args(&import(&env.write("head.csv", head))));
    assert!(err.contains("head.csv:1: byte offset 11: byte 0xA0 is not UTF-8"), "{err}");
    unchanged(&env);
    let text = format!("IMEI,Serial Number,Manufacturer,部署\n{},,,東京\n", imei(4));
    let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(&text);
    let out = env.ok(&args(&import(&env.write("sjis.csv", &sjis))));
    assert!(out.contains("(Shift_JIS, delimiter ','): 1 data rows, 1 valid"), "{out}");
}

/// Fixture 4: a column given twice under two of its names, reserved names as attributes, and a header
/// of 40,000 columns (read in linear time: this test would take minutes otherwise).
#[test]
fn headers_are_checked_by_what_each_column_means() {
    let env = Env::new();
    for (header, said) in [
        (
            "IMEI,Serial Number,Manufacturer,Serial",
            "1:4: column \"Serial\" means the same as column 2 \"Serial Number\"",
        ),
        ("IMEI,SERIALNUMBER,Manufacturer,Serial Number", "1:4: column \"Serial Number\" means the same as column 2"),
        ("IMEI,IMEI2,IMEI 2,Serial Number", "1:3: column \"IMEI 2\" means the same as column 2 \"IMEI2\""),
        ("IMEI,Dept,dept", "1:3: column \"dept\" appears twice: also column 2 \"Dept\""),
    ] {
        let f = env.write("twice.csv", format!("{header}\n{},,,\n", imei(1)));
        let err = refused(&env, &args(&import(&f)));
        assert!(err.contains(&format!("twice.csv:{said}")), "{err}");
    }
    unchanged(&env);
    env.ok(&["profiles", "create", "P"]);
    for name in ["IMEI", "serial number", "Status", "Registered At", "Line", "Reason", "Source", "manufacturer"] {
        let attr = format!("{name}=x");
        let err = refused(&env, &["devices", "add", "--profile", "P", "--imei", &imei(5), "--attr", &attr]);
        assert!(err.contains("cannot name a custom attribute: kitting uses the column"), "{name}: {err}");
    }
    assert_eq!(env.device_count("P"), Some(0));
    // 40,000 attribute columns: read at once (linear), then refused for another reason or imported.
    let names: Vec<String> = (0..40_000).map(|i| format!("attr{i}")).collect();
    let wide = env.write("wide.csv", format!("IMEI,{}\n{}{}\n", names.join(","), imei(6), ",".repeat(40_000)));
    let (code, out, err) = env.run(&["import", wide.to_str().unwrap(), "--profile", "W", "--create"]);
    assert!(code == 0 || err.contains("wide.csv:"), "{code} {out} {err}");
}

/// Fixtures 5 and 6: UTF-16 without a byte-order mark, and a DEP file over the row limit (counted).
#[test]
fn utf16_without_a_bom_and_a_dep_file_over_the_limit_say_so() {
    let env = Env::new();
    let text = format!("IMEI,Serial Number,Manufacturer\n{},,\n", imei(1));
    let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let err = refused(&env, &args(&import(&env.write("u16.csv", utf16))));
    assert!(err.contains("u16.csv: the file looks like UTF-16 (little-endian) without a byte-order mark"), "{err}");
    std::fs::write(env.config(), "max_rows = 3\n[server]\nautostart = false\n").unwrap();
    let rows: String = (0..5).map(|i| format!("u{i},,,,,d{i},,,ios,,,,,,,,,,,\n")).collect();
    let dep = env.write("dep.csv", format!("{}\n{rows}", kitting::csv::dep::HEADERS.join(",")));
    let err = refused(&env, &["dep", "import", dep.to_str().unwrap()]);
    assert!(err.contains("dep.csv: the file has 5 data rows; at most 3 are allowed in one import"), "{err}");
    unchanged(&env);
}

/// Fixture 7: `--rejects` never replaces the input, and no output replaces an existing file without
/// `--force`.
#[test]
fn outputs_never_replace_the_input_or_an_existing_file_unasked() {
    let env = Env::new();
    let text = format!("IMEI,Serial Number,Manufacturer\n{},,\nnot an imei,,\n", imei(1));
    let input = env.write("in.csv", &text);
    let p = input.to_str().unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let mut a = vec!["import", p, "--profile", "P", "--create", "--rejects", p];
        a.extend_from_slice(extra);
        let err = refused(&env, &a);
        assert!(err.contains("in.csv is the file being imported; it is not written over"), "{err}");
        assert_eq!(std::fs::read_to_string(&input).unwrap(), text, "the input is as it was");
    }
    unchanged(&env);
    let rejects = env.write("rejects.csv", "mine");
    let err = refused(
        &env,
        &["import", p, "--profile", "P", "--create", "--skip-invalid", "--rejects", rejects.to_str().unwrap()],
    );
    assert!(err.contains("rejects.csv exists already; it was left as it is (add --force to replace it)"), "{err}");
    assert_eq!(std::fs::read_to_string(&rejects).unwrap(), "mine");
    unchanged(&env);
    env.ok(&[
        "import",
        p,
        "--profile",
        "P",
        "--create",
        "--skip-invalid",
        "--rejects",
        rejects.to_str().unwrap(),
        "--force",
    ]);
    assert!(std::fs::read_to_string(&rejects).unwrap().contains("not an imei"));
    let out = env.write("out.csv", "mine");
    let o = out.to_str().unwrap();
    for a in [
        vec!["export", "--profile", "P", "-o", o],
        vec!["dep", "export", "-o", o],
        vec!["qr", "--profile", "P", "--png", o],
        vec!["template", "android", "-o", o],
    ] {
        let err = refused(&env, &a);
        assert!(err.contains("out.csv exists already; it was left as it is (add --force"), "{a:?}: {err}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "mine", "{a:?}");
    }
    env.ok(&["export", "--profile", "P", "-o", o, "--force"]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
}

/// Fixture 8 and a hostile file name: a quoted value is escaped once; a file name with an escape
/// sequence reaches the terminal escaped, in the summary and in every `FILE:LINE:COL` prefix.
#[test]
fn values_are_escaped_once_and_file_names_too() {
    let env = Env::new();
    let name = "evil\x1b]0;owned\x07.csv";
    let f = env.write(name, format!("IMEI,Serial Number,Manufacturer\n{},SN\x00X2,Zebra\n{},,\n", imei(1), imei(2)));
    let (code, out, err) = env.run(&["import", f.to_str().unwrap(), "--profile", "P", "--create", "--skip-invalid"]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(
        !out.contains('\x1b') && !err.contains('\x1b') && !out.contains('\x07') && !err.contains('\x07'),
        "{out:?} {err:?}"
    );
    assert!(out.contains("evil\\e]0;owned\\x07.csv"), "{out}");
    assert!(err.contains("evil\\e]0;owned\\x07.csv:2:2: Serial Number \"SN\\x00X2\": "), "{err}");
    assert!(!err.contains("\\\\x00"), "escaped once: {err}");
}
