//! The CLI's run and gold commands on a real database: tables in every format, compare's
//! mode, exports, gold checks, and short commands reaching a process that holds the database.

#![allow(clippy::unwrap_used)] // a panic is how a test or bench reports failure

mod common;

use common::{json, ok, with_db};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data")
}

fn predictions() -> PathBuf {
    sample().join("predictions/supervised-test.jsonl")
}

fn run(db: &Path, args: &[&str]) -> Output {
    with_db(db).args(args).output().unwrap()
}

fn stdout(o: Output) -> String {
    String::from_utf8(ok(o).stdout).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `ie-bench gold set ARGS...`.
fn gold_set(db: &Path, args: &[&str]) -> Output {
    let all: Vec<&str> = ["gold", "set"].iter().chain(args).copied().collect();
    run(db, &all)
}

/// A command that failed saying `why`.
fn refused(o: &Output, why: &str) {
    assert!(!o.status.success(), "{}", stderr(o));
    assert!(stderr(o).contains(why), "{}", stderr(o));
}

/// A database holding the sample predictions as run 1 and run 2.
fn two_runs() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    for _ in 0..2 {
        ok(with_db(&db)
            .args(["run", "ingest"])
            .arg(predictions())
            .output()
            .unwrap());
    }
    (tmp, db)
}

#[test]
fn runs_print_in_every_format_and_compare_says_its_mode() {
    let (_tmp, db) = two_runs();
    let md = stdout(run(&db, &["runs", "--format", "md"]));
    assert!(md.contains("| id | kind | status |"), "{md}");
    let csv = stdout(run(&db, &["runs", "--format", "csv"]));
    assert!(csv.starts_with("Task,id,kind,status"), "{csv}");
    let latex = stdout(run(&db, &["runs", "--format", "latex"]));
    assert!(latex.contains("\\begin{tabular}"), "{latex}");
    // The same default mode as the Compare screen, and always printed.
    let cmp = stdout(run(&db, &["runs", "compare", "1", "2"]));
    assert!(cmp.contains("(compat mode)"), "{cmp}");
    // `runs show` in LaTeX is LaTeX throughout: the text around the table is commented.
    let show = stdout(run(&db, &["runs", "show", "1", "--format", "latex"]));
    for line in show.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            line.starts_with('%') || line.starts_with('\\') || line.contains(" & "),
            "{line:?} in\n{show}"
        );
    }
    // Settings: the command that made the run.
    let show = stdout(run(&db, &["runs", "show", "1"]));
    assert!(show.contains("command: ie-bench run ingest"), "{show}");
}

#[test]
fn runs_export_writes_lines_that_score_as_the_original() {
    let (tmp, db) = two_runs();
    let file = tmp.path().join("out.jsonl");
    ok(run(
        &db,
        &["runs", "export", "1", "--out", file.to_str().unwrap()],
    ));
    let score = |f: &Path| {
        json(
            common::ie_bench()
                .arg("eval")
                .arg(f)
                .args(["--errors", "--format", "json"])
                .output()
                .unwrap(),
        )
    };
    let (a, b) = (score(&file), score(&predictions()));
    assert_eq!(a["tasks"], b["tasks"]);
    assert_eq!(a["errors"], b["errors"]);
}

/// With a gold correction in force, the export carries it (as the workbench scores the run),
/// says so, and `--stored-gold` writes the gold as stored.
#[test]
fn runs_export_writes_the_gold_corrections_in_force() {
    let (tmp, db) = two_runs();
    ok(gold_set(
        &db,
        &["NER/Tiny CoNLL", "0", " hero: Serena Williams", "--force"],
    ));
    let gold_of_first = |args: &[&str]| {
        let file = tmp.path().join("out.jsonl");
        let mut all = vec!["runs", "export", "1", "--out", file.to_str().unwrap()];
        all.extend(args);
        let said = stderr(&ok(run(&db, &all)));
        let text = std::fs::read_to_string(&file).unwrap();
        let line = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|l| l["Dataset"] == "Tiny CoNLL" && l["Instance"]["id"] == "0")
            .expect("item 0 exported");
        assert_eq!(line["Instance"]["label"], line["Instance"]["ground_truth"]);
        (
            line["Instance"]["ground_truth"]
                .as_str()
                .unwrap()
                .to_string(),
            said,
        )
    };
    let (gold, said) = gold_of_first(&[]);
    assert_eq!(gold, " hero: Serena Williams");
    assert!(
        said.contains("1 with the gold corrections in force"),
        "{said}"
    );
    let (gold, said) = gold_of_first(&["--stored-gold"]);
    assert_ne!(gold, " hero: Serena Williams");
    assert!(!said.contains("corrections"), "{said}");
}

