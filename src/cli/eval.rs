//! `ie-bench eval`.

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::data::catalog::{infer_setting, Setting};
use crate::data::DataError;
use crate::eval::by_label::ByLabel;
use crate::eval::schemes::{Scheme, SchemeCounts, Schemes};
use crate::eval::verdict::{tally, ErrorKind, Summary};
use crate::eval::{score_file, Mode, Verdict};
use crate::export::{render, report_tables, Cell, Column, Format, ResultTable, Row};
use crate::ie::Named;
use crate::service::judged::Confusion;

#[derive(clap::Args)]
pub struct Args {
    /// Predictions file: the official predict_eval_predictions.jsonl, or ie-bench prompts lines
    /// with a "prediction" field.
    predictions: PathBuf,
    #[arg(long, default_value = "compat", value_parser = super::choice::<Mode>())]
    mode: Mode,
    #[arg(long, default_value = "table", value_parser = super::choice::<Format>())]
    format: Format,
    /// Add the paper's published scores beside matching datasets (`auto` picks zero-shot when
    /// the file holds zero-shot test sets).
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "auto")]
    paper: Option<PaperSetting>,
    /// Write one verdict per example (matched items and error kinds) as JSON lines.
    #[arg(long)]
    verdicts: Option<PathBuf>,
    /// Print error-kind counts per dataset after the scores.
    #[arg(long)]
    errors: bool,
    /// Print precision, recall, F1 and support per label for each dataset (the seqeval
    /// classification-report layout, with micro, macro and weighted averages), over the items
    /// the verdicts match.
    #[arg(long)]
    by_label: bool,
    /// Print the label confusion matrix of one dataset (`TASK/name`, e.g. "NER/CoNLL 2003"),
    /// as the workbench's Inspect screen shows it: rows are gold labels, columns predicted
    /// ones, `other` pools predicted labels the gold never uses and `∅` is a missing side;
    /// each cell counts the examples with such an item pair.
    #[arg(long, value_name = "DATASET")]
    confusion: Option<String>,
    /// nervaluate's schemes (repeatable): `strict` (bounds and type exact), `exact` (bounds
    /// exact), `partial` (bounds exact or overlapping, half credit), `type` (type right, some
    /// overlap); per dataset, per type and overall. NER entities as nervaluate scores them;
    /// RE relations with the head and the tail as their bounds, EET triggers and EEA
    /// arguments as typed spans. Items are read as strict mode reads them and found in the
    /// sentence; other tasks are left out.
    #[arg(long, value_parser = super::choice::<Scheme>())]
    scheme: Vec<Scheme>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PaperSetting {
    Auto,
    Supervised,
    Zeroshot,
}

