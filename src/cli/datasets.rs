//! `ie-bench datasets`.

use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::data::{list_datasets, summarize, DatasetSummary};
use crate::ie::Split;

#[derive(clap::Args)]
pub struct Args {
    /// IE INSTRUCTIONS directory (holding NER/, RE/, EE/ ...); default: the sample data.
    #[arg(long)]
    data: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    format: ListFormat,
    /// Warnings to print per dataset in table format (all are in JSON).
    #[arg(long, default_value_t = 3)]
    max_warnings: usize,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let root = super::data_dir(args.data)?;
    let summaries: Vec<DatasetSummary> = list_datasets(&root)?
        .iter()
        .map(|loc| summarize(loc, &root))
        .collect();
    match args.format {
        ListFormat::Json => println!("{}", serde_json::to_string_pretty(&summaries)?),
        ListFormat::Table => print_table(&root, &summaries, args.max_warnings),
    }
    let failed: Vec<&DatasetSummary> = summaries.iter().filter(|s| !s.errors.is_empty()).collect();
    for s in &failed {
        for e in &s.errors {
            eprintln!("error: {e}");
        }
    }
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "error: {} of {} datasets could not be read",
            failed.len(),
            summaries.len()
        );
        Ok(ExitCode::FAILURE)
    }
}

fn print_table(root: &std::path::Path, summaries: &[DatasetSummary], max_warnings: usize) {
    println!("data: {}", root.display());
    let width = summaries
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    println!(
        "{:<4} {:<width$} {:>7} {:>7} {:>7} {:>6}  {:<8} warnings",
        "task", "dataset", "train", "dev", "test", "labels", "aux"
    );
    let count = |s: &DatasetSummary, split| {
        s.split(split)
            .map_or("absent".to_string(), |n| n.to_string())
    };
    for s in summaries {
        let aux: Vec<&str> = s.aux.iter().map(|t| t.as_str()).collect();
        let labels = s.label_count.map_or("-".to_string(), |n| n.to_string());
        let status = if s.errors.is_empty() {
            s.warnings.len().to_string()
        } else {
            "ERROR".to_string()
        };
        println!(
            "{:<4} {:<width$} {:>7} {:>7} {:>7} {:>6}  {:<8} {}",
            s.task.as_str(),
            s.name,
            count(s, Split::Train),
            count(s, Split::Dev),
            count(s, Split::Test),
            labels,
            aux.join(","),
            status
        );
        for w in s.warnings.iter().take(max_warnings) {
            println!("      warning: {w}");
        }
        if s.warnings.len() > max_warnings {
            println!(
                "      ... {} more warnings (see --format json)",
                s.warnings.len() - max_warnings
            );
        }
    }
}
