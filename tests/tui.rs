//! The TUI driven by keys on a real store and job manager, drawn on ratatui's TestBackend:
//! snapshots of every screen at 80×24 and 160×48, and the main flows end to end (launch a run
//! on the sample data, watch it finish, open an error, fix a gold label, export a table).

#![allow(clippy::unwrap_used)] // a panic is how a test or bench reports failure

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::path::Path;
use std::time::{Duration, Instant};

use ie_bench::eval::PredictionLine;
use ie_bench::ie::{Split, TaskKind};
use ie_bench::jobs::evaluate::{store_predictions, store_scores};
use ie_bench::jobs::{JobEvent, Recorder};
use ie_bench::store::{MetricPoint, RunKind, RunManifest, RunStatus, Store};
use ie_bench::tui::app::{App, Screen};
use ie_bench::tui::engine::Engine;
use ie_bench::tui::keymap::Keymap;
use ie_bench::tui::theme::Theme;
use ie_bench::tui::workspace::Workspace;

fn sample_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/IE_INSTRUCTIONS")
}

fn key(app: &mut App, engine: &Engine, k: &str) {
    let ev = match k {
        "enter" => KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
        "esc" => KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE),
        "down" => KeyEvent::new(KeyCode::Down, KeyModifiers::NONE),
        "up" => KeyEvent::new(KeyCode::Up, KeyModifiers::NONE),
        "bottom" => KeyEvent::new(KeyCode::End, KeyModifiers::NONE),
        "right" => KeyEvent::new(KeyCode::Right, KeyModifiers::NONE),
        "space" => KeyEvent::new(KeyCode::Char(' '), KeyModifiers::NONE),
        "ctrl-u" => KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL),
        "ctrl-r" => KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL),
        c => {
            let ch = c.chars().next().unwrap();
            assert_eq!(c.chars().count(), 1, "unknown key {c}");
            KeyEvent::new(KeyCode::Char(ch), KeyModifiers::NONE)
        }
    };
    app.key(engine, &ev);
}

fn keys(app: &mut App, engine: &Engine, ks: &[&str]) {
    for k in ks {
        key(app, engine, k);
    }
}

fn typed(app: &mut App, engine: &Engine, text: &str) {
    for c in text.chars() {
        app.key(engine, &KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
}

/// The app on a database in `dir` holding the `fixture` runs.
fn fixture_app(dir: &Path) -> (Engine, App) {
    let db = dir.join("db");
    // The same store goes on to the app: reopening at once can find sled's lock still held.
    let store = Store::open(&db).unwrap();
    fixture(&store);
    app_with(store, &db, &sample_root())
}

fn open_app(db: &Path) -> (Engine, App) {
    open_app_on(db, &sample_root())
}

/// The app as `ie-bench` opens it: the first frame before the default model exists, which is
/// then made in the background (waited for here, so the flows below can launch at once).
fn open_app_on(db: &Path, root: &Path) -> (Engine, App) {
    app_with(Store::open(db).unwrap(), db, root)
}

fn app_with(store: Store, db: &Path, root: &Path) -> (Engine, App) {
    let mut engine = Engine::new(store, db).unwrap();
    // The snapshots show the form without installed pretrained backbones.
    engine.models.backbones.clear();
    let ws = Workspace::load(root);
    let mut app = App::new(&engine, ws, Keymap::default_map(), Theme::dark());
    engine.start_default_model(root).unwrap();
    let start = Instant::now();
    while !matches!(
        engine.default_model(),
        ie_bench::tui::engine::DefaultModel::Ready(_)
    ) {
        app.poll(&engine);
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "default model: {}",
            engine.default_model().describe()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    app.poll(&engine);
    (engine, app)
}

fn render(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| ie_bench::tui::view::draw(f, app)).unwrap();
    term.backend().to_string()
}

fn line(task: TaskKind, dataset: &str, id: &str, gold: &str, pred: &str) -> PredictionLine {
    PredictionLine {
        line: 0,
        task,
        dataset: dataset.to_string(),
        id: id.to_string(),
        ground_truth: gold.to_string(),
        prediction: pred.to_string(),
        instruction: None,
        sentence: None,
        truncated: false,
    }
}

/// Two finished runs over the same examples (a training run with a loss curve, dev and test
/// scores; an evaluation), and a queued one; fixed times so snapshots are stable.
fn fixture(store: &Store) {
    let ner = |id: &str, gold: &str, pred: &str| line(TaskKind::Ner, "Tiny CoNLL", id, gold, pred);
    let re = |id: &str, gold: &str, pred: &str| line(TaskKind::Re, "conll04-mini", id, gold, pred);
    let gold = [
        " person: Serena Williams; location: Melbourne",
        " organization: Airbus; organization: Lufthansa",
        " organization: Nobel Prize",
        " person: Ann",
    ];
    let first = vec![
        ner(
            "0",
            gold[0],
            " person: Serena Williams; location: Melbourne",
        ),
        ner("1", gold[1], " organization: Airbus; location: Lufthansa"),
        ner("2", gold[2], " organization: Nobel"),
        ner("3", gold[3], " person: Ann; location: Paris"),
        re("0", " work for: John, IBM", " work for: John, IBM"),
        re("1", " located in: Rome, Italy", " None"),
    ];
    let second = vec![
        ner("0", gold[0], " person: Serena Williams"),
        ner(
            "1",
            gold[1],
            " organization: Airbus; organization: Lufthansa",
        ),
        ner("2", gold[2], " organization: Nobel Prize"),
        ner("3", gold[3], " person: Ann; location: Paris"),
        re("0", " work for: John, IBM", " None"),
        re("1", " located in: Rome, Italy", " located in: Rome, Italy"),
    ];
    let manifest = |kind, status, created| RunManifest {
        status,
        model: Some("models/tiny".into()),
        settings: serde_json::json!({}),
        ..RunManifest::new(kind, created)
    };
    let mut quiet = |_: &JobEvent| {};
    let a = store
        .create_run(&manifest(
            RunKind::Train,
            RunStatus::Finished,
            1_790_000_000,
        ))
        .unwrap();
    let points: Vec<MetricPoint> = (1..=120u64)
        .map(|s| MetricPoint {
            step: s,
            loss: 3.0 * (-(s as f64) / 40.0).exp() + 0.2 + 0.15 * ((s as f64) * 1.7).sin(),
            lr: Some(1e-3),
            tokens_per_s: Some(900.0),
            epoch: None,
        })
        .collect();
    store.put_metrics(a, &points).unwrap();
    let mut rec = Recorder {
        store,
        run: a,
        listener: &mut quiet,
    };
    store_scores(&mut rec, &first[..3], Split::Dev, 60, 0).unwrap();
    store_scores(&mut rec, &first, Split::Dev, 120, 0).unwrap();
    store_test(store, a, &first, 120);
    let b = store
        .create_run(&manifest(RunKind::Eval, RunStatus::Finished, 1_790_003_600))
        .unwrap();
    store_test(store, b, &second, 0);
    store
        .create_run(&manifest(RunKind::Train, RunStatus::Queued, 1_790_007_200))
        .unwrap();
}

/// Stores `lines` as run `id`'s predictions and its test scores at `step`.
fn store_test(store: &Store, id: ie_bench::store::RunId, lines: &[PredictionLine], step: u64) {
    let mut quiet = |_: &JobEvent| {};
    let mut rec = Recorder {
        store,
        run: id,
        listener: &mut quiet,
    };
    store_predictions(&mut rec, lines).unwrap();
    store_scores(&mut rec, lines, Split::Test, step, 0).unwrap();
}

/// Waits for Inspect's examples of the run it opened.
fn examples_loaded(app: &mut App, engine: &Engine) {
    wait(app, engine, 120, "the run's examples", |a| {
        !a.inspect.is_loading()
    });
}

/// Waits for Compare's table of the two runs it opened.
fn compared(app: &mut App, engine: &Engine) {
    wait(app, engine, 120, "the comparison", |a| {
        !a.compare.is_loading()
    });
}

/// Waits for Export's list of runs with their tables.
fn exports_read(app: &mut App, engine: &Engine) {
    wait(app, engine, 120, "the runs' tables", |a| {
        !a.export.is_loading()
    });
}

/// Waits until no screen is reading in the background, so a frame shows what was read.
fn settled(app: &mut App, engine: &Engine) {
    wait(app, engine, 120, "the screens' reads", |a| {
        !a.inspect.is_loading() && !a.compare.is_loading() && !a.export.is_loading()
    });
}

/// Snapshot settings, until the guard drops, that write the temporary directory `tmp` as
/// `[TMP]` (its name changes from run to run).
fn snapshots_without(tmp: &Path) -> insta::internals::SettingsBindDropGuard {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(&tmp.display().to_string()), "[TMP]");
    settings.bind_to_scope()
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '/' || c == '_' || c == '-' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[test]
fn every_screen_at_80x24_and_160x48() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    {
        let store = Store::open(&db).unwrap();
        fixture(&store);
    }
    let (engine, mut app) = open_app(&db);
    // The database lives in a fresh temporary directory, and the checkout anywhere.
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(&tmp.path().display().to_string()), "[TMP]");
    settings.add_filter(&regex_escape(env!("CARGO_MANIFEST_DIR")), "[REPO]");
    let _guard = settings.bind_to_scope();
    let snap = |name: &str, app: &App| {
        for (w, h) in [(80, 24), (160, 48)] {
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(app, w, h));
        }
    };
    // Datasets: the tree, then a split's labels and prompt lengths.
    snap("datasets", &app);
    keys(&mut app, &engine, &["down", "down"]);
    wait(&mut app, &engine, 60, "prompt lengths", |a| {
        a.datasets.measuring.is_none()
    });
    snap("datasets_split", &app);
    keys(&mut app, &engine, &["/"]);
    typed(&mut app, &engine, "melb");
    snap("datasets_search", &app);
    keys(&mut app, &engine, &["enter", "esc"]);
    // Templates: the NER instruction and the exact model input.
    keys(&mut app, &engine, &["2"]);
    snap("templates", &app);
    // Runs: run 2 as the baseline, run 1 selected (newest first: 3, 2, 1).
    keys(&mut app, &engine, &["3", "down", "b", "down"]);
    assert_eq!(app.runs.selected_id(), Some(1));
    snap("runs", &app);
    keys(&mut app, &engine, &["n"]);
    // The form holds absolute paths (the database's, the checkout's), whose lengths change the
    // padding around them: show fixed ones.
    for f in &mut app.runs.form.as_mut().unwrap().fields {
        match f.name {
            "model" => {
                f.input = ie_bench::tui::text_input::TextInput::new("DB/models/tiny-default");
            }
            "data" => {
                f.input = ie_bench::tui::text_input::TextInput::new("sample-data/IE_INSTRUCTIONS");
            }
            _ => {}
        }
    }
    snap("runs_launch_form", &app);
    keys(&mut app, &engine, &["esc"]);
    // Inspect run 1, then its confusion matrix.
    keys(&mut app, &engine, &["enter"]);
    assert_eq!(app.screen, Screen::Inspect);
    examples_loaded(&mut app, &engine);
    snap("inspect", &app);
    keys(&mut app, &engine, &["m"]);
    snap("inspect_confusion", &app);
    keys(&mut app, &engine, &["m"]);
    // Compare: baseline 2 (A) against 1 (B).
    keys(&mut app, &engine, &["5"]);
    compared(&mut app, &engine);
    snap("compare", &app);
    // Export runs 1 and 2 as Markdown.
    keys(&mut app, &engine, &["6"]);
    exports_read(&mut app, &engine);
    keys(&mut app, &engine, &["space", "down", "space"]);
    snap("export", &app);
    keys(&mut app, &engine, &["?"]);
    snap("help", &app);
}

