//! `ie-bench eval`.

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::data::catalog::{infer_setting, Setting};
use crate::eval::{read_predictions, score, Mode};
use crate::export::{render, report_tables, Format};

#[derive(clap::Args)]
pub struct Args {
    /// Predictions file: the official predict_eval_predictions.jsonl, or ie-bench prompts lines
    /// with a "prediction" field.
    predictions: PathBuf,
    #[arg(long, value_enum, default_value = "compat")]
    mode: Mode,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Add the paper's published scores beside matching datasets (`auto` picks zero-shot when
    /// the file holds zero-shot test sets).
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "auto")]
    paper: Option<PaperSetting>,
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
    if args.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
        return Ok(ExitCode::SUCCESS);
    }
    let setting = args.paper.map(|p| match p {
        PaperSetting::Supervised => Setting::Supervised,
        PaperSetting::Zeroshot => Setting::ZeroShot,
        PaperSetting::Auto => infer_setting(lines.iter().map(|l| l.dataset.as_str())),
    });
    print!("{}", render(&report_tables(&report, setting), args.format));
    Ok(ExitCode::SUCCESS)
}
