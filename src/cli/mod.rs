//! Command-line front end: clap subcommands over the library calls.

mod bench;
mod datasets;
mod eval;
mod launch;
mod model;
mod prompts;
mod runs;
mod train;

use anyhow::{Context, Result};
use clap::Subcommand;
use std::path::Path;
use std::process::ExitCode;

use crate::service::holder::Request;
use crate::service::through::{on_database, Said};
pub(crate) use crate::service::workspace::data_dir;
use crate::service::{gold, import};
pub(crate) use crate::spec::choice;

/// Every command but the workbench's.
#[derive(Subcommand)]
pub enum Command {
    /// List tasks, datasets, split sizes, label counts and validation warnings.
    Datasets(datasets::Args),
    /// Materialise the text-to-text instances of a task config split as JSON lines.
    Prompts(prompts::Args),
    /// Score a predictions file (official predict_eval_predictions.jsonl or ie-bench's own).
    Eval(eval::Args),
    /// Create models.
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// Generate predictions for a split with a model, in the official predictions format.
    Predict(model::PredictArgs),
    /// Fine-tune a model on the train split of a task config.
    Train(train::Args),
    /// Measure training and generation throughput on random weights.
    Bench(bench::Args),
    /// Start a stored run (recorded in the database; see `runs`).
    #[command(subcommand)]
    Run(crate::spec::RunSpec),
    /// List stored runs; show, compare, cancel, resume or re-score them.
    Runs(runs::RunsArgs),
    /// Bring an IE INSTRUCTIONS tree, its task configs and instruction bank into the database
    /// (unchanged files are a no-op; a changed dataset becomes a new version).
    Import(import::Args),
    /// Correct gold labels (an append-only log with undo and redo).
    #[command(subcommand)]
    Gold(gold::GoldCommand),
}

/// Runs a command on the database at `db`.
pub fn run(db: &Path, command: Command) -> Result<ExitCode> {
    match command {
        Command::Datasets(a) => datasets::run(a),
        Command::Prompts(a) => prompts::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Model(c) => model::run(c),
        Command::Predict(a) => model::predict_cmd(a),
        Command::Train(a) => train::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Run(c) => launch::start(db, c),
        Command::Runs(a) => runs::runs(db, a),
        Command::Gold(c) => {
            let words = c.words();
            said(on_database(db, Request::Gold { words }, |s| {
                gold::apply(s, c)
            }))
        }
        Command::Import(a) => {
            let words = a.words();
            said(on_database(db, Request::Import { words }, |s| {
                import::apply(s, a)
            }))
        }
    }
}

/// Reports a failed command on standard error: the error with its causes, and what to do
/// when the disk is full.
pub fn report_failure(e: &anyhow::Error, db: &Path) {
    let text = report(e);
    eprintln!("error: {text}");
    // A job's failure reaches here as its stored text, without the I/O error inside.
    let full_text = [libc::ENOSPC, libc::EDQUOT]
        .iter()
        .any(|code| text.contains(&format!("(os error {code})")));
    if e.chain().any(crate::store::is_disk_full) || full_text {
        eprintln!(
            "the disk is full (database: {}). Nothing ie-bench reported as stored is lost: \
             every write is on disk before it is reported. Free some space and run the \
             command again; `ie-bench runs resume ID` continues an interrupted run.",
            db.display()
        );
    }
}

/// The error and its causes, `: `-separated, skipping a cause whose text its parent already
/// ends with (the library errors name their I/O cause in their own message).
fn report(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if msg.ends_with(&text) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&text);
    }
    msg
}

/// Writes to standard output; a reader that went away (`| head`) ends the output quietly
/// instead of the panic `print!` would raise.
pub(crate) fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to standard output"),
    }
}

/// Prints what a database write said: its output, then its notes.
pub(crate) fn said(outcome: Result<Said>) -> Result<ExitCode> {
    let said = outcome?;
    emit(&said.out)?;
    eprint!("{}", said.err);
    Ok(ExitCode::SUCCESS)
}
