//! Workstation figures with a 200,000-device profile (a benchmark that prints, never a timed test):
//! time to the first frame of the profile screen, one scroll step's update + render, a filter over all
//! devices, and the bytes written to the terminal for one scroll step at 120x40.
//!
//!   cargo run --release --example screen_bench [CSV]     (default: bench/out/devices-200000-sequential.csv, made by
//!                                                          bench/import.sh)

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use kitting::store::SledStore;
use kitting::tui::action::Action;
use kitting::tui::view;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let csv = std::env::args().nth(1).unwrap_or_else(|| "bench/out/devices-200000-sequential.csv".into());
    let dir = std::env::temp_dir().join(format!("kitting-screen-bench-{}", std::process::id()));
    let store = Arc::new(SledStore::open(&dir).expect("open"));
    let devices = common::import(&store, "Bench", &csv, false);
    let mut app = common::workstation(&store);
    app.size = (120, 40);
    let (tx, rx) = std::sync::mpsc::channel();
    app.set_task_sender(tx);
    let sink = Sink::default();
    let options = TerminalOptions { viewport: Viewport::Fixed(Rect::new(0, 0, 120, 40)) };
    let mut terminal = Terminal::with_options(CrosstermBackend::new(sink.clone()), options).unwrap();
    terminal.draw(|f| view::render(&app, f)).unwrap();

    // Enter on the profile → the profile screen's first frame.
    let t = Instant::now();
    app.update(Action::Open);
    terminal.draw(|f| view::render(&app, f)).unwrap();
    let first = ms(t);
    // The rest of the devices arrive from the background read, as the event loop would deliver them.
    let msg = rx.recv().expect("the background read reports");
    app.on_task(msg);
    terminal.draw(|f| view::render(&app, f)).unwrap();
    let all = ms(t);

    // Scroll steps: update + render (diffed against the previous frame, as on a real terminal).
    let mut steps = Vec::new();
    let mut bytes = Vec::new();
    for _ in 0..200 {
        sink.0.lock().unwrap().clear();
        let t = Instant::now();
        app.update(Action::Down);
        terminal.draw(|f| view::render(&app, f)).unwrap();
        steps.push(ms(t));
        bytes.push(sink.0.lock().unwrap().len() as f64);
    }
    let mut pages = Vec::new();
    for _ in 0..50 {
        sink.0.lock().unwrap().clear();
        app.update(Action::PageDown);
        terminal.draw(|f| view::render(&app, f)).unwrap();
        pages.push(sink.0.lock().unwrap().len() as f64);
    }

    // A filter over every device: typing "a-000123" key by key, each key re-filtering all of them.
    let mut filters = Vec::new();
    app.update(Action::Filter);
    for c in "a-000123".chars() {
        let t = Instant::now();
        app.on_key(ratatui::crossterm::event::KeyEvent::new(
            ratatui::crossterm::event::KeyCode::Char(c),
            ratatui::crossterm::event::KeyModifiers::NONE,
        ));
        terminal.draw(|f| view::render(&app, f)).unwrap();
        filters.push(ms(t));
    }
    let shown = match app.screen() {
        kitting::tui::app::Screen::Detail(d) => d.view.len(),
        _ => 0,
    };

    println!("profile with {devices} devices, terminal 120x40");
    println!("first frame of the profile screen: {first:.1} ms (target <= 50); every device read: {all:.1} ms");
    println!(
        "scroll step (update + render): median {:.3} ms, max {:.3} ms (target <= 5)",
        median(steps.clone()),
        steps.iter().cloned().fold(0.0, f64::max)
    );
    println!(
        "filter over all devices, per key: median {:.1} ms, max {:.1} ms (target <= 30); {shown} match \"a-000123\"",
        median(filters.clone()),
        filters.iter().cloned().fold(0.0, f64::max)
    );
    println!(
        "bytes to the terminal: one row down median {:.0} B, one page down median {:.0} B",
        median(bytes),
        median(pages)
    );
    drop(app);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
