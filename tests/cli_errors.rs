//! Malformed input through the real binary: one clear error naming the file (and line or
//! record), a non-zero exit, and never a panic.

#![allow(clippy::unwrap_used)] // a panic is how a test or bench reports failure

use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str], extra: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ie-bench"))
        .args(args)
        .args(extra)
        .output()
        .unwrap()
}

fn assert_clean_failure(out: &Output, wants: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected failure, got success: {stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for w in wants {
        assert!(stderr.contains(w), "stderr lacks {w:?}:\n{stderr}");
    }
}

/// A one-dataset NER tree whose test split is `content`.
fn tree(content: &[u8], labels: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("NER").join("My Set");
    std::fs::create_dir_all(&ds).unwrap();
    std::fs::write(ds.join("test.json"), content).unwrap();
    if let Some(l) = labels {
        std::fs::write(ds.join("labels.json"), l).unwrap();
    }
    dir
}

fn datasets(dir: &Path) -> Output {
    run(&["datasets", "--data"], &[dir])
}

#[test]
fn truncated_json_names_file_line_and_column() {
    let d = tree(b"[{\"sentence\": \"a\",\n \"entities\": [", Some("[\"x\"]"));
    assert_clean_failure(
        &datasets(d.path()),
        &["My Set/test.json:2:", "invalid JSON"],
    );
}

#[test]
fn wrong_field_type_names_record_and_field() {
    let d = tree(
        br#"[{"sentence": "a", "entities": []}, {"sentence": 7, "entities": []}]"#,
        Some("[\"x\"]"),
    );
    assert_clean_failure(
        &datasets(d.path()),
        &["My Set/test.json: record 1: field `sentence`: expected a string, found a number"],
    );
}

#[test]
fn dataset_without_labels_is_named() {
    let d = tree(br#"[{"sentence": "a", "entities": []}]"#, None);
    assert_clean_failure(
        &datasets(d.path()),
        &["My Set: dataset directory has no labels.json"],
    );
}

#[test]
fn zero_byte_file_is_named() {
    let d = tree(b"", Some("[\"x\"]"));
    assert_clean_failure(
        &datasets(d.path()),
        &["My Set/test.json: file is empty (0 bytes)"],
    );
}

#[test]
fn non_utf8_bytes_are_located() {
    let d = tree(
        b"[{\"sentence\": \"\xff\", \"entities\": []}]",
        Some("[\"x\"]"),
    );
    assert_clean_failure(
        &datasets(d.path()),
        &["My Set/test.json: not valid UTF-8 (first bad byte at offset 15, line 1)"],
    );
}

#[test]
fn bad_labels_file_is_named() {
    let d = tree(
        br#"[{"sentence": "a", "entities": []}]"#,
        Some("{\"a\": 3}"),
    );
    assert_clean_failure(
        &datasets(d.path()),
        &["My Set/labels.json: roles of event type \"a\" must be an array"],
    );
}

#[test]
fn the_rest_of_the_tree_is_still_listed() {
    let d = tree(b"", Some("[\"x\"]"));
    let ok = d.path().join("NER").join("fine");
    std::fs::create_dir_all(&ok).unwrap();
    std::fs::write(
        ok.join("test.json"),
        br#"[{"sentence": "a", "entities": []}]"#,
    )
    .unwrap();
    std::fs::write(ok.join("labels.json"), "[\"x\"]").unwrap();
    let out = datasets(d.path());
    assert_clean_failure(&out, &["1 of 2 datasets could not be read"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("fine"));
}

#[test]
fn predictions_line_missing_a_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("preds.jsonl");
    std::fs::write(
        &p,
        concat!(
            r#"{"Task": "NER", "Dataset": "d", "Instance": {"ground_truth": " a: b"}, "Prediction": "a: b"}"#,
            "\n",
            r#"{"Task": "NER", "Dataset": "d", "Instance": {"ground_truth": " a: b"}}"#,
            "\n"
        ),
    )
    .unwrap();
    assert_clean_failure(
        &run(&["eval"], &[&p]),
        &["preds.jsonl: line 2: field `Prediction`: missing"],
    );
}

#[test]
fn predictions_file_problems() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[u8], &str)] = &[
        (b"", "file is empty (0 bytes)"),
        (
            b"{\"Task\": \"NER\", \"Dat",
            "line 1: field ``: invalid JSON",
        ),
        (
            b"\n\xfe\n",
            "not valid UTF-8 (first bad byte at offset 1, line 2)",
        ),
        (
            br#"{"Task": "NER", "Dataset": 3, "Instance": {"ground_truth": ""}, "Prediction": ""}"#,
            "line 1: field `Dataset`: expected a string, found a number",
        ),
    ];
    for (i, (content, want)) in cases.iter().enumerate() {
        let p = dir.path().join(format!("p{i}.jsonl"));
        std::fs::write(&p, content).unwrap();
        assert_clean_failure(&run(&["eval"], &[&p]), &[&format!("p{i}.jsonl"), want]);
    }
    assert_clean_failure(
        &run(&["eval", "/nonexistent/preds.jsonl"], &[]),
        &["/nonexistent/preds.jsonl"],
    );
}

