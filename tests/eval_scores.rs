//! Scoring: the messy fixture against its hand-derived official counts, the JSON shape, gold
//! scored as prediction, and the table formats.

#![allow(clippy::unwrap_used)] // a panic is how a test or bench reports failure

use ie_bench::eval::{read_predictions, score, Mode};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/messy_predictions.jsonl")
}

mod common;
use common::{ie_bench as bin, ok};

/// Per (task, dataset): F1 from summed (tp, fn, fp) or mean accuracy, from each line's `expect`.
fn expected_scores(path: &Path) -> BTreeMap<(String, String), f64> {
    let mut f1: BTreeMap<(String, String), [u64; 3]> = BTreeMap::new();
    let mut acc: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let key = (
            v["Task"].as_str().unwrap().to_string(),
            v["Dataset"].as_str().unwrap().to_string(),
        );
        match &v["expect"] {
            Value::Array(c) => {
                let e = f1.entry(key).or_default();
                for i in 0..3 {
                    e[i] += c[i].as_u64().unwrap();
                }
            }
            Value::Number(n) => {
                let e = acc.entry(key).or_default();
                e.0 += n.as_u64().unwrap();
                e.1 += 1;
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    for (k, [tp, fn_, fp]) in f1 {
        let (tp, fn_, fp) = (tp as f64, fn_ as f64, fp as f64);
        let p = if tp + fp == 0.0 { 0.0 } else { tp / (tp + fp) };
        let r = if tp + fn_ == 0.0 {
            0.0
        } else {
            tp / (tp + fn_)
        };
        out.insert(
            k,
            if p + r == 0.0 {
                0.0
            } else {
                2.0 * p * r / (p + r)
            },
        );
    }
    for (k, (ok, n)) in acc {
        out.insert(k, ok as f64 / n as f64);
    }
    out
}

#[test]
fn compat_matches_the_official_counts_on_messy_predictions() {
    let expected = expected_scores(&fixture());
    let report = score(&read_predictions(&fixture()).unwrap(), Mode::Compat);
    let mut seen = 0;
    for (task, t) in &report.tasks {
        for (name, d) in &t.datasets {
            let want = expected[&(task.to_string(), name.clone())];
            assert!(
                (d.score - want).abs() < 1e-9,
                "{task}/{name}: {} vs {want}",
                d.score
            );
            seen += 1;
        }
    }
    assert_eq!(seen, expected.len());
    assert_eq!(report.unscored, vec![(ie_bench::ie::TaskKind::Es, 1)]);
    // Averages are unweighted over datasets, datasets sorted case-insensitively.
    let ner = &report.tasks[&ie_bench::ie::TaskKind::Ner];
    assert_eq!(ner.datasets[0].0, "bc2gm");
    assert!((ner.average - (18.0 / 23.0 + 1.0) / 2.0).abs() < 1e-12);
}

#[test]
fn json_output_has_the_documented_shape() {
    let out = ok(bin()
        .args(["eval", "--format", "json"])
        .arg(fixture())
        .output()
        .unwrap());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["mode"], "compat");
    let obj = v.as_object().unwrap();
    assert_eq!(obj.keys().collect::<Vec<_>>(), ["mode", "tasks"]);
    let ner = &v["tasks"]["NER"];
    assert_eq!(
        ner.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["datasets", "average"]
    );
    let conll = &ner["datasets"]["CoNLL 2003"];
    assert_eq!(
        conll.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["score", "tp", "fp", "fn", "n"]
    );
    assert_eq!(
        (
            conll["tp"].as_u64(),
            conll["fp"].as_u64(),
            conll["fn"].as_u64(),
            conll["n"].as_u64()
        ),
        (Some(9), Some(3), Some(2), Some(10))
    );
    assert!((conll["score"].as_f64().unwrap() - 18.0 / 23.0).abs() < 1e-12);
    let eet = &v["tasks"]["EET"]["datasets"]["ACE05"];
    assert!(eet["tp"].is_null() && eet["fp"].is_null() && eet["fn"].is_null());
    assert_eq!(eet["n"], 5);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1 ES predictions not scored"), "{stderr}");
}

#[test]
fn strict_mode_fixes_the_quirks() {
    let report = score(&read_predictions(&fixture()).unwrap(), Mode::Strict);
    let conll = &report.tasks[&ie_bench::ie::TaskKind::Ner].datasets[1];
    assert_eq!(conll.0, "CoNLL 2003");
    let c = conll.1.counts.unwrap();
    // No `none` TPs, multiset duplicates, no empty-item FP, garbage without a colon dropped.
    assert_eq!((c.tp, c.fp, c.fn_), (8, 1, 1));
    assert!(report.unscored.is_empty());
}

/// Builds the sample test split with ie-bench itself, then scores gold as the prediction.
#[test]
fn gold_as_prediction_scores_one() {
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("p.jsonl");
    ok(bin()
        .args(["prompts", "--split", "test", "--aux-prob", "1", "--out"])
        .arg(&prompts)
        .output()
        .unwrap());
    let mut preds = String::new();
    for line in std::fs::read_to_string(&prompts).unwrap().lines() {
        let mut v: Value = serde_json::from_str(line).unwrap();
        v["prediction"] = v["ground_truth"].clone();
        preds.push_str(&v.to_string());
        preds.push('\n');
    }
    let preds_path = dir.path().join("gold.jsonl");
    std::fs::write(&preds_path, preds).unwrap();
    for mode in [Mode::Compat, Mode::Strict] {
        let report = score(&read_predictions(&preds_path).unwrap(), mode);
        assert!(!report.tasks.is_empty());
        for (task, t) in &report.tasks {
            for (name, d) in &t.datasets {
                assert_eq!(d.score, 1.0, "{mode:?} {task}/{name}");
            }
        }
    }
}

#[test]
fn table_formats() {
    let run = |fmt: &str| {
        let out = bin()
            .args(["eval", "--paper", "supervised", "--format", fmt])
            .arg(fixture())
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let table = run("table");
    assert!(
        table.contains("CoNLL 2003  10   9   3   2        78.26  92.94"),
        "{table}"
    );
    let md = run("md");
    assert!(
        md.contains("| CoNLL 2003 | 10 | 9 | 3 | 2 | 78.26 | 92.94 |"),
        "{md}"
    );
    let csv = run("csv");
    assert!(
        csv.starts_with("Task,Dataset,n,TP,FP,FN,F1 (compat),Paper\n"),
        "{csv}"
    );
    assert!(
        csv.contains("NER,CoNLL 2003,10,9,3,2,78.26,92.94\n"),
        "{csv}"
    );
    let latex = run("latex");
    assert!(
        latex.contains("\\toprule")
            && latex.contains("\\midrule")
            && latex.contains("\\bottomrule")
    );
    // The best score per row is bold: the paper's on CoNLL, ours on bc2gm (no paper number
    // for that one would be bold too, as the only score).
    assert!(
        latex.contains("CoNLL 2003 & 10 & 9 & 3 & 2 & 78.26 & \\textbf{92.94} \\\\"),
        "{latex}"
    );
    assert!(
        latex.contains("bc2gm & 2 & 2 & 0 & 0 & \\textbf{100.00} & 85.16 \\\\"),
        "{latex}"
    );
}

#[test]
fn verdicts_file_lists_every_example() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("v.jsonl");
    let out = bin()
        .args(["eval", "--errors", "--verdicts"])
        .arg(&out_path)
        .arg(fixture())
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Error kinds per dataset"), "{stdout}");
    let lines: Vec<Value> = std::fs::read_to_string(&out_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 34);
    let garbage = lines.iter().find(|v| v["id"] == "7").unwrap();
    let kinds: Vec<&str> = garbage["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["missing", "unparsable"]);
}

#[test]
fn datasets_sort_case_insensitively_and_stably() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.jsonl");
    let line = |ds: &str| {
        format!(
            r#"{{"Task": "NER", "Dataset": "{ds}", "Instance": {{"ground_truth": " a: b"}}, "Prediction": "a: b"}}"#
        )
    };
    // Python's sorted(key=str.lower) is stable: "beta" and "Beta" keep their first-seen order.
    let text = ["beta", "Alpha", "Beta", "alpha2"].map(line).join("\n");
    std::fs::write(&p, text).unwrap();
    let report = score(&read_predictions(&p).unwrap(), Mode::Compat);
    let names: Vec<&str> = report.tasks[&ie_bench::ie::TaskKind::Ner]
        .datasets
        .iter()
        .map(|d| d.0.as_str())
        .collect();
    assert_eq!(names, ["Alpha", "alpha2", "beta", "Beta"]);
}
