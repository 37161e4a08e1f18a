//! A database of 1,000 runs and 1,000,000 predictions: `cargo bench --bench store_1m`.
//!
//! Fills `target/bench/store_1m` once (kept between runs; delete it to rebuild), then times,
//! in-process and as whole `ie-bench` processes, listing the runs and opening one run's
//! per-dataset score table, and prints the database size.

#![allow(clippy::unwrap_used)] // a panic is how a test or bench reports failure

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ie_bench::eval::Counts;
use ie_bench::eval::Mode;
use ie_bench::ie::{Split, TaskKind};
use ie_bench::service::results::stored_report;
use ie_bench::store::{
    MetricPoint, RunKind, RunManifest, RunStatus, Store, StoredPrediction, StoredScore,
};

const RUNS: u64 = 1_000;
const PREDICTIONS_PER_RUN: u64 = 1_000;
const DATASETS: u64 = 32;
const STEPS_PER_RUN: u64 = 100;

fn fill(path: &Path) {
    let store = Store::open(path).unwrap();
    let t = Instant::now();
    for r in 0..RUNS {
        let id = store
            .create_run(&RunManifest {
                status: RunStatus::Finished,
                finished: Some(1_764_000_100 + r),
                model: Some(format!("models/run-{r}")),
                settings: serde_json::json!({"argv": ["train", "--lr", "5e-5"]}),
                out_dir: Some(format!("/data/runs/{r}")),
                ..RunManifest::new(RunKind::Train, 1_764_000_000 + r)
            })
            .unwrap();
        let points: Vec<MetricPoint> = (1..=STEPS_PER_RUN)
            .map(|s| MetricPoint {
                step: s,
                loss: 3.0 / s as f64,
                lr: Some(5e-5),
                tokens_per_s: Some(600.0),
                epoch: Some(s as f64 / 50.0),
            })
            .collect();
        store.put_metrics(id, &points).unwrap();
        for d in 0..DATASETS {
            let per =
                PREDICTIONS_PER_RUN / DATASETS + u64::from(d < PREDICTIONS_PER_RUN % DATASETS);
            let items: Vec<(u64, StoredPrediction)> = (0..per)
                .map(|i| {
                    (
                        i,
                        StoredPrediction {
                            task: ie_bench::ie::TaskKind::Ner,
                            id: i.to_string(),
                            ground_truth: " person: John Smith; location: New York".into(),
                            prediction: format!(" person: John Smith; location: York {i}"),
                            truncated: false,
                            sentence: None,
                            instruction: None,
                        },
                    )
                })
                .collect();
            store
                .put_predictions(id, &format!("NER/dataset-{d:02}"), &items)
                .unwrap();
        }
        let rows: Vec<StoredScore> = (0..DATASETS)
            .flat_map(|d| {
                [Mode::Compat, Mode::Strict].map(|mode| StoredScore {
                    task: TaskKind::Ner,
                    dataset: format!("dataset-{d:02}"),
                    mode,
                    split: Split::Test,
                    step: STEPS_PER_RUN,
                    gold_version: 0,
                    counts: Some(Counts {
                        tp: 40 + d,
                        fp: 10,
                        fn_: 12,
                    }),
                    correct: 0,
                    n: 31,
                })
            })
            .collect();
        store.put_scores(id, &rows).unwrap();
    }
    store.flush().unwrap();
    eprintln!("filled in {:.1}s", t.elapsed().as_secs_f64());
}

fn best_of(n: usize, mut f: impl FnMut()) -> Duration {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&root).unwrap();
    let path = root.join("store_1m");
    if !path.join("sled").exists() {
        fill(&path);
    }
    let open = best_of(3, || drop(Store::open(&path).unwrap()));
    let store = Store::open(&path).unwrap();
    assert_eq!(store.runs().unwrap().len() as u64, RUNS);
    let list = best_of(5, || assert_eq!(store.runs().unwrap().len() as u64, RUNS));
    let table = best_of(5, || {
        let rows = store.scores(RUNS / 2).unwrap();
        let table = stored_report(&rows, Split::Test, Mode::Compat, None).unwrap();
        assert_eq!(
            table.report.tasks.values().next().unwrap().datasets.len() as u64,
            DATASETS
        );
    });
    let preds = best_of(3, || {
        assert_eq!(
            store.predictions(RUNS / 2, None).unwrap().len() as u64,
            PREDICTIONS_PER_RUN
        );
    });
    let size = store.size_on_disk().unwrap();
    drop(store);

    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/ie-bench");
    let process = |args: &[&str]| {
        if !bin.exists() {
            return "(build target/release/ie-bench first)".to_string();
        }
        ms(best_of(5, || {
            let out = Command::new(&bin)
                .arg("--db")
                .arg(&path)
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }))
    };
    let half = (RUNS / 2).to_string();
    println!(
        "database: {RUNS} runs, {} predictions, {} metric points, {:.0} MB on disk",
        RUNS * PREDICTIONS_PER_RUN,
        RUNS * STEPS_PER_RUN,
        size as f64 / 1e6
    );
    println!("in-process (best of 5):");
    println!("  open the database        {}", ms(open));
    println!("  list runs                {}", ms(list));
    println!("  one run's score table    {}", ms(table));
    println!("  one run's predictions    {}", ms(preds));
    println!("whole process (best of 5):");
    println!(
        "  ie-bench runs --format json      {}",
        process(&["runs", "--format", "json"])
    );
    println!(
        "  ie-bench runs show {half} --format json  {}",
        process(&["runs", "show", &half, "--format", "json"])
    );
}
