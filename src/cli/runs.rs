//! `ie-bench run ...` (start a stored run) and `ie-bench runs ...` (list, show, cancel, resume).
//!
//! A run keeps the words of the command that started it, so `runs resume` re-reads exactly the
//! same settings. Cancelling a run that another process is executing goes through a flag file
//! beside the database (that process holds the database lock, so nobody else can write it);
//! the runner polls for it between steps.

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::prompts::PromptArgs;
use super::train::TrainSettings;
use crate::eval::compare::Answer;
use crate::eval::read_predictions;
use crate::eval::Mode;
use crate::export::{render, report_tables, Format};
use crate::ie::Split;
use crate::ie::TaskKind;
use crate::jobs::evaluate::stored_report;
use crate::jobs::evaluate::{run_eval, EvalJob};
use crate::jobs::external::{ExternalJob, MetricPattern};
use crate::jobs::train::TrainJob;
use crate::jobs::{CancelToken, JobEvent, Recorder};
use crate::model::checkpoint::device;
use crate::model::predict::PredictOptions;
use crate::store::remote::{serve, Reader};
use crate::store::DatasetRef;
use crate::store::{format_time, RunId, RunKind, RunManifest, RunStatus, Store, StoredPrediction};
use std::sync::Arc;

#[derive(clap::Subcommand, Clone)]
pub enum RunCommand {
    /// Fine-tune as a stored run: loss per step, dev scores at each checkpoint, test scores and
    /// predictions at the end.
    Train(RunTrainArgs),
    /// Run an external trainer command (after `--`): its log lines become metrics, and its
    /// predictions file is scored and stored when it ends.
    External(ExternalArgs),
    /// Store an official predictions file (predict_eval_predictions.jsonl) as a run.
    Ingest(IngestArgs),
    /// Predict and score a split with a model (a checkpoint, say), stored as a run.
    Eval(EvalArgs),
    /// Evaluate a model on the held-out test sets of a zero-shot config (`--config zeroshot`
    /// unless another is given); FewRel and Wiki-ZSL folds are reported as their mean.
    ZeroShot(EvalArgs),
}

impl RunCommand {
    fn kind(&self) -> RunKind {
        match self {
            RunCommand::Train(_) => RunKind::Train,
            RunCommand::External(_) => RunKind::External,
            RunCommand::Ingest(_) => RunKind::Ingest,
            RunCommand::Eval(_) => RunKind::Eval,
            RunCommand::ZeroShot(_) => RunKind::ZeroShot,
        }
    }

    fn model(&self) -> Option<String> {
        match self {
            RunCommand::Train(a) => Some(a.model.clone()),
            RunCommand::External(a) => Some(a.command.join(" ")),
            RunCommand::Ingest(a) => Some(a.predictions.display().to_string()),
            RunCommand::Eval(a) | RunCommand::ZeroShot(a) => Some(a.model.clone()),
        }
    }

    fn out(&self) -> Option<PathBuf> {
        match self {
            RunCommand::Train(a) => a.out.clone(),
            RunCommand::External(a) => a.out.clone(),
            RunCommand::Ingest(_) | RunCommand::Eval(_) | RunCommand::ZeroShot(_) => None,
        }
    }

    fn detach(&self) -> bool {
        match self {
            RunCommand::Train(a) => a.detach,
            RunCommand::External(a) => a.detach,
            RunCommand::Ingest(_) => false,
            RunCommand::Eval(a) | RunCommand::ZeroShot(a) => a.detach,
        }
    }
}

#[derive(clap::Args, Clone)]
pub struct ExternalArgs {
    /// The official predictions file the trainer writes (read when it ends).
    #[arg(long)]
    predictions: PathBuf,
    /// A regex for metric lines, with a named group `loss` (and optionally `step`, `lr`,
    /// `epoch`); default: the Hugging Face Trainer's `{'loss': ...}` lines.
    #[arg(long)]
    metric_pattern: Option<String>,
    /// Directory to run the command in.
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Where its log goes (default: runs/ID beside the database).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long)]
    detach: bool,
    /// The trainer command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

#[derive(clap::Args, Clone)]
pub struct EvalArgs {
    /// Model directory, checkpoint or Hugging Face repo id.
    #[arg(long)]
    model: String,
    #[command(flatten)]
    prompts: PromptArgs,
    #[arg(long, default_value = "test")]
    split: Split,
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    #[arg(long, default_value_t = 50)]
    max_new_tokens: usize,
    #[arg(long, default_value_t = 512)]
    max_source_length: usize,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    #[arg(long)]
    detach: bool,
}

