//! `ie-bench eval`.

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::data::catalog::{infer_setting, Setting};
use crate::eval::verdict::{summarize, ErrorKind};
use crate::eval::{read_predictions, score, verdict, Mode, Verdict};
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
    let lines = read_predictions(&args.predictions).context("reading predictions")?;
    let report = score(&lines, args.mode);
    for (task, n) in &report.unscored {
        eprintln!(
            "note: {n} {task} predictions not scored: the official evaluator has no {task} scorer (use --mode strict)"
        );
    }
    let mut errors = None;
    if args.verdicts.is_some() || args.errors {
        let verdicts: Vec<Verdict> = lines.iter().map(|l| verdict(l, args.mode)).collect();
        if let Some(path) = &args.verdicts {
            let mut buf = Vec::new();
            for v in &verdicts {
                serde_json::to_writer(&mut buf, v)?;
                buf.push(b'\n');
            }
            std::fs::write(path, buf).with_context(|| format!("writing {}", path.display()))?;
        }
        if args.errors {
            errors = Some(error_table(&verdicts));
        }
    }
    if args.format == Format::Json {
        super::emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report.to_json())?
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    let setting = args.paper.map(|p| match p {
        PaperSetting::Supervised => Setting::Supervised,
        PaperSetting::Zeroshot => Setting::ZeroShot,
        PaperSetting::Auto => infer_setting(lines.iter().map(|l| l.dataset.as_str())),
    });
    let mut text = render(&report_tables(&report, setting), args.format);
    if let Some(table) = errors {
        text.push_str(&format!(
            "\nError kinds per dataset ({} mode)\n{table}\n",
            args.mode.as_str()
        ));
    }
    super::emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Error-kind counts per dataset, one column per kind that occurs.
fn error_table(verdicts: &[Verdict]) -> String {
    let summary = summarize(verdicts);
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
    for ((task, dataset), counts) in &summary {
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