pub fn run(args: Args) -> Result<ExitCode> {
    // One streaming pass: scores always, verdicts only when asked for, so memory stays flat
    // on any size of file.
    let mut summary = args.errors.then(Summary::new);
    let mut by_label = args.by_label.then(ByLabel::default);
    let mut out = match &args.verdicts {
        Some(path) => Some((
            path,
            std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("creating {}", path.display()))?,
            ),
        )),
        None => None,
    };
    let mut write_error = None;
    let mut each = |verdicts: Vec<Verdict>| -> Result<(), DataError> {
        for v in &verdicts {
            if let Some(s) = summary.as_mut() {
                tally(s, v);
            }
            if let Some(b) = by_label.as_mut() {
                b.add(v);
            }
            if let Some((path, w)) = out.as_mut() {
                let written = serde_json::to_writer(&mut *w, v)
                    .map_err(std::io::Error::from)
                    .and_then(|()| w.write_all(b"\n"));
                if let Err(e) = written {
                    write_error.get_or_insert_with(|| format!("writing {}: {e}", path.display()));
                }
            }
        }
        Ok(())
    };
    let judge: Option<&mut dyn FnMut(Vec<Verdict>) -> Result<(), DataError>> =
        (args.errors || args.by_label || args.verdicts.is_some()).then_some(&mut each);
    let report = score_file(&args.predictions, args.mode, judge).context("reading predictions")?;
    if let Some(e) = write_error {
        bail!(e);
    }
    if let Some((path, mut w)) = out {
        w.flush()
            .with_context(|| format!("writing {}", path.display()))?;
    }
    for (task, n) in &report.unscored {
        eprintln!(
            "note: {n} {task} predictions not scored: the official evaluator has no {task} scorer (use --mode strict)"
        );
    }
    // The schemes and the confusion matrix need whole lines, which the streaming pass does
    // not keep: the file is read once more for both together.
    let lines = if args.scheme.is_empty() && args.confusion.is_none() {
        Vec::new()
    } else {
        crate::eval::read_predictions(&args.predictions).context("reading predictions")?
    };
    let schemes = (!args.scheme.is_empty()).then(|| {
        let mut all = Schemes::default();
        for line in &lines {
            all.add(line);
        }
        all
    });
    let confusion = match &args.confusion {
        Some(key) => Some((
            key,
            dataset_confusion(&args.predictions, lines, key, args.mode)?,
        )),
        None => None,
    };
    if args.format == Format::Json {
        let mut value = report.to_json();
        if let Some((key, c)) = &confusion {
            value["confusion"] = serde_json::json!({
                "dataset": key,
                "labels": c.labels,
                "matrix": confusion_counts(c),
            });
        }
        if let Some(summary) = &summary {
            // {"TASK/dataset": {kind: items}}, as the table below prints them.
            let errors: serde_json::Map<String, serde_json::Value> = summary
                .iter()
                .map(|((task, dataset), counts)| {
                    let counts: serde_json::Map<String, serde_json::Value> = counts
                        .iter()
                        .map(|(k, n)| (k.as_str().to_string(), (*n).into()))
                        .collect();
                    (crate::ie::dataset_key(*task, dataset), counts.into())
                })
                .collect();
            value["errors"] = errors.into();
        }
        if let Some(all) = &schemes {
            let per: serde_json::Map<String, serde_json::Value> = all
                .0
                .iter()
                .map(|(dataset, d)| {
                    let by_scheme: serde_json::Map<String, serde_json::Value> = args
                        .scheme
                        .iter()
                        .map(|&sc| {
                            let labels: serde_json::Map<String, serde_json::Value> = d
                                .labels
                                .iter()
                                .map(|(l, m)| {
                                    let c = m.get(&sc).copied().unwrap_or_default();
                                    (l.clone(), serde_json::json!(c.score(sc)))
                                })
                                .collect();
                            let overall = d.overall.get(&sc).copied().unwrap_or_default();
                            (
                                sc.name().to_string(),
                                serde_json::json!({"overall": overall.score(sc), "labels": labels}),
                            )
                        })
                        .collect();
                    (dataset.clone(), by_scheme.into())
                })
                .collect();
            value["schemes"] = per.into();
        }
        if let Some(b) = &by_label {
            value["by_label"] = label_json(b);
        }
        super::emit(&format!("{}\n", serde_json::to_string_pretty(&value)?))?;
        return Ok(ExitCode::SUCCESS);
    }
    let setting = args.paper.map(|p| match p {
        PaperSetting::Supervised => Setting::Supervised,
        PaperSetting::Zeroshot => Setting::ZeroShot,
        PaperSetting::Auto => infer_setting(
            report
                .tasks
                .values()
                .flat_map(|t| t.datasets.iter().map(|(name, _)| name.as_str())),
        ),
    });
    let mut tables = report_tables(&report, setting);
    if let Some(b) = &by_label {
        tables.extend(label_tables(b, args.mode));
    }
    if let Some(all) = &schemes {
        tables.extend(scheme_tables(all, &args.scheme));
    }
    tables.extend(confusion.map(|(key, c)| confusion_table(key, args.mode, &c)));
    let mut text = render(&tables, args.format);
    if let Some(summary) = summary {
        text.push_str(&format!(
            "\nError kinds per dataset ({} mode)\n{}\n",
            args.mode.as_str(),
            error_table(&summary)
        ));
    }
    super::emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// `{dataset: {label: {precision, recall, f1-score, support}}}`, the averages included.
pub(super) fn label_json(b: &ByLabel) -> serde_json::Value {
    let per: serde_json::Map<String, serde_json::Value> =
        b.0.iter()
            .map(|(dataset, labels)| {
                let rows: serde_json::Map<String, serde_json::Value> = ByLabel::table(labels)
                    .into_iter()
                    .map(|(l, s)| (l, serde_json::to_value(s).expect("numbers serialise")))
                    .collect();
                (dataset.clone(), rows.into())
            })
            .collect();
    per.into()
}

/// One table per dataset: each label's precision, recall, F1 and support, then the averages.
pub(super) fn label_tables(b: &ByLabel, mode: Mode) -> Vec<ResultTable> {
    let column = |name: &str, is_score| Column {
        name: name.to_string(),
        is_score,
    };
    b.0.iter()
        .map(|(dataset, labels)| ResultTable {
            title: format!("{dataset} by label ({} mode)", mode.as_str()),
            label_header: "Label".into(),
            columns: vec![
                column("precision", true),
                column("recall", true),
                column("f1-score", true),
                column("support", false),
            ],
            rows: ByLabel::table(labels)
                .into_iter()
                .map(|(label, s)| Row {
                    summary: label.ends_with(" avg"),
                    label,
                    cells: vec![
                        Cell::Score(s.precision),
                        Cell::Score(s.recall),
                        Cell::Score(s.f1),
                        Cell::Count(s.support),
                    ],
                })
                .collect(),
        })
        .collect()
}