#[derive(clap::Args, Clone)]
pub struct IngestArgs {
    /// Official predictions file, or ie-bench prompts lines with a "prediction" field.
    predictions: PathBuf,
}

#[derive(clap::Args, Clone)]
pub struct RunTrainArgs {
    /// Model directory or Hugging Face repo id.
    #[arg(long)]
    model: String,
    #[command(flatten)]
    prompts: PromptArgs,
    #[command(flatten)]
    settings: TrainSettings,
    /// Checkpoint directory (default: runs/ID beside the database).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Batch size for the dev and test evaluations.
    #[arg(long, default_value_t = 16)]
    eval_batch_size: usize,
    #[arg(long, default_value_t = 50)]
    max_new_tokens: usize,
    /// Start in the background and print the run id.
    #[arg(long)]
    detach: bool,
}

/// Re-parses the stored words of a run's command.
#[derive(Parser)]
#[command(name = "run")]
struct Replay {
    #[command(subcommand)]
    command: RunCommand,
}

#[derive(clap::Subcommand)]
pub enum RunsCommand {
    /// Show one run: settings, loss curve, and its score table.
    Show {
        id: RunId,
        #[arg(long, default_value = "table", value_parser = super::choice::<Format>())]
        format: Format,
        #[arg(long, default_value = "compat", value_parser = super::choice::<Mode>())]
        mode: Mode,
    },
    /// Stop a run after its current step (it can be resumed).
    Cancel { id: RunId },
    /// Per dataset, how many test examples run B fixed, broke, or left right or wrong
    /// compared with run A (matched by task, dataset and id).
    Compare {
        a: RunId,
        b: RunId,
        #[arg(long, default_value = "strict", value_parser = super::choice::<Mode>())]
        mode: Mode,
        #[arg(long, default_value = "table", value_parser = super::choice::<Format>())]
        format: Format,
    },
    /// Score a run's stored predictions again against the gold corrections in force; the
    /// earlier scores are kept.
    Rescore { id: RunId },
    /// Continue a cancelled or interrupted run from its newest checkpoint.
    Resume {
        id: RunId,
        #[arg(long)]
        detach: bool,
    },
}

#[derive(clap::Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    command: Option<RunsCommand>,
    #[arg(long, default_value = "table", value_parser = super::choice::<Format>())]
    format: Format,
}

fn open(db: &Path) -> Result<Store> {
    Store::open(db).context("opening the database")
}

fn cancel_flag(db: &Path, id: RunId) -> PathBuf {
    db.join(format!("cancel-{id}"))
}

/// The words after `run` on this process's command line (global `--db` skipped).
fn run_words() -> Vec<String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--db" => i += 2,
            "run" => {
                return args[i + 1..]
                    .iter()
                    .filter(|a| *a != "--detach")
                    .cloned()
                    .collect()
            }
            _ => i += 1,
        }
    }
    Vec::new()
}

pub fn start(db: &Path, cmd: RunCommand) -> Result<ExitCode> {
    if let RunCommand::Ingest(a) = &cmd {
        // Read before a run exists, so a bad file leaves no trace.
        read_predictions(&a.predictions).context("reading predictions")?;
    }
    let store = open(db)?;
    let words = run_words();
    let id = store.create_run(&RunManifest {
        kind: cmd.kind(),
        status: RunStatus::Queued,
        created: crate::store::now(),
        finished: None,
        model: cmd.model(),
        datasets: Vec::new(),
        settings: serde_json::json!({ "argv": words }),
        out_dir: None,
        pid: None,
        error: None,
        gold_version: 0,
    })?;
    let out = cmd
        .out()
        .unwrap_or_else(|| db.join("runs").join(id.to_string()));
    // Absolute, so `runs resume` works from any directory.
    let out = std::path::absolute(&out).unwrap_or(out);
    store.update_run(id, |m| m.out_dir = Some(out.display().to_string()))?;
    if cmd.detach() {
        drop(store);
        return detach(db, id, &out);
    }
    execute(store, db, id, cmd)
}

