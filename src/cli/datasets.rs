//! `ie-bench datasets`.

use anyhow::Result;
use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::data::catalog::CATALOG;
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
    /// List the paper's datasets instead (task, domain, labels, Table 7 sizes, published scores).
    #[arg(long)]
    catalog: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

pub fn run(args: Args) -> Result<ExitCode> {
    if args.catalog {
        let text = match args.format {
            ListFormat::Json => format!("{}\n", serde_json::to_string_pretty(CATALOG)?),
            ListFormat::Table => catalog_table(),
        };
        super::emit(&text)?;
        return Ok(ExitCode::SUCCESS);
    }
    let root = super::data_dir(args.data)?;
    let summaries: Vec<DatasetSummary> = list_datasets(&root)?
        .iter()
        .map(|loc| summarize(loc, &root))
        .collect();
    let text = match args.format {
        ListFormat::Json => format!("{}\n", serde_json::to_string_pretty(&summaries)?),
        ListFormat::Table => table(&root, &summaries, args.max_warnings),
    };
    super::emit(&text)?;
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

fn table(root: &std::path::Path, summaries: &[DatasetSummary], max_warnings: usize) -> String {
    let mut out = format!("data: {}\n", root.display());
    let width = summaries
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    let _ = writeln!(
        out,
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
        let _ = writeln!(
            out,
            "{:<4} {:<width$} {:>7} {:>7} {:>7} {:>6}  {:<8} {}",
            s.task.as_str(),
            crate::text::SafeText(&s.name),
            count(s, Split::Train),
            count(s, Split::Dev),
            count(s, Split::Test),
            labels,
            aux.join(","),
            status
        );
        for w in s.warnings.iter().take(max_warnings) {
            let _ = writeln!(
                out,
                "      warning: {}",
                crate::text::SafeText(&w.to_string())
            );
        }
        if s.warnings.len() > max_warnings {
            let _ = writeln!(
                out,
                "      ... {} more warnings (see --format json)",
                s.warnings.len() - max_warnings
            );
        }
    }
    out
}

fn catalog_table() -> String {
    let mut out = format!(
        "{:<4} {:<20} {:<15} {:<24} {:>6} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6}\n",
        "task",
        "directory",
        "paper",
        "domain",
        "labels",
        "train",
        "dev",
        "test",
        "sup",
        "arg",
        "zero"
    );
    let score = |s: Option<f64>| s.map_or("-".to_string(), |v| format!("{v:.2}"));
    for c in CATALOG {
        let size = |i: usize| c.sizes.map_or("-".to_string(), |s| s[i].to_string());
        let labels = match c.roles {
            Some(r) => format!("{}({r})", c.labels),
            None => c.labels.to_string(),
        };
        let _ = writeln!(
            out,
            "{:<4} {:<20} {:<15} {:<24} {:>6} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6}",
            c.task.as_str(),
            c.name,
            c.paper_name,
            c.domain,
            labels,
            size(0),
            size(1),
            size(2),
            score(c.supervised),
            score(c.argument),
            score(c.zero_shot)
        );
    }
    out.push_str(
        "sup: Table 1 (NER), 2 (RE), 3 trigger (EE); arg: Table 3 argument; zero: Tables 4-5.\n",
    );
    out
}