#[test]
fn gold_set_checks_labels_and_spans_and_reaches_imported_examples() {
    let (_tmp, db) = two_runs();
    let set = |args: &[&str]| gold_set(&db, args);
    refused(
        &set(&["NER/Tiny CoNLL", "0", " hero: Serena Williams"]),
        "its label is not one of the options",
    );
    // The item is quoted as written (not normalised: `location` stays `location`).
    refused(
        &set(&["NER/Tiny CoNLL", "0", " location: Venus Williams"]),
        "\"location: Venus Williams\": its span is not in the sentence",
    );
    refused(
        &set(&["NER/Tiny CoNLL", "0", " Serena Williams"]),
        "not an item of the task's format",
    );
    ok(set(&[
        "NER/Tiny CoNLL",
        "0",
        " hero: Serena Williams",
        "--force",
    ]));
    let undo = run(&db, &["gold", "undo"]);
    assert!(
        stderr(&undo).contains("took back 1 edit NER/Tiny CoNLL #0"),
        "{}",
        stderr(&undo)
    );
    // No run at all: the examples of an imported dataset can be corrected.
    let tmp = tempfile::tempdir().unwrap();
    let fresh = tmp.path().join("db");
    let set = |args: &[&str]| gold_set(&fresh, args);
    refused(
        &set(&["NER/movie-mini", "0", " actor: Denzel Washington"]),
        "no stored run and no imported dataset",
    );
    ok(with_db(&fresh)
        .arg("import")
        .arg(sample().join("IE_INSTRUCTIONS"))
        .output()
        .unwrap());
    refused(
        &set(&["NER/movie-mini", "0", " hero: Denzel Washington"]),
        "its label is not one of the options",
    );
    let o = set(&["NER/movie-mini", "0", " actor: Denzel Washington"]);
    assert!(
        stderr(&o).contains(
            r#"" genre: thrillers; actor: Denzel Washington" -> " actor: Denzel Washington""#
        ),
        "{}",
        stderr(&o)
    );
}

