//! Stored runs through the real binary and a real sled database: a training run killed with
//! SIGKILL and resumed holds every metric step once and a complete score table.

#![allow(clippy::unwrap_used)] // a panic is how a test or bench reports failure

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod common;
use common::{json, ok, setup, show, tiny_model, with_db as bin};

/// The hand-written official-format predictions for the sample test split.
fn sample_predictions() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("sample-data/predictions/supervised-test.jsonl")
}

/// `ie-bench runs --format json`, which must succeed.
fn list(db: &Path) -> serde_json::Value {
    json(bin(db).args(["runs", "--format", "json"]).output().unwrap())
}

/// `run train` of the tiny model at learning rate 3e-3, with `settings` added.
fn train(db: &Path, model: &Path, settings: &[&str]) -> Command {
    let mut c = bin(db);
    c.args(["run", "train", "--lr", "3e-3", "--model"])
        .arg(model)
        .args(settings);
    c
}

#[test]
fn a_killed_training_run_resumes_with_each_step_stored_once() {
    let (_tmp, db, model) = setup();
    let mut child = train(
        &db,
        &model,
        &[
            "--batch-size",
            "16",
            "--max-steps",
            "60",
            "--save-every",
            "10",
        ],
    )
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !db.join("runs/1/checkpoint-20").exists() {
        assert!(Instant::now() < deadline, "no checkpoint-20 appeared");
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let runs = list(&db);
    assert_eq!(runs[0]["id"], 1);
    assert_eq!(runs[0]["kind"], "train");
    assert_eq!(runs[0]["status"], "interrupted");

    ok(bin(&db).args(["runs", "resume", "1"]).output().unwrap());
    let show = show(&db, "1");
    assert_eq!(show["status"], "finished");
    let steps: Vec<u64> = show["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, (1..=60).collect::<Vec<u64>>());
    assert_eq!(show["checkpoint"]["step"], 60);
    assert!(show["metrics"][59]["loss"].as_f64().unwrap().is_finite());

    // Every (task, dataset) of the test split has a row.
    let prompts = ok(bin(&db)
        .args(["prompts", "--split", "test", "--out", "-"])
        .output()
        .unwrap());
    let want: BTreeSet<(String, String)> = String::from_utf8(prompts.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["Task"].as_str().unwrap().to_string(),
                v["Dataset"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut got = BTreeSet::new();
    for (task, t) in show["scores"]["tasks"].as_object().unwrap() {
        for (name, d) in t["datasets"].as_object().unwrap() {
            assert!(d["n"].as_u64().unwrap() > 0);
            got.insert((task.clone(), name.clone()));
        }
    }
    assert_eq!(got, want);
}

/// While one process trains (and holds the database), another reads the run again and again
/// through it: every answer is whole, steps are contiguous from 1, and none disappears.
#[test]
fn a_reader_process_sees_whole_records_while_a_job_writes() {
    let (tmp, db, model) = setup();
    let mut writer = train(
        &db,
        &model,
        &[
            "--batch-size",
            "4",
            "--max-steps",
            "150",
            "--save-every",
            "75",
        ],
    )
    .stderr(std::fs::File::create(tmp.path().join("writer.log")).unwrap())
    .spawn()
    .unwrap();
    let mut seen = 0usize;
    let mut mid_run_reads = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let done = writer.try_wait().unwrap().is_some();
        let out = bin(&db)
            .args(["runs", "show", "1", "--format", "json"])
            .output()
            .unwrap();
        if out.status.success() {
            let show: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                panic!(
                    "torn answer ({e}): {}",
                    String::from_utf8_lossy(&out.stdout)
                )
            });
            let steps: Vec<u64> = show["metrics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["step"].as_u64().unwrap())
                .collect();
            assert_eq!(steps, (1..=steps.len() as u64).collect::<Vec<_>>());
            assert!(
                steps.len() >= seen,
                "steps went from {seen} to {}",
                steps.len()
            );
            seen = steps.len();
            if (1..150).contains(&seen) && show["status"] == "running" {
                mid_run_reads += 1;
            }
        } else {
            // Only before the run exists (the writer has not created it yet).
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                seen == 0 && err.contains("no run with id 1"),
                "after {seen} steps: {err}"
            );
        }
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "the writer did not finish");
    }
    assert!(
        writer.wait().unwrap().success(),
        "{}",
        std::fs::read_to_string(tmp.path().join("writer.log")).unwrap()
    );
    assert_eq!(seen, 150);
    assert!(
        mid_run_reads >= 3,
        "only {mid_run_reads} reads while the job ran"
    );
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn have_python() -> bool {
    let found = Command::new("python3").arg("--version").output().is_ok();
    if !found {
        eprintln!("SKIPPED: python3 not found; the external-trainer tests need it");
    }
    found
}

/// A real subprocess prints Trainer log lines and writes a predictions file: the store ends
/// with its metrics and the same scores `ie-bench eval` gives for that file.
#[test]
fn an_external_trainer_run_ends_with_metrics_and_scores() {
    if !have_python() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let preds = tmp.path().join("predict_eval_predictions.jsonl");
    let sample = sample_predictions();
    ok(bin(&db)
        .args(["run", "external", "--predictions"])
        .arg(&preds)
        .arg("--")
        .arg("python3")
        .arg(fixture("fake_trainer.py"))
        .arg(&preds)
        .arg(&sample)
        .output()
        .unwrap());
    let show = show(&db, "1");
    assert_eq!(show["status"], "finished");
    assert_eq!(show["kind"], "external");
    let losses: Vec<(u64, f64)> = show["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["step"].as_u64().unwrap(), m["loss"].as_f64().unwrap()))
        .collect();
    assert_eq!(
        losses,
        [(1, 2.0), (2, 1.0), (3, 0.6667), (4, 0.5), (5, 0.4)]
    );
    let direct = json(
        bin(&db)
            .args(["eval", "--format", "json"])
            .arg(&sample)
            .output()
            .unwrap(),
    );
    assert_eq!(show["scores"], direct);

    // The same file ingested as a second run: nothing fixed or broken between the two.
    ok(bin(&db)
        .args(["run", "ingest"])
        .arg(&sample)
        .output()
        .unwrap());
    let cmp = json(
        bin(&db)
            .args(["runs", "compare", "1", "2", "--format", "json"])
            .output()
            .unwrap(),
    );
    let lines = std::fs::read_to_string(&sample).unwrap().lines().count() as u64;
    let mut total = 0;
    for (_, f) in cmp["datasets"].as_object().unwrap() {
        assert_eq!(
            (f["fixed"].as_u64(), f["broken"].as_u64()),
            (Some(0), Some(0))
        );
        assert_eq!(f["unmatched"], 0);
        // Identical answers: no difference, an interval of 0, p = 1.
        let d = &f["difference"];
        assert_eq!(
            (
                &d["delta"],
                &d["low"],
                &d["high"],
                &d["p"],
                &d["significant"]
            ),
            (
                &serde_json::json!(0.0),
                &serde_json::json!(0.0),
                &serde_json::json!(0.0),
                &serde_json::json!(1.0),
                &serde_json::json!(false)
            ),
            "{f}"
        );
        total += f["both_right"].as_u64().unwrap() + f["both_wrong"].as_u64().unwrap();
    }
    assert_eq!(total, lines);
    assert_eq!(cmp["bootstrap"]["resamples"], 1000);
}

/// Cancelling an external run stops the trainer and the processes it started.
#[test]
fn cancelling_an_external_run_kills_its_children() {
    if !have_python() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let pid_file = tmp.path().join("child.pid");
    let mut runner = bin(&db)
        .args(["run", "external", "--predictions", "/nonexistent", "--"])
        .arg("python3")
        .arg(fixture("fake_trainer.py"))
        .args(["/nonexistent", "/nonexistent", "--hang"])
        .arg(&pid_file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(&pid_file).map_or(true, |s| s.is_empty()) {
        assert!(
            Instant::now() < deadline,
            "the trainer did not start its child"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let child: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let alive = |pid: u32| {
        // A zombie (state Z) has exited; only its parent has not reaped it yet.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.split_whitespace().nth(2).is_none_or(|state| state != "Z"))
    };
    assert!(alive(child));
    ok(bin(&db).args(["runs", "cancel", "1"]).output().unwrap());
    assert!(runner.wait().unwrap().success());
    while alive(child) {
        assert!(
            Instant::now() < deadline,
            "the trainer's child survived the cancel"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let show = show(&db, "1");
    assert_eq!(show["status"], "cancelled");
    assert_eq!(show["metrics"].as_array().unwrap().len(), 5);
}

/// Bad input to the run commands: one clear message, exit 1, no panic, nothing written.
#[test]
fn bad_input_to_run_commands_fails_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let fails_with = |cmd: &mut Command, want: &str| {
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains(want), "{want:?} not in: {err}");
    };
    fails_with(bin(&db).args(["runs", "show", "7"]), "no run with id 7");
    fails_with(bin(&db).args(["runs", "resume", "7"]), "no run with id 7");
    fails_with(bin(&db).args(["runs", "cancel", "7"]), "no run with id 7");

    let corrupt = tmp.path().join("corrupt.jsonl");
    std::fs::write(&corrupt, "{\"Task\": \"NER\", \"Dataset\": \"x\", \"Instance\": {\"id\": \"0\", \"ground_truth\": \"None\"}, \"Prediction\": 3}\n{oops\n").unwrap();
    fails_with(
        bin(&db).args(["run", "ingest"]).arg(&corrupt),
        "corrupt.jsonl",
    );
    // A path that is not UTF-8 cannot be stored as the run's spec: refused before the run.
    {
        use std::os::unix::ffi::OsStrExt;
        fails_with(
            bin(&db)
                .args(["run", "train", "--model", "m", "--data"])
                .arg(std::ffi::OsStr::from_bytes(b"data-\xff")),
            "the run's settings cannot be stored",
        );
    }
    // Nothing was recorded for the bad inputs.
    let runs = list(&db);
    assert_eq!(runs, serde_json::json!([]));

    let file = tmp.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    fails_with(
        Command::new(env!("CARGO_BIN_EXE_ie-bench"))
            .arg("--db")
            .arg(file.join("db"))
            .arg("runs"),
        "a-file/db",
    );

    // A database written by a newer ie-bench is refused, not misread.
    let newer = tmp.path().join("newer");
    {
        let sled_db = sled::open(newer.join("sled")).unwrap();
        sled_db
            .open_tree("meta")
            .unwrap()
            .insert("schema_version", &99u32.to_be_bytes())
            .unwrap();
        sled_db.flush().unwrap();
    }
    fails_with(
        bin(&newer).arg("runs"),
        "has schema version 99, newer than this ie-bench understands (2)",
    );

    // An instruction bank that does not parse fails the run with its file, entry and field,
    // and is not stored as a version of the bank.
    let banked = tmp.path().join("banked");
    let bank = tmp.path().join("edited.json");
    std::fs::write(
        &bank,
        r#"{"NER": [{"instruction_type": "NER", "instruction": "Find them."}]}"#,
    )
    .unwrap();
    fails_with(
        bin(&banked)
            .args(["run", "eval", "--model", "nowhere", "--instructions"])
            .arg(&bank),
        "edited.json: NER[0]: invalid instruction_type \"NER\"",
    );
    let store = ie_bench::store::Store::open(&banked).unwrap();
    assert!(store.templates().unwrap().is_empty());
}

/// A gold correction re-scores a stored run with both tables kept; undo and redo survive
/// restarts of the process (every command here is a new one).
#[test]
fn gold_corrections_rescore_runs_and_undo() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let sample = sample_predictions();
    ok(bin(&db)
        .args(["run", "ingest"])
        .arg(&sample)
        .output()
        .unwrap());
    let show_strict = |db: &Path| {
        json(
            bin(db)
                .args(["runs", "show", "1", "--format", "json", "--mode", "strict"])
                .output()
                .unwrap(),
        )
    };
    let conll = |v: &serde_json::Value| v["tasks"]["NER"]["datasets"]["Tiny CoNLL"].clone();
    let before = show_strict(&db);
    assert_eq!(before["gold_version"], 0);

    // Make the gold of a wrongly answered example equal its prediction: one more right answer.
    let line = std::fs::read_to_string(&sample)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| {
            v["Dataset"] == "Tiny CoNLL"
                && ie_bench::eval::compare::is_right(
                    &ie_bench::eval::compare::Answer {
                        task: ie_bench::ie::TaskKind::Ner,
                        dataset: "Tiny CoNLL",
                        id: "",
                        ground_truth: v["Instance"]["ground_truth"].as_str().unwrap(),
                        prediction: v["Prediction"].as_str().unwrap(),
                    },
                    ie_bench::eval::Mode::Strict,
                ) == Some(false)
        })
        .unwrap();
    let prediction = line["Prediction"].as_str().unwrap();
    let id = line["Instance"]["id"].as_str().unwrap();
    ok(bin(&db)
        .args(["gold", "set", "NER/Tiny CoNLL", id, prediction])
        .output()
        .unwrap());
    ok(bin(&db).args(["runs", "rescore", "1"]).output().unwrap());
    let after = show_strict(&db);
    assert_eq!(after["gold_version"], 1);
    assert_eq!(
        conll(&after["scores_original_gold"]),
        conll(&before["scores"])
    );
    assert!(
        conll(&after["scores"])["score"].as_f64().unwrap()
            > conll(&before["scores"])["score"].as_f64().unwrap()
    );
    // Other datasets are untouched.
    assert_eq!(
        after["scores"]["tasks"]["RE"],
        before["scores"]["tasks"]["RE"]
    );

    ok(bin(&db).args(["gold", "undo"]).output().unwrap());
    ok(bin(&db).args(["runs", "rescore", "1"]).output().unwrap());
    assert_eq!(conll(&show_strict(&db)["scores"]), conll(&before["scores"]));
    ok(bin(&db).args(["gold", "redo"]).output().unwrap());
    ok(bin(&db).args(["runs", "rescore", "1"]).output().unwrap());
    let redone = show_strict(&db);
    assert_eq!(redone["gold_version"], 3);
    assert_eq!(conll(&redone["scores"]), conll(&after["scores"]));
    let log = json(
        bin(&db)
            .args(["gold", "log", "--format", "json"])
            .output()
            .unwrap(),
    );
    let events: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["edit", "undo", "redo"]);
}

/// Importing is idempotent; a changed file makes a new version of its dataset only, and a run
/// made before keeps pointing at the version it used.
#[test]
fn import_versions_changed_datasets_only() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let data = tmp.path().join("copy");
    common::copy_dir(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-data"),
        &data,
    );
    let root = data.join("IE_INSTRUCTIONS");
    let import = || {
        let out = ok(bin(&db).arg("import").arg(&root).output().unwrap());
        String::from_utf8(out.stderr).unwrap()
    };
    let first = import();
    assert!(first.contains("NER/Tiny CoNLL: version 1"), "{first}");
    assert!(first.contains("config supervised: version 1"), "{first}");
    let again = import();
    assert!(again.contains(": 0 new versions"), "{again}");

    // A run over the sample predictions records the versions it used.
    let preds = data.join("predictions/supervised-test.jsonl");
    ok(bin(&db)
        .args(["run", "ingest"])
        .arg(&preds)
        .output()
        .unwrap());
    let used = |db: &Path| show(db, "1")["datasets"].clone();
    let before = used(&db);
    assert!(before
        .as_array()
        .unwrap()
        .contains(&serde_json::json!({"name": "NER/Tiny CoNLL", "version": 1})));

    // Change one test record of one dataset.
    let test = root.join("NER/Tiny CoNLL/test.json");
    let text = std::fs::read_to_string(&test).unwrap();
    std::fs::write(&test, text.replacen("Melbourne", "Sydney", 1)).unwrap();
    let third = import();
    assert!(third.contains("NER/Tiny CoNLL: version 2"), "{third}");
    assert!(third.contains(": 1 new version, 12 unchanged"), "{third}");
    assert_eq!(used(&db), before);
}

/// `run eval` scores every test dataset of the config; `run zero-shot` only the held-out ones.
#[test]
fn eval_and_zero_shot_runs_store_their_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let model = tmp.path().join("m");
    tiny_model(&model);
    let datasets = |id: &str| -> BTreeSet<String> {
        let show = show(&db, id);
        assert_eq!(show["status"], "finished");
        show["scores"]["tasks"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(task, t)| {
                t["datasets"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(move |d| format!("{task}/{d}"))
            })
            .collect()
    };
    ok(bin(&db)
        .args(["run", "eval", "--model"])
        .arg(&model)
        .output()
        .unwrap());
    assert!(datasets("1").len() >= 7);
    ok(bin(&db)
        .args(["run", "zero-shot", "--model"])
        .arg(&model)
        .output()
        .unwrap());
    assert_eq!(
        datasets("2"),
        BTreeSet::from(["NER/movie-mini".to_string(), "RE/conll04-mini".to_string()])
    );
    let runs = list(&db);
    assert_eq!(runs[0]["kind"], "eval");
    assert_eq!(runs[1]["kind"], "zero-shot");
}

/// Runs started from other shells while one runs are queued in the process that holds the
/// database, run after it, and can be cancelled while they wait.
#[test]
fn runs_started_elsewhere_queue_behind_the_running_one() {
    let (_tmp, db, model) = setup();
    let mut holder = train(&db, &model, &["--batch-size", "4", "--max-steps", "150"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !db.join("ie-bench.sock").exists() {
        assert!(
            Instant::now() < deadline,
            "the holder did not start serving"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let sample = sample_predictions();
    let id = |out: Output| {
        String::from_utf8(ok(out).stdout)
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(
        id(bin(&db)
            .args(["run", "ingest"])
            .arg(&sample)
            .output()
            .unwrap()),
        "2"
    );
    let third = bin(&db)
        .args(["run", "eval", "--model"])
        .arg(&model)
        .output()
        .unwrap();
    assert_eq!(id(third), "3");
    let listed = list(&db);
    // The training may still be loading its model (queued) or already stepping (running).
    assert!(
        ["queued", "running"].contains(&listed[0]["status"].as_str().unwrap()),
        "{listed}"
    );
    assert_eq!(listed[2]["status"], "queued");
    ok(bin(&db).args(["runs", "cancel", "3"]).output().unwrap());
    assert!(holder.wait().unwrap().success());
    let statuses: Vec<String> = list(&db)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, ["finished", "finished", "cancelled"]);
}

/// `--detach` returns at once with the run id; the run finishes in the background, in its own
/// process, with its log beside its checkpoints.
#[test]
fn a_detached_run_finishes_in_the_background() {
    let (_tmp, db, model) = setup();
    let out = ok(train(&db, &model, &["--max-steps", "30", "--detach"])
        .output()
        .unwrap());
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "1");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let show = show(&db, "1");
        if show["status"] == "finished" {
            assert_eq!(show["metrics"].as_array().unwrap().len(), 30);
            break;
        }
        assert!(
            !["failed", "cancelled", "interrupted"].contains(&show["status"].as_str().unwrap()),
            "{show}"
        );
        assert!(Instant::now() < deadline, "the detached run did not finish");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The background process writes its last line after the run's status.
    let log = db.join("runs/1/job.log");
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("run 1: finished")
    {
        assert!(Instant::now() < deadline, "no end in the run's log");
        std::thread::sleep(Duration::from_millis(50));
    }
}
