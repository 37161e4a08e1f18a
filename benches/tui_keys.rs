//! Keypress latency of the TUI with 100,000 examples loaded: each key is handled and the whole
//! frame redrawn (ratatui TestBackend, 160×48), timed per key. Also a stored run of 100,000
//! predictions, browsed in Inspect. Run: `cargo bench --bench tui_keys`.

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
use ie_bench::store::{RunKind, RunManifest, RunStatus, Store};
use ie_bench::tui::app::App;
use ie_bench::tui::engine::Engine;
use ie_bench::tui::keymap::Keymap;
use ie_bench::tui::theme::Theme;
use ie_bench::tui::workspace::Workspace;

const N: usize = 100_000;
const WORDS: [&str; 16] = [
    "the",
    "council",
    "met",
    "in",
    "Geneva",
    "with",
    "delegates",
    "from",
    "Acme",
    "Corp",
    "and",
    "Maria",
    "Lopez",
    "said",
    "on",
    "Tuesday",
];
const TYPES: [&str; 4] = ["person", "organization", "location", "else"];

/// A NER dataset of `N` training records (plus small dev and test splits).
fn write_data(root: &Path) {
    let dir = root.join("NER").join("Big");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("labels.json"),
        serde_json::to_string(&TYPES).unwrap(),
    )
    .unwrap();
    let record = |i: usize| {
        let words: Vec<&str> = (0..14)
            .map(|j| WORDS[(i * 7 + j * 3) % WORDS.len()])
            .collect();
        let sentence = format!("{} {}", words.join(" "), i);
        let name = words[4];
        let start = sentence.find(name).unwrap();
        serde_json::json!({
            "sentence": sentence,
            "entities": [{"name": name, "type": TYPES[i % 4], "pos": [start, start + name.len()]}]
        })
    };
    let write = |split: &str, n: usize| {
        let v: Vec<_> = (0..n).map(record).collect();
        std::fs::write(
            dir.join(format!("{split}.json")),
            serde_json::to_vec(&v).unwrap(),
        )
        .unwrap();
    };
    write("train", N);
    write("dev", 200);
    write("test", 500);
}

/// A finished run with `N` predictions, a quarter of them wrong in some way.
fn store_run(store: &Store) {
    let id = store
        .create_run(&RunManifest {
            status: RunStatus::Finished,
            ..RunManifest::new(RunKind::Eval, 0)
        })
        .unwrap();
    let lines: Vec<PredictionLine> = (0..N)
        .map(|i| {
            let gold = format!(" {}: Geneva", TYPES[i % 4]);
            let prediction = match i % 8 {
                0 => format!(" {}: Geneva", TYPES[(i + 1) % 4]),
                1 => " None".to_string(),
                _ => gold.clone(),
            };
            PredictionLine {
                line: i + 1,
                task: TaskKind::Ner,
                dataset: "Big".into(),
                id: i.to_string(),
                ground_truth: gold,
                prediction,
                instruction: None,
                sentence: None,
                truncated: false,
            }
        })
        .collect();
    let mut quiet = |_: &JobEvent| {};
    let mut rec = Recorder {
        store,
        run: id,
        listener: &mut quiet,
    };
    store_predictions(&mut rec, &lines).unwrap();
    store_scores(&mut rec, &lines, Split::Test, 0, 0).unwrap();
}

fn ev(k: &str) -> KeyEvent {
    match k {
        "down" => KeyEvent::new(KeyCode::Down, KeyModifiers::NONE),
        "up" => KeyEvent::new(KeyCode::Up, KeyModifiers::NONE),
        "enter" => KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
        "esc" => KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE),
        "space" => KeyEvent::new(KeyCode::Char(' '), KeyModifiers::NONE),
        c => KeyEvent::new(KeyCode::Char(c.chars().next().unwrap()), KeyModifiers::NONE),
    }
}

struct Timer {
    term: Terminal<TestBackend>,
    groups: Vec<(String, Vec<Duration>)>,
}

