//! The terminal workbench: ratatui over the library and the store. State and its updates live
//! in `app` and the screens; drawing is a pure view of that state; `engine` does the work that
//! touches the store and the job manager.

pub mod app;
pub mod config;
pub mod engine;
pub mod keymap;
pub mod message;
pub mod safe_backend;
pub mod screens;
pub mod terminal;
pub mod text_input;
pub mod theme;
pub mod view;
pub mod wake;
pub mod worker;
pub mod workspace;

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::service::socket::{open_or_reach, Opened};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What `ie-bench` / `ie-bench tui` takes.
#[derive(clap::Args, Default, Clone)]
pub struct TuiArgs {
    /// IE INSTRUCTIONS directory to browse and train on (default: the sample data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// dark, light, colorblind, or a theme TOML file (a `theme.toml` in the config directory
    /// is laid over it).
    #[arg(long, default_value = "dark")]
    pub theme: String,
    /// Log file (default: tui.log beside the database).
    #[arg(long)]
    pub log: Option<PathBuf>,
}

/// Opens the workbench on `db`.
pub fn run(db: &Path, args: TuiArgs) -> Result<std::process::ExitCode> {
    let config = config::config_dir();
    let keymap = keymap::Keymap::load(Some(&config))?;
    let theme = theme::Theme::load(&args.theme, Some(&config))?;
    let data = crate::service::workspace::data_dir(args.data.clone())?;
    let store = match open_or_reach(db).context("opening the database")? {
        Opened::Here(store) => store,
        Opened::Holder { holder, .. } => anyhow::bail!(
            "the database {} is held by {holder}; the TUI needs it to itself (wait for that run, or use another --db)",
            db.display()
        ),
    };
    let log = args.log.clone().unwrap_or_else(|| db.join("tui.log"));
    let engine = engine::Engine::new(store, db)?;
    let ws = workspace::Workspace::load(&data);
    let guard = terminal::TerminalGuard::enter(&log)
        .with_context(|| format!("taking the terminal (log: {})", log.display()))?;
    eprintln!(
        "ie-bench TUI started on {} with data {}",
        db.display(),
        data.display()
    );
    let finished = Arc::new(AtomicBool::new(false));
    watchdog(&engine, Arc::clone(&guard.stop), Arc::clone(&finished));
    let outcome = event_loop(&engine, ws, keymap, theme, &guard);
    finished.store(true, Ordering::SeqCst);
    drop(guard);
    if engine.pending() > 0 {
        eprintln!(
            "cancelling {} run(s); each keeps its last checkpoint for `ie-bench runs resume`",
            engine.pending()
        );
    }
    engine.shut_down();
    outcome?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// Ends the process when the terminal is gone. crossterm's event poll can spin forever once its
/// tty has hung up (crossterm-rs/crossterm#793), so the event loop may never see SIGHUP's flag:
/// this thread watches the flag and the terminal itself, and then cancels the runs (each keeps
/// a checkpoint), waits for the compute thread, and exits.
fn watchdog(engine: &engine::Engine, stop: Arc<AtomicBool>, finished: Arc<AtomicBool>) {
    let manager = Arc::clone(&engine.holder.manager);
    std::thread::spawn(move || {
        let mut stopped_at: Option<Instant> = None;
        loop {
            std::thread::sleep(Duration::from_millis(200));
            if finished.load(Ordering::SeqCst) {
                return;
            }
            if stop.load(Ordering::SeqCst) {
                stopped_at.get_or_insert_with(Instant::now);
                // The event loop sleeps until something wakes it.
                wake::wake();
            }
            let gone = terminal_hung_up();
            // A signal gives the event loop a moment to end the usual way first.
            let overdue = stopped_at.is_some_and(|t| t.elapsed() > Duration::from_secs(2));
            if gone || overdue {
                eprintln!("the terminal is gone: cancelling runs and exiting");
                manager.cancel_all();
                manager.close();
                terminal::restore();
                std::process::exit(0);
            }
        }
    });
}

/// Whether the terminal on standard input or output has hung up.
fn terminal_hung_up() -> bool {
    [0, 1].iter().any(|&fd| {
        let mut p = libc::pollfd {
            fd,
            events: 0,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no wait.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        n > 0 && p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
    })
}

/// The workbench's one loop, on a single-threaded tokio runtime: it sleeps until a key, a
/// wake from work done elsewhere (job events, loads, searches, the default model) or, only
/// while the default model is being made, a one-second tick for its clock; then it takes what
/// arrived and draws if anything changed. Compute stays on the job manager's thread.
fn event_loop(
    engine: &engine::Engine,
    ws: workspace::Workspace,
    keymap: keymap::Keymap,
    theme: theme::Theme,
    guard: &terminal::TerminalGuard,
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("starting the event loop")?;
    runtime.block_on(async {
        use futures_util::StreamExt;
        let backend =
            safe_backend::SafeBackend(ratatui::backend::CrosstermBackend::new(std::io::stdout()));
        let mut term = ratatui::Terminal::new(backend)?;
        term.clear()?;
        let mut app = app::App::new(engine, ws, keymap, theme);
        let mut keys = crossterm::event::EventStream::new();
        let mut dirty = true;
        let mut started_model = false;
        while !app.quit && !guard.stopped() {
            if dirty {
                term.draw(|f| view::draw(f, &app))?;
                dirty = false;
            }
            // After the first frame, so making it never delays the screen.
            if !started_model {
                started_model = true;
                if let Err(e) = engine.start_default_model(&app.ws.root) {
                    app.status.error(format!("{e:#}"));
                    dirty = true;
                    // Drawn now, not at the next key.
                    continue;
                }
            }
            let clock = matches!(engine.default_model(), engine::DefaultModel::Making { .. });
            tokio::select! {
                event = keys.next() => match event {
                    Some(Ok(e)) => {
                        if let crossterm::event::Event::Resize(..) = e {
                            term.autoresize()?;
                        }
                        app.event(engine, &e);
                        dirty = true;
                    }
                    Some(Err(e)) => return Err(anyhow::Error::from(e).context("reading the terminal")),
                    None => break,
                },
                () = wake::woken() => {}
                () = tokio::time::sleep(Duration::from_secs(1)), if clock => dirty = true,
            }
            if app.poll(engine) {
                dirty = true;
            }
        }
        Ok(())
    })
}