#[test]
fn gold_export_then_import_gives_a_version_that_differs_by_the_edits() {
    let (tmp, db) = two_runs();
    // Imported from a copy that is gone before the export: the records come from the
    // database, not from `--data` (whose default, the sample, is not where they were).
    let data = tmp.path().join("imported");
    common::copy_dir(&sample().join("IE_INSTRUCTIONS"), &data);
    ok(with_db(&db).arg("import").arg(&data).output().unwrap());
    std::fs::remove_dir_all(&data).unwrap();
    ok(gold_set(
        &db,
        &["NER/Tiny CoNLL", "1", " organization: Airbus"],
    ));
    ok(gold_set(
        &db,
        &["NER/movie-mini", "0", " actor: Denzel Washington"],
    ));
    let out = tmp.path().join("corrected");
    let exported = ok(run(
        &db,
        &["gold", "export", "--out", out.to_str().unwrap()],
    ));
    assert!(
        stderr(&exported).contains("(version 1 in the database)"),
        "{}",
        stderr(&exported)
    );
    // Only the changed datasets are written.
    let written: Vec<String> = std::fs::read_dir(out.join("NER"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written.len(), 2, "{written:?}");
    ok(with_db(&db).arg("import").arg(&out).output().unwrap());
    let store = ie_bench::store::Store::open(&db).unwrap();
    for (name, id, expected) in [("NER/Tiny CoNLL", 1usize, 1usize), ("NER/movie-mini", 0, 1)] {
        let v2 = store.dataset(name).unwrap().unwrap();
        assert_eq!(v2.version, 2, "{name}");
        let old = store.examples(name, 1, "test").unwrap();
        let new = store.examples(name, 2, "test").unwrap();
        assert_eq!(old.len(), new.len());
        let changed: Vec<usize> = (0..old.len()).filter(|&i| old[i] != new[i]).collect();
        assert_eq!(changed, [id], "{name}");
        let ie_bench::ie::Gold::Entities(e) = &new[id].gold else {
            panic!()
        };
        assert_eq!(e.len(), expected);
        assert_eq!(old[id].sentence, new[id].sentence);
        // The other splits are the same files.
        assert_eq!(
            store.examples(name, 1, "train").unwrap(),
            store.examples(name, 2, "train").unwrap()
        );
    }
}

#[test]
fn gold_and_import_go_through_the_process_holding_the_database() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    ok(with_db(&db)
        .args(["run", "ingest"])
        .arg(predictions())
        .output()
        .unwrap());
    let release = tmp.path().join("release");
    let child = common::holder(&db, &release);
    let imported = with_db(&db)
        .arg("import")
        .arg(sample().join("IE_INSTRUCTIONS"))
        .output()
        .unwrap();
    let set = gold_set(&db, &["NER/Tiny CoNLL", "1", " organization: Airbus"]);
    let log = run(&db, &["gold", "log", "--format", "json"]);
    common::end_holder(child, &release);
    assert!(imported.status.success(), "{}", stderr(&imported));
    assert!(
        stderr(&imported).contains("new versions"),
        "{}",
        stderr(&imported)
    );
    assert!(set.status.success(), "{}", stderr(&set));
    let log: serde_json::Value = serde_json::from_slice(&ok(log).stdout).unwrap();
    assert_eq!(log.as_array().unwrap().len(), 1, "{log}");
}

