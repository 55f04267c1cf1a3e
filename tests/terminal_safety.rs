//! Terminal safety on the command line (issue 14): whatever a command is given or finds (a name, an
//! identifier, a value, a file name with an escape sequence, a C1 control, a bidi override), what it
//! prints, on stdout or stderr, in a table, CSV to a terminal, or JSON, holds none of them raw.

mod common;

use common::{Env, imei};

/// OSC title change with BEL, C1 CSI, DEL, and a right-to-left override.
const H: &str = "ab\x1b]0;owned\x07\u{9b}2J\x7f\u{202e}cd";

fn raw(text: &str) -> Option<char> {
    text.chars().find(|c| {
        (c.is_control() && *c != '\n' && *c != '\t') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

#[test]
fn no_command_prints_a_control_or_bidi_character_it_was_given_or_found() {
    let env = Env::new();
    env.ok(&["profiles", "create", "P"]);
    // Values that may hold anything printable: an attribute, a DEP display name and description.
    env.ok(&["devices", "add", "--profile", "P", "--imei", &imei(1), "--attr", &format!("Note={H}")]);
    let header = kitting::csv::dep::HEADERS.join(",");
    let row = format!("u1,,,,,d1,,,ios,,,,,,,,\"{H}\",\"{H}\",,");
    let dep = env.write("dep.csv", format!("{header}\n{row}\n"));
    let (code, out, err) = env.run(&["dep", "import", dep.to_str().unwrap()]);
    assert!(raw(&out).is_none() && raw(&err).is_none(), "dep import {code}: {out:?} {err:?}");
    let file = env.write(&format!("{H}.csv"), format!("IMEI,Note\n{},{H}\nbad,\n", imei(2)));
    let f = file.to_str().unwrap();
    let (i3, attr, vendor) = (imei(3), format!("{H}=x"), format!("{H}=1"));
    let cases: Vec<Vec<&str>> = vec![
        vec!["profiles", "show", H],
        vec!["profiles", "create", H],
        vec!["profiles", "delete", H],
        vec!["devices", "list", "--profile", H],
        vec!["devices", "list", "--profile", "P"],
        vec!["devices", "list", "--profile", "P", "--format", "json"],
        vec!["devices", "add", "--profile", "P", "--imei", H],
        vec!["devices", "add", "--profile", "P", "--serial", H, "--manufacturer", "Zebra"],
        vec!["devices", "add", "--profile", "P", "--imei", &i3, "--attr", &attr],
        vec!["token", "show", "--profile", H],
        vec!["config", "show", "--profile", H],
        vec!["config", "set", "--profile", "P", "--vendor", &vendor],
        vec!["users", "delete", H],
        vec!["users", "add", H],
        vec!["import", f, "--profile", "P"],
        vec!["import", f, "--profile", "P", "--dry-run"],
        vec!["dep", "import", f],
        vec!["dep", "list"],
        vec!["dep", "list", "--format", "json"],
        vec!["dep", "show", "d1"],
        vec!["dep", "show", H],
        vec!["dep", "delete", H],
        vec!["dep", "checkin", "--identifier", H, "--code", "123456"],
        vec!["dep", "withdraw", "--identifier", H],
        vec!["dep", "edit", H, "--set", "DisplayName=x"],
        vec!["catalog", "add", "organization", H],
        vec!["find", H],
        vec!["export", "--profile", H],
        vec!["audit", "--format", "json"],
        vec!["audit"],
        vec![H],
        vec!["profiles", H],
        vec!["--db", H, "check"],
    ];
    for args in cases {
        let (code, out, err) = env.run(&args);
        assert!(raw(&out).is_none(), "{args:?} (exit {code}) stdout: {out:?}");
        assert!(raw(&err).is_none(), "{args:?} (exit {code}) stderr: {err:?}");
    }
    // JSON stays JSON: the escapes are JSON's own.
    let json = env.ok(&["devices", "list", "--profile", "P", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["Note"], H, "the value itself, read back from the escaped JSON");
}
