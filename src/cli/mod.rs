//! Command-line front end: clap subcommands over the library calls.

mod bench;
mod datasets;
mod eval;
mod gold;
mod import;
pub mod launch;
pub mod model;
mod prompts;
mod runs;
pub mod sample;
pub mod through;
mod train;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::data::{config::BUILTIN_NAMES, TaskConfig};
use crate::prompt::InstructionBank;

#[derive(Parser)]
#[command(
    name = "ie-bench",
    version,
    about = "A workbench for instruction-tuned information extraction (InstructUIE)"
)]
struct Cli {
    /// The database of runs (default: $IE_BENCH_DB, else $XDG_DATA_HOME/ie-bench/db).
    #[arg(long, global = true)]
    db: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    tui: crate::tui::TuiArgs,
}

#[derive(Subcommand)]
enum Command {
    /// The terminal workbench (also what `ie-bench` with no command opens).
    Tui(crate::tui::TuiArgs),
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
    Run(launch::RunCommand),
    /// List stored runs; show, compare, cancel, resume or re-score them.
    Runs(runs::RunsArgs),
    /// Bring an IE INSTRUCTIONS tree, its task configs and instruction bank into the database
    /// (unchanged files are a no-op; a changed dataset becomes a new version).
    Import(import::Args),
    /// Correct gold labels (an append-only log with undo and redo).
    #[command(subcommand)]
    Gold(gold::GoldCommand),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let db = cli.db.clone().unwrap_or_else(crate::store::default_path);
    let result = match cli.command.unwrap_or(Command::Tui(cli.tui)) {
        Command::Tui(a) => crate::tui::run(&db, a),
        Command::Datasets(a) => datasets::run(a),
        Command::Prompts(a) => prompts::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Model(c) => model::run(c),
        Command::Predict(a) => model::predict_cmd(a),
        Command::Train(a) => train::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Run(c) => launch::start(&db, c),
        Command::Runs(a) => runs::runs(&db, a),
        Command::Gold(c) => gold::run(&db, c),
        Command::Import(a) => import::run(&db, a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let text = report(&e);
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
            ExitCode::FAILURE
        }
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

/// A clap parser offering exactly a core enum's names.
pub(crate) fn choice<T: crate::ie::Named + Send + Sync>(
) -> impl clap::builder::TypedValueParser<Value = T> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(T::ALL.iter().map(|c| c.name()))
        .map(|s| T::from_name(&s).expect("clap only passes listed names"))
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

/// `--data`, defaulting to the sample data.
pub(crate) fn data_dir(data: Option<PathBuf>) -> Result<PathBuf> {
    match data {
        Some(d) => Ok(d),
        None => sample::sample_data_dir(),
    }
}

/// `--config NAME|DIR`: a directory; or a name, looked up first in the data's own
/// `../configs/NAME` (the sample data ships one) and then among the built-in official configs;
/// `builtin:NAME` forces the official one.
pub(crate) fn task_config(spec: &str, data: &Path) -> Result<TaskConfig> {
    let as_dir = Path::new(spec);
    if as_dir.is_dir() {
        return TaskConfig::read_dir(as_dir).context("reading task config");
    }
    let (forced, name) = match spec.strip_prefix("builtin:") {
        Some(n) => (true, n),
        None => (false, spec),
    };
    if !forced {
        if let Some(local) = data.parent().map(|p| p.join("configs").join(name)) {
            if local.is_dir() {
                return TaskConfig::read_dir(&local).context("reading task config");
            }
        }
    }
    TaskConfig::builtin(name).with_context(|| {
        format!(
            "--config {spec:?} is neither a directory nor a known config (built in: {})",
            BUILTIN_NAMES.join(", ")
        )
    })
}

/// `--instructions FILE`, defaulting to the data's `../configs/instruction_config.json`, else the
/// official bank: where it comes from and its JSON text.
pub(crate) fn instruction_bank_source(
    file: Option<&Path>,
    data: &Path,
) -> Result<(PathBuf, String)> {
    let local = data
        .parent()
        .map(|p| p.join("configs").join("instruction_config.json"))
        .filter(|p| p.is_file());
    match file.map(Path::to_path_buf).or(local) {
        Some(f) => {
            let text = crate::data::error::read_text(
                &f,
                "a JSON object {TASK: [{instruction_type, instruction}]}",
            )
            .context("reading instruction bank")?;
            Ok((f, text))
        }
        None => Ok((
            PathBuf::from("builtin:instruction_config.json"),
            InstructionBank::builtin_text().to_string(),
        )),
    }
}

pub(crate) fn instruction_bank(file: Option<&Path>, data: &Path) -> Result<InstructionBank> {
    let (origin, text) = instruction_bank_source(file, data)?;
    InstructionBank::from_text(&origin, &text).context("reading instruction bank")
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
