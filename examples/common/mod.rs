//! What the workstation benchmarks share: a profile imported through the core, and the workstation over
//! the store with the default keys and theme.

use std::sync::Arc;

use kitting::domain::NewProfile;
use kitting::domain::audit::{Actor, FrontEnd};
use kitting::ops;
use kitting::settings::Settings;
use kitting::store::{SledStore, Store};
use kitting::tui::app::App;
use kitting::tui::keymap::Keymap;
use kitting::tui::theme::{Theme, ThemeName};

/// The core over `store`, as the benchmark.
pub fn core(store: &SledStore) -> ops::Ctx<'_> {
    ops::Ctx::new(store, Actor::named("bench", FrontEnd::Cli), chrono::Utc::now())
}

/// Imports `csv` into a new profile `name`; returns its device count.
pub fn import(store: &SledStore, name: &str, csv: &str, without_token: bool) -> u64 {
    let new = NewProfile { name: name.into(), description: None, without_token, user: None, token_days: None };
    let command = ops::import::Import {
        file: csv.into(),
        to: ops::import::ImportTo::New(new),
        default_token_days: 7,
        dry_run: false,
        skip_invalid: false,
        max_rows: 1_000_000,
    };
    let report = ops::import::run(&core(store), command, &mut |_| true).expect("import");
    report.committed.expect("committed").device_count
}

/// The workstation on `store`, with the example configuration (its admin settings make QR codes), the
/// default keys and the dark theme.
pub fn workstation(store: &Arc<SledStore>) -> App {
    let store: Arc<dyn Store> = store.clone();
    App::new(
        store,
        Settings::parse(include_str!("../../config.example.toml"), "config.example.toml").unwrap(),
        "config.example.toml".into(),
        Keymap::load(&toml::Table::new()).unwrap(),
        Theme::new(ThemeName::Dark),
    )
    .unwrap()
}
