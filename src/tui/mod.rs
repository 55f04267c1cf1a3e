//! The workstation: a keyboard-only terminal UI over the same library the CLI uses.
//!
//! State, actions, view: a key becomes an `Action` through the keymap, `App::update` changes the state,
//! `view::render` draws it. The loop is generic over the ratatui backend, so tests run it on
//! `TestBackend`; it redraws only when something happened (an idle workstation uses no CPU).

pub mod action;
pub mod app;
pub mod context;
pub(crate) mod dep_view;
pub mod device_table;
pub mod facade;
pub mod files;
pub mod form;
pub mod graphics;
pub mod jobs;
pub mod keymap;
pub mod modals;
pub mod screens;
pub mod theme;
pub mod view;
pub mod widgets;

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, channel};

use ratatui::Terminal;
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use ratatui::crossterm::{cursor, execute, terminal};

pub use app::App;
use app::TaskMsg;

/// What the loop waits for: the terminal, or work done off the UI thread.
pub enum Msg {
    Term(Event),
    Task(Box<TaskMsg>),
}

impl From<TaskMsg> for Msg {
    fn from(m: TaskMsg) -> Msg {
        Msg::Task(Box::new(m))
    }
}

/// Runs the loop until the app quits or the messages end. `frame_start` / `frame_end` wrap each draw
/// (synchronized updates on a real terminal).
pub fn run_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    messages: Receiver<Msg>,
    mut frame_start: impl FnMut(),
    mut frame_end: impl FnMut(),
) -> Result<(), String>
where
    B::Error: std::fmt::Display,
{
    let draw = |terminal: &mut Terminal<B>, app: &mut App, start: &mut dyn FnMut(), end: &mut dyn FnMut()| {
        let size = terminal.size().map_err(|e| e.to_string())?;
        app.resize(size.width, size.height);
        start();
        let r = terminal.draw(|f| view::render(app, f)).map(|_| ()).map_err(|e| e.to_string());
        if std::mem::take(&mut app.bells) > 0 {
            // The terminal bell: a refused scan is heard as well as seen.
            let _ = io::stdout().write_all(b"\x07");
        }
        end();
        r
    };
    draw(terminal, app, &mut frame_start, &mut frame_end)?;
    while let Ok(first) = messages.recv() {
        // What has arrived meanwhile is handled before the next frame (a scanner's burst, a paste, a slow
        // link): one frame for many keys, never a frame behind.
        let mut next = Some(first);
        let mut changed = false;
        let mut handled = 0;
        while let Some(msg) = next.take() {
            changed |= !matches!(&msg, Msg::Term(e) if !matches!(e, Event::Key(_) | Event::Resize(..)));
            match msg {
                Msg::Term(Event::Key(key)) if key.kind != KeyEventKind::Release => app.on_key(key),
                Msg::Term(Event::Resize(w, h)) => {
                    app.resize(w, h);
                    terminal.autoresize().map_err(|e| e.to_string())?;
                }
                Msg::Term(_) => {}
                Msg::Task(t) => app.on_task(*t),
            }
            if app.quit {
                return Ok(());
            }
            handled += 1;
            if handled < 256 {
                next = messages.try_recv().ok();
            }
        }
        if changed {
            draw(terminal, app, &mut frame_start, &mut frame_end)?;
        }
    }
    Ok(())
}

/// Leaves raw mode and the alternate screen and shows the cursor: on drop, and from the panic hook.
struct TerminalGuard;

fn restore_terminal() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(io::stdout(), terminal::EndSynchronizedUpdate, terminal::LeaveAlternateScreen, cursor::Show);
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Opens the workstation on a real terminal. The store is opened by the caller first, so that a database
/// in use is refused before the terminal is touched.
/// How often a workstation whose server stopped tries to subscribe again.
const RECONNECT: std::time::Duration = std::time::Duration::from_millis(500);

/// Hands every change of the store's feed to the workstation. A feed that ends (its server stopped) is
/// said, and subscribed to again every `RECONNECT` until a server answers (the store starts one when it
/// may); the workstation then reads its screens again, for what it missed. Ends with the workstation.
fn follow(store: &dyn crate::store::Store, to: &std::sync::mpsc::Sender<Msg>) {
    let mut lost = false;
    loop {
        if let Ok(feed) = store.subscribe() {
            if lost && to.send(Msg::from(TaskMsg::FeedBack)).is_err() {
                return;
            }
            lost = false;
            while let Ok(c) = feed.recv() {
                if to.send(Msg::from(TaskMsg::Changed(Box::new(c)))).is_err() {
                    return;
                }
            }
        }
        if !lost {
            lost = true;
            if to.send(Msg::from(TaskMsg::FeedLost)).is_err() {
                return;
            }
        }
        std::thread::sleep(RECONNECT);
    }
}

pub fn run(mut app: App) -> Result<(), String> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
    terminal::enable_raw_mode().map_err(|e| format!("cannot set up the terminal: {e}"))?;
    let _guard = TerminalGuard;
    execute!(io::stdout(), terminal::EnterAlternateScreen, cursor::Hide)
        .map_err(|e| format!("cannot set up the terminal: {e}"))?;
    // Asked before anything reads the terminal's events: the answers come in on the same input.
    app.graphics = graphics::detect(app.settings.qr.graphics);
    let mut terminal =
        Terminal::new(CrosstermBackend::new(io::stdout())).map_err(|e| format!("cannot set up the terminal: {e}"))?;
    let (tx, rx) = channel::<Msg>();
    let (task_tx, task_rx) = channel::<TaskMsg>();
    app.set_task_sender(task_tx);
    let forward = tx.clone();
    std::thread::spawn(move || {
        while let Ok(m) = task_rx.recv() {
            if forward.send(Msg::from(m)).is_err() {
                break;
            }
        }
    });
    // Changes committed by others, as the store's feed tells them: the screens update without a key.
    let (store, changes) = (app.store.clone(), tx.clone());
    std::thread::spawn(move || follow(store.as_ref(), &changes));
    // The terminal's events: this thread blocks in read(), so an idle workstation sleeps.
    std::thread::spawn(move || {
        while let Ok(e) = event::read() {
            if tx.send(Msg::Term(e)).is_err() {
                break;
            }
        }
    });
    let result = run_loop(
        &mut terminal,
        &mut app,
        rx,
        || {
            let _ = execute!(io::stdout(), terminal::BeginSynchronizedUpdate);
        },
        || {
            let _ = execute!(io::stdout(), terminal::EndSynchronizedUpdate);
            let _ = io::stdout().flush();
        },
    );
    // Reads and searches still running are told to stop (an import stops before its commit).
    app.jobs.stop_all();
    drop(terminal);
    result
}