#[test]
fn split_values_are_listed_and_checked() {
    let o = common::ie_bench()
        .args(["prompts", "--split", "validation", "--out", "-"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("[possible values: train, dev, test]"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn max_test_caps_the_final_evaluation_of_a_training_run() {
    let (_tmp, db, model) = common::setup();
    ok(with_db(&db)
        .args(["run", "train", "--model"])
        .arg(&model)
        .args(["--max-steps", "2", "--max-test", "1"])
        .output()
        .unwrap());
    let show = common::show(&db, "1");
    let tasks = show["scores"]["tasks"].as_object().unwrap();
    for t in tasks.values() {
        for (name, d) in t["datasets"].as_object().unwrap() {
            assert_eq!(d["n"], 1, "{name}: {show}");
        }
    }
}

#[test]
fn runs_shows_what_a_running_run_is_doing() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let release = tmp.path().join("release");
    // A trainer that logs one loss, then waits.
    let child = common::holder_after(&db, &release, "echo \"{'loss': 1.25, 'epoch': 0.5}\";");
    let start = std::time::Instant::now();
    let progress = loop {
        let runs = json(run(&db, &["runs", "--format", "json"]));
        if let Some(p) = runs[0]["progress"].as_str() {
            break p.to_string();
        }
        assert!(start.elapsed().as_secs() < 60, "{runs}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let table = stdout(run(&db, &["runs"]));
    common::end_holder(child, &release);
    assert!(progress.contains("loss 1.2500"), "{progress}");
    assert!(table.contains(&progress), "{table}");
}

#[test]
fn training_and_prediction_flags_explain_themselves() {
    let help = |args: &[&str]| stdout(common::ie_bench().args(args).output().unwrap());
    let train = help(&["train", "--help"]);
    for text in [
        "Peak learning rate",
        "Learning-rate schedule",
        "Instances per optimiser step",
    ] {
        assert!(train.contains(text), "{text}: {train}");
    }
    let predict = help(&["predict", "--help"]);
    assert!(
        predict.contains("Where to write the predictions"),
        "{predict}"
    );
    assert!(
        predict.contains("[possible values: train, dev, test]"),
        "{predict}"
    );
}

/// Tags and notes: set from the command line, also while another process holds the
/// database (over its socket), listed, filtered on and shown.
#[test]
fn runs_take_tags_and_notes_even_while_the_database_is_held() {
    let (tmp, db) = two_runs();
    ok(run(&db, &["runs", "tag", "1", "baseline", "sweep-a"]));
    let release = tmp.path().join("release");
    let child = common::holder(&db, &release);
    let tagged = run(&db, &["runs", "tag", "2", "sweep-a", "oracle"]);
    let untagged = run(&db, &["runs", "tag", "1", "--remove", "baseline"]);
    let noted = run(
        &db,
        &["runs", "note", "2", "gold as predictions; an upper bound"],
    );
    let refused = run(&db, &["runs", "tag", "2", "two words"]);
    common::end_holder(child, &release);
    for out in [&tagged, &untagged, &noted] {
        ok(out.clone());
    }
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("no spaces"),
        "{}",
        stderr(&refused)
    );
    let listed: serde_json::Value = serde_json::from_str(&stdout(run(
        &db,
        &["runs", "--tag", "sweep-a", "--format", "json"],
    )))
    .unwrap();
    let tags: Vec<&serde_json::Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["tags"])
        .collect();
    assert_eq!(
        tags,
        [
            &serde_json::json!(["sweep-a"]),
            &serde_json::json!(["oracle", "sweep-a"])
        ]
    );
    let only: serde_json::Value = serde_json::from_str(&stdout(run(
        &db,
        &["runs", "--tag", "oracle", "--format", "json"],
    )))
    .unwrap();
    assert_eq!(only.as_array().unwrap().len(), 1);
    let show: serde_json::Value = serde_json::from_str(&stdout(run(
        &db,
        &["runs", "show", "2", "--format", "json"],
    )))
    .unwrap();
    assert_eq!(show["note"], "gold as predictions; an upper bound");
    assert!(stdout(run(&db, &["runs", "show", "2"])).contains("note: gold as predictions"));
    ok(run(&db, &["runs", "note", "2", "--clear"]));
    let show: serde_json::Value = serde_json::from_str(&stdout(run(
        &db,
        &["runs", "show", "2", "--format", "json"],
    )))
    .unwrap();
    assert_eq!(show["note"], serde_json::Value::Null);
}

/// `runs --wide` shows each run's settings, `--sort` orders on them (runs without the setting
/// last), and the JSON list carries them.
#[test]
fn the_run_list_shows_and_sorts_by_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let model = tmp.path().join("m");
    ok(run(
        &db,
        &[
            "model",
            "init",
            "--shape",
            "tiny",
            "--out",
            model.to_str().unwrap(),
        ],
    ));
    for (lr, steps) in [("3e-3", "2"), ("1e-3", "3")] {
        ok(run(
            &db,
            &[
                "run",
                "train",
                "--model",
                model.to_str().unwrap(),
                "--max-steps",
                steps,
                "--lr",
                lr,
                "--save-every",
                steps,
            ],
        ));
    }
    ok(with_db(&db)
        .args(["run", "ingest"])
        .arg(predictions())
        .output()
        .unwrap());
    let ids = |args: &[&str]| -> Vec<(u64, serde_json::Value)> {
        let v: serde_json::Value = serde_json::from_str(&stdout(run(&db, args))).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| (r["id"].as_u64().unwrap(), r["settings"]["lr"].clone()))
            .collect()
    };
    assert_eq!(
        ids(&["runs", "--sort", "lr", "--format", "json"]),
        [
            (2, serde_json::json!(0.001)),
            (1, serde_json::json!(0.003)),
            (3, serde_json::Value::Null)
        ]
    );
    let by_steps: Vec<u64> = ids(&["runs", "--sort", "steps", "--format", "json"])
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(by_steps, [1, 2, 3]);
    let wide = stdout(run(&db, &["runs", "--wide", "--sort", "lr"]));
    let header = wide.lines().nth(1).unwrap();
    for col in ["config", "lr", "steps", "batch", "seed", "note"] {
        assert!(header.contains(col), "{col} in {header}");
    }
    let first = wide.lines().nth(3).unwrap();
    assert!(first.starts_with('2') && first.contains("0.001"), "{wide}");
    // The Runs screen's filter query: every term must match.
    let only = |q: &str| -> Vec<u64> {
        ids(&["runs", "--filter", q, "--format", "json"])
            .into_iter()
            .map(|r| r.0)
            .collect()
    };
    assert_eq!(only("kind=train"), [1, 2]);
    assert_eq!(only("kind=train lr=0.003"), [1]);
    assert_eq!(only("ingest"), [3]);
    assert_eq!(only("#nothing"), Vec::<u64>::new());
    // The overlaid loss curves as numbers: each run's points, the EMA starting at the loss.
    let curves = json(
        with_db(&db)
            .args(["runs", "loss", "1", "2", "--format", "json"])
            .output()
            .unwrap(),
    );
    let points = |id: &str| curves["runs"][id].as_array().unwrap().clone();
    assert_eq!((points("1").len(), points("2").len()), (2, 3), "{curves}");
    let first = &points("2")[0];
    assert_eq!(first["loss"], first["ema"]);
    let csv = stdout(run(&db, &["runs", "loss", "1", "2", "--format", "csv"]));
    assert!(
        csv.contains("run 1 loss") && csv.contains("run 2 EMA"),
        "{csv}"
    );
    // Step 3 exists for run 2 only: run 1's cells are empty there.
    let row: Vec<&str> = csv
        .lines()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|cells| cells.get(1) == Some(&"3"))
        .unwrap_or_else(|| panic!("{csv}"));
    assert_eq!((row[2], row[3]), ("", ""), "{row:?}");
    assert!(!row[4].is_empty(), "{row:?}");
    refused(&run(&db, &["runs", "loss", "9"]), "no run with id 9");
}

