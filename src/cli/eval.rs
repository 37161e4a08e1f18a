//! `ie-bench eval`.

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::data::catalog::{infer_setting, Setting};
use crate::data::DataError;
use crate::eval::verdict::{tally, ErrorKind, Summary};
use crate::eval::{score_file, Mode, Verdict};
use crate::export::{render, report_tables, Format};

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
        (args.errors || args.verdicts.is_some()).then_some(&mut each);
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
    if args.format == Format::Json {
        let mut value = report.to_json();
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
    let mut text = render(&report_tables(&report, setting), args.format);
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