/// One table per dataset and scheme: each type, then overall.
fn scheme_tables(all: &Schemes, schemes: &[Scheme]) -> Vec<ResultTable> {
    let names = [
        "correct",
        "incorrect",
        "partial",
        "missed",
        "spurious",
        "possible",
        "actual",
        "precision",
        "recall",
        "f1",
    ];
    let row = |label: String, c: SchemeCounts, scheme: Scheme, summary: bool| {
        let s = c.score(scheme);
        let mut cells: Vec<Cell> = [
            c.correct,
            c.incorrect,
            c.partial,
            c.missed,
            c.spurious,
            s.possible,
            s.actual,
        ]
        .into_iter()
        .map(Cell::Count)
        .collect();
        cells.extend([
            Cell::Score(s.precision),
            Cell::Score(s.recall),
            Cell::Score(s.f1),
        ]);
        Row {
            label,
            cells,
            summary,
        }
    };
    let mut out = Vec::new();
    for (dataset, d) in &all.0 {
        for &scheme in schemes {
            let mut rows: Vec<Row> = d
                .labels
                .iter()
                .map(|(l, m)| {
                    row(
                        l.clone(),
                        m.get(&scheme).copied().unwrap_or_default(),
                        scheme,
                        false,
                    )
                })
                .collect();
            rows.push(row(
                "overall".into(),
                d.overall.get(&scheme).copied().unwrap_or_default(),
                scheme,
                true,
            ));
            out.push(ResultTable {
                title: format!("{dataset}: {} scheme (nervaluate)", scheme.name()),
                label_header: "Type".into(),
                columns: names
                    .iter()
                    .map(|n| Column {
                        name: n.to_string(),
                        is_score: matches!(*n, "precision" | "recall" | "f1"),
                    })
                    .collect(),
                rows,
            });
        }
    }
    out
}

/// The confusion matrix of dataset `key` among `lines`, read from `path`.
fn dataset_confusion(
    path: &std::path::Path,
    lines: Vec<crate::eval::PredictionLine>,
    key: &str,
    mode: Mode,
) -> Result<Confusion> {
    let keys: std::collections::BTreeSet<String> = lines
        .iter()
        .map(|l| crate::ie::dataset_key(l.task, &l.dataset))
        .collect();
    if !keys.contains(key) {
        bail!(
            "--confusion {key:?}: no such dataset in {}; it has: {}",
            path.display(),
            keys.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    let judged = crate::service::judged::judge(
        lines
            .into_iter()
            .filter(|l| crate::ie::dataset_key(l.task, &l.dataset) == key)
            .map(|l| {
                let gold = l.ground_truth.clone();
                (l, false, gold)
            }),
        mode,
    );
    let all: Vec<usize> = (0..judged.examples.len()).collect();
    Ok(crate::service::judged::confusion(
        &judged.examples,
        &judged.labels,
        &all,
    ))
}

/// Each cell's count of examples, rows gold and columns predicted.
fn confusion_counts(c: &Confusion) -> Vec<Vec<u64>> {
    (0..c.labels.len())
        .map(|r| {
            (0..c.labels.len())
                .map(|col| c.cells.get(&(r, col)).map_or(0, |v| v.len() as u64))
                .collect()
        })
        .collect()
}

/// The confusion matrix as a table.
fn confusion_table(key: &str, mode: Mode, c: &Confusion) -> ResultTable {
    ResultTable {
        title: format!(
            "{key}: gold (rows) by predicted (columns) label, examples per cell ({} mode)",
            mode.as_str()
        ),
        label_header: "gold \\ predicted".into(),
        columns: c
            .labels
            .iter()
            .map(|l| Column {
                name: l.clone(),
                is_score: false,
            })
            .collect(),
        rows: c
            .labels
            .iter()
            .zip(confusion_counts(c))
            .map(|(label, counts)| Row {
                label: label.clone(),
                cells: counts.into_iter().map(Cell::Count).collect(),
                summary: false,
            })
            .collect(),
    }
}

/// Error-kind counts per dataset, one column per kind that occurs.
fn error_table(summary: &Summary) -> String {
    let kinds: Vec<ErrorKind> = ErrorKind::ALL
        .into_iter()
        .filter(|k| summary.values().any(|m| m.contains_key(k)))
        .collect();
    let width = summary
        .keys()
        .map(|(_, d)| d.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    let mut out = format!("{:<4} {:<width$}", "task", "dataset");
    for k in &kinds {
        out.push_str(&format!(" {:>w$}", k.as_str(), w = k.as_str().len()));
    }
    out.push('\n');
    for ((task, dataset), counts) in summary {
        out.push_str(&format!(
            "{:<4} {:<width$}",
            task.as_str(),
            crate::text::SafeText(dataset)
        ));
        for k in &kinds {
            let n = counts.get(k).copied().unwrap_or(0);
            out.push_str(&format!(" {:>w$}", n, w = k.as_str().len()));
        }
        out.push('\n');
    }
    out
}