/// A template A/B from the command line: `run eval --sample N` twice, once per bank, sees the
/// same instances (so `runs compare` pairs every one), and `--task` keeps one task's.
#[test]
fn eval_runs_with_sample_see_the_same_instances_whatever_the_bank() {
    let (tmp, db, model) = common::setup();
    let saved = sample().join("configs/instruction_config.json");
    let mut bank: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    bank["NER"][0]["instruction"] = "List every entity with its type. ".into();
    let edited = tmp.path().join("edited.json");
    std::fs::write(&edited, bank.to_string()).unwrap();
    for b in [&saved, &edited] {
        ok(with_db(&db)
            .args(["run", "eval", "--model"])
            .arg(&model)
            .arg("--instructions")
            .arg(b)
            .args(["--split", "dev", "--sample", "5", "--task", "NER"])
            .output()
            .unwrap());
    }
    let compared = json(
        with_db(&db)
            .args(["runs", "compare", "1", "2", "--format", "json"])
            .output()
            .unwrap(),
    );
    let rows = compared["datasets"]
        .as_object()
        .unwrap_or_else(|| panic!("{compared}"));
    let mut n = 0;
    for (dataset, r) in rows {
        assert!(dataset.starts_with("NER/"), "{dataset}");
        assert_eq!(r["unmatched"], 0, "{r}");
        n += r["difference"]["n"].as_u64().unwrap();
    }
    assert_eq!(n, 5, "{compared}");
    // The command that repeats each run names its sample and task.
    let show = common::show(&db, "2");
    let command = show["command"].as_str().unwrap_or_else(|| panic!("{show}"));
    assert!(command.contains("--sample 5 --task NER"), "{command}");
    // A task with no instances in the split is refused, naming it.
    let o = run(
        &db,
        &[
            "run",
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--config",
            "ner-demo",
            "--task",
            "EE",
        ],
    );
    refused(&o, "the test split of config ner-demo is empty for task EE");
}

