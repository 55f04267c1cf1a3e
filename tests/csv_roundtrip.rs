//! Property test of the CSV path through the library: random devices and attribute text, written by a
//! CSV writer in a random dialect, imported, exported and imported again: nothing is lost or changed
//! (dual-SIM devices' second IMEIs included).

use kitting::csv::android;
use kitting::domain::audit::{Actor, FrontEnd};
use kitting::ops;
use kitting::store::{SledStore, Store};
use proptest::prelude::*;

fn imei(n: u64) -> String {
    let body = format!("35{:012}", n);
    format!("{body}{}", kitting::domain::imei::luhn_check_digit(&body))
}

#[derive(Debug, Clone)]
struct Row {
    imei: Option<u64>,
    /// A dual-SIM device's second IMEI (only with a first one).
    imei2: Option<u64>,
    serial: Option<String>,
    attrs: [String; 2],
}

fn attr_text() -> impl Strategy<Value = String> {
    // Commas, quotes, newlines, formula starts, apostrophes, Japanese, spaces inside (trimmed at the ends).
    proptest::string::string_regex("[a-zA-Z0-9 ,\"\n=+@'東京-]{0,12}").unwrap().prop_map(|s| s.trim().to_string())
}

fn rows() -> impl Strategy<Value = Vec<Row>> {
    proptest::collection::vec(
        (
            proptest::option::of(0u64..1_000_000),
            proptest::option::of("[A-Z0-9]{4,10}"),
            attr_text(),
            attr_text(),
            any::<bool>(),
        ),
        1..40,
    )
    .prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (imei, serial, a, b, dual))| Row {
                // Unique identifiers (duplicates are tested elsewhere); every row has one.
                imei: imei.map(|n| n * 100 + i as u64),
                imei2: (imei.is_some() && dual).then_some(500_000_000_000 + i as u64),
                serial: Some(serial.map(|s| format!("{s}-{i}")).unwrap_or_else(|| format!("S-{i}"))),
                attrs: [a, b],
            })
            .collect()
    })
}

fn write_csv(rows: &[Row], delimiter: u8, crlf: bool) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .terminator(if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') })
        .from_writer(Vec::new());
    w.write_record(["IMEI", "IMEI 2", "Serial Number", "Manufacturer", "Note", "Owner"]).unwrap();
    for r in rows {
        let note = kitting::domain::text::escape_formula(&r.attrs[0]).into_owned();
        let owner = kitting::domain::text::escape_formula(&r.attrs[1]).into_owned();
        w.write_record([
            r.imei.map(imei).unwrap_or_default(),
            r.imei2.map(imei).unwrap_or_default(),
            r.serial.clone().unwrap_or_default(),
            "Acme".into(),
            note,
            owner,
        ])
        .unwrap();
    }
    w.into_inner().unwrap()
}

fn core(store: &SledStore) -> ops::Ctx<'_> {
    ops::Ctx::new(store, Actor::named("tester", FrontEnd::Cli), chrono::Utc::now())
}

fn import(store: &SledStore, path: &std::path::Path, name: &str) -> android::ImportReport {
    let command = ops::import::Import {
        file: path.to_path_buf(),
        to: ops::import::ImportTo::New(kitting::domain::NewProfile { name: name.into(), ..Default::default() }),
        default_token_days: 7,
        dry_run: false,
        skip_invalid: false,
        max_rows: 200_000,
    };
    ops::import::run(&core(store), command, &mut |_| true).unwrap()
}

fn export(store: &SledStore, name: &str) -> Vec<u8> {
    let p = store.profile(name).unwrap().unwrap();
    let mut out = Vec::new();
    android::export(store, &p, &mut out).unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn import_export_import_keeps_every_value(rows in rows(), delim in prop_oneof![Just(b','), Just(b';'), Just(b'\t')], crlf: bool) {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&dir.path().join("db")).unwrap();
        let file = dir.path().join("in.csv");
        std::fs::write(&file, write_csv(&rows, delim, crlf)).unwrap();
        let report = import(&store, &file, "A");
        prop_assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        prop_assert_eq!(report.valid, rows.len() as u64);

        let p = store.profile("A").unwrap().unwrap();
        let mut stored = Vec::new();
        kitting::store::each_device(&store, p.id, &mut |d| { stored.push(d); true }).unwrap();
        prop_assert_eq!(stored.len(), rows.len());
        for (r, d) in rows.iter().zip(&stored) {
            prop_assert_eq!(d.ids.imei.map(|i| i.to_string()), r.imei.map(imei));
            prop_assert_eq!(d.ids.imei2.map(|i| i.to_string()), r.imei2.map(imei));
            prop_assert_eq!(&d.ids.serial, &r.serial);
            prop_assert_eq!(d.attribute("Note").unwrap_or(""), r.attrs[0].as_str());
            prop_assert_eq!(d.attribute("Owner").unwrap_or(""), r.attrs[1].as_str());
        }

        let first = export(&store, "A");
        ops::profiles::delete(&core(&store), ops::profiles::DeleteProfile { profile: "A".into() }).unwrap();
        let again = dir.path().join("again.csv");
        std::fs::write(&again, &first).unwrap();
        let report = import(&store, &again, "B");
        prop_assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        prop_assert_eq!(export(&store, "B"), first);
        prop_assert!(store.check().unwrap().is_empty());
    }
}
