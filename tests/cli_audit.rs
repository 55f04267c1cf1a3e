//! The audit trail through the command line: every command recorded with actor, target and outcome,
//! refusals with their reasons, one entry per import with its counts, no secret in clear, filters.

mod common;
use common::{Env, devices_csv, imei};

/// The entries as JSON objects, newest first.
fn entries(env: &Env, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["audit", "--format", "json"];
    all.extend_from_slice(args);
    let out = env.ok(&all);
    serde_json::from_str::<serde_json::Value>(&out).unwrap().as_array().unwrap().clone()
}

#[test]
fn every_command_is_recorded_newest_first_with_actor_and_outcome() {
    let env = Env::new();
    env.ok(&["profiles", "create", "Dock 3", "--token-days", "14"]);
    env.ok(&["devices", "add", "--profile", "Dock 3", "--imei", &imei(1), "--attr", "Asset Tag=A-1"]);
    env.ok(&["devices", "edit", "--profile", "Dock 3", "--imei", &imei(1), "--attr", "Asset Tag=A-2"]);
    let (code, _, _) = env.run(&["devices", "add", "--profile", "Dock 3", "--imei", &imei(1)]);
    assert_eq!(code, 1, "a duplicate is refused");
    env.ok(&["devices", "delete", "--profile", "Dock 3", "--imei", &imei(1)]);
    env.ok(&["users", "add", "alice", "--name", "Alice"]);
    env.ok(&["profiles", "edit", "Dock 3", "--user", "alice", "--description", "line 1"]);
    let list = entries(&env, &[]);
    let commands: Vec<&str> = list.iter().map(|e| e["Command"].as_str().unwrap()).collect();
    assert_eq!(
        commands,
        [
            "profile.edit",
            "profile.set_user",
            "user.add",
            "device.delete",
            "device.add",
            "device.edit",
            "device.add",
            "profile.create"
        ]
    );
    let refused = &list[4];
    assert_eq!(refused["Outcome"], "refused");
    assert_eq!(refused["Target"], format!("IMEI {}", imei(1)), "named as the added one is");
    assert!(refused["Details"].as_str().unwrap().contains("is already in profile \"Dock 3\""), "{refused}");
    let me = list[0]["User"].as_str().unwrap();
    assert!(!me.is_empty());
    assert_eq!(list[0]["Front-end"], "command line");
    assert_eq!(list[7]["Target"], "profile \"Dock 3\"");
    assert!(list[7]["Details"].as_str().unwrap().starts_with("profile created, token expires"), "{}", list[7]);
    assert_eq!(list[5]["Details"], "Asset Tag set");
    assert_eq!(list[5]["Target"], format!("IMEI {}", imei(1)));

    // The table names the columns; filters narrow.
    let table = env.ok(&["audit"]);
    assert!(table.lines().next().unwrap().starts_with("Time"), "{table}");
    assert_eq!(entries(&env, &["--profile", "dock 3"]).len(), 7, "user.add concerns no profile");
    assert_eq!(entries(&env, &["--actor", "nobody-here"]).len(), 0);
    assert_eq!(entries(&env, &["--actor", me]).len(), 8);
    assert_eq!(entries(&env, &["--until", "2000-01-01"]).len(), 0);
    assert_eq!(entries(&env, &["--since", "2000-01-01"]).len(), 8);
    let (code, _, err) = env.run(&["audit", "--since", "last week"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn an_import_is_one_entry_with_its_counts_and_a_dry_run_or_refusal_is_recorded() {
    let env = Env::new();
    let f = env.write("d.csv", devices_csv(0, 500));
    env.ok(&["import", f.to_str().unwrap(), "--profile", "P", "--create", "--dry-run"]);
    env.ok(&["import", f.to_str().unwrap(), "--profile", "P", "--create"]);
    let (code, _, _) = env.run(&["import", f.to_str().unwrap(), "--profile", "P"]);
    assert_eq!(code, 1, "every row is a duplicate now");
    let list = entries(&env, &[]);
    assert_eq!(list.len(), 3, "one entry per import, not one per row: {list:?}");
    assert_eq!(list[0]["Outcome"], "refused");
    assert_eq!(list[0]["Counts"], "0 valid, 500 rejected, 0 created, 0 updated");
    assert_eq!(list[1]["Outcome"], "done");
    assert_eq!(list[1]["Rows"], "500");
    assert_eq!(list[1]["Counts"], "500 valid, 0 rejected, 500 created, 0 updated");
    assert!(list[1]["Details"].as_str().unwrap().contains("imported 500 devices"), "{}", list[1]);
    assert_eq!(list[2]["Details"], "dry run: nothing was written");
    assert_eq!(list[2]["Target"], "file d.csv");
}

#[test]
fn no_token_code_or_wifi_password_appears_in_the_trail() {
    let env = Env::new();
    env.ok(&["profiles", "create", "P", "--token-days", "30"]);
    env.ok(&["token", "refresh", "--profile", "P"]);
    env.ok(&["token", "extend", "--profile", "P", "--days", "7"]);
    let token = env.ok(&["token", "show", "--profile", "P"]).trim().to_string();
    let f = env.write("d.csv", devices_csv(0, 1));
    env.ok(&["import", f.to_str().unwrap(), "--profile", "P"]);
    env.ok(&["register", "--token", &token, "--imei", &imei(0)]);
    let (code, _, _) = env.run(&["register", "--token", "WRONG-wrong-WRONG-token1", "--imei", &imei(0)]);
    assert_eq!(code, 1);
    env.ok(&[
        "config",
        "set",
        "--profile",
        "P",
        "--system",
        "wifi_ssid=Dock",
        "--system",
        "wifi_password=hunter2-secret",
    ]);
    let (code, _, _) = env.run(&["config", "set", "--profile", "P", "--system", "wifi_password=bad\u{7}pass-word"]);
    assert_eq!(code, 1);
    // DEP: a record with a known code, a wrong check-in, a right one.
    let dep = env.write("dep.csv", "Identifier,OS,Code\nD1,ios,ZXCVBNMQ\n");
    env.ok(&["dep", "import", dep.to_str().unwrap()]);
    let (code, _, _) = env.run(&["dep", "checkin", "--identifier", "D1", "--code", "QWERTYUP"]);
    assert_eq!(code, 1);
    env.ok(&["dep", "checkin", "--identifier", "D1", "--code", "ZXCVBNMQ"]);

    let all = env.ok(&["audit", "--format", "csv"]);
    for secret in [token.as_str(), "WRONG-wrong-WRONG-token1", "hunter2-secret", "pass-word", "ZXCVBNMQ", "QWERTYUP"] {
        assert!(!all.contains(secret), "{secret} is in the audit trail:\n{all}");
    }
    assert!(all.contains("token refreshed, expires"), "{all}");
    assert!(all.contains("set wifi_ssid, wifi_password"), "{all}");
    assert!(all.contains("wrong check-in code for D1"), "{all}");
    assert!(all.contains("not this flow"), "{all}");
}
