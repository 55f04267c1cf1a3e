//! The DEP device-information CSV and commands through the real binary: the seed's four examples, the
//! three modes, the blank rules, the case-insensitive identifier, the catalog, check-in and withdrawal,
//! the outbox, Shift_JIS, export → import.

mod common;
use common::Env;

/// The seed's column order for its examples (18 values: no Organizations, no UDID).
const SEED_HEADER: &str = "UserName,Name,EmailAddress,UserDescription,Identifier,Template,Code,OS,DeviceTags,\
WifiMac,IMEI,MEID,Serial,ExpirationDays,DisplayName,Description,RegistrationEmail,DEPMethod";

fn seed(rows: &str) -> String {
    format!("{SEED_HEADER}\n{rows}")
}

fn show(env: &Env, id: &str) -> String {
    env.ok(&["dep", "show", id])
}

fn field(shown: &str, name: &str) -> String {
    shown
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .map(|l| l[name.len()..].trim().to_string())
        .unwrap_or_else(|| panic!("no {name} in\n{shown}"))
}

#[test]
fn example_1_creates_linked_users_and_devices_with_serials() {
    let env = Env::new();
    let f = env.write(
        "ex1.csv",
        seed(
            "user0001,Test User 1,,User description 1,apple001,,,ios,,,,,AAABBBCCCDDD,,iOS Device 1,,,Serial\n\
             user0002,Test User 2,,User description 2,apple002,,,ios,,,,,BBBCCCDDDAAA,,iOS Device 2,,,Serial\n",
        ),
    );
    let out = env.ok(&["dep", "import", f.to_str().unwrap()]);
    assert!(out.contains("users and devices (linked)") && out.contains("Users: 2 created"), "{out}");
    let d = show(&env, "apple001");
    assert_eq!(field(&d, "User"), "user0001");
    assert_eq!(field(&d, "Serial"), "AAABBBCCCDDD");
    assert_eq!(field(&d, "DEPMethod"), "Serial");
    assert_eq!(field(&d, "Use DEP to Enroll"), "on");
    assert_eq!(field(&d, "DisplayName"), "iOS Device 1");
    assert_eq!(field(&d, "ExpirationDays"), "7", "blank on create means 7");
    assert_eq!(field(&d, "Code").len(), 8, "a blank code is generated");
    let users = env.ok(&["users", "list", "--format", "csv"]);
    assert!(users.contains("user0001,Test User 1,"), "no email: no value\n{users}");
}

#[test]
fn example_2_creates_devices_only_and_both_may_name_the_same_dep_serial() {
    let env = Env::new();
    let f = env.write(
        "ex2.csv",
        seed(
            ",,,,apple001,,,ios,,,,,AAABBBCCCDDD,,iOS Device 1,,,Serial\n\
             ,,,,apple002,,,ios,,,,,AAABBBCCCDDD,,iOS Device 2,,,Serial\n",
        ),
    );
    let out = env.ok(&["dep", "import", f.to_str().unwrap()]);
    assert!(out.contains("Users: 0 created") && out.contains("Devices: 2 created"), "{out}");
    assert_eq!(field(&show(&env, "apple002"), "User"), "");
    assert!(env.ok(&["users", "list"]).lines().count() <= 1, "no user was made");
    // The physical device checks in once: the second record cannot take the same DEP device.
    let code1 = field(&show(&env, "apple001"), "Code");
    let code2 = field(&show(&env, "apple002"), "Code");
    env.ok(&["dep", "checkin", "--identifier", "apple001", "--code", &code1, "--serial", "AAABBBCCCDDD"]);
    let (rc, _, err) =
        env.run(&["dep", "checkin", "--identifier", "apple002", "--code", &code2, "--serial", "AAABBBCCCDDD"]);
    assert_eq!(rc, 1);
    assert!(err.contains("already checked in as apple001"), "{err}");
}