#[test]
fn compare_cells_and_confusion_cells_open_their_examples() {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, mut app) = fixture_app(tmp.path());
    keys(&mut app, &engine, &["3", "down", "b", "down", "5"]);
    compared(&mut app, &engine);
    let counts: Vec<(String, u64, u64)> = app
        .compare
        .rows
        .iter()
        .map(|r| (r.dataset.clone(), r.flips.fixed, r.flips.broken))
        .collect();
    // Run 2 → run 1: NER #0 fixed; #1, #2 broken. RE #0 fixed, #1 broken.
    assert_eq!(
        counts,
        vec![
            ("NER/Tiny CoNLL".to_string(), 1, 2),
            ("RE/conll04-mini".to_string(), 1, 1)
        ]
    );
    // The `broken` cell of NER opens its two examples in Inspect.
    keys(&mut app, &engine, &["right", "enter"]);
    assert_eq!(app.screen, Screen::Inspect);
    examples_loaded(&mut app, &engine);
    let ids: Vec<&str> = app
        .inspect
        .visible
        .iter()
        .map(|&i| app.inspect.examples[i].id.as_str())
        .collect();
    assert_eq!(ids, ["1", "2"]);
    // The confusion cell gold organization → predicted location (compat normalisation
    // writes it `located`, as the official scorer does) holds example 1 only.
    keys(&mut app, &engine, &["esc", "m"]);
    let c = app.inspect.confusion.as_ref().unwrap();
    let row = c.labels.iter().position(|l| l == "organization").unwrap();
    let col = c.labels.iter().position(|l| l == "located").unwrap();
    for _ in 0..row {
        key(&mut app, &engine, "down");
    }
    for _ in 0..col {
        key(&mut app, &engine, "right");
    }
    key(&mut app, &engine, "enter");
    let ids: Vec<&str> = app
        .inspect
        .visible
        .iter()
        .map(|&i| app.inspect.examples[i].id.as_str())
        .collect();
    assert_eq!(ids, ["1"]);
    // `.` walks the examples of the selected one's first error kind; `f` filters by kind.
    keys(&mut app, &engine, &["esc", "f"]);
    assert_eq!(
        app.inspect.filter_kind,
        Some(ie_bench::eval::verdict::ErrorKind::WrongType)
    );
    assert!(app.inspect.visible.iter().all(|&i| app.inspect.examples[i]
        .kinds()
        .contains(&ie_bench::eval::verdict::ErrorKind::WrongType)));
}