/// `runs compare A B C`: scores side by side and each run's flips against A.
#[test]
fn runs_compare_sets_several_runs_side_by_side() {
    let (_tmp, db) = two_runs();
    ok(with_db(&db)
        .args(["run", "ingest"])
        .arg(predictions())
        .output()
        .unwrap());
    let v = json(
        with_db(&db)
            .args(["runs", "compare", "1", "2", "3", "--format", "json"])
            .output()
            .unwrap(),
    );
    assert_eq!(v["baseline"], 1);
    let datasets = v["datasets"].as_object().unwrap();
    assert!(!datasets.is_empty());
    for (name, d) in datasets {
        // The same predictions three times: equal scores, all best, nothing flips.
        let scores = d["scores"].as_object().unwrap();
        assert_eq!(scores.len(), 3, "{name}: {d}");
        assert_eq!(d["best"].as_array().unwrap().len(), 3, "{name}: {d}");
        assert!(
            d["flips"]["1"].is_null(),
            "the baseline against itself: {d}"
        );
        for run in ["2", "3"] {
            assert_eq!(d["flips"][run]["fixed"], 0, "{d}");
            assert_eq!(d["flips"][run]["broken"], 0, "{d}");
            assert_eq!(d["difference"][run]["delta"], 0.0, "{d}");
            assert_eq!(d["difference"][run]["p"], 1.0, "{d}");
        }
    }
    let table = stdout(run(&db, &["runs", "compare", "1", "2", "3"]));
    assert!(table.contains("3 vs 1 (+fixed -broken)"), "{table}");
    assert!(table.contains("3 - 1 (95% CI)"), "{table}");
    assert!(table.contains("+0.00 [+0.00, +0.00] n.s."), "{table}");
    refused(
        &run(&db, &["runs", "compare", "1", "2", "1"]),
        "run 1 is named twice",
    );
}