#[test]
fn example_3_and_4_use_key_codes() {
    let env = Env::new();
    let f = env.write(
        "ex3.csv",
        seed(
            "user0001,Test User 1,,User description 1,apple001,,123,ios,,,,,,,iOS Device 1,,,Keycode\n\
             user0002,Test User 2,,User description 2,apple002,,123,ios,,,,,,,iOS Device 2,,,Keycode\n",
        ),
    );
    env.ok(&["dep", "import", f.to_str().unwrap()]);
    let d = show(&env, "apple002");
    assert_eq!(
        (field(&d, "Code"), field(&d, "DEPMethod"), field(&d, "Serial")),
        ("123".into(), "Keycode".into(), "".into())
    );

    // Example 4 puts "123" in the 14th column, ExpirationDays: by the header, 123 days, and a generated code.
    let env = Env::new();
    let f = env.write(
        "ex4.csv",
        seed(
            ",,,,apple001,,,ios,,,,,AAABBBCCCDDD,123,iOS Device 1,,,Keycode\n\
             ,,,,apple002,,,ios,,,,,AAABBBCCCDDD,123,iOS Device 2,,,Keycode\n",
        ),
    );
    env.ok(&["dep", "import", f.to_str().unwrap()]);
    let d = show(&env, "apple001");
    assert_eq!(field(&d, "ExpirationDays"), "123");
    assert_eq!(field(&d, "DEPMethod"), "Keycode");
    assert_ne!(field(&d, "Code"), "123");
    // Key code check-in needs no serial.
    let code = field(&d, "Code");
    env.ok(&["dep", "checkin", "--identifier", "APPLE001", "--code", &code, "--dep-profile", "Corp DEP"]);
    let d = show(&env, "apple001");
    assert_eq!((field(&d, "State"), field(&d, "DEP Profile")), ("checked in".into(), "Corp DEP".into()));
}

#[test]
fn users_only_and_the_blank_rules_on_create_and_update() {
    let env = Env::new();
    env.ok(&["catalog", "organizations", "add", "Sales"]);
    env.ok(&["catalog", "organizations", "add", "Support"]);
    let f = env.write(
        "u.csv",
        "UserName,Name,EmailAddress,UserDescription,Organizations\nalice,Alice,a@example.com,,Sales|Support\n",
    );
    let out = env.ok(&["dep", "import", f.to_str().unwrap()]);
    assert!(out.contains("users only") && out.contains("Users: 1 created"), "{out}");
    // Update: a blank cell clears, a column left out is untouched.
    let f = env.write("u2.csv", "UserName,EmailAddress,Organizations\nALICE,,Sales\n");
    let out = env.ok(&["dep", "import", "--dry-run", f.to_str().unwrap()]);
    assert!(out.contains("line 2: user alice EmailAddress: \"a@example.com\" would be cleared"), "{out}");
    env.ok(&["dep", "import", f.to_str().unwrap()]);
    let users = env.ok(&["users", "list", "--format", "csv"]);
    assert!(
        users.contains("alice,Alice,\n") || users.contains("alice,Alice,\r\n"),
        "name kept, email cleared: {users}"
    );
    let exported = env.ok(&["dep", "export"]);
    assert!(exported.contains("alice,Alice,,,Sales,"), "{exported}");
}

#[test]
fn device_blanks_clear_on_update_code_is_kept_and_the_identifier_ignores_case() {
    let env = Env::new();
    let f = env.write(
        "d.csv",
        "Identifier,Code,OS,Serial,DisplayName,DEPMethod\nDEVICE01,ABC123,ios,SN12345,Lobby iPad,Serial\n",
    );
    env.ok(&["dep", "import", f.to_str().unwrap()]);
    let f = env.write("d2.csv", "Identifier,Code,OS,DisplayName,DEPMethod\ndevice01,,ios,,Keycode\n");
    let out = env.ok(&["dep", "import", "--dry-run", f.to_str().unwrap()]);
    assert!(out.contains("Devices: 0 would be created, 1 would be updated"), "the same device: {out}");
    assert!(out.contains("device DEVICE01 DisplayName: \"Lobby iPad\" would be cleared"), "{out}");
    env.ok(&["dep", "import", f.to_str().unwrap()]);
    let d = show(&env, "Device01");
    assert_eq!(field(&d, "Identifier"), "DEVICE01", "kept as first given");
    assert_eq!(field(&d, "Code"), "ABC123", "blank code kept on update");
    assert_eq!(field(&d, "DisplayName"), "");
    assert_eq!(field(&d, "Serial"), "SN12345", "a column left out is untouched");
    // OS is fixed; a Serial method needs a serial.
    let f = env.write("d3.csv", "Identifier,OS\nDEVICE01,android\n");
    let (rc, _, err) = env.run(&["dep", "import", f.to_str().unwrap()]);
    assert_eq!(rc, 1);
    assert!(err.contains(":2:2: OS \"android\": OS is fixed after creation (it is ios)"), "{err}");
    let (rc, _, err) = env.run(&["dep", "edit", "device01", "--set", "DEPMethod=Serial", "--set", "Serial="]);
    assert_eq!(rc, 1);
    assert!(err.contains("DEPMethod Serial needs a Serial"), "{err}");
    env.ok(&["dep", "edit", "device01", "--set", "DEPMethod=Serial"]);
    // A new identifier must be 1 to 20 letters, digits, '.', '-', '_'.
    let f = env.write("d4.csv", "Identifier,OS\nbad id!,ios\n");
    let (_, _, err) = env.run(&["dep", "import", f.to_str().unwrap()]);
    assert!(err.contains("Identifier must be 1 to 20"), "{err}");
}