/// Polls the app until `done` holds, or fails after `secs`.
fn wait(app: &mut App, engine: &Engine, secs: u64, what: &str, done: impl Fn(&App) -> bool) {
    let start = Instant::now();
    while !done(app) {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}; status: {}",
            app.status.text
        );
        app.poll(engine);
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn launch_watch_inspect_fix_gold_and_export() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let (engine, mut app) = open_app(&db);
    // A fresh database opens on the launch form; launch a tiny training run with its defaults.
    assert_eq!(app.screen, Screen::Runs);
    let words = app.runs.form.as_ref().unwrap().words();
    assert_eq!(words[0], "train");
    key(&mut app, &engine, "enter");
    assert!(app.runs.form.is_none(), "{}", app.status.text);
    assert_eq!(app.runs.selected_id(), Some(1));
    // Watch it: loss points arrive, then the test table.
    wait(&mut app, &engine, 300, "the run to finish", |a| {
        a.runs
            .runs
            .first()
            .is_some_and(|r| r.1.status == RunStatus::Finished)
    });
    assert_eq!(app.runs.metrics.len(), 40);
    assert_eq!(app.runs.table_split, "test");
    assert_eq!(
        app.runs.table.iter().filter(|r| !r.average).count(),
        9,
        "one row per (task, dataset) of the sample test split"
    );
    assert_eq!(
        app.runs.table.iter().filter(|r| r.average).count(),
        4,
        "an average row per task"
    );
    assert!(app.runs.dev_curve.len() >= 2, "dev F1 at steps 20 and 40");
    let m = engine.store().run(1).unwrap();
    assert_eq!(
        m.templates.len(),
        1,
        "the run records its instruction-bank version"
    );
    // Open its first error.
    key(&mut app, &engine, "enter");
    assert_eq!(app.screen, Screen::Inspect);
    examples_loaded(&mut app, &engine);
    let e = app.inspect.selected().unwrap().clone();
    assert!(
        !e.kinds().is_empty(),
        "a 40-step tiny model gets example 0 wrong"
    );
    // Fix its gold to what the model generated: the example becomes right, the run is
    // re-scored against gold version 1.
    keys(&mut app, &engine, &["e", "ctrl-u"]);
    typed(&mut app, &engine, &e.prediction);
    key(&mut app, &engine, "enter");
    let fixed = app.inspect.selected().unwrap();
    assert!(
        fixed.corrected && fixed.gold == e.prediction,
        "{}",
        app.status.text
    );
    let log = engine.store().gold_log().unwrap();
    assert_eq!(log.len(), 1);
    // Re-scoring is a job: its rows are stored before the workbench hears of it.
    wait(&mut app, &engine, 60, "the re-score", |a| {
        a.status.text.contains("re-scored against gold version 1")
    });
    let scores = engine.store().scores(1).unwrap();
    assert!(scores
        .iter()
        .any(|s| s.gold_version == 1 && s.split == Split::Test));
    // Undo restores the released gold.
    key(&mut app, &engine, "u");
    assert!(engine
        .store()
        .gold_state()
        .unwrap()
        .corrections()
        .is_empty());
    assert!(!app.inspect.selected().unwrap().corrected);
    // Export the run's table as Markdown.
    let out = tmp.path().join("results.md");
    keys(&mut app, &engine, &["6"]);
    exports_read(&mut app, &engine);
    keys(&mut app, &engine, &["w", "ctrl-u"]);
    typed(&mut app, &engine, out.to_str().unwrap());
    key(&mut app, &engine, "enter");
    let md = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("{e}: {}", app.status.text));
    assert!(md.contains("| run 1 |"), "{md}");
    assert!(md.contains("Tiny CoNLL"), "{md}");
}

#[test]
fn a_template_edit_saves_a_version_that_a_run_uses() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let (engine, mut app) = open_app(&db);
    keys(&mut app, &engine, &["esc", "2", "e", "ctrl-u"]);
    typed(&mut app, &engine, "Find the entities. ");
    // The preview is the exact model input, with the options filled in.
    let p = app.templates.preview.clone().unwrap();
    assert!(
        p.text.starts_with("Find the entities. Option: "),
        "{}",
        p.text
    );
    assert!(p.tokens.is_some_and(|n| n > 10), "{:?}", p.tokens);
    key(&mut app, &engine, "enter");
    key(&mut app, &engine, "s");
    let versions = engine.reads.bank_versions().unwrap();
    assert_eq!(versions.len(), 1, "{}", app.status.text);
    assert_eq!(app.templates.version, Some(1));
    // The launch form offers the saved version, and the run records it.
    keys(&mut app, &engine, &["3", "n"]);
    let words = app.runs.form.as_ref().unwrap().words();
    let i = words.iter().position(|w| w == "--instructions").unwrap();
    assert!(words[i + 1].ends_with("instruction_config.v1.json"));
    // Revert drops an unsaved draft.
    keys(&mut app, &engine, &["esc", "2", "e", "ctrl-u"]);
    typed(&mut app, &engine, "Scratch. ");
    keys(&mut app, &engine, &["enter", "R"]);
    assert_eq!(
        app.templates.instruction(TaskKind::Ner),
        "Find the entities. "
    );
}