#[test]
fn prompts_errors_name_the_problem() {
    // A config naming a dataset the data lacks: with --require-all an error; by default a
    // note for each, and the datasets the data has.
    let d = tree(br#"[{"sentence": "a", "entities": []}]"#, Some("[\"x\"]"));
    let words = ["prompts", "--config", "builtin:zeroshot", "--out", "-"];
    let strict: Vec<&str> = words
        .iter()
        .copied()
        .chain(["--require-all", "--data"])
        .collect();
    let out = run(&strict, &[d.path()]);
    assert_clean_failure(&out, &["dataset RE/fewrel_0 not found"]);
    let lenient: Vec<&str> = words.iter().copied().chain(["--data"]).collect();
    let out = run(&lenient, &[d.path()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("skipped: dataset RE/fewrel_0 not found"),
        "{err}"
    );
    // A relation-free RE record, which the official loader rejects.
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("data/RE/r");
    std::fs::create_dir_all(&ds).unwrap();
    std::fs::write(
        ds.join("test.json"),
        br#"[{"sentence": "a", "relations": []}]"#,
    )
    .unwrap();
    std::fs::write(ds.join("labels.json"), "[\"x\"]").unwrap();
    let cfg = dir.path().join("cfg");
    std::fs::create_dir_all(&cfg).unwrap();
    for s in ["train", "dev"] {
        std::fs::write(cfg.join(format!("{s}_tasks.json")), "{}").unwrap();
    }
    std::fs::write(
        cfg.join("test_tasks.json"),
        r#"{"RE": [{"sampling strategy": "full", "dataset name": "r"}]}"#,
    )
    .unwrap();
    let out = run(
        &["prompts", "--out", "-", "--config"],
        &[&cfg, Path::new("--data"), &dir.path().join("data")],
    );
    assert_clean_failure(
        &out,
        &["r/test.json: record 0: field `relations`: task RE needs at least one relation"],
    );
    // A config directory missing a file.
    std::fs::remove_file(cfg.join("dev_tasks.json")).unwrap();
    let out = run(
        &["prompts", "--out", "-", "--config"],
        &[&cfg, Path::new("--data"), &dir.path().join("data")],
    );
    assert_clean_failure(&out, &["dev_tasks.json: task config file not found"]);
}

#[test]
fn closed_stdout_is_not_a_panic() {
    use std::process::Stdio;
    // `model info` on a copy: the tokenizer built from a GGUF file is cached beside it.
    let tmp = tempfile::tempdir().unwrap();
    let gguf = tmp.path().join("llama-tiny.gguf");
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/llama-tiny/model.gguf");
    std::fs::copy(fixture, &gguf).unwrap();
    let gguf = gguf.to_str().unwrap();
    let prompts = [
        "prompts",
        "--split",
        "train",
        "--aux-prob",
        "1",
        "--out",
        "-",
    ];
    for args in [&prompts[..], &["model", "info", gguf]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ie-bench"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn catalog_lists_the_papers_datasets() {
    let out = run(&["datasets", "--catalog"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("CoNLL 2003") && text.contains("92.94"),
        "{text}"
    );
    let out = run(&["datasets", "--catalog", "--format", "json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 40);
}

/// A fetchable model's name that is not installed says what to run, for training (LoRA or
/// not) and predicting; before, training with LoRA said the name was not a decoder-only model.
#[test]
fn a_model_name_not_yet_fetched_says_how_to_fetch_it() {
    let models = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let run_with = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ie-bench"))
            .env("IE_BENCH_MODELS", models.path())
            .args(args)
            .arg("--out")
            .arg(out.path().join("x"))
            .output()
            .unwrap()
    };
    let wants = [
        "gemma-3-270m is not installed",
        "ie-bench model fetch gemma-3-270m",
    ];
    for lora in [&["--lora-rank", "4"][..], &[]] {
        let mut args = vec!["train", "--model", "gemma-3-270m", "--max-steps", "1"];
        args.extend_from_slice(lora);
        assert_clean_failure(&run_with(&args), &wants);
    }
    assert_clean_failure(&run_with(&["predict", "--model", "gemma-3-270m"]), &wants);
}