#[test]
fn catalog_entries_must_exist_and_cannot_be_deleted_while_used() {
    let env = Env::new();
    env.ok(&["catalog", "tags", "add", "Kiosk"]);
    env.ok(&["catalog", "templates", "add", "Standard", "--description", "the usual apps"]);
    let f = env.write("d.csv", "Identifier,OS,Template,DeviceTags\nk1,ios,Standard,Kiosk|Loaner\n");
    let (rc, _, err) = env.run(&["dep", "import", f.to_str().unwrap()]);
    assert_eq!(rc, 1);
    assert!(err.contains(":2:4: DeviceTags \"Kiosk|Loaner\": device tag \"Loaner\" does not exist"), "{err}");
    assert!(env.ok(&["dep", "list"]).lines().count() <= 1, "all-or-nothing: nothing written");
    env.ok(&["catalog", "tags", "add", "Loaner"]);
    env.ok(&["dep", "import", f.to_str().unwrap()]);
    let (rc, _, err) = env.run(&["catalog", "tags", "delete", "Loaner"]);
    assert_eq!(rc, 1);
    assert!(err.contains("used by device k1"), "{err}");
    let out = env.ok(&["catalog", "templates", "rename", "Standard", "Base"]);
    assert!(out.contains("1 records follow"), "{out}");
    assert_eq!(field(&show(&env, "k1"), "Template"), "Base");
    env.ok(&["dep", "edit", "k1", "--set", "DeviceTags=Kiosk"]);
    env.ok(&["catalog", "tags", "delete", "Loaner"]);
}

#[test]
fn checked_in_and_withdrawn_devices_cannot_be_edited_and_check_in_is_restricted() {
    let env = Env::new();
    let f = env.write(
        "d.csv",
        "Identifier,Code,OS,WifiMac,IMEI,ExpirationDays\n\
         m1,C0DE1,ios,00:1A:2B:3C:4D:5E,490154203237518,30\nw1,C0DE2,ios,,,\n",
    );
    env.ok(&["dep", "import", f.to_str().unwrap()]);
    let refused = |args: &[&str], why: &str| {
        let (rc, _, err) = env.run(args);
        assert_eq!(rc, 1, "{args:?}");
        assert!(err.contains(why), "{args:?}: {err}");
    };
    refused(&["dep", "checkin", "--identifier", "m1", "--code", "WRONG"], "wrong check-in code");
    refused(&["dep", "checkin", "--identifier", "m1", "--code", "C0DE1"], "restricted to WifiMac");
    refused(
        &["dep", "checkin", "--identifier", "m1", "--code", "C0DE1", "--wifi-mac", "00:1a:2b:3c:4d:5e"],
        "restricted to IMEI 490154203237518; the device presented none",
    );
    env.ok(&[
        "dep",
        "checkin",
        "--identifier",
        "m1",
        "--code",
        "C0DE1",
        "--wifi-mac",
        "001A2B3C4D5E",
        "--imei",
        "490154203237518",
        "--serial",
        "F2LXK0ABCD12",
        "--dep-profile",
        "Corp",
    ]);
    let d = show(&env, "m1");
    assert_eq!((field(&d, "DEP Device"), field(&d, "DEP Profile")), ("F2LXK0ABCD12".into(), "Corp".into()));
    env.ok(&["dep", "withdraw", "--identifier", "w1"]);
    refused(&["dep", "checkin", "--identifier", "w1", "--code", "C0DE2"], "withdrawn");
    let f = env.write("e.csv", "Identifier,DisplayName\nM1,New name\nw1,Other\n");
    let (rc, _, err) = env.run(&["dep", "import", "--skip-invalid", f.to_str().unwrap()]);
    assert_eq!(rc, 0);
    assert!(err.contains(":2:1: Identifier \"M1\": the device is checked in"), "{err}");
    assert!(err.contains(":3:1: Identifier \"w1\": the device is withdrawn"), "{err}");
    // A row that changes nothing is not an edit: export → import works with checked-in devices too.
    let out = env.path("all.csv");
    env.ok(&["dep", "export", "-o", out.to_str().unwrap()]);
    let before = std::fs::read(&out).unwrap();
    let report = env.ok(&["dep", "import", out.to_str().unwrap()]);
    assert!(report.contains("Devices: 0 created, 0 updated") && report.contains("Unchanged rows: 2"), "{report}");
    env.ok(&["dep", "export", "-o", out.to_str().unwrap(), "--force"]);
    assert_eq!(std::fs::read(&out).unwrap(), before, "export → import changes nothing");
}

