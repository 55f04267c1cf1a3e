//! DEP figures (a benchmark that prints, never a timed test): a users-and-devices DEP file of N rows
//! imported (time, peak memory), imported again (every row unchanged), and the workstation's DEP devices tab
//! over those records: opening it (every record is read) and a filter over all of them, per key, at 120x40.
//!
//!   cargo run --release --example dep_bench [ROWS]      (default 200000)

use std::sync::Arc;
use std::time::Instant;

use kitting::domain::audit::{Actor, FrontEnd};
use kitting::ops;
use kitting::settings::Settings;
use kitting::store::{SledStore, Store};
use kitting::tui::action::Action;
use kitting::tui::app::{App, Tab};
use kitting::tui::keymap::Keymap;
use kitting::tui::theme::{Theme, ThemeName};
use kitting::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// The process's peak resident memory so far, from /proc (Linux), in MiB.
fn peak_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb / 1024)
}

fn main() {
    let rows: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let dir = std::env::temp_dir().join(format!("kitting-dep-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("dep.csv");
    let mut text = String::from("UserName,Name,Identifier,OS,DisplayName,Serial,DEPMethod\n");
    for i in 0..rows {
        text.push_str(&format!("user{},User {},dev{i:06},ios,Device {i},SN{i:08},Serial\n", i % 500, i % 500));
    }
    std::fs::write(&csv, text).unwrap();
    let store = Arc::new(SledStore::open(&dir.join("db")).expect("open"));
    let core = ops::Ctx::new(store.as_ref(), Actor::named("bench", FrontEnd::Cli), chrono::Utc::now());
    for (pass, dry_run) in [("dry run", true), ("import", false), ("import again (unchanged)", false)] {
        let t = Instant::now();
        let command = ops::dep::DepImport { file: csv.clone(), dry_run, skip_invalid: false, max_rows: 1_000_000 };
        let report = ops::dep::import(&core, command, &mut |_| true).expect("import");
        println!(
            "{pass}: {rows} rows in {:.0} ms ({} new, {} unchanged), peak RSS so far {} MiB",
            ms(t),
            report.devices_created,
            report.unchanged,
            peak_mib().map(|m| m.to_string()).unwrap_or_else(|| "?".into())
        );
    }

    let dyn_store: Arc<dyn Store> = store.clone();
    let settings = Settings::parse("", "bench").unwrap();
    let keymap = Keymap::load(&toml::Table::new()).unwrap();
    let mut app = App::new(dyn_store, settings, "bench".into(), keymap, Theme::new(ThemeName::Dark)).unwrap();
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    app.resize(120, 40);
    for _ in 0..3 {
        let t = Instant::now();
        app.switch_tab(Tab::Dep);
        terminal.draw(|f| view::render(&app, f)).unwrap();
        println!("DEP devices tab opened (every record read) and drawn: {:.0} ms", ms(t));
        app.switch_tab(Tab::Profiles);
    }
    app.switch_tab(Tab::Dep);
    app.update(Action::Filter);
    let mut times = Vec::new();
    for c in "dev0199".chars() {
        let t = Instant::now();
        app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        terminal.draw(|f| view::render(&app, f)).unwrap();
        times.push(ms(t));
    }
    let shown: Vec<String> = times.iter().map(|t| format!("{t:.1}")).collect();
    println!("filter over {rows} records, per key (ms): {}", shown.join(" "));
    drop(app);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