/// `gold item`: the item editor's edits from the command line, checked like `gold set`.
#[test]
fn gold_item_adds_deletes_relabels_and_respans_one_item() {
    let (_tmp, db) = two_runs();
    let item = |args: &[&str]| {
        let all: Vec<&str> = ["gold", "item"].iter().chain(args).copied().collect();
        run(&db, &all)
    };
    let gold_of = |db: &Path| -> String {
        let log = json(
            with_db(db)
                .args(["gold", "log", "--format", "json"])
                .output()
                .unwrap(),
        );
        log.as_array().unwrap().last().unwrap()["after"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    ok(item(&[
        "RE/conll04-mini",
        "0",
        "--relabel",
        "2",
        "located in",
    ]));
    assert_eq!(
        gold_of(&db),
        " work for: Ruth Park, BBC; located in: BBC, London"
    );
    ok(item(&[
        "RE/conll04-mini",
        "0",
        "--respan",
        "1",
        "Ruth Park, the BBC",
    ]));
    assert_eq!(
        gold_of(&db),
        " work for: Ruth Park, the BBC; located in: BBC, London"
    );
    ok(item(&["RE/conll04-mini", "0", "--delete", "2"]));
    assert_eq!(gold_of(&db), " work for: Ruth Park, the BBC");
    ok(item(&[
        "RE/conll04-mini",
        "0",
        "--add",
        "live in: Ruth Park, London",
    ]));
    assert_eq!(
        gold_of(&db),
        " work for: Ruth Park, the BBC; live in: Ruth Park, London"
    );
    // Refusals name what is wrong and store nothing.
    refused(
        &item(&["RE/conll04-mini", "0", "--delete", "5"]),
        "there is no item 5",
    );
    refused(
        &item(&["RE/conll04-mini", "0", "--add", "live in: Ruth Park"]),
        "is not one RE item",
    );
    refused(
        &item(&["RE/conll04-mini", "0", "--relabel", "1", "born in"]),
        "its label is not one of the options",
    );
    refused(
        &item(&["NER/Tiny CoNLL", "0", "--respan", "1", "Venus Williams"]),
        "its span is not in the sentence",
    );
    refused(&item(&["NER/Tiny CoNLL", "0"]), "required");
    let log = json(
        with_db(&db)
            .args(["gold", "log", "--format", "json"])
            .output()
            .unwrap(),
    );
    assert_eq!(log.as_array().unwrap().len(), 4);
}

/// Event corrections go back to the EE files EET and EEA share: an EEA edit (an argument
/// removed) and an EET edit (an event added) of one dataset land in the same record, and the
/// import gives a version that differs by exactly that record.
#[test]
fn event_corrections_export_into_the_shared_ee_records() {
    let (tmp, db) = two_runs();
    let data = sample().join("IE_INSTRUCTIONS");
    ok(with_db(&db).arg("import").arg(&data).output().unwrap());
    ok(run(
        &db,
        &["gold", "item", "EEA/ace-mini", "0", "--delete", "3"],
    ));
    ok(run(
        &db,
        &[
            "gold",
            "item",
            "EET/ace-mini",
            "0",
            "--add",
            "transport: bridge",
        ],
    ));
    let out = tmp.path().join("corrected");
    let said = run(&db, &["gold", "export", "--out", out.to_str().unwrap()]);
    assert!(
        stderr(&said).contains("EE/ace-mini: 2 corrected records"),
        "{}",
        stderr(&said)
    );
    ok(said);
    let written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written, ["EE"], "only the EE directory");
    ok(with_db(&db).arg("import").arg(&out).output().unwrap());
    let store = ie_bench::store::Store::open(&db).unwrap();
    let name = "EE/ace-mini";
    assert_eq!(store.dataset(name).unwrap().unwrap().version, 2);
    let old = store.examples(name, 1, "test").unwrap();
    let new = store.examples(name, 2, "test").unwrap();
    let changed: Vec<usize> = (0..old.len()).filter(|&i| old[i] != new[i]).collect();
    assert_eq!(changed, [0]);
    let ie_bench::ie::Gold::Events(events) = &new[0].gold else {
        panic!()
    };
    assert_eq!(events.len(), 2);
    // The attack keeps its trigger and its two remaining arguments; the new event has none.
    assert_eq!(events[0].trigger, "bombed");
    let roles: Vec<&str> = events[0]
        .arguments
        .iter()
        .map(|a| a.role.as_str())
        .collect();
    assert_eq!(roles, ["attacker", "target"]);
    assert_eq!(
        (events[1].kind.as_str(), events[1].pos.clone()),
        ("transport", vec![19, 25])
    );
}

/// `runs show --by-label`: a stored run's per-label table equals `eval --by-label` on the
/// same predictions; after a gold correction it, and `runs compare`, judge against the gold
/// in force, read the same way from a process that holds the database.
#[test]
fn runs_show_by_label_and_compare_follow_gold_corrections() {
    let (tmp, db) = two_runs();
    let shown = |db: &Path| {
        json(run(
            db,
            &[
                "runs",
                "show",
                "1",
                "--by-label",
                "--mode",
                "strict",
                "--format",
                "json",
            ],
        ))["by_label"]
            .clone()
    };
    let file = common::json(
        common::ie_bench()
            .arg("eval")
            .arg(predictions())
            .args(["--by-label", "--mode", "strict", "--format", "json"])
            .output()
            .unwrap(),
    );
    let compared = |db: &Path| {
        json(run(db, &["runs", "compare", "1", "2", "--format", "json"]))["datasets"]
            ["NER/Tiny CoNLL"]["difference"]["a"]
            .as_f64()
            .unwrap()
    };
    let score_before = compared(&db);
    let before = shown(&db);
    assert_eq!(before, file["by_label"]);
    let organization =
        |v: &serde_json::Value| v["NER/Tiny CoNLL"]["organization"]["support"].clone();
    assert_eq!(organization(&before), 3);
    // Airbus stays an organization, Lufthansa is dropped: one organization less in the gold.
    ok(gold_set(
        &db,
        &["NER/Tiny CoNLL", "1", " organization: Airbus"],
    ));
    assert_eq!(organization(&shown(&db)), 2);
    let release = tmp.path().join("release");
    let child = common::holder(&db, &release);
    let held = shown(&db);
    let score_held = compared(&db);
    common::end_holder(child, &release);
    assert_eq!(organization(&held), 2);
    // Against the corrected gold, example 1's answer (`organization: Airbus; location:
    // Lufthansa`) misses nothing: the run's score moves.
    let score_after = compared(&db);
    assert!(score_after != score_before, "{score_before} {score_after}");
    assert_eq!(score_held, score_after);
    // The text table carries it too.
    let text = stdout(run(&db, &["runs", "show", "1", "--by-label"]));
    assert!(
        text.contains("NER/Tiny CoNLL by label (compat mode)"),
        "{text}"
    );
}