#[test]
fn registration_emails_queue_in_the_outbox_and_write_as_eml() {
    let env = Env::new();
    let f = env.write("d.csv", "Identifier,Code,OS,RegistrationEmail\nr1,K1,ios,tech@example.com\nr2,K2,ios,\n");
    let out = env.ok(&["dep", "import", f.to_str().unwrap()]);
    assert!(out.contains("Check-in emails queued: 1"), "{out}");
    env.ok(&["dep", "edit", "r1", "--set", "DisplayName=Front desk", "--set", "RegistrationEmail=tech@example.com"]);
    let list = env.ok(&["dep", "outbox"]);
    assert_eq!(list.matches("tech@example.com").count(), 2, "create and update each queue one: {list}");
    let dir = env.path("mail");
    let out = env.ok(&["dep", "outbox", "--write", dir.to_str().unwrap()]);
    assert!(out.contains("Wrote 2 emails"), "{out}");
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 2);
    let eml = std::fs::read_to_string(&files[0]).unwrap();
    assert!(eml.contains("To: <tech@example.com>\r\n") && eml.contains("Subject: Device check-in for r1"), "{eml}");
    assert!(eml.contains("K1"), "the code is in the mail");
    let again = env.ok(&["dep", "outbox", "--write", dir.to_str().unwrap()]);
    assert!(again.contains("Wrote 0 emails"), "written once: {again}");
}

#[test]
fn a_shift_jis_file_with_japanese_names_imports() {
    let env = Env::new();
    let text = "UserName,Name,Identifier,OS,DisplayName\nyamada,山田 太郎,jp001,ios,受付のiPad\n";
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    assert!(!unmappable);
    let f = env.write("sjis.csv", bytes.as_ref());
    let out = env.ok(&["dep", "import", f.to_str().unwrap()]);
    assert!(out.contains("Shift_JIS"), "{out}");
    assert!(env.ok(&["users", "list"]).contains("山田 太郎"));
    assert_eq!(field(&show(&env, "jp001"), "DisplayName"), "受付のiPad");
}

#[test]
fn an_unknown_or_misspelt_header_is_a_file_error_listing_the_valid_ones() {
    let env = Env::new();
    let f = env.write("h.csv", "Identifier,os\nx1,ios\n");
    let (rc, _, err) = env.run(&["dep", "import", f.to_str().unwrap()]);
    assert_eq!(rc, 1);
    assert!(err.contains(":1:2: unknown header \"os\""), "{err}");
    assert!(err.contains("valid: UserName, Name, EmailAddress"), "{err}");
    let f = env.write("h2.csv", "Name,Identifier\nBob,x1\n");
    let (_, _, err) = env.run(&["dep", "import", f.to_str().unwrap()]);
    assert!(err.contains("user columns need the UserName column"), "{err}");
    let t = env.ok(&["template", "dep"]);
    assert!(t.starts_with("UserName,Name,EmailAddress,UserDescription,Organizations,Identifier"), "{t}");
}