/// Starts `ie-bench runs resume ID` in its own session, logging to `OUT/job.log`.
fn detach(db: &Path, id: RunId, out: &Path) -> Result<ExitCode> {
    use std::os::unix::process::CommandExt;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let log_path = out.join("job.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    std::process::Command::new(std::env::current_exe()?)
        .arg("--db")
        .arg(db)
        .args(["runs", "resume", &id.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("starting the background run")?;
    println!("{id}");
    eprintln!(
        "run {id} started in the background; log: {}",
        log_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs (or continues) run `id` in this process.
fn execute(store: Store, db: &Path, id: RunId, cmd: RunCommand) -> Result<ExitCode> {
    // Other processes (`runs`, the TUI) read the database through this one while it runs.
    let store = Arc::new(store);
    let _server = serve(Arc::clone(&store))?;
    let store = &*store;
    let manifest = store.run(id)?;
    let out = PathBuf::from(
        manifest
            .out_dir
            .clone()
            .context("run has no output directory")?,
    );
    let cancel = CancelToken::default();
    let flag = cancel_flag(db, id);
    let _ = std::fs::remove_file(&flag);
    let watcher = {
        let cancel = cancel.clone();
        let flag = flag.clone();
        std::thread::spawn(move || {
            while !cancel.is_cancelled() {
                if flag.exists() {
                    cancel.cancel();
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        })
    };
    let tty = std::io::stderr().is_terminal();
    let mut listener = |e: &JobEvent| print_event(e, tty);
    let mut rec = Recorder {
        store,
        run: id,
        listener: &mut listener,
    };
    let result = match cmd {
        RunCommand::Train(a) => {
            train_job(a, out).and_then(|job| Ok(crate::jobs::train::run(job, &cancel, &mut rec)?))
        }
        RunCommand::External(a) => external_job(a, out)
            .and_then(|job| Ok(crate::jobs::external::run(job, &cancel, &mut rec)?)),
        RunCommand::Eval(a) => eval_job(a, false).and_then(|job| {
            link_datasets(
                store,
                id,
                job.instances.iter().map(|i| (i.task, i.dataset.as_str())),
            )?;
            Ok(run_eval(job, &cancel, &mut rec)?)
        }),
        RunCommand::ZeroShot(a) => eval_job(a, true).and_then(|job| {
            link_datasets(
                store,
                id,
                job.instances.iter().map(|i| (i.task, i.dataset.as_str())),
            )?;
            Ok(run_eval(job, &cancel, &mut rec)?)
        }),
        RunCommand::Ingest(a) => {
            let lines = read_predictions(&a.predictions)?;
            link_datasets(
                store,
                id,
                lines.iter().map(|l| (l.task, l.dataset.as_str())),
            )?;
            let r = crate::jobs::external::ingest_file(&mut rec, &a.predictions, 0);
            let status = if r.is_ok() {
                RunStatus::Finished
            } else {
                RunStatus::Failed
            };
            rec.finish(status, r.as_ref().err().map(|e| e.to_string()))?;
            Ok(r?)
        }
    };
    cancel.cancel();
    let _ = watcher.join();
    let _ = std::fs::remove_file(&flag);
    if let Err(e) = result {
        // A job that failed before it could record it (bad settings, say).
        if !store.run(id)?.status.is_over() {
            store.update_run(id, |m| {
                m.status = RunStatus::Failed;
                m.error = Some(format!("{e:#}"));
                m.finished = Some(crate::store::now());
            })?;
        }
        return Err(e.context(format!("run {id}")));
    }
    let status = store.run(id)?.status;
    eprintln!("run {id}: {}", status.as_str());
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

/// Records which imported version of each dataset a run uses (an auxiliary task's data is its
/// main task's directory unless it has its own), so later imports do not change what it used.
fn link_datasets<'a>(
    store: &Store,
    id: RunId,
    used: impl Iterator<Item = (TaskKind, &'a str)>,
) -> Result<()> {
    let mut refs: Vec<DatasetRef> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (task, dataset) in used {
        if !seen.insert((task, dataset)) {
            continue;
        }
        for name in [
            format!("{task}/{dataset}"),
            format!("{}/{dataset}", task.main_task()),
        ] {
            if let Some(m) = store.dataset(&name)? {
                if !refs.iter().any(|r| r.name == m.name) {
                    refs.push(DatasetRef {
                        name: m.name,
                        version: m.version,
                    });
                }
                break;
            }
        }
    }
    store.update_run(id, |m| m.datasets = refs.clone())?;
    Ok(())
}

fn train_job(a: RunTrainArgs, out: PathBuf) -> Result<TrainJob> {
    let build = |args: &PromptArgs, split| -> Result<Vec<crate::prompt::PromptInstance>> {
        Ok(args.build(split)?.output.instances)
    };
    let lenient = a.prompts.clone_skipping_missing();
    Ok(TrainJob {
        model: a.model.clone(),
        out,
        options: a.settings.options(a.prompts.seed),
        epochs: a.settings.epochs(),
        train: build(&a.prompts, Split::Train)?,
        dev: build(&lenient, Split::Dev)?,
        test: build(&lenient, Split::Test)?,
        predict: PredictOptions {
            batch_size: a.eval_batch_size,
            max_new_tokens: a.max_new_tokens,
            max_source_length: a.settings.max_source_length,
        },
        device: device(&a.settings.device)?,
    })
}

fn eval_job(mut a: EvalArgs, zero_shot: bool) -> Result<EvalJob> {
    if zero_shot && a.prompts.config == "supervised" {
        // `supervised` is the flag's default: a zero-shot run means the zero-shot config.
        a.prompts.config = "zeroshot".to_string();
    }
    let instances = a
        .prompts
        .clone_skipping_missing()
        .build(a.split)?
        .output
        .instances;
    if instances.is_empty() {
        bail!(
            "the {} split of config {} is empty",
            a.split,
            a.prompts.config
        );
    }
    Ok(EvalJob {
        model: a.model,
        instances,
        predict: PredictOptions {
            batch_size: a.batch_size,
            max_new_tokens: a.max_new_tokens,
            max_source_length: a.max_source_length,
        },
        device: device(&a.device)?,
    })
}

fn external_job(a: ExternalArgs, out: PathBuf) -> Result<ExternalJob> {
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let pattern = match &a.metric_pattern {
        Some(p) => MetricPattern::parse(p)?,
        None => MetricPattern::TrainerDict,
    };
    Ok(ExternalJob {
        command: a.command,
        workdir: a.workdir,
        predictions: a.predictions,
        pattern,
        log: out.join("external.log"),
    })
}

fn print_event(e: &JobEvent, tty: bool) {
    match e {
        JobEvent::Started { run, resumed_at } if *resumed_at > 0 => {
            eprintln!("run {run}: resuming at step {resumed_at}")
        }
        JobEvent::Started { run, .. } => eprintln!("run {run}: started"),
        JobEvent::Metric { point, .. } => {
            let line = format!(
                "step {} loss {:.4} lr {:.2e} {:.0} tok/s",
                point.step,
                point.loss,
                point.lr.unwrap_or(0.0),
                point.tokens_per_s.unwrap_or(0.0)
            );
            if tty {
                eprint!("\r{line}   ");
            } else if point.step % 10 == 0 || point.step == 1 {
                eprintln!("{line}");
            }
        }
        JobEvent::Checkpoint { step, dir, .. } => {
            if tty {
                eprintln!();
            }
            eprintln!("checkpoint at step {step}: {dir}")
        }
        JobEvent::Scores { step, split, .. } => eprintln!("{split} scores stored at step {step}"),
        JobEvent::Progress {
            done, total, what, ..
        } if tty && *what == "predict" => {
            eprint!("\rpredict {done}/{total}   ")
        }
        _ => {}
    }
}

pub fn runs(db: &Path, a: RunsArgs) -> Result<ExitCode> {
    match a.command {
        None => list(db, a.format),
        Some(RunsCommand::Show { id, format, mode }) => show(db, id, format, mode),
        Some(RunsCommand::Cancel { id }) => cancel(db, id),
        Some(RunsCommand::Rescore { id }) => rescore(db, id),
        Some(RunsCommand::Compare { a, b, mode, format }) => compare(db, a, b, mode, format),
        Some(RunsCommand::Resume { id, detach: true }) => {
            let store = open(db)?;
            let m = resumable(&store, id)?;
            drop(store);
            detach(db, id, Path::new(m.out_dir.as_deref().unwrap_or(".")))
        }
        Some(RunsCommand::Resume { id, detach: false }) => {
            let store = open(db)?;
            let m = resumable(&store, id)?;
            let words: Vec<String> = m.settings["argv"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|w| w.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let replay = Replay::try_parse_from(std::iter::once("run".to_string()).chain(words))
                .with_context(|| format!("run {id}: its stored command no longer parses"))?;
            execute(store, db, id, replay.command)
        }
    }
}

fn resumable(store: &Store, id: RunId) -> Result<RunManifest> {
    let m = store.run(id)?;
    if m.status == RunStatus::Finished {
        bail!("run {id} has finished; there is nothing to resume");
    }
    Ok(m)
}

fn list(db: &Path, format: Format) -> Result<ExitCode> {
    let mut store = Reader::open(db).context("opening the database")?;
    let runs = store.runs()?;
    if format == Format::Json {
        let rows: Vec<serde_json::Value> = runs
            .iter()
            .map(|(id, m)| {
                serde_json::json!({
                    "id": id,
                    "kind": m.kind.as_str(),
                    "status": m.status.as_str(),
                    "created": format_time(m.created),
                })
            })
            .collect();
        super::emit(&format!("{}\n", serde_json::to_string_pretty(&rows)?))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = format!(
        "{:>4}  {:<9}  {:<11}  {:<20}  {}\n",
        "id", "kind", "status", "created", "model"
    );
    for (id, m) in &runs {
        text.push_str(&format!(
            "{:>4}  {:<9}  {:<11}  {:<20}  {}\n",
            id,
            m.kind.as_str(),
            m.status.as_str(),
            format_time(m.created),
            m.model.as_deref().unwrap_or("-")
        ));
    }
    super::emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn show(db: &Path, id: RunId, format: Format, mode: Mode) -> Result<ExitCode> {
    let mut store = Reader::open(db).context("opening the database")?;
    let m = store.run(id)?;
    let metrics = store.metrics(id)?;
    let rows = store.scores(id)?;
    let test = stored_report(&rows, "test", mode, None);
    // Zero-shot tables show the paper's zero-shot scores and the fold means beside them.
    let paper = (m.kind == RunKind::ZeroShot).then_some(crate::data::catalog::Setting::ZeroShot);
    // After gold corrections, the table against the released gold is kept beside it.
    let original = test
        .as_ref()
        .filter(|t| t.gold_version > 0)
        .and_then(|_| stored_report(&rows, "test", mode, Some(0)));
    if format == Format::Json {
        let value = serde_json::json!({
            "id": id,
            "kind": m.kind.as_str(),
            "status": m.status.as_str(),
            "created": format_time(m.created),
            "finished": m.finished.map(format_time),
            "model": m.model,
            "out_dir": m.out_dir,
            "error": m.error,
            "settings": m.settings,
            "datasets": m.datasets,
            "metrics": metrics,
            "scores": test.as_ref().map(|t| t.report.to_json()),
            "fold_means": test.as_ref().map(|t| {
                t.report
                    .tasks
                    .iter()
                    .flat_map(|(task, r)| r.fold_means().into_iter().map(move |f| (task, f)))
                    .map(|(task, f)| serde_json::json!({
                        "task": task.as_str(), "group": f.group, "mean": f.mean, "folds": f.folds
                    }))
                    .collect::<Vec<_>>()
            }),
            "gold_version": test.as_ref().map(|t| t.gold_version),
            "scores_original_gold": original.as_ref().map(|t| t.report.to_json()),
        });
        super::emit(&format!("{}\n", serde_json::to_string_pretty(&value)?))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = format!(
        "run {id}: {} {} (created {}{})\nmodel: {}\nout: {}\n",
        m.kind.as_str(),
        m.status.as_str(),
        format_time(m.created),
        m.finished
            .map(|f| format!(", ended {}", format_time(f)))
            .unwrap_or_default(),
        m.model.as_deref().unwrap_or("-"),
        m.out_dir.as_deref().unwrap_or("-"),
    );
    if let Some(e) = &m.error {
        text.push_str(&format!("error: {e}\n"));
    }
    if !m.datasets.is_empty() {
        let used: Vec<String> = m
            .datasets
            .iter()
            .map(|d| format!("{} (v{})", d.name, d.version))
            .collect();
        text.push_str(&format!("imported data used: {}\n", used.join(", ")));
    }
    if let (Some(first), Some(last)) = (metrics.first(), metrics.last()) {
        text.push_str(&format!(
            "loss: {:.4} at step {} -> {:.4} at step {} ({} points)\n",
            first.loss,
            first.step,
            last.loss,
            last.step,
            metrics.len()
        ));
    }
    match &test {
        Some(t) => {
            text.push_str(&format!(
                "\ntest scores ({} mode, step {}{})\n",
                mode.as_str(),
                t.step,
                if t.gold_version > 0 {
                    format!(", corrected gold version {}", t.gold_version)
                } else {
                    String::new()
                }
            ));
            text.push_str(&render(&report_tables(&t.report, paper), format));
        }
        None => text.push_str("no test scores yet\n"),
    }
    if let Some(t) = original {
        text.push_str("\ntest scores against the released gold\n");
        text.push_str(&render(&report_tables(&t.report, paper), format));
    }
    super::emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn cancel(db: &Path, id: RunId) -> Result<ExitCode> {
    match Store::open(db) {
        Ok(store) => {
            // Nobody holds the database, so nobody is executing the run.
            let m = store.run(id)?;
            if m.status.is_over() {
                bail!("run {id} is already {}", m.status.as_str());
            }
            store.update_run(id, |m| {
                m.status = RunStatus::Cancelled;
                m.finished = Some(crate::store::now());
            })?;
            eprintln!("run {id}: cancelled");
        }
        Err(crate::store::StoreError::Locked { holder, .. }) => {
            std::fs::write(cancel_flag(db, id), b"")
                .with_context(|| format!("asking {holder} to cancel run {id}"))?;
            eprintln!("run {id}: asked {holder} to stop it after its current step");
        }
        Err(e) => return Err(e).context("opening the database"),
    }
    Ok(ExitCode::SUCCESS)
}

fn compare(db: &Path, a: RunId, b: RunId, mode: Mode, format: Format) -> Result<ExitCode> {
    let mut store = Reader::open(db).context("opening the database")?;
    let (pa, pb) = (store.predictions(a)?, store.predictions(b)?);
    for (id, p) in [(a, &pa), (b, &pb)] {
        if p.is_empty() {
            store.run(id)?;
            bail!("run {id} has no stored predictions to compare");
        }
    }
    let flips = crate::eval::compare::compare(&answers(&pa), &answers(&pb), mode);
    if format == Format::Json {
        let value: serde_json::Map<String, serde_json::Value> = flips
            .iter()
            .map(|(k, f)| {
                (
                    k.clone(),
                    serde_json::to_value(f).expect("counts serialise"),
                )
            })
            .collect();
        super::emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({
                "a": a, "b": b, "mode": mode.as_str(), "datasets": value
            }))?
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    let width = flips
        .keys()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    let mut text = format!(
        "run {a} -> run {b} ({} mode)\n{:<width$}  {:>5}  {:>6}  {:>10}  {:>10}  {:>9}\n",
        mode.as_str(),
        "dataset",
        "fixed",
        "broken",
        "both-right",
        "both-wrong",
        "unmatched"
    );
    for (name, f) in &flips {
        text.push_str(&format!(
            "{name:<width$}  {:>5}  {:>6}  {:>10}  {:>10}  {:>9}\n",
            f.fixed, f.broken, f.both_right, f.both_wrong, f.unmatched
        ));
    }
    super::emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn answers(rows: &[(String, u64, StoredPrediction)]) -> Vec<Answer<'_>> {
    rows.iter()
        .filter_map(|(key, _, p)| {
            Some(Answer {
                task: p.task.parse().ok()?,
                dataset: key.split_once('/').map_or(key.as_str(), |(_, d)| d),
                id: &p.id,
                ground_truth: &p.ground_truth,
                prediction: &p.prediction,
            })
        })
        .collect()
}

fn rescore(db: &Path, id: RunId) -> Result<ExitCode> {
    let store = open(db)?;
    let predictions = store.predictions(id, None)?;
    if predictions.is_empty() {
        store.run(id)?;
        bail!("run {id} has no stored predictions to re-score");
    }
    let state = store.gold_state()?;
    let step =
        stored_report(&store.scores(id)?, "test", Mode::Compat, Some(0)).map_or(0, |t| t.step);
    let mut quiet = |_: &JobEvent| {};
    let mut rec = Recorder {
        store: &store,
        run: id,
        listener: &mut quiet,
    };
    let changed = crate::jobs::evaluate::rescore(&mut rec, &predictions, &state, step)?;
    eprintln!(
        "run {id}: re-scored against gold version {} ({changed} of {} predictions have corrected gold)",
        state.version,
        predictions.len()
    );
    Ok(ExitCode::SUCCESS)
}