#[test]
fn every_screen_draws_at_any_size_and_the_mouse_selects() {
    use crossterm::event::{Event, MouseButton, MouseEvent, MouseEventKind};
    let tmp = tempfile::tempdir().unwrap();
    let (engine, mut app) = fixture_app(tmp.path());
    keys(&mut app, &engine, &["3", "down", "b", "down"]);
    for screen in Screen::ALL {
        app.go(&engine, screen);
        settled(&mut app, &engine);
        for help in [false, true] {
            app.help = help;
            for (w, h) in [(1, 1), (7, 3), (20, 6), (43, 11), (80, 24), (251, 83)] {
                render(&app, w, h);
            }
        }
    }
    app.help = false;
    // Clicks land on what the last frame drew, as in the workbench (a frame precedes each
    // event).
    render(&app, 80, 24);
    let mouse = |kind, column, row| {
        Event::Mouse(MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    // A click on a tab opens its screen; the wheel moves the selection; a click selects a row.
    app.event(
        &engine,
        &mouse(MouseEventKind::Down(MouseButton::Left), 2, 0),
    );
    assert_eq!(app.screen, Screen::Datasets);
    render(&app, 80, 24);
    app.event(&engine, &mouse(MouseEventKind::ScrollDown, 5, 5));
    app.event(&engine, &mouse(MouseEventKind::ScrollDown, 5, 5));
    assert_eq!(app.datasets.cursor.selected, 2);
    // Row 2 of the screen is the tree's first line (under the tabs and the border).
    app.event(
        &engine,
        &mouse(MouseEventKind::Down(MouseButton::Left), 5, 3),
    );
    assert_eq!(app.datasets.cursor.selected, 1);
    app.event(
        &engine,
        &mouse(MouseEventKind::Down(MouseButton::Left), 40, 0),
    );
    assert_eq!(app.screen, Screen::Inspect);
    examples_loaded(&mut app, &engine);
    render(&app, 80, 24);
    // The Inspect table has a header: its first example is on screen row 3.
    app.event(
        &engine,
        &mouse(MouseEventKind::Down(MouseButton::Left), 3, 5),
    );
    assert_eq!(app.inspect.cursor.selected, 2);
}

#[test]
fn quitting_while_a_run_trains_asks_first_and_the_run_can_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let (engine, mut app) = open_app(&db);
    // A longer run, so it is still going when we quit.
    {
        let form = app.runs.form.as_mut().unwrap();
        let steps = form
            .fields
            .iter_mut()
            .find(|f| f.name == "max steps")
            .unwrap();
        steps.input = ie_bench::tui::text_input::TextInput::new("100000");
    }
    key(&mut app, &engine, "enter");
    wait(&mut app, &engine, 120, "the first loss point", |a| {
        !a.runs.metrics.is_empty()
    });
    key(&mut app, &engine, "q");
    assert!(!app.quit && app.confirm_quit, "{}", app.status.text);
    assert!(
        app.status.text.contains("in progress"),
        "{}",
        app.status.text
    );
    key(&mut app, &engine, "q");
    assert!(app.quit);
    let store = engine.shut_down();
    let m = store.run(1).unwrap();
    assert_eq!(m.status, RunStatus::Cancelled);
    assert!(
        m.checkpoint.is_some(),
        "a cancelled training run keeps a checkpoint to resume from"
    );
}

/// `IE_BENCH_SHARED`'s two copies of IE INSTRUCTIONS (the release files and the primary-source
/// conversions), or a visible skip.
fn real_roots(test: &str) -> Vec<std::path::PathBuf> {
    let Some(shared) = std::env::var_os("IE_BENCH_SHARED") else {
        eprintln!("SKIPPED {test}: set IE_BENCH_SHARED to the shared directory to run it");
        return Vec::new();
    };
    let data = Path::new(&shared).join("data");
    vec![
        data.join("IE_INSTRUCTIONS"),
        data.join("primary/IE_INSTRUCTIONS"),
    ]
}

/// A finished run over real sentences: the first three test instances of every dataset the
/// zero-shot config finds, each predicted as its gold with one item changed.
fn real_run(store: &Store, root: &Path) {
    use ie_bench::prompt::{build_split, BuildOptions, InstructionBank};
    let config = ie_bench::data::TaskConfig::builtin("zeroshot").unwrap();
    let opts = BuildOptions {
        skip_missing: true,
        ..Default::default()
    };
    let built = build_split(
        root,
        &config,
        ie_bench::ie::Split::Test,
        &InstructionBank::builtin(),
        &opts,
    )
    .unwrap();
    let mut per: std::collections::HashMap<String, usize> = Default::default();
    let lines: Vec<PredictionLine> = built
        .instances
        .iter()
        .filter(|i| {
            let n = per.entry(i.dataset.clone()).or_default();
            *n += 1;
            *n <= 3
        })
        .enumerate()
        .map(|(k, i)| PredictionLine {
            line: k + 1,
            task: i.task,
            dataset: i.dataset.clone(),
            id: i.id.clone(),
            ground_truth: i.ground_truth.clone(),
            // Right, a label outside the options, a span not in the sentence, in turn.
            prediction: match k % 3 {
                0 => i.ground_truth.clone(),
                1 => i.ground_truth.replacen(':', "x:", 1),
                _ => i.ground_truth.replacen(':', ": x", 1),
            },
            instruction: Some(i.instruction.clone()),
            sentence: Some(i.sentence.clone()),
            truncated: false,
        })
        .collect();
    let id = store
        .create_run(&RunManifest {
            status: RunStatus::Finished,
            ..RunManifest::new(RunKind::Eval, 1_790_000_000)
        })
        .unwrap();
    store_test(store, id, &lines, 0);
}

#[test]
fn no_size_panics_on_any_screen_with_real_data() {
    for root in real_roots("no_size_panics_on_any_screen_with_real_data") {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("db");
        real_run(&Store::open(&db).unwrap(), &root);
        let (engine, mut app) = open_app_on(&db, &root);
        // A split selected (its label chart drawn), a run selected with its examples loaded.
        keys(&mut app, &engine, &["1", "down", "down"]);
        keys(&mut app, &engine, &["3", "enter"]);
        examples_loaded(&mut app, &engine);
        let widths = [
            1, 2, 10, 22, 39, 40, 41, 47, 55, 64, 80, 101, 120, 160, 213, 300,
        ];
        let heights = [1, 2, 6, 9, 10, 11, 13, 17, 24, 31, 48, 100];
        for screen in Screen::ALL {
            app.go(&engine, screen);
            settled(&mut app, &engine);
            for help in [false, true] {
                app.help = help;
                for w in widths {
                    for h in heights {
                        render(&app, w, h);
                    }
                }
            }
        }
        app.help = false;
        app.go(&engine, Screen::Inspect);
        keys(&mut app, &engine, &["m"]);
        for w in widths {
            for h in heights {
                render(&app, w, h);
            }
        }
        let small = render(&app, 22, 6);
        assert!(small.contains("terminal too"), "{small}");
        // The item editor on a real example of each typed task: opened, a span being picked
        // (moved to the sentence's last word), and a label being picked, at every size.
        keys(&mut app, &engine, &["m"]);
        let typed_tasks = ["NER/", "RE/", "EET/", "EEA/"];
        let mut opened = 0;
        for prefix in typed_tasks {
            let Some(at) = app
                .inspect
                .examples
                .iter()
                .position(|e| e.key.starts_with(prefix))
            else {
                continue;
            };
            app.inspect.cursor.selected = app
                .inspect
                .visible
                .iter()
                .position(|&i| i == at)
                .unwrap_or(0);
            if app
                .inspect
                .selected()
                .is_none_or(|e| !e.key.starts_with(prefix))
            {
                continue;
            }
            keys(&mut app, &engine, &["E"]);
            assert!(
                app.inspect.span_editor.is_some(),
                "{prefix}: {}",
                app.status.text
            );
            let n = app.inspect.span_editor.as_ref().unwrap().words.len();
            keys(&mut app, &engine, &["a"]);
            for _ in 0..n + 3 {
                keys(&mut app, &engine, &["l"]);
            }
            for w in widths {
                for h in heights {
                    render(&app, w, h);
                }
            }
            keys(&mut app, &engine, &["esc", "esc"]);
            assert!(app.inspect.span_editor.is_none());
            opened += 1;
        }
        assert!(opened >= 2, "the real run has NER and RE examples");
    }
}

#[test]
fn inspect_counts_equal_eval_errors_on_the_same_run() {
    for root in real_roots("inspect_counts_equal_eval_errors_on_the_same_run") {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("db");
        real_run(&Store::open(&db).unwrap(), &root);
        // `eval --errors` on the run's predictions, exported in the official format.
        let file = tmp.path().join("p.jsonl");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ie-bench"))
            .arg("--db")
            .arg(&db)
            .args(["runs", "export", "1", "--out"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ie-bench"))
            .arg("eval")
            .arg(&file)
            .args(["--errors", "--format", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let (engine, mut app) = open_app_on(&db, &root);
        keys(&mut app, &engine, &["3", "enter"]);
        examples_loaded(&mut app, &engine);
        let mut compared = 0;
        for kind in ie_bench::eval::ErrorKind::ALL {
            let expected: u64 = cli["errors"]
                .as_object()
                .unwrap()
                .values()
                .map(|d| d[kind.as_str()].as_u64().unwrap_or(0))
                .sum();
            assert_eq!(app.inspect.kind_count(kind), expected, "{}", kind.as_str());
            compared += expected;
        }
        assert!(compared > 0);
        // The checks that need the sentence and the options did run.
        assert!(
            app.inspect
                .kind_count(ie_bench::eval::ErrorKind::LabelNotInOptions)
                > 0
        );
    }
}

#[test]
fn help_opens_over_the_launch_form_and_scrolls() {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, mut app) = open_app(&tmp.path().join("db"));
    // A fresh database opens on the launch form, and `?` is help there too.
    assert!(app.runs.form.is_some());
    key(&mut app, &engine, "?");
    assert!(app.help);
    let top = render(&app, 80, 24);
    assert!(top.contains("Keys 1-19 of"), "{top}");
    keys(&mut app, &engine, &["down", "down", "down"]);
    let lower = render(&app, 80, 24);
    assert!(lower.contains("Keys 4-22 of"), "{lower}");
    key(&mut app, &engine, "esc");
    assert!(!app.help && app.runs.form.is_some());
}

#[test]
fn the_template_preview_scrolls_and_says_when_it_has_no_tokenizer() {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, mut app) = open_app(&tmp.path().join("db"));
    key(&mut app, &engine, "esc");
    key(&mut app, &engine, "2");
    app.act(&engine, ie_bench::tui::keymap::Action::PageDown);
    assert_eq!(app.templates.scroll, 5);
    app.act(&engine, ie_bench::tui::keymap::Action::PageUp);
    assert_eq!(app.templates.scroll, 0);
    // Before the default model is made, a count would be a guess: it says so instead.
    let store = Store::open(&tmp.path().join("db2")).unwrap();
    let mut fresh = Engine::new(store, &tmp.path().join("db2")).unwrap();
    fresh.models.backbones.clear();
    let app = App::new(
        &fresh,
        Workspace::load(&sample_root()),
        Keymap::default_map(),
        Theme::dark(),
    );
    let mut app = app;
    app.go(&fresh, Screen::Templates);
    let screen = render(&app, 160, 48);
    assert!(screen.contains("no tokenizer yet"), "{screen}");
    assert!(!screen.contains("0 tokens of"), "{screen}");
}

#[test]
fn the_kind_filter_visits_only_kinds_that_occur_and_counts_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, mut app) = fixture_app(tmp.path());
    keys(&mut app, &engine, &["3", "down", "down", "enter"]);
    examples_loaded(&mut app, &engine);
    let mut seen = Vec::new();
    loop {
        key(&mut app, &engine, "f");
        let Some(k) = app.inspect.filter_kind else {
            break;
        };
        assert!(app.inspect.kind_count(k) > 0, "{}", k.as_str());
        assert!(!app.inspect.visible.is_empty(), "{}", k.as_str());
        seen.push(k);
        let screen = render(&app, 160, 48);
        assert!(
            screen.contains(&format!(
                "kind {} ({} items)",
                k.as_str(),
                app.inspect.kind_count(k)
            )),
            "{screen}"
        );
    }
    assert!(seen.len() >= 2, "{seen:?}");
}

/// A training run's metric events are stored by the job and appended by the screen: 100 steps
/// read nothing back from the store. (Before the workbench refreshed on events that change
/// what it shows, each batch of events re-read every run's scores for the Export screen.)
#[test]
fn training_steps_read_nothing_back_from_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, mut app) = fixture_app(tmp.path());
    let run = app
        .runs
        .runs
        .iter()
        .find(|r| r.1.kind == RunKind::Train)
        .unwrap()
        .0;
    let before = engine.store().records_read();
    for step in 1..=100 {
        let point = MetricPoint {
            step,
            loss: 1.0 / step as f64,
            lr: Some(1e-4),
            tokens_per_s: None,
            epoch: None,
        };
        app.apply_events(
            &engine,
            &[JobEvent::Metric {
                run,
                point,
                total: Some(100),
            }],
        );
    }
    let reads = engine.store().records_read() - before;
    eprintln!("records read over 100 training steps: {reads}");
    assert_eq!(reads, 0);
}