/// `dep edit` (and the workstation's form) apply the DEP rules to the values directly, not to CSV text
/// written and parsed again: commas and quotes are plain text, a value reads as the same cell of a file
/// would (the text marker before `+` taken off), and a column that is not a device-information column is
/// refused by name.
#[test]
fn dep_edit_applies_the_rules_to_the_values_and_names_an_unknown_column() {
    let env = Env::new();
    let f = env.write("d.csv", "Identifier,OS\nD1,ios\n");
    env.ok(&["dep", "import", f.to_str().unwrap()]);
    env.ok(&["dep", "edit", "D1", "--set", "DisplayName=Lobby, east \"wing\"", "--set", "Description='+81 3 1234"]);
    let shown = show(&env, "D1");
    assert_eq!(field(&shown, "DisplayName"), "Lobby, east \"wing\"");
    assert_eq!(field(&shown, "Description"), "+81 3 1234");
    let (code, _, err) = env.run(&["dep", "edit", "D1", "--set", "Colour=red"]);
    assert_eq!(code, 1);
    assert!(err.contains("no column \"Colour\""), "{err}");
    let (code, _, err) = env.run(&["dep", "edit", "D1", "--set", "OS="]);
    assert_eq!(code, 1);
    assert!(err.contains("OS cannot be cleared"), "{err}");
}

/// Past 256 rows the import reads every stored user and record once instead of one by one: a file of 600
/// rows imported again is all unchanged, and one changed row of it is an update, as with a small file.
#[test]
fn a_large_file_imported_again_finds_what_is_stored() {
    let env = Env::new();
    let rows = |name: &str| {
        let mut text = String::from("UserName,Name,Identifier,OS,DisplayName\n");
        for i in 0..600 {
            let shown = if i == 599 { name.to_string() } else { format!("Device {i}") };
            text.push_str(&format!("user{i:03},User {i},D{i:04},ios,{shown}\n"));
        }
        text
    };
    let f = env.write("many.csv", rows("Device 599"));
    let out = env.ok(&["dep", "import", f.to_str().unwrap()]);
    assert!(out.contains("Users: 600 created") && out.contains("Devices: 600 created"), "{out}");
    let out = env.ok(&["dep", "import", f.to_str().unwrap()]);
    assert!(out.contains("Users: 0 created, 0 updated") && out.contains("Unchanged rows: 600"), "{out}");
    let g = env.write("changed.csv", rows("Lobby"));
    let out = env.ok(&["dep", "import", g.to_str().unwrap()]);
    assert!(out.contains("Devices: 0 created, 1 updated") && out.contains("Unchanged rows: 599"), "{out}");
    assert_eq!(field(&show(&env, "d0599"), "DisplayName"), "Lobby");
}

/// A file with more rejected rows than the report holds (1,000): the terminal shows the first ones and
/// says how many more there are; the rejects file has every one of them, in order; nothing is imported.
#[test]
fn a_file_of_many_rejected_rows_writes_them_all_to_the_rejects_file() {
    let env = Env::new();
    let mut csv = String::from("Identifier,OS\n");
    for i in 0..1_500 {
        csv.push_str(&format!("D{i:05},palmos\n"));
    }
    let f = env.write("bad.csv", csv);
    let rejects = env.dir.path().join("bad-rejected.csv");
    let (code, _, err) = env.run(&["dep", "import", f.to_str().unwrap(), "--rejects", rejects.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("bad.csv: 500 more rejected rows not shown (all of them are in the rejects file)"), "{err}");
    assert!(err.contains("bad.csv:1001:") && !err.contains("bad.csv:1002:"), "the first 1,000 shown");
    assert!(err.contains("nothing imported: 1500 of 1500 rows were rejected"), "{err}");
    let written = std::fs::read_to_string(&rejects).unwrap();
    let lines: Vec<&str> = written.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines.len(), 1 + 1_500);
    assert_eq!(lines[0], "Identifier,OS,Line,Reason");
    for (i, l) in lines[1..].iter().enumerate() {
        assert!(l.starts_with(&format!("D{i:05},palmos,{},", i + 2)), "{l}");
    }
    assert!(env.ok(&["dep", "list"]).lines().count() <= 1, "nothing imported");
}
