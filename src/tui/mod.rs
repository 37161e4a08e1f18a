//! The terminal workbench: ratatui over the library and the store. State and its updates live
//! in `app` and the screens; drawing is a pure view of that state; `engine` does the work that
//! touches the store and the job manager.

pub mod app;
pub mod config;
pub mod engine;
pub mod keymap;
pub mod screens;
pub mod terminal;
pub mod text_input;
pub mod theme;
pub mod view;
pub mod workspace;

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::store::remote::{open_or_reach, Opened};

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
    let data = crate::cli::data_dir(args.data.clone())?;
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
    let outcome = event_loop(&engine, ws, keymap, theme, &guard);
    drop(guard);
    let running: Vec<crate::store::RunId> = engine
        .store()
        .runs()
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, m)| !m.status.is_over())
        .map(|(id, _)| id)
        .collect();
    if engine.pending() > 0 {
        eprintln!(
            "cancelling {} run(s); each keeps its last checkpoint for `ie-bench runs resume`",
            engine.pending()
        );
    }
    engine.shut_down(&running);
    outcome?;
    Ok(std::process::ExitCode::SUCCESS)
}

fn event_loop(
    engine: &engine::Engine,
    ws: workspace::Workspace,
    keymap: keymap::Keymap,
    theme: theme::Theme,
    guard: &terminal::TerminalGuard,
) -> Result<()> {
    use crossterm::event;
    let backend = ratatui::backend::CrosstermBackend::new(std::io::stdout());
    let mut term = ratatui::Terminal::new(backend)?;
    term.clear()?;
    let mut app = app::App::new(engine, ws, keymap, theme);
    let size = term.size()?;
    app.size = (size.width, size.height);
    let mut dirty = true;
    let mut last_tick = Instant::now();
    while !app.quit {
        if guard.stopped() {
            break;
        }
        if dirty {
            term.draw(|f| view::draw(f, &app))?;
            dirty = false;
        }
        if event::poll(Duration::from_millis(50))? {
            let e = event::read()?;
            if let event::Event::Resize(w, h) = e {
                term.autoresize()?;
                app.size = (w, h);
            }
            app.event(engine, &e);
            dirty = true;
        }
        if last_tick.elapsed() >= Duration::from_millis(100) {
            last_tick = Instant::now();
            if app.poll(engine) {
                dirty = true;
            }
        }
    }
    Ok(())
}