/// A run's tags (`runs tag`) show after it in the Runs list, escaped like any stored text.
#[test]
fn the_run_list_shows_tags() {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, mut app) = fixture_app(tmp.path());
    let said = ie_bench::service::tags::tag(
        engine.store(),
        1,
        &["sweep-a".to_string(), "baseline".to_string()],
        &[],
    )
    .unwrap();
    assert!(said.err.contains("baseline, sweep-a"), "{}", said.err);
    keys(&mut app, &engine, &["3"]);
    // Wide enough for the list's last column to hold the time and the tags.
    let screen = render(&app, 200, 24);
    let row = screen
        .lines()
        .find(|l| l.contains("#baseline"))
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(row.contains("#baseline #sweep-a"), "{row}");
}

/// Template A/B from the Templates screen: an edit is scored zero-shot against the saved
/// bank on the same sampled dev instances, as two stored eval runs; both scores and the
/// flips show, Compare gets the pair, and the bank in force stays the saved one.
#[test]
fn a_template_ab_scores_the_saved_and_the_edited_bank_on_the_same_instances() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let (engine, mut app) = open_app(&db);
    // Nothing to compare before an edit.
    keys(&mut app, &engine, &["esc", "2", "a"]);
    assert!(app.status.text.contains("edit an instruction first"));
    assert!(engine.store().runs().unwrap().is_empty());
    keys(&mut app, &engine, &["e", "ctrl-u"]);
    typed(&mut app, &engine, "List the entities. ");
    keys(&mut app, &engine, &["enter", "a"]);
    let trial = app
        .templates
        .trial
        .clone()
        .unwrap_or_else(|| panic!("{}", app.status.text));
    assert_eq!((trial.saved, trial.edited), (1, 2));
    assert_eq!(trial.tasks, vec![TaskKind::Ner]);
    assert_eq!(trial.split, Split::Dev);
    wait(&mut app, &engine, 300, "the A/B", |a| {
        a.templates.trial.as_ref().is_some_and(|t| t.rows.is_some())
    });
    let trial = app.templates.trial.clone().unwrap();
    let rows = trial.rows.clone().unwrap();
    assert!(!rows.is_empty());
    // Every dataset is NER, every example was answered by both (the same instances), and
    // the flips add up to the examples.
    let sample_dev: usize = app
        .ws
        .datasets
        .iter()
        .filter(|d| d.task == TaskKind::Ner)
        .map(|d| d.records(Split::Dev).len())
        .sum();
    let mut n = 0;
    for r in &rows {
        assert!(r.dataset.starts_with("NER/"), "{}", r.dataset);
        assert_eq!(r.flips.unmatched, 0, "{}", r.dataset);
        n += r.difference.as_ref().unwrap().n;
    }
    assert_eq!(n, sample_dev.min(50));
    assert_eq!(trial.sample, n);
    // Each run names its bank version and the command that repeats it.
    for (run, v) in [(trial.a, 1), (trial.b, 2)] {
        let m = engine.store().run(run).unwrap();
        assert_eq!(m.status, RunStatus::Finished);
        assert_eq!(m.templates[0].version, v);
        let words = m.spec.unwrap().to_words().join(" ");
        assert!(
            words.contains("--split dev --sample 50 --task NER"),
            "{words}"
        );
        assert!(
            words.contains(&format!("instruction_config.v{v}.json")),
            "{words}"
        );
    }
    // The edit is still a draft; the saved bank stays in force.
    assert_eq!(app.templates.version, Some(1));
    assert!(app.templates.drafts.contains_key(&TaskKind::Ner));
    // The panel draws at both sizes; Compare opens on the pair.
    for (w, h) in [(80, 24), (160, 48)] {
        let screen = render(&app, w, h);
        assert!(screen.contains("A/B: saved v1"), "{screen}");
        assert!(
            screen
                .lines()
                .any(|l| l.contains("dataset") && l.contains("broken")),
            "every column fits: {screen}"
        );
        assert!(screen.contains("NER/Tiny"), "{screen}");
    }
    assert_eq!(app.runs.baseline, Some(trial.a));
    keys(&mut app, &engine, &["5"]);
    compared(&mut app, &engine);
    assert_eq!(app.compare.runs, Some((trial.a, trial.b)));
    // Saving the edit now makes the A/B's edited version the bank in force.
    keys(&mut app, &engine, &["2", "s"]);
    assert_eq!(app.templates.version, Some(2), "{}", app.status.text);
}

