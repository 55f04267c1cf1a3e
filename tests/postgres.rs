//! The PostgreSQL store's schema and connection, against a real server: `KITTING_TEST_POSTGRES` names
//! one (a user that may create databases: each test makes a database of its own). `.ci/run` starts a
//! throwaway cluster and sets it; without it these tests say so once and pass, unless
//! `KITTING_TEST_POSTGRES_REQUIRED` is set (CI), where a missing server fails them.

mod common;

use kitting::store::Store;
use kitting::store::postgres::{SCHEMA_VERSION, Target, schema_version};

use common::pg::{fresh, server};

/// The PostgreSQL store on the test database `url`.
fn pg_store(url: &str) -> kitting::store::postgres::PgStore {
    kitting::store::postgres::PgStore::open(Target::parse(url).unwrap()).unwrap()
}

/// `kitting --db URL --config CONFIG`, with HOME inside the workspace and no password in the environment.
fn kitting(env: &common::Env, url: &str) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_kitting"));
    c.env_remove("KITTING_DB")
        .env_remove("PGPASSWORD")
        .env_remove("PGPASSFILE")
        .env("HOME", env.dir.path())
        .current_dir(env.dir.path())
        .args(["--db", url, "--config"])
        .arg(env.config());
    c
}

#[test]
fn the_schema_is_created_on_first_use_and_left_as_it_is_after() {
    let Some(server) = server() else { return };
    let url = fresh(&server);
    let target = Target::parse(&url).unwrap();
    let mut client = target.open().unwrap();
    assert_eq!(schema_version(&mut client).unwrap(), SCHEMA_VERSION);
    let tables: Vec<String> = client
        .query("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for t in ["audit", "catalog", "dep_devices", "device_imeis", "devices", "kitting_schema", "profiles", "users"] {
        assert!(tables.iter().any(|x| x == t), "{t} in {tables:?}");
    }
    drop(client);
    // The second use finds it in place: nothing applied twice.
    let mut again = Target::parse(&url).unwrap().open().unwrap();
    assert_eq!(schema_version(&mut again).unwrap(), SCHEMA_VERSION);
    let rows: i64 = again.query_one("SELECT count(*) FROM kitting_schema", &[]).unwrap().get(0);
    assert_eq!(rows, 1);
}

#[test]
fn a_newer_schema_is_refused_naming_both_versions() {
    let Some(server) = server() else { return };
    let url = fresh(&server);
    let mut client = Target::parse(&url).unwrap().open().unwrap();
    client.execute("UPDATE kitting_schema SET version = 41", &[]).unwrap();
    let e = Target::parse(&url).unwrap().open().err().unwrap().to_string();
    assert!(e.contains("schema version 41") && e.contains(&format!("knows version {SCHEMA_VERSION}")), "{e}");
}

/// Every uniqueness rule is the database's own constraint: written straight in SQL, as another host's
/// kitting might, the second of two clashing rows is refused by PostgreSQL itself.
#[test]
fn every_uniqueness_rule_is_a_database_constraint() {
    let Some(server) = server() else { return };
    let url = fresh(&server);
    let mut c = Target::parse(&url).unwrap().open().unwrap();
    let unique = |r: Result<u64, postgres::Error>, what: &str| {
        let e = r.expect_err(what);
        assert_eq!(e.code(), Some(&postgres::error::SqlState::UNIQUE_VIOLATION), "{what}: {e}");
    };
    let profile = "INSERT INTO profiles (id, name, name_key, kind, created, modified, config)
                   VALUES ($1, $2, $3, 'Self Maintained', now(), now(), '{}')";
    c.execute(profile, &[&1i32, &"Dock 3", &"dock 3"]).unwrap();
    c.execute(profile, &[&2i32, &"Dock 4", &"dock 4"]).unwrap();
    unique(c.execute(profile, &[&3i32, &"DOCK 3", &"dock 3"]), "profile names ignore case");
    let device = "INSERT INTO devices (profile, seq, imei, imei2, serial, manufacturer, serial_key, created, modified)
                  VALUES ($1, $2, $3, $4, $5, $6, $7, now(), now())";
    let none: Option<i64> = None;
    let no_text: Option<&str> = None;
    c.execute(
        device,
        &[&1i32, &0i64, &Some(352099001761481i64), &Some(356938035643817i64), &no_text, &no_text, &no_text],
    )
    .unwrap();
    let imeis = "INSERT INTO device_imeis (imei, profile, seq) VALUES ($1, $2, $3)";
    c.execute(imeis, &[&352099001761481i64, &1i32, &0i64]).unwrap();
    c.execute(imeis, &[&356938035643817i64, &1i32, &0i64]).unwrap();
    // Another profile's device whose first IMEI is the first device's second.
    c.execute(device, &[&2i32, &0i64, &Some(356938035643817i64), &none, &no_text, &no_text, &no_text]).unwrap();
    unique(c.execute(imeis, &[&356938035643817i64, &2i32, &0i64]), "an IMEI, first or second, in any profile");
    let serial = Some("R58M12ABC\u{1f}SAMSUNG");
    c.execute(device, &[&1i32, &1i64, &none, &none, &Some("R58M12ABC"), &Some("Samsung"), &serial]).unwrap();
    unique(
        c.execute(device, &[&2i32, &1i64, &none, &none, &Some("r58m12abc"), &Some("samsung"), &serial]),
        "serial number and manufacturer, across profiles",
    );
    let user = "INSERT INTO users (username_key, username) VALUES ($1, $2)";
    c.execute(user, &[&"taro", &"Taro"]).unwrap();
    unique(c.execute(user, &[&"taro", &"TARO"]), "usernames ignore case");
    let dep = "INSERT INTO dep_devices (identifier_key, checked_in_serial, record, modified)
               VALUES ($1, $2, '{}', now())";
    c.execute(dep, &[&"device01", &Some("F2LX1234ABCD")]).unwrap();
    unique(c.execute(dep, &[&"device01", &no_text]), "DEP identifiers ignore case");
    c.execute(dep, &[&"device02", &no_text]).unwrap();
    c.execute(dep, &[&"device03", &no_text]).unwrap();
    unique(c.execute(dep, &[&"device04", &Some("F2LX1234ABCD")]), "a DEP serial checked in on one record only");
    // A second IMEI equal to the first is no second IMEI.
    let e = c
        .execute(
            device,
            &[&1i32, &2i64, &Some(490154203237534i64), &Some(490154203237534i64), &no_text, &no_text, &no_text],
        )
        .unwrap_err();
    assert_eq!(e.code(), Some(&postgres::error::SqlState::CHECK_VIOLATION), "{e}");
}

