//! `eval --by-label` against seqeval's own report on the same predictions: the fixture in
//! `tests/fixtures/by_label/` was written by `scripts/by-label-fixture.py`, which ran seqeval
//! 1.2.2 (`classification_report(..., output_dict=True)`) on the tag sequences behind it.

#![allow(clippy::unwrap_used)] // a panic is how a test or bench reports failure

use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/by_label")
        .join(name)
}

fn eval(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ie-bench"))
        .arg("eval")
        .arg(fixture("predictions.jsonl"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn per_label_scores_equal_seqeval() {
    let ours: serde_json::Value = serde_json::from_str(&eval(&[
        "--by-label",
        "--mode",
        "strict",
        "--format",
        "json",
    ]))
    .unwrap();
    let ours = &ours["by_label"]["NER/fixture"];
    let theirs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("seqeval.json")).unwrap()).unwrap();
    let theirs = theirs.as_object().unwrap();
    assert_eq!(
        ours.as_object().unwrap().len(),
        theirs.len(),
        "the same rows: {ours}"
    );
    for (label, row) in theirs {
        for (metric, value) in row.as_object().unwrap() {
            let got = &ours[label][metric];
            if metric == "support" {
                assert_eq!(got, value, "{label} {metric}");
            } else {
                let (a, b) = (got.as_f64().unwrap(), value.as_f64().unwrap());
                assert!(
                    (a - b).abs() < 1e-12,
                    "{label} {metric}: {a} vs seqeval {b}"
                );
            }
        }
    }
}

#[test]
fn the_table_has_a_row_per_label_and_the_averages() {
    let text = eval(&["--by-label", "--mode", "strict"]);
    let table = &text[text.find("NER/fixture by label (strict mode)").unwrap()..];
    for row in [
        "location",
        "misc",
        "organization",
        "person",
        "micro avg",
        "macro avg",
        "weighted avg",
    ] {
        assert!(
            table.lines().any(|l| l.starts_with(row)),
            "{row} in\n{table}"
        );
    }
    // Markdown too: every output format carries it.
    let md = eval(&["--by-label", "--mode", "strict", "--format", "md"]);
    assert!(
        md.contains("| **weighted avg** | 71.96 | 68.90 | 70.37 | 627 |"),
        "{md}"
    );
}

/// `--confusion` prints the Inspect screen's matrix for one dataset; an unknown dataset is
/// refused with the ones the file has.
#[test]
fn the_confusion_matrix_of_a_dataset() {
    let v: serde_json::Value = serde_json::from_str(&eval(&[
        "--mode",
        "strict",
        "--confusion",
        "NER/fixture",
        "--format",
        "json",
    ]))
    .unwrap();
    let c = &v["confusion"];
    assert_eq!(
        c["labels"],
        serde_json::json!(["location", "misc", "organization", "person", "other", "∅"])
    );
    let m: Vec<Vec<u64>> = serde_json::from_value(c["matrix"].clone()).unwrap();
    // The fixture retypes, drops and invents entities: each gold label has examples on the
    // diagonal, in another label's column and in the `∅` (missed) column.
    for (r, row) in m.iter().enumerate().take(4) {
        assert!(row[r] > 50, "{row:?}");
        assert!(
            row.iter()
                .enumerate()
                .any(|(k, n)| k != r && k < 4 && *n > 0),
            "{row:?}"
        );
        assert!(row[5] > 0, "{row:?}");
    }
    // Invented entities: the `∅` gold row has predictions.
    assert!(m[5][..4].iter().all(|n| *n > 0), "{m:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_ie-bench"))
        .arg("eval")
        .arg(fixture("predictions.jsonl"))
        .args(["--confusion", "NER/nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no such dataset") && err.contains("NER/fixture"),
        "{err}"
    );
}

/// `--scheme` against nervaluate 1.2.1's own results on the same entities: every scheme,
/// overall and per type, every count and score.
#[test]
fn every_scheme_equals_nervaluate() {
    let ours: serde_json::Value = serde_json::from_str(&eval(&[
        "--scheme", "strict", "--scheme", "exact", "--scheme", "partial", "--scheme", "type",
        "--format", "json",
    ]))
    .unwrap();
    let ours = &ours["schemes"]["NER/fixture"];
    let theirs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("nervaluate.json")).unwrap())
            .unwrap();
    let mut compared = 0;
    for (scheme, r) in theirs.as_object().unwrap() {
        let mut rows = vec![(
            "overall".to_string(),
            &r["overall"],
            &ours[scheme]["overall"],
        )];
        for (label, row) in r["labels"].as_object().unwrap() {
            rows.push((label.clone(), row, &ours[scheme]["labels"][label]));
        }
        assert_eq!(
            ours[scheme]["labels"].as_object().unwrap().len(),
            r["labels"].as_object().unwrap().len(),
            "{scheme}"
        );
        for (name, want, got) in rows {
            for (metric, value) in want.as_object().unwrap() {
                let (a, b) = (got[metric].as_f64(), value.as_f64().unwrap());
                let a = a.unwrap_or_else(|| panic!("{scheme} {name} {metric} missing: {got}"));
                assert!(
                    (a - b).abs() < 1e-12,
                    "{scheme} {name} {metric}: {a} vs nervaluate {b}"
                );
                compared += 1;
            }
        }
    }
    assert_eq!(
        compared,
        4 * 5 * 10,
        "4 schemes, overall and 4 types, 10 fields"
    );
}

/// The schemes beyond NER: on the sample predictions (NER, RE, EET, EEA, every item's spans
/// in its sentence), the strict scheme's overall F1 is strict mode's F1 for every dataset,
/// and the looser schemes never score lower.
#[test]
fn the_strict_scheme_is_strict_mode_for_relations_and_events() {
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("sample-data/predictions/supervised-test.jsonl");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ie-bench"));
    cmd.arg("eval")
        .arg(&sample)
        .args(["--mode", "strict", "--format", "json"]);
    for s in ["strict", "exact", "partial", "type"] {
        cmd.args(["--scheme", s]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut tasks_seen = Vec::new();
    for (task, t) in v["tasks"].as_object().unwrap() {
        for (name, d) in t["datasets"].as_object().unwrap() {
            let key = format!("{task}/{name}");
            let schemes = &v["schemes"][&key];
            assert!(!schemes.is_null(), "{key} has no schemes");
            let f1 = |s: &str| schemes[s]["overall"]["f1"].as_f64().unwrap();
            assert!(
                (f1("strict") - d["score"].as_f64().unwrap()).abs() < 1e-12,
                "{key}"
            );
            for looser in ["exact", "partial", "type"] {
                assert!(f1(looser) >= f1("strict") - 1e-12, "{key} {looser}");
            }
            tasks_seen.push(task.clone());
        }
    }
    tasks_seen.dedup();
    assert_eq!(tasks_seen, ["NER", "RE", "EET", "EEA"]);
}