/// The fixture and a fourth run: a second training run with its own loss curve and test
/// predictions, tagged, with a learning rate in its spec.
fn fixture_with_sweep(dir: &Path) -> (Engine, App) {
    let db = dir.join("db");
    let store = Store::open(&db).unwrap();
    fixture(&store);
    let words: Vec<String> = "train --model models/tiny --lr 0.001 --seed 7"
        .split(' ')
        .map(String::from)
        .collect();
    let spec = ie_bench::spec::RunSpec::from_words(&words).unwrap();
    let id = store
        .create_run(&RunManifest {
            status: RunStatus::Finished,
            model: Some("models/tiny".into()),
            spec: Some(spec),
            tags: vec!["sweep".into()],
            ..RunManifest::new(RunKind::Train, 1_790_010_800)
        })
        .unwrap();
    let points: Vec<MetricPoint> = (1..=80u64)
        .map(|s| MetricPoint {
            step: s,
            loss: 2.0 * (-(s as f64) / 20.0).exp() + 0.4,
            lr: Some(1e-3),
            tokens_per_s: None,
            epoch: None,
        })
        .collect();
    store.put_metrics(id, &points).unwrap();
    let ner = |id: &str, gold: &str, pred: &str| line(TaskKind::Ner, "Tiny CoNLL", id, gold, pred);
    store_test(
        &store,
        id,
        &[
            ner(
                "0",
                " person: Serena Williams; location: Melbourne",
                " person: Serena Williams; location: Melbourne",
            ),
            ner(
                "1",
                " organization: Airbus; organization: Lufthansa",
                " organization: Airbus",
            ),
            ner(
                "2",
                " organization: Nobel Prize",
                " organization: Nobel Prize",
            ),
            ner("3", " person: Ann", " person: Ann"),
        ],
        80,
    );
    app_with(store, &db, &sample_root())
}

/// Marked runs: their loss curves overlaid on one chart, and Compare's N-run view with each
/// run's scores side by side and its flips against the baseline.
#[test]
fn marked_runs_overlay_their_loss_and_compare_side_by_side() {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, mut app) = fixture_with_sweep(tmp.path());
    let _guard = snapshots_without(tmp.path());
    let snap = |name: &str, app: &App| {
        for (w, h) in [(80, 24), (160, 48)] {
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(app, w, h));
        }
    };
    // Newest first: 4, 3, 2, 1. Mark 4 and 1 (the two with loss curves).
    keys(&mut app, &engine, &["3", "space", "bottom", "space"]);
    assert_eq!(app.runs.marked, vec![4, 1]);
    assert_eq!(app.runs.marked_metrics.len(), 2);
    assert!(
        app.status.text.contains("marked runs 4, 1"),
        "{}",
        app.status.text
    );
    let screen = render(&app, 160, 48);
    assert!(
        screen.contains("run 4") && screen.contains("run 1"),
        "a legend: {screen}"
    );
    snap("runs_overlay", &app);
    // Three marked: Compare sets them side by side against the first marked (run 4), or the
    // baseline when it is one of them.
    keys(&mut app, &engine, &["up", "space", "b"]);
    assert_eq!(app.runs.marked, vec![4, 1, 2]);
    assert_eq!(app.runs.baseline, Some(2));
    keys(&mut app, &engine, &["5"]);
    compared(&mut app, &engine);
    let many = app.compare.many.clone().unwrap();
    assert_eq!((many.runs.clone(), many.baseline), (vec![4, 1, 2], 2));
    let ner = many
        .rows
        .iter()
        .find(|r| r.dataset == "NER/Tiny CoNLL")
        .unwrap();
    assert!(ner.scores.iter().all(Option::is_some), "{ner:?}");
    assert_eq!(
        ner.flips[2], None,
        "the baseline has no flips against itself"
    );
    let against = ner.flips[0].unwrap();
    assert_eq!(
        against.fixed + against.broken + against.both_right + against.both_wrong,
        4,
        "{against:?}"
    );
    // Run 4 has no RE predictions: its RE cells are empty, not zero.
    let re = many
        .rows
        .iter()
        .find(|r| r.dataset.starts_with("RE/"))
        .unwrap();
    assert_eq!((re.scores[0], re.flips[0]), (None, None));
    snap("compare_many", &app);
    // Two marked: the pair view, with the baseline as A.
    keys(&mut app, &engine, &["3", "bottom", "space", "5"]);
    compared(&mut app, &engine);
    assert!(app.compare.many.is_none());
    assert_eq!(app.compare.runs, Some((2, 4)));
}

/// The run list: a filter query (the `runs --filter` syntax), sorting by a setting, tags and
/// a note written from the keyboard, and the wide view of the settings.
#[test]
fn the_run_list_filters_sorts_tags_and_notes() {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, mut app) = fixture_with_sweep(tmp.path());
    keys(&mut app, &engine, &["3", "/"]);
    typed(&mut app, &engine, "kind=train");
    // Applied as it is typed.
    let ids = |app: &App| -> Vec<u64> { app.runs.runs.iter().map(|r| r.0).collect() };
    assert_eq!(ids(&app), [4, 3, 1]);
    key(&mut app, &engine, "enter");
    assert!(
        app.status.text.contains("3 of 4 runs"),
        "{}",
        app.status.text
    );
    assert!(render(&app, 80, 24).contains("Runs (3 of 4)"));
    // Sort by lr: run 4 has one in its spec, the fixture's runs none (last, by id).
    for _ in 0..5 {
        key(&mut app, &engine, "O");
    }
    assert_eq!(app.runs.order, ie_bench::service::run_table::RunOrder::Lr);
    assert_eq!(ids(&app), [4, 1, 3]);
    // Tag run 1 and drop run 4's tag; note run 1.
    keys(&mut app, &engine, &["down", "#"]);
    typed(&mut app, &engine, "best  #sweep");
    key(&mut app, &engine, "enter");
    assert_eq!(
        engine.store().run(1).unwrap().tags,
        ["best", "sweep"],
        "{}",
        app.status.text
    );
    keys(&mut app, &engine, &["up", "#"]);
    typed(&mut app, &engine, "-sweep");
    key(&mut app, &engine, "enter");
    assert!(engine.store().run(4).unwrap().tags.is_empty());
    keys(&mut app, &engine, &["down", "N"]);
    typed(&mut app, &engine, "lr too high?");
    key(&mut app, &engine, "enter");
    assert_eq!(
        engine.store().run(1).unwrap().note.as_deref(),
        Some("lr too high?")
    );
    // A tag query; esc on the prompt restores the query before it, esc after clears it.
    keys(&mut app, &engine, &["/", "ctrl-u"]);
    typed(&mut app, &engine, "#sweep");
    assert_eq!(ids(&app), [1]);
    key(&mut app, &engine, "esc");
    assert_eq!(ids(&app), [4, 1, 3]);
    key(&mut app, &engine, "esc");
    assert_eq!(ids(&app).len(), 4);
    // The wide view: settings columns, the note.
    key(&mut app, &engine, "v");
    let screen = render(&app, 160, 48);
    for column in [
        "model", "config", "lr", "steps", "batch", "seed", "bank", "note",
    ] {
        assert!(screen.contains(column), "{column}: {screen}");
    }
    assert!(screen.contains("lr too high?"), "{screen}");
    assert!(screen.contains("0.001"), "{screen}");
    // Every size draws.
    render(&app, 80, 24);
    render(&app, 20, 6);
}