/// The command line on a PostgreSQL URL: the first command sets up the schema; an import, a listing,
/// an export that imports again elsewhere, `check` and the audit trail all work there, and no directory
/// is made named after the URL.
#[test]
fn the_command_line_works_on_a_postgres_url() {
    let Some(server) = server() else { return };
    let url = fresh(&server);
    let env = common::Env::on_postgres(&url);
    let csv =
        env.write("dock.csv", "IMEI,Serial Number,Manufacturer,Asset Tag\n352099001761481,,,A-1\n,SN-1,Zebra,A-2\n");
    let out = env.ok(&["import", csv.to_str().unwrap(), "--profile", "Dock", "--create"]);
    assert!(out.contains("Imported 2 devices"), "{out}");
    assert!(!env.dir.path().join("postgres:").exists(), "no directory named after the URL");
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    assert_eq!(schema_version(&mut c).unwrap(), SCHEMA_VERSION);
    assert_eq!(env.device_count("Dock"), Some(2));
    let (code, _, err) = env.run(&["devices", "add", "--profile", "Dock", "--imei", "352099001761481"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("already in profile \"Dock\" (dock.csv:2)"), "{err}");
    let exported = env.path("export.csv");
    env.ok(&["export", "--profile", "Dock", "-o", exported.to_str().unwrap()]);
    let sled = common::Env::new();
    let out = sled.ok(&["import", exported.to_str().unwrap(), "--profile", "Dock", "--create"]);
    assert!(out.contains("Imported 2 devices"), "the export imports into sled: {out}");
    let check = env.ok(&["check"]);
    assert!(check.contains("is consistent: 1 profiles, 2 devices"), "{check}");
    let audit = env.ok(&["audit", "--format", "csv"]);
    assert!(audit.contains("device.add") && audit.contains("import"), "{audit}");
}

/// The password never shows: a connection that fails says why without it, wherever it came from.
#[test]
fn the_password_never_appears_in_a_message() {
    let env = common::Env::new();
    // Port 1: nothing listens, so this needs no server.
    let url = "postgres://ann@127.0.0.1:1/kitting";
    let out = kitting(&env, url).env("PGPASSWORD", "sekrit-123").args(["profiles", "list"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("postgres://ann@127.0.0.1:1/kitting: cannot connect"), "{err}");
    assert!(!err.contains("sekrit-123"), "{err}");
    let pgpass = env.write("pgpass", "*:*:*:ann:from-the-file-42\n");
    std::fs::set_permissions(&pgpass, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = kitting(&env, url).env("PGPASSFILE", &pgpass).args(["profiles", "list"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot connect") && !err.contains("from-the-file-42"), "{err}");
    // In the URL itself it is refused, and not repeated.
    let out = kitting(&env, "postgres://ann:in-the-url-7@127.0.0.1:1/kitting").arg("check").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("PGPASSWORD or ~/.pgpass") && !err.contains("in-the-url-7"), "{err}");
}

/// A database at schema version 1 (as an older kitting left it) is brought to the current version in
/// place, each migration in its transaction: a registration time in it is kept (to the microsecond it
/// had).
#[test]
fn a_version_1_database_is_migrated_in_place() {
    let Some(server) = server() else { return };
    let url = fresh(&server);
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.batch_execute(include_str!("../migrations/0001_inventory.sql")).unwrap();
    c.batch_execute("CREATE TABLE kitting_schema (version integer NOT NULL); INSERT INTO kitting_schema VALUES (1);")
        .unwrap();
    c.batch_execute(
        "INSERT INTO profiles (id, name, name_key, kind, created, modified, config, device_count, next_seq)
         VALUES (1, 'Dock', 'dock', 'Self Maintained', now(), now(), '{\"vendor\":[],\"system\":[],\"custom\":[]}', 1, 1);
         INSERT INTO devices (profile, seq, imei, status, status_at, created, modified)
         VALUES (1, 0, 352099001761481, 'registered', '2026-12-01 10:00:00.123456+00', now(), now());",
    )
    .unwrap();
    drop(c);
    let mut client = Target::parse(&url).unwrap().open().unwrap();
    assert_eq!(schema_version(&mut client).unwrap(), SCHEMA_VERSION);
    let ns: i64 = client.query_one("SELECT status_ns FROM devices", &[]).unwrap().get(0);
    assert_eq!(ns, 1_796_119_200_123_456_000);
}

/// Cuts every connection to the test database `url` names (as a server restart or a network cut
/// would), from a connection to the server's own database.
fn cut(server: &str, url: &str) {
    let db = url.rsplit_once('/').map(|(_, d)| d.to_string()).unwrap();
    let mut admin = postgres::Client::connect(server, postgres::NoTls).unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db],
        )
        .unwrap();
}

/// A connection cut: a read or a change that meets it connects again by itself (nothing of it had been
/// sent) and finds everything that had been committed.
#[test]
fn after_a_connection_cut_the_next_action_connects_again() {
    use kitting::store::Store;
    let Some(server) = server() else { return };
    let url = fresh(&server);
    let store = pg_store(&url);
    let env = common::Env::on_postgres(&url);
    env.ok(&["profiles", "create", "Dock"]);
    assert_eq!(store.profiles().unwrap().len(), 1);
    cut(&server, &url);
    assert_eq!(store.profiles().unwrap().len(), 1, "reconnected, nothing lost");
    cut(&server, &url);
    let p = store.profile("Dock").unwrap().unwrap();
    cut(&server, &url);
    let change = kitting::store::ProfileChange { description: Some(Some("after".into())), ..Default::default() };
    store.update_profile(p.id, &change, Some(p.version), &audit_entry()).unwrap();
    assert_eq!(store.profile("Dock").unwrap().unwrap().description.as_deref(), Some("after"));
}

fn audit_entry() -> kitting::domain::audit::AuditEntry {
    use kitting::domain::audit::{Actor, AuditEntry, AuditOutcome, FrontEnd};
    AuditEntry {
        id: 0,
        at: chrono::Utc::now(),
        actor: Actor::named("ann", FrontEnd::Cli),
        command: "import".into(),
        profile: None,
        target: "file big.csv".into(),
        outcome: AuditOutcome::Done("imported".into()),
        counts: None,
    }
}

/// The connection cut while an import is staged and before it commits: none of it is written, and the
/// database is consistent.
#[test]
fn a_connection_cut_in_the_middle_of_an_import_leaves_none_of_it() {
    use kitting::csv::android::{ImportOptions, check};
    use kitting::store::{ImportTarget, Store};
    let Some(server) = server() else { return };
    let url = fresh(&server);
    let store = pg_store(&url);
    let env = common::Env::on_postgres(&url);
    let file = env.write("big.csv", common::devices_csv(1, 5_000));
    let new = kitting::ops::profiles::new_profile(
        kitting::domain::NewProfile { name: "Big".into(), ..Default::default() },
        7,
        chrono::Utc::now(),
    )
    .unwrap();
    let opts = ImportOptions { dry_run: false, skip_invalid: false, max_rows: 10_000 };
    let checked = check(&store, &file, ImportTarget::Create(Box::new(new)), &opts, &mut |_| true).unwrap();
    assert_eq!(checked.report.valid, 5_000);
    cut(&server, &url);
    let e = checked.session.commit(&[], &audit_entry()).unwrap_err().to_string();
    assert!(e.contains("lost the connection"), "{e}");
    // The store's own connection was cut too: it connects again.
    assert!(store.profile("Big").unwrap().is_none(), "none of it");
    assert!(store.check().unwrap().is_empty());
    let check = env.ok(&["check"]);
    assert!(check.contains("is consistent: 0 profiles, 0 devices"), "{check}");
}

/// `kitting db copy`: a sled database (Android profiles with a registered and a dual-SIM device, DEP
/// records, users, catalog, a mail) into PostgreSQL and back into a new directory, verified on both
/// sides each time; the copy exports the same inventory; a destination that holds anything is refused.
#[test]
fn db_copy_moves_an_inventory_from_sled_to_postgresql_and_back() {
    let Some(server) = server() else { return };
    let url = fresh(&server);
    let sled = common::Env::new();
    let csv = sled.write(
        "dock.csv",
        format!("IMEI,Serial Number,Manufacturer,Asset Tag\n{},,,A-1\n,SN-1,Zebra,A-2\n", common::imei(1)),
    );
    sled.ok(&["import", csv.to_str().unwrap(), "--profile", "Dock", "--create"]);
    let token = sled.ok(&["token", "show", "--profile", "Dock"]);
    sled.ok(&["register", "--token", token.trim(), "--imei", &common::imei(1)]);
    sled.ok(&["catalog", "organizations", "add", "Sales"]);
    let dep = sled
        .write("dep.csv", "UserName,Organizations,Identifier,OS,RegistrationEmail\ntaro,Sales,D1,ios,t@example.com\n");
    sled.ok(&["dep", "import", dep.to_str().unwrap()]);
    let db = sled.db();
    let out = sled.ok(&["db", "copy", "--from", db.to_str().unwrap(), "--to", &url]);
    assert!(out.contains("1 profiles, 2 devices, 1 users, 1 catalog entries, 1 DEP devices, 1 mails"), "{out}");
    assert!(out.contains("Verified"), "{out}");
    let pg = common::Env::on_postgres(&url);
    let check = pg.ok(&["check"]);
    assert!(check.contains("is consistent: 1 profiles, 2 devices"), "{check}");
    let export = |env: &common::Env| env.ok(&["export", "--profile", "Dock"]);
    assert_eq!(export(&pg), export(&sled), "the same devices, statuses and registration times");
    assert_eq!(pg.ok(&["dep", "export"]), sled.ok(&["dep", "export"]));
    // Refused into a database that holds anything, and nothing changes there.
    let (code, _, err) = sled.run(&["db", "copy", "--from", db.to_str().unwrap(), "--to", &url]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(pg.device_count("Dock"), Some(2));
    // And back, into a directory that does not exist yet.
    let back = sled.path("back");
    let out = pg.ok(&["db", "copy", "--from", &url, "--to", back.to_str().unwrap()]);
    assert!(out.contains("Verified"), "{out}");
    assert_eq!(export(&common::Env::on(&back)), export(&sled));
    let audit = pg.ok(&["audit", "--format", "csv"]);
    assert!(audit.contains("db.copy") && audit.contains("import"), "the trail came along: {audit}");
}

/// TLS as `sslmode` says, against the CI cluster's own certificate authority (its server certificate
/// names "localhost" only): `require` encrypts; `verify-full` accepts the server by that name and refuses
/// it by another, saying why; `verify-ca` accepts it by either; `disable` does not encrypt; the command
/// line connects with `verify-full` as well.
#[test]
fn tls_connections_follow_sslmode() {
    let Some(server) = server() else { return };
    let Some(ca) = common::pg::setting("KITTING_TEST_POSTGRES_CA", "the PEM file of the server's CA") else {
        return;
    };
    let url = fresh(&server);
    assert!(url.contains("127.0.0.1"), "{url}");
    let by_name = url.replace("127.0.0.1", "localhost");
    let encrypted = |u: String| -> Result<bool, String> {
        let mut c = Target::parse(&u).map_err(|e| e.to_string())?.open().map_err(|e| e.to_string())?;
        Ok(c.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).unwrap().get(0))
    };
    assert_eq!(encrypted(format!("{url}?sslmode=require")), Ok(true));
    assert_eq!(encrypted(format!("{url}?sslmode=disable")), Ok(false));
    assert_eq!(encrypted(format!("{by_name}?sslmode=verify-full&sslrootcert={ca}")), Ok(true));
    assert_eq!(encrypted(format!("{url}?sslmode=verify-ca&sslrootcert={ca}")), Ok(true));
    let e = encrypted(format!("{url}?sslmode=verify-full&sslrootcert={ca}")).unwrap_err();
    assert!(e.contains("cannot connect") && e.to_lowercase().contains("certificate"), "{e}");
    let e = encrypted(format!("{by_name}?sslmode=verify-full&sslrootcert=/nonexistent.pem")).unwrap_err();
    assert!(e.contains("/nonexistent.pem does not exist"), "{e}");
    let env = common::Env::new();
    let out = kitting(&env, &format!("{by_name}?sslmode=verify-full&sslrootcert={ca}"))
        .args(["profiles", "list"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Schema 3 keeps the references between devices, their IMEI rows and their profile itself: deleting a
/// device, editing one's IMEI and deleting a profile leave no IMEI row behind, and `check` finds one
/// that is left (written behind kitting's back).
#[test]
fn deletes_leave_no_imei_rows_behind_and_check_finds_one_that_is() {
    let Some(server) = server() else { return };
    let url = fresh(&server);
    let env = common::Env::on_postgres(&url);
    let csv = env.write("d.csv", format!("IMEI\n{}\n{}\n{}\n", common::imei(1), common::imei(2), common::imei(3)));
    env.ok(&["import", csv.to_str().unwrap(), "--profile", "A", "--create"]);
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let rows =
        |c: &mut postgres::Client| c.query_one("SELECT count(*) FROM device_imeis", &[]).unwrap().get::<_, i64>(0);
    assert_eq!(rows(&mut c), 3);
    env.ok(&["devices", "delete", "--profile", "A", "--imei", &common::imei(1)]);
    assert_eq!(rows(&mut c), 2);
    env.ok(&["devices", "edit", "--profile", "A", "--imei", &common::imei(2), "--set-imei", &common::imei(4)]);
    assert_eq!(rows(&mut c), 2);
    let (code, _, err) = env.run(&["devices", "add", "--profile", "A", "--imei", &common::imei(4)]);
    assert_eq!(code, 1, "the new IMEI is taken: {err}");
    env.ok(&["devices", "add", "--profile", "A", "--imei", &common::imei(2)]);
    assert!(env.ok(&["check"]).contains("is consistent"));
    c.execute("INSERT INTO device_imeis (imei, profile, seq) VALUES (1, 1, 99)", &[]).unwrap();
    let (code, out, err) = env.run(&["check"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!((out.clone() + &err).contains("1 rows of the IMEI index belong to no device"), "{out}{err}");
    c.execute("DELETE FROM device_imeis WHERE imei = 1", &[]).unwrap();
    env.ok(&["profiles", "delete", "A", "--yes"]);
    assert_eq!(rows(&mut c), 0, "the profile's IMEI rows went with it");
}

/// PostgreSQL is chosen the three ways a database is: `--db`, `db = "postgres://…"` in config.toml, and
/// `KITTING_DB`; each reaches the same database.
#[test]
fn a_postgres_url_in_the_config_file_or_kitting_db_selects_postgresql() {
    let Some(server) = server() else { return };
    let url = fresh(&server);
    let env = common::Env::new();
    let bin = || {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_kitting"));
        c.env_remove("KITTING_DB").env("HOME", env.dir.path()).current_dir(env.dir.path());
        c
    };
    let config = env.write("pg.toml", format!("db = \"{url}\"\n"));
    let out = bin().args(["--config", config.to_str().unwrap(), "profiles", "create", "Osaka"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut list = bin();
    list.env("KITTING_DB", &url).args(["--config", env.config().to_str().unwrap(), "profiles", "list"]);
    let out = list.output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Osaka"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!env.dir.path().join("postgres:").exists(), "no directory named after the URL");
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let n: i64 = c.query_one("SELECT count(*) FROM profiles WHERE name = 'Osaka'", &[]).unwrap().get(0);
    assert_eq!(n, 1);
}

/// The audit trail read a page at a time: the newest entries first, a limit stops early, the time range
/// and a profile that only the oldest entry names are found across pages (1,200 entries, pages of 500).
#[test]
fn the_audit_trail_is_read_newest_first_across_pages() {
    use kitting::domain::audit::AuditQuery;
    use kitting::store::Store;
    let Some(server) = server() else { return };
    let url = fresh(&server);
    let store = pg_store(&url);
    // Whole seconds: entries keep their time to the millisecond, as on every store.
    let start = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp() - 7200, 0).unwrap();
    for i in 0..1200i64 {
        let mut e = audit_entry();
        e.at = start + chrono::Duration::seconds(i);
        e.target = format!("entry {i}");
        e.profile = (i == 0).then(|| "Oldest".to_string());
        store.append_audit(&e).unwrap();
    }
    let newest = store.audit(&AuditQuery { limit: Some(3), ..AuditQuery::default() }).unwrap();
    let targets: Vec<&str> = newest.iter().map(|e| e.target.as_str()).collect();
    assert_eq!(targets, ["entry 1199", "entry 1198", "entry 1197"]);
    assert_eq!(store.audit(&AuditQuery::default()).unwrap().len(), 1200);
    let oldest = store.audit(&AuditQuery { profile: Some("oldest".into()), ..AuditQuery::default() }).unwrap();
    assert_eq!(oldest.iter().map(|e| e.target.as_str()).collect::<Vec<_>>(), ["entry 0"]);
    let range = AuditQuery {
        since: Some(start + chrono::Duration::seconds(100)),
        until: Some(start + chrono::Duration::seconds(110)),
        ..AuditQuery::default()
    };
    let found = store.audit(&range).unwrap();
    assert_eq!(found.len(), 10);
    assert_eq!((found[0].target.as_str(), found[9].target.as_str()), ("entry 109", "entry 100"));
}

/// A backup on a busy site (issue 14): another host keeps adding devices while the inventory is read;
/// the snapshot is one moment of the database (the profile's count is its devices, one audit entry per
/// change it holds), read once, neither retried nor refused.
#[test]
fn a_snapshot_is_one_moment_while_another_host_keeps_adding_devices() {
    use kitting::store::Store;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let Some(server) = server() else { return };
    let url = fresh(&server);
    let store = pg_store(&url);
    let env = common::Env::on_postgres(&url);
    let p = create(&store, "P");
    let file = env.write("big.csv", common::devices_csv(1, 5_000));
    let checked = checked_into(&store, &file, p.id);
    checked.session.commit(&[], &audit_entry()).unwrap();
    let stop = AtomicBool::new(false);
    let added = AtomicU64::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            let other = pg_store(&url);
            for i in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                other.add_device(p.id, by_hand(&common::imei(100_000 + i)), &audit_entry()).unwrap();
                added.fetch_add(1, Ordering::SeqCst);
            }
        });
        while added.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        let mut overlapped = 0;
        for _ in 0..3 {
            let before = added.load(Ordering::SeqCst);
            let snap = store.snapshot();
            let during = added.load(Ordering::SeqCst) - before;
            let snap = match snap {
                Ok(s) => s,
                Err(e) => {
                    stop.store(true, Ordering::SeqCst);
                    panic!("a snapshot while {during} devices were added: {e}");
                }
            };
            let (profile, devices) = &snap.profiles[0];
            assert_eq!(profile.device_count as usize, devices.len(), "the count and the devices of one moment");
            assert_eq!(snap.audit.len(), 2 + devices.len() - 5_000, "one audit entry for each change held");
            overlapped += during;
        }
        stop.store(true, Ordering::SeqCst);
        assert!(overlapped > 0, "the other host added devices while the snapshots were read");
    });
}

/// `file` checked for an import into profile `p`: all or nothing, up to 20,000 rows.
fn checked_into(
    store: &kitting::store::postgres::PgStore,
    file: &std::path::Path,
    p: kitting::domain::ProfileId,
) -> kitting::csv::android::Checked {
    use kitting::csv::android::{ImportOptions, check};
    let opts = ImportOptions { dry_run: false, skip_invalid: false, max_rows: 20_000 };
    check(store, file, kitting::store::ImportTarget::Existing(p), &opts, &mut |_| true).unwrap()
}

/// A profile named `name`, created through the store.
fn create(store: &impl kitting::store::Store, name: &str) -> kitting::domain::Profile {
    let new = kitting::domain::NewProfile { name: name.into(), ..Default::default() };
    let p = kitting::ops::profiles::new_profile(new, 7, chrono::Utc::now()).unwrap();
    store.create_profile(p, &audit_entry()).unwrap()
}

/// A device added by hand with the IMEI `imei`.
fn by_hand(imei: &str) -> kitting::domain::NewDevice {
    use kitting::domain::{Identifiers, NewDevice, Source, Status};
    NewDevice {
        ids: Identifiers::parse(imei, "", "").unwrap(),
        attributes: vec![],
        status: Status::Pending,
        source: Source::Manual,
    }
}

/// An import streams its rows into the devices while it checks the next (their IMEI rows at its
/// commit): a device saved by someone else after its row was checked, well after the first rows were
/// written, still refuses the whole import, naming that row's line; nothing of the import stays, what
/// the other saved does.
#[test]
fn a_clash_after_rows_were_written_names_its_line_and_imports_nothing() {
    use kitting::store::Store;
    let Some(server) = server() else { return };
    let url = fresh(&server);
    let store = pg_store(&url);
    let env = common::Env::on_postgres(&url);
    let (a, b) = (create(&store, "A"), create(&store, "B"));
    // 10,000 rows: most are written while the file is read, the rest at the commit.
    let file = env.write("big.csv", common::devices_csv(1, 10_000));
    let checked = checked_into(&store, &file, b.id);
    assert_eq!(checked.report.valid, 10_000);
    // Rows 5 and 9,500 (lines 6 and 9,501) are saved by another technician meanwhile: the adds go
    // ahead at once, though the import's transaction has long written row 5 into the devices.
    let (tx, rx) = std::sync::mpsc::channel();
    let (theirs, profile) = (url.clone(), a.id);
    // A thread of its own (not scoped): were an add to wait for the import, the test fails, not hangs.
    std::thread::spawn(move || {
        let other = pg_store(&theirs);
        for n in [5, 9_500] {
            let added = other.add_device(profile, by_hand(&common::imei(n)), &audit_entry()).map(|_| ());
            tx.send(added.map_err(|e| e.to_string())).unwrap();
        }
    });
    for _ in 0..2 {
        let added = rx.recv_timeout(std::time::Duration::from_secs(60));
        assert!(matches!(added, Ok(Ok(()))), "an add of an IMEI the import holds does not wait: {added:?}");
    }
    let e = checked.session.commit(&[], &audit_entry()).unwrap_err().to_string();
    assert!(e.contains("line 6: IMEI") && e.contains(&common::imei(5)), "{e}");
    assert!(e.contains("line 9501: IMEI") && e.contains(&common::imei(9_500)), "{e}");
    assert!(e.contains("already in profile \"A\"") && e.contains("nothing was imported"), "{e}");
    assert_eq!(store.profile_by_id(b.id).unwrap().unwrap().device_count, 0);
    assert_eq!(store.devices_page(b.id, None, 10).unwrap().len(), 0, "none of the rows written stays");
    assert_eq!(store.profile_by_id(a.id).unwrap().unwrap().device_count, 2, "theirs stays");
    assert!(store.check().unwrap().is_empty(), "{:?}", store.check());
}

/// Two imports checked at the same time with a serial number in common: the first to commit wins; the
/// other, whose row the database's own constraint refuses as it writes it, names that line and the
/// profile that has it now, and imports nothing.
#[test]
fn of_two_imports_with_a_serial_in_common_the_second_to_commit_names_the_line() {
    use kitting::csv::android::{ImportOptions, check};
    use kitting::store::{ImportTarget, Store};
    let Some(server) = server() else { return };
    let url = fresh(&server);
    let store = pg_store(&url);
    let env = common::Env::on_postgres(&url);
    let (a, b) = (create(&store, "A"), create(&store, "B"));
    let opts = ImportOptions { dry_run: false, skip_invalid: false, max_rows: 100 };
    let first = env.write("first.csv", common::devices_csv(1, 3));
    let second = env.write("second.csv", "IMEI,Serial Number,Manufacturer\n,SN-OTHER,Zebra\n,SN00000002,Samsung\n");
    let one = check(&store, &first, ImportTarget::Existing(a.id), &opts, &mut |_| true).unwrap();
    let two = check(&store, &second, ImportTarget::Existing(b.id), &opts, &mut |_| true).unwrap();
    assert_eq!((one.report.valid, two.report.valid), (3, 2), "neither sees the other's rows before a commit");
    assert_eq!(one.session.commit(&[], &audit_entry()).unwrap().device_count, 3);
    let e = two.session.commit(&[], &audit_entry()).unwrap_err().to_string();
    assert!(e.contains("line 3: serial number SN00000002 (samsung) is already in profile \"A\" (first.csv:3)"), "{e}");
    assert!(e.contains("during this import") && e.contains("nothing was imported") && !e.contains("line 2"), "{e}");
    assert_eq!(store.profile_by_id(b.id).unwrap().unwrap().device_count, 0);
    assert_eq!(store.devices_page(b.id, None, 10).unwrap().len(), 0);
    assert!(store.check().unwrap().is_empty(), "{:?}", store.check());
}

/// An import into an existing profile numbers its devices after the profile's as they come, without
/// locking the profile: a device added to that profile during the import gets a number of its own, and
/// once the import commits the profile goes on numbering after both, without reusing one.
#[test]
fn devices_added_during_an_import_into_the_same_profile_keep_numbers_of_their_own() {
    use kitting::store::Store;
    let Some(server) = server() else { return };
    let url = fresh(&server);
    let store = pg_store(&url);
    let env = common::Env::on_postgres(&url);
    let p = create(&store, "P");
    let first = store.add_device(p.id, by_hand(&common::imei(50_000)), &audit_entry()).unwrap();
    let file = env.write("big.csv", common::devices_csv(1, 10_000));
    let checked = checked_into(&store, &file, p.id);
    let during = store.add_device(p.id, by_hand(&common::imei(50_001)), &audit_entry()).unwrap();
    checked.session.commit(&[], &audit_entry()).unwrap();
    let after = store.add_device(p.id, by_hand(&common::imei(50_002)), &audit_entry()).unwrap();
    let mut seqs: Vec<u64> = Vec::new();
    let mut page = store.devices_page(p.id, None, 100_000).unwrap();
    seqs.extend(page.drain(..).map(|d| u64::from(d.seq)));
    assert_eq!(seqs.len(), 10_003);
    let mut unique = seqs.clone();
    unique.dedup();
    assert_eq!(unique.len(), seqs.len(), "no number given twice");
    assert!(
        u64::from(during.seq) > u64::from(first.seq)
            && u64::from(after.seq) > *seqs.iter().filter(|s| **s != u64::from(after.seq)).max().unwrap()
    );
    assert_eq!(store.profile_by_id(p.id).unwrap().unwrap().device_count, 10_003);
    assert!(store.check().unwrap().is_empty(), "{:?}", store.check());
    // Without a change in between, the numbers the import reserved and did not use go back.
    let p2 = create(&store, "Q");
    store.add_device(p2.id, by_hand(&common::imei(60_000)), &audit_entry()).unwrap();
    let file = env.write("small.csv", common::devices_csv(70_000, 10));
    let checked = checked_into(&store, &file, p2.id);
    checked.session.commit(&[], &audit_entry()).unwrap();
    let next = store.add_device(p2.id, by_hand(&common::imei(60_001)), &audit_entry()).unwrap();
    assert_eq!(u64::from(next.seq), 11, "numbered straight after the import's");
}

/// `kitting check` verifies the whole inventory on PostgreSQL too (issue 14): a user, a catalog entry
/// and a checked-in serial changed behind kitting's back are each named, exit code 1.
#[test]
fn check_finds_broken_references_written_behind_kittings_back() {
    let Some(server) = server() else { return };
    let url = fresh(&server);
    let env = common::Env::on_postgres(&url);
    env.ok(&["catalog", "organizations", "add", "Sales"]);
    env.ok(&["catalog", "tags", "add", "lobby"]);
    let dep = env.write(
        "dep.csv",
        "UserName,Organizations,Identifier,OS,DeviceTags,RegistrationEmail\ntaro,Sales,D1,ios,lobby,t@example.com\n",
    );
    env.ok(&["dep", "import", dep.to_str().unwrap()]);
    assert!(env.ok(&["check"]).contains("is consistent"));
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.batch_execute("DELETE FROM users; DELETE FROM catalog WHERE kind = 'tag'").unwrap();
    let (code, out, err) = env.run(&["check"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("DEP record \"D1\": its user \"taro\" does not exist"), "{err}");
    assert!(err.contains("DEP record \"D1\": device tag \"lobby\" is not in the catalog"), "{err}");
}

/// A database kitting made at schema version 3 (serial numbers in an index of their own) is migrated to
/// version 4 on first use: its devices are found by serial number through the key (a byte-wise range),
/// a longer serial number is not taken for a shorter one, and a device with no manufacturer is found too.
#[test]
fn a_version_3_database_is_migrated_and_its_serials_found() {
    let Some(server) = server() else { return };
    let url = fresh(&server);
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    for sql in [
        include_str!("../migrations/0001_inventory.sql"),
        include_str!("../migrations/0002_status_nanoseconds.sql"),
        include_str!("../migrations/0003_references_kept_by_kitting.sql"),
    ] {
        c.batch_execute(sql).unwrap();
    }
    c.batch_execute(
        "CREATE TABLE kitting_schema (version integer NOT NULL); INSERT INTO kitting_schema VALUES (3);
         INSERT INTO profiles (id, name, name_key, kind, created, modified, config, next_seq)
             VALUES (1, 'Dock', 'dock', 'Self Maintained', now(), now(), '{}', 3);
         INSERT INTO devices (profile, seq, imei, serial, manufacturer, serial_key, created, modified) VALUES
             (1, 0, NULL, 'R58M12ABC', 'Samsung', 'R58M12ABC' || chr(31) || 'samsung', now(), now()),
             (1, 1, NULL, 'R58M12ABCD', 'Zebra', 'R58M12ABCD' || chr(31) || 'zebra', now(), now()),
             (1, 2, 352099001761481, 'r58m12abc', NULL, NULL, now(), now());
         INSERT INTO device_imeis VALUES (352099001761481, 1, 2);
         UPDATE profiles SET device_count = 3;",
    )
    .unwrap();
    let store = pg_store(&url);
    assert_eq!(schema_version(&mut c).unwrap(), SCHEMA_VERSION);
    let found = common::serials_found(&store, "r58m12abc ");
    assert_eq!(
        found,
        [("R58M12ABC".to_string(), Some("Samsung".to_string())), ("r58m12abc".to_string(), None)],
        "by serial, in device order"
    );
    let lookup = kitting::store::Lookup::Serial { serial: "r58m12abcd".into(), manufacturer: "ZEBRA".into() };
    assert_eq!(store.find(&lookup).unwrap().unwrap().1.seq, 1);
    assert!(store.check().unwrap().is_empty());
}