impl Timer {
    fn keys(&mut self, group: &str, app: &mut App, engine: &Engine, keys: &[&str]) {
        let mut times = Vec::new();
        for k in keys {
            let t = Instant::now();
            app.key(engine, &ev(k));
            app.poll(engine);
            self.term
                .draw(|f| ie_bench::tui::view::draw(f, app))
                .unwrap();
            times.push(t.elapsed());
        }
        self.groups.push((group.to_string(), times));
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("IE_INSTRUCTIONS");
    write_data(&root);
    let db = tmp.path().join("db");
    {
        let t = Instant::now();
        store_run(&Store::open(&db).unwrap());
        eprintln!(
            "stored a run of {N} predictions in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    let t = Instant::now();
    let ws = Workspace::load(&root);
    let load = t.elapsed();
    assert_eq!(ws.total_records(), N + 700);
    let engine = Engine::new(Store::open(&db).unwrap(), &db).unwrap();
    let t = Instant::now();
    let mut app = App::new(&engine, ws, Keymap::default_map(), Theme::dark());
    let start = t.elapsed();
    let mut timer = Timer {
        term: Terminal::new(TestBackend::new(160, 48)).unwrap(),
        groups: Vec::new(),
    };
    let down = |n| vec!["down"; n];
    timer.keys(
        "datasets: move through the tree",
        &mut app,
        &engine,
        &[down(4), vec!["up", "g", "G", "g"]].concat(),
    );
    timer.keys(
        "datasets: type a search query",
        &mut app,
        &engine,
        &["/", "g", "e", "n", "e", "v", "a"],
    );
    // Let the background search answer, then browse its hits.
    let t = Instant::now();
    while app.datasets.searching() {
        app.poll(&engine);
        std::thread::sleep(Duration::from_millis(1));
    }
    let search = t.elapsed();
    timer.keys(
        "datasets: browse hits",
        &mut app,
        &engine,
        &["enter", "down", "down", "up", "esc"],
    );
    timer.keys(
        "templates: tasks and examples",
        &mut app,
        &engine,
        &["2", "down", "up", "]", "]", "["],
    );
    timer.keys(
        "runs: select, sort, zoom",
        &mut app,
        &engine,
        &["3", "o", "o", "z", "z"],
    );
    let t = Instant::now();
    timer.keys(
        "inspect: open the run (loads in background)",
        &mut app,
        &engine,
        &["4"],
    );
    while app.inspect.is_loading() {
        app.poll(&engine);
        std::thread::sleep(Duration::from_millis(1));
    }
    let open = t.elapsed();
    assert_eq!(app.inspect.examples.len(), N);
    timer.keys(
        "inspect: move",
        &mut app,
        &engine,
        &[down(100), vec!["G", "g"]].concat(),
    );
    timer.keys(
        "inspect: filter, next same, confusion",
        &mut app,
        &engine,
        &["f", ".", ".", "f", "esc", "d", "m", "down", "m"],
    );
    timer.keys(
        "compare and export",
        &mut app,
        &engine,
        &["5", "6", "space", "t", "t", "t"],
    );
    println!("tui_keys: {} examples loaded in {:.0} ms, app ready in {:.0} ms; background search answered {:.0} ms after the last key", N + 700, ms(load), ms(start), ms(search));
    println!(
        "{:<42} {:>5} {:>9} {:>9} {:>9}",
        "keys (handled + 160x48 frame drawn)", "n", "mean ms", "p95 ms", "max ms"
    );
    let mut all = Vec::new();
    for (g, times) in &timer.groups {
        let mut s = times.clone();
        s.sort();
        let mean = s.iter().map(|d| ms(*d)).sum::<f64>() / s.len() as f64;
        let p95 = ms(s[((s.len() as f64 * 0.95).ceil() as usize).saturating_sub(1)]);
        println!(
            "{g:<42} {:>5} {mean:>9.2} {p95:>9.2} {:>9.2}",
            s.len(),
            ms(*s.last().unwrap())
        );
        if std::env::var_os("TUI_KEYS_DETAIL").is_some() {
            println!(
                "    {:?}",
                times
                    .iter()
                    .map(|d| (ms(*d) * 100.0).round() / 100.0)
                    .collect::<Vec<_>>()
            );
        }
        all.extend(s);
    }
    all.sort();
    println!(
        "all {} keys: max {:.2} ms; the 100k-prediction run was ready in Inspect {:.0} ms after its key",
        all.len(),
        ms(*all.last().unwrap()),
        ms(open)
    );
}