/// The F1 table opens a dataset's per-label table (precision, recall, F1, support, then the
/// averages) in Inspect; its micro average is the dataset's F1.
#[test]
fn the_f1_table_opens_a_datasets_per_label_table() {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, mut app) = fixture_app(tmp.path());
    // Run 1 (newest first: 3, 2, 1); → gives keys to the F1 table.
    keys(&mut app, &engine, &["3", "bottom", "right"]);
    assert!(app.runs.table_focus);
    assert_eq!(app.runs.table[0].dataset, "Tiny CoNLL");
    let f1 = app.runs.table[0].score;
    key(&mut app, &engine, "enter");
    assert_eq!(app.screen, Screen::Inspect);
    examples_loaded(&mut app, &engine);
    let table = app.inspect.by_label.clone().unwrap();
    assert_eq!(table.dataset, "NER/Tiny CoNLL");
    let labels: Vec<&str> = table.rows.iter().map(|r| r.0.as_str()).collect();
    // Compat mode normalises as the official scorer does: `location` reads `located`.
    assert_eq!(
        labels,
        [
            "located",
            "organization",
            "person",
            "micro avg",
            "macro avg",
            "weighted avg"
        ]
    );
    let person = &table.rows[2].1;
    assert_eq!((person.support, person.f1), (2, 1.0));
    // Two of three organisations missed (one typed as a location, one cut short).
    let org = &table.rows[1].1;
    assert_eq!(org.support, 3);
    assert!((org.recall - 1.0 / 3.0).abs() < 1e-12, "{org:?}");
    let micro = &table.rows[3].1;
    assert!((micro.f1 - f1).abs() < 1e-12, "{} vs {f1}", micro.f1);
    assert_eq!(
        app.inspect.filter_dataset.as_deref(),
        Some("NER/Tiny CoNLL")
    );
    for (w, h) in [(80, 24), (160, 48)] {
        let screen = render(&app, w, h);
        assert!(screen.contains("weighted avg"), "{screen}");
    }
    // P closes it; P opens it again for the dataset in view; an average row opens nothing.
    key(&mut app, &engine, "P");
    assert!(app.inspect.by_label.is_none());
    key(&mut app, &engine, "P");
    assert_eq!(
        app.inspect.by_label.as_ref().unwrap().dataset,
        "NER/Tiny CoNLL"
    );
    keys(&mut app, &engine, &["3", "bottom", "enter"]);
    assert!(
        app.status.text.contains("average row"),
        "{}",
        app.status.text
    );
    assert_eq!(app.screen, Screen::Runs);
    key(&mut app, &engine, "esc");
    assert!(!app.runs.table_focus);
}

/// Export can add each marked run's difference from the first, with its bootstrap interval,
/// in every format.
#[test]
fn export_adds_the_differences_with_their_intervals() {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, mut app) = fixture_app(tmp.path());
    keys(&mut app, &engine, &["6"]);
    exports_read(&mut app, &engine);
    // Runs with test scores: 2 and 1 (newest first); mark both.
    keys(&mut app, &engine, &["space", "down", "space", "i"]);
    exports_read(&mut app, &engine);
    assert!(app.export.intervals);
    let md = app.export.preview.clone();
    // Run 2 fixes two of run 1's NER examples and breaks one (the fixture): +21.79 points,
    // but four examples leave the interval wide (the seeded bootstrap gives the same every
    // time).
    assert!(
        md.contains("| Tiny CoNLL | 61.54 | 83.33 |  | +21.79 [-19.05, +66.67] n.s. |"),
        "{md}"
    );
    assert!(md.contains("| **Average** | 61.54 | 83.33 |  |  |"), "{md}");
    key(&mut app, &engine, "t");
    assert!(
        app.export.preview.contains("95\\% CI"),
        "{}",
        app.export.preview
    );
    key(&mut app, &engine, "i");
    assert!(!app.export.preview.contains("CI"));
}

/// A run whose predictions keep their sentences and prompts: nested NER spans, a relation,
/// event arguments and a trigger, and a 10 kB sentence with its entities at the end.
fn span_fixture(dir: &Path) -> (Engine, App) {
    let db = dir.join("db");
    let store = Store::open(&db).unwrap();
    let with = |task, dataset: &str, options: &str, sentence: &str, gold: &str, pred: &str| {
        let mut l = line(task, dataset, "0", gold, pred);
        l.sentence = Some(sentence.to_string());
        l.instruction = Some(format!(
            "Please list them. \nOption: {options} \nText: {{0}} \nAnswer:"
        ));
        l
    };
    let long = format!("{}Ann Lee moved to Paris .", "word ".repeat(2000));
    let lines = vec![
        with(
            TaskKind::Ner,
            "nested",
            "person, location, organization",
            "The New York Times reported on New York City .",
            " organization: New York Times; location: New York",
            " organization: New York Times; location: York City",
        ),
        with(
            TaskKind::Ner,
            "long",
            "person, location, organization",
            &long,
            " person: Ann Lee; location: Paris",
            " person: Ann Lee",
        ),
        with(
            TaskKind::Re,
            "rel",
            "work for, located in, live in",
            "John Smith works for IBM in Rome .",
            " work for: John Smith, IBM",
            " work for: John Smith, IBM; located in: IBM, Rome",
        ),
        with(
            TaskKind::Eet,
            "events",
            "attack, transport",
            "The rebels attacked the convoy near Kabul .",
            " attack: attacked",
            " attack: attacked",
        ),
        with(
            TaskKind::Eea,
            "events",
            "attacker, target, place",
            "The rebels attacked the convoy near Kabul .",
            " The rebels: attacker; the convoy: target",
            " The rebels: attacker; Kabul: target",
        ),
    ];
    // EEA's prompt names the event (SPEC: `Event type: T \n  Option: roles`).
    let mut lines = lines;
    lines[4].instruction = Some(
        "Given event type and trigger, please tell me the arguments. \nEvent type: attack \n  Option: attacker, target, place \nText: {0} \nAnswer:".into(),
    );
    let id = store
        .create_run(&RunManifest {
            status: RunStatus::Finished,
            model: Some("models/tiny".into()),
            ..RunManifest::new(RunKind::Eval, 1_790_000_000)
        })
        .unwrap();
    store_test(&store, id, &lines, 0);
    app_with(store, &db, &sample_root())
}

fn shift(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::SHIFT)
}

/// The span view: each item's spans bracketed with its number in the sentence (nested ones
/// nested), a relation's head and tail, event arguments, and a 10 kB sentence scrolled to its
/// first span; snapshots at 80×24 and 160×48.
#[test]
fn the_span_view_marks_items_in_the_sentence() {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, mut app) = span_fixture(tmp.path());
    let _guard = snapshots_without(tmp.path());
    keys(&mut app, &engine, &["3", "enter"]);
    examples_loaded(&mut app, &engine);
    // Examples by dataset key: EEA/events, EET/events, NER/long, NER/nested, RE/rel.
    let keys_in_order: Vec<String> = app.inspect.examples.iter().map(|e| e.key.clone()).collect();
    for (name, key_) in [
        ("span_eea", "EEA/events"),
        ("span_eet", "EET/events"),
        ("span_long", "NER/long"),
        ("span_nested", "NER/nested"),
        ("span_relation", "RE/rel"),
    ] {
        let at = keys_in_order.iter().position(|k| k == key_).unwrap();
        app.inspect.cursor.selected = at;
        for (w, h) in [(80, 24), (160, 48)] {
            let screen = render(&app, w, h);
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen);
        }
    }
    // The nested spans nest their brackets; a relation marks its head and tail.
    let at = |k: &str| keys_in_order.iter().position(|x| x == k).unwrap();
    app.inspect.cursor.selected = at("NER/nested");
    assert!(render(&app, 160, 48).contains("[1:[2:New York] Times]"));
    app.inspect.cursor.selected = at("RE/rel");
    let screen = render(&app, 160, 48);
    assert!(
        screen.contains("[1h:John Smith]") && screen.contains("[1t:[2h:IBM]]"),
        "{screen}"
    );
    assert!(screen.contains("located in: ibm → rome"), "{screen}");
    // The long sentence shows its entities, far past the first screenful.
    app.inspect.cursor.selected = at("NER/long");
    assert!(
        render(&app, 80, 24).contains("[1:Ann Lee]"),
        "{}",
        render(&app, 80, 24)
    );
}

/// Structural gold editing: add a relation picked from the sentence's words, relabel and
/// delete an entity, re-span an argument; each edit is stored in the gold log and re-scores
/// the run; undo and redo step through it; a label outside the options cannot be picked.
#[test]
fn span_edits_join_the_gold_log_and_rescore_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, mut app) = span_fixture(tmp.path());
    let _guard = snapshots_without(tmp.path());
    keys(&mut app, &engine, &["3", "enter"]);
    examples_loaded(&mut app, &engine);
    let at = |app: &App, k: &str| {
        app.inspect
            .examples
            .iter()
            .position(|e| e.key == k)
            .unwrap()
    };
    app.inspect.cursor.selected = at(&app, "RE/rel");
    let rescored = |app: &mut App, version: u64| {
        wait(app, &engine, 60, "the re-score", |a| {
            a.status
                .text
                .contains(&format!("re-scored against gold version {version}"))
        });
    };
    // The model's extra relation is right: add it to the gold. Words: John Smith works for
    // IBM in Rome; the head is IBM (word 4), the tail Rome (word 6).
    key(&mut app, &engine, "E");
    assert!(app.inspect.span_editor.is_some(), "{}", app.status.text);
    for (w, h) in [(80, 24), (160, 48)] {
        insta::assert_snapshot!(format!("span_editor_{w}x{h}"), render(&app, w, h));
    }
    keys(
        &mut app,
        &engine,
        &["a", "l", "l", "l", "l", "enter", "l", "l", "enter"],
    );
    typed(&mut app, &engine, "loc");
    for (w, h) in [(80, 24), (160, 48)] {
        insta::assert_snapshot!(format!("span_editor_label_{w}x{h}"), render(&app, w, h));
    }
    key(&mut app, &engine, "enter");
    let e = app.inspect.selected().unwrap().clone();
    assert_eq!(
        e.gold, " work for: John Smith, IBM; located in: IBM, Rome",
        "{}",
        app.status.text
    );
    assert!(e.corrected && e.verdict.correct);
    rescored(&mut app, 1);
    let f1 = |engine: &Engine, gold: u64| -> f64 {
        let rows = engine.store().scores(1).unwrap();
        ie_bench::service::results::stored_report(
            &rows,
            Split::Test,
            ie_bench::eval::Mode::Compat,
            Some(gold),
        )
        .unwrap()
        .report
        .tasks[&TaskKind::Re]
            .datasets[0]
            .1
            .score
    };
    assert_eq!(f1(&engine, 1), 1.0);
    assert!(f1(&engine, 0) < 1.0);
    // Undo, then redo: the log holds each step, the run is re-scored each time.
    key(&mut app, &engine, "u");
    assert_eq!(
        app.inspect.selected().unwrap().gold,
        " work for: John Smith, IBM"
    );
    assert_eq!(app.inspect.span_editor.as_ref().unwrap().parts.len(), 1);
    rescored(&mut app, 2);
    key(&mut app, &engine, "ctrl-r");
    assert_eq!(app.inspect.span_editor.as_ref().unwrap().parts.len(), 2);
    rescored(&mut app, 3);
    assert_eq!(f1(&engine, 3), 1.0);
    assert_eq!(engine.store().gold_log().unwrap().len(), 3);
    key(&mut app, &engine, "esc");
    assert!(app.inspect.span_editor.is_none());
    // NER: relabel the second entity, then delete the first.
    app.inspect.cursor.selected = at(&app, "NER/nested");
    keys(&mut app, &engine, &["E", "down", "l"]);
    typed(&mut app, &engine, "org");
    key(&mut app, &engine, "enter");
    assert_eq!(
        app.inspect.selected().unwrap().gold,
        " organization: New York Times; organization: New York"
    );
    keys(&mut app, &engine, &["up", "x"]);
    assert_eq!(
        app.inspect.selected().unwrap().gold,
        " organization: New York"
    );
    // A label no option matches is refused, and nothing is stored.
    keys(&mut app, &engine, &["l"]);
    typed(&mut app, &engine, "zzz");
    key(&mut app, &engine, "enter");
    assert!(
        app.status.text.contains("no option matches"),
        "{}",
        app.status.text
    );
    assert_eq!(engine.store().gold_log().unwrap().len(), 5);
    keys(&mut app, &engine, &["esc", "esc"]);
    // EEA: move the target from "the convoy" to "the convoy near Kabul" (extend by two words).
    app.inspect.cursor.selected = at(&app, "EEA/events");
    keys(&mut app, &engine, &["E", "down", "s", "l", "l", "l"]);
    for _ in 0..3 {
        app.key(&engine, &shift(KeyCode::Right));
    }
    key(&mut app, &engine, "enter");
    assert_eq!(
        app.inspect.selected().unwrap().gold,
        " The rebels: attacker; the convoy near Kabul: target",
        "{}",
        app.status.text
    );
    assert_eq!(engine.store().gold_log().unwrap().len(), 6);
}
