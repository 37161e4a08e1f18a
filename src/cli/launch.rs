//! `ie-bench run ...`: starting stored runs, and the process that executes them.
//!
//! The process that executes runs holds the database. It runs them one at a time on the job
//! manager's compute thread, answers other processes' reads on the database socket, and takes
//! their requests there too: `run ... ` from another shell is queued behind the current run,
//! `runs cancel` and `runs resume` reach the queue. It exits when its queue is empty. A run
//! keeps the words of the command that started it, so `runs resume` re-reads exactly the same
//! settings.

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use super::model::GenerateArgs;
use super::prompts::PromptArgs;
use super::train::TrainSettings;
use crate::eval::read_predictions;
use crate::ie::{dataset_key, Split, TaskKind};
use crate::jobs::evaluate::{run_eval, EvalJob};
use crate::jobs::external::{ExternalJob, MetricPattern};
use crate::jobs::manager::{JobManager, Work};
use crate::jobs::train::TrainJob;
use crate::jobs::JobEvent;
use crate::model::checkpoint::device;
use crate::model::predict::PredictOptions;
use crate::store::remote::{open_or_reach, request, serve, Control, Opened};
use crate::store::{DatasetRef, RunId, RunKind, RunManifest, RunStatus, Store};

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
            RunCommand::Eval(a) | RunCommand::ZeroShot(a) => Some(a.on.model.clone()),
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
    /// Stop the trainer and end the run as `diverged` at the first NaN or infinite loss.
    #[arg(long)]
    stop_on_nan: bool,
    /// The trainer command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

#[derive(clap::Args, Clone)]
pub struct EvalArgs {
    #[command(flatten)]
    on: GenerateArgs,
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
    /// Decoder-only models: keep the dev and test answers inside each instance's answer
    /// grammar (labels from its options, spans from its sentence).
    #[arg(long)]
    constrain: bool,
    #[arg(long, default_value_t = 50)]
    max_new_tokens: usize,
    /// Evaluate at most the first N test instances of each dataset at the end (0: all; the
    /// release's supervised test split has 83,916).
    #[arg(long, default_value_t = 0)]
    max_test: usize,
    /// Start in the background and print the run id.
    #[arg(long)]
    detach: bool,
    /// End the run as `diverged` at the first NaN or infinite loss (its metrics so far and its
    /// last checkpoint stay).
    #[arg(long)]
    stop_on_nan: bool,
}

/// Re-parses the stored words of a run's command.
#[derive(Parser)]
#[command(name = "run")]
pub struct Replay {
    #[command(subcommand)]
    pub command: RunCommand,
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

/// Parses stored command words back into a command.
pub fn replay(words: &[String]) -> Result<RunCommand> {
    Ok(
        Replay::try_parse_from(std::iter::once("run".to_string()).chain(words.iter().cloned()))?
            .command,
    )
}

/// `ie-bench run ...`: runs it here, or queues it in the process that holds the database.
pub fn start(db: &Path, cmd: RunCommand) -> Result<ExitCode> {
    // Checked before a run exists, so bad input leaves no trace.
    match &cmd {
        RunCommand::Ingest(a) => {
            read_predictions(&a.predictions).context("reading predictions")?;
        }
        RunCommand::External(ExternalArgs {
            metric_pattern: Some(p),
            ..
        }) => {
            MetricPattern::parse(p)?;
        }
        _ => {}
    }
    let words = run_words();
    let store = match open_or_reach(db).context("opening the database")? {
        Opened::Here(store) => store,
        Opened::Holder { holder, conn } => {
            let answer = request(
                db,
                conn,
                &serde_json::json!({"op": "submit", "words": words}),
            )
            .with_context(|| format!("queueing the run in {holder}"))?;
            let id = answer
                .as_u64()
                .context("the holder answered without a run id")?;
            eprintln!("run {id} queued in {holder}; follow it with `ie-bench runs show {id}`");
            println!("{id}");
            return Ok(ExitCode::SUCCESS);
        }
    };
    let id = create(&store, db, &cmd, words)?;
    if cmd.detach() {
        drop(store);
        let out = PathBuf::from(store_out(db, id, &cmd));
        return detach(db, id, &out);
    }
    hold(store, db, Some((id, cmd)))
}

/// Where a run's files go: `--out`, else `runs/ID` beside the database (absolute, so
/// `runs resume` works from any directory).
fn store_out(db: &Path, id: RunId, cmd: &RunCommand) -> String {
    let out = cmd
        .out()
        .unwrap_or_else(|| db.join("runs").join(id.to_string()));
    std::path::absolute(&out)
        .unwrap_or(out)
        .display()
        .to_string()
}

/// Stores a new run, queued.
fn create(store: &Store, db: &Path, cmd: &RunCommand, words: Vec<String>) -> Result<RunId> {
    let id = store.create_run(&RunManifest {
        model: cmd.model(),
        settings: serde_json::json!({ "argv": words }),
        ..RunManifest::new(cmd.kind(), crate::store::now())
    })?;
    store.update_run(id, |m| m.out_dir = Some(store_out(db, id, cmd)))?;
    Ok(id)
}

/// Starts `ie-bench runs resume ID` in its own session, logging to `OUT/job.log`.
pub fn detach(db: &Path, id: RunId, out: &Path) -> Result<ExitCode> {
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

/// The run's stored command, for `runs resume`.
pub fn stored_command(m: &RunManifest, id: RunId) -> Result<RunCommand> {
    let words: Vec<String> = m.settings["argv"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|w| w.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    replay(&words).with_context(|| format!("run {id}: its stored command no longer parses"))
}

/// The process that holds the database: its job manager, and the socket on which other
/// processes read and queue runs. `ie-bench run` and the TUI both hold the database this way.
pub struct Holder {
    pub store: Arc<Store>,
    pub manager: Arc<JobManager>,
    pub events: std::sync::mpsc::Receiver<JobEvent>,
    db: PathBuf,
    server: Option<crate::store::remote::Server>,
}

impl Holder {
    pub fn new(store: Store, db: &Path) -> Result<Holder> {
        let store = Arc::new(store);
        let (manager, events) = JobManager::start(Arc::clone(&store));
        let manager = Arc::new(manager);
        let control: Control = {
            let store = Arc::clone(&store);
            let manager = Arc::clone(&manager);
            let db = db.to_path_buf();
            Arc::new(move |req: &serde_json::Value| control(&store, &manager, &db, req))
        };
        let server = serve(Arc::clone(&store), Some(control))?;
        Ok(Holder {
            store,
            manager,
            events,
            db: db.to_path_buf(),
            server: Some(server),
        })
    }

    /// Stores and queues a run given the words after `ie-bench run`.
    pub fn submit(&self, words: Vec<String>) -> Result<RunId> {
        submit(&self.store, &self.manager, &self.db, words)
    }

    /// Queues a stored run again, to continue from its last checkpoint.
    pub fn resume(&self, id: RunId) -> Result<()> {
        resume(&self.store, &self.manager, id)
    }

    /// Cancels a queued or running run.
    pub fn cancel(&self, id: RunId) -> Result<()> {
        if !self.manager.cancel(id) {
            cancel_stored(&self.store, id)?;
        }
        Ok(())
    }

    /// Stops answering other processes (requests already taken still run).
    pub fn close_socket(&mut self) {
        self.server.take();
    }

    /// Closes the socket, lets the compute thread finish what is queued, and waits for it.
    pub fn shut_down(&mut self) {
        self.close_socket();
        self.manager.close();
    }
}

/// Holds the database: runs `first` (if any) and whatever other processes queue, serving
/// their reads meanwhile, until the queue is empty.
pub fn hold(store: Store, db: &Path, first: Option<(RunId, RunCommand)>) -> Result<ExitCode> {
    let mut holder = Holder::new(store, db)?;
    let mut last = None;
    if let Some((id, cmd)) = first {
        queue(&holder.store, &holder.manager, id, cmd)?;
        last = Some(id);
    }
    let tty = std::io::stderr().is_terminal();
    // Runs submitted from elsewhere may arrive while one runs: wait for the queue to drain.
    let drain = |holder: &Holder| loop {
        match holder
            .events
            .recv_timeout(std::time::Duration::from_millis(200))
        {
            Ok(e) => print_event(&e, tty),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if holder.manager.pending() == 0 => {
                break
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    };
    drain(&holder);
    // No new requests once the socket is gone; one that came in just before still runs.
    holder.close_socket();
    drain(&holder);
    if let Some(id) = last {
        let m = holder.store.run(id)?;
        eprintln!("run {id}: {}", m.status.as_str());
        if let Some(error) = m.error {
            bail!("run {id} {}: {error}", m.status.as_str());
        }
        println!("{id}");
    }
    Ok(ExitCode::SUCCESS)
}

fn submit(store: &Store, manager: &JobManager, db: &Path, words: Vec<String>) -> Result<RunId> {
    let cmd = replay(&words)?;
    let id = create(store, db, &cmd, words)?;
    queue(store, manager, id, cmd)?;
    Ok(id)
}

/// Refuses to resume a finished run, or one whose external trainer (started by a holder that
/// died) still runs: a second trainer beside it would write the same files.
pub fn check_resumable(m: &RunManifest, id: RunId) -> Result<()> {
    if m.status == RunStatus::Finished {
        bail!("run {id} has finished; there is nothing to resume");
    }
    if let Some(group) = crate::jobs::external::live_trainer_group(m) {
        bail!(
            "run {id}: its trainer from before is still running (process group {group}); \
             stop it with `ie-bench runs cancel {id}` or `kill -TERM -- -{group}`, or wait \
             for it to end, then resume"
        );
    }
    Ok(())
}

fn resume(store: &Store, manager: &JobManager, id: RunId) -> Result<()> {
    let m = store.run(id)?;
    check_resumable(&m, id)?;
    if manager.has(id) {
        bail!("run {id} is already {}", m.status.as_str());
    }
    let cmd = stored_command(&m, id)?;
    queue(store, manager, id, cmd)
}

/// Requests from other processes: `submit` (words of a `run` command), `resume` and `cancel`.
fn control(
    store: &Store,
    manager: &JobManager,
    db: &Path,
    req: &serde_json::Value,
) -> std::result::Result<serde_json::Value, String> {
    let id_of = |req: &serde_json::Value| req["id"].as_u64().ok_or("no run id".to_string());
    let text = |e: anyhow::Error| format!("{e:#}");
    match req["op"].as_str() {
        Some("submit") => {
            let words: Vec<String> = serde_json::from_value(req["words"].clone())
                .map_err(|e| format!("bad words: {e}"))?;
            Ok(submit(store, manager, db, words).map_err(text)?.into())
        }
        Some("resume") => {
            let id = id_of(req)?;
            resume(store, manager, id).map_err(text)?;
            Ok(id.into())
        }
        // Short writes another shell asks for while this process holds the database.
        Some("gold") | Some("import") => {
            let words: Vec<String> = serde_json::from_value(req["words"].clone())
                .map_err(|e| format!("bad words: {e}"))?;
            let said = if req["op"] == "gold" {
                super::gold::GoldCommand::from_words(&words)
                    .and_then(|c| super::gold::apply(store, c))
            } else {
                super::import::Args::from_words(&words).and_then(|a| super::import::apply(store, a))
            };
            Ok(serde_json::to_value(said.map_err(text)?).expect("text serialises"))
        }
        Some("cancel") => {
            let id = id_of(req)?;
            if manager.cancel(id) {
                return Ok("cancelling".into());
            }
            cancel_stored(store, id).map_err(text)?;
            Ok("cancelled".into())
        }
        _ => Err(format!("unknown request {req}")),
    }
}

/// Marks a run that nobody executes as cancelled.
pub fn cancel_stored(store: &Store, id: RunId) -> Result<()> {
    let m = store.run(id)?;
    if m.status.is_over() {
        bail!("run {id} is already {}", m.status.as_str());
    }
    // An external trainer whose holder died has nobody left to stop it but us.
    if let Some(group) = crate::jobs::external::live_trainer_group(&m) {
        crate::jobs::external::stop_orphan(group);
    }
    store.update_run(id, |m| {
        m.status = RunStatus::Cancelled;
        m.finished = Some(crate::store::now());
    })?;
    Ok(())
}

/// Puts a run on the compute thread's queue; its work builds the job there.
fn queue(store: &Store, manager: &JobManager, id: RunId, cmd: RunCommand) -> Result<()> {
    let m = store.run(id)?;
    let out = PathBuf::from(m.out_dir.context("run has no output directory")?);
    store.update_run(id, |m| m.status = RunStatus::Queued)?;
    let work: Work = Box::new(move |cancel, rec| {
        let store = rec.store;
        let run = rec.run;
        let job = || -> Result<()> {
            match cmd {
                RunCommand::Train(a) => {
                    link_bank(store, run, &a.prompts)?;
                    let job = train_job(a, out)?;
                    let used = job.train.iter().chain(&job.dev).chain(&job.test);
                    link_datasets(store, run, used.map(|i| (i.task, i.dataset.as_str())))?;
                    crate::jobs::train::run(job, cancel, rec)?;
                }
                RunCommand::Eval(a) => eval_run(a, false, cancel, rec)?,
                RunCommand::ZeroShot(a) => eval_run(a, true, cancel, rec)?,
                RunCommand::External(a) => {
                    crate::jobs::external::run(external_job(a, out)?, cancel, rec)?
                }
                RunCommand::Ingest(a) => {
                    let lines = read_predictions(&a.predictions)?;
                    link_datasets(
                        store,
                        run,
                        lines.iter().map(|l| (l.task, l.dataset.as_str())),
                    )?;
                    // A failure is recorded by the manager, like any job's.
                    crate::jobs::external::ingest(rec, &lines, 0)?;
                    rec.finish(RunStatus::Finished, None)?;
                }
            }
            Ok(())
        };
        job().map_err(|e| crate::jobs::JobError::Other(format!("{e:#}")))
    });
    manager.submit(id, work);
    Ok(())
}

fn eval_run(
    a: EvalArgs,
    zero_shot: bool,
    cancel: &crate::jobs::CancelToken,
    rec: &mut crate::jobs::Recorder,
) -> Result<()> {
    link_bank(rec.store, rec.run, &a.on.prompts)?;
    let job = eval_job(a, zero_shot)?;
    link_datasets(
        rec.store,
        rec.run,
        job.instances.iter().map(|i| (i.task, i.dataset.as_str())),
    )?;
    run_eval(job, cancel, rec)?;
    Ok(())
}

/// Records which version of the instruction bank a run's prompts use; a bank the store has
/// not seen becomes its next version, so every run names one.
fn link_bank(store: &Store, id: RunId, prompts: &PromptArgs) -> Result<()> {
    let (_, text) = prompts.bank_source()?;
    let record = crate::store::TemplateRecord::instruction_bank(&text);
    let name = format!("{}/{}", record.kind, record.name);
    let version = match store.import_template(record)? {
        crate::store::Imported::Unchanged(v) | crate::store::Imported::NewVersion(v) => v,
    };
    store.update_run(id, |m| {
        m.templates = vec![DatasetRef {
            name: name.clone(),
            version,
        }]
    })?;
    Ok(())
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
            dataset_key(task, dataset),
            dataset_key(task.main_task(), dataset),
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
        keep_checkpoints: a.settings.keep_checkpoints,
        train: build(&a.prompts, Split::Train)?,
        dev: build(&lenient, Split::Dev)?,
        test: first_of_each_dataset(build(&lenient, Split::Test)?, a.max_test),
        predict: PredictOptions {
            batch_size: a.eval_batch_size,
            max_new_tokens: a.max_new_tokens,
            max_source_length: a.settings.max_source_length,
            stop_at_newline: false,
            constrain: a.constrain,
        },
        device: device(&a.settings.device)?,
        stop_on_nan: a.stop_on_nan,
    })
}

/// The first `n` instances of each (task, dataset), in order; `n` = 0 keeps all.
fn first_of_each_dataset(
    instances: Vec<crate::prompt::PromptInstance>,
    n: usize,
) -> Vec<crate::prompt::PromptInstance> {
    if n == 0 {
        return instances;
    }
    let mut seen: std::collections::HashMap<(TaskKind, String), usize> = Default::default();
    instances
        .into_iter()
        .filter(|i| {
            let k = seen.entry((i.task, i.dataset.clone())).or_default();
            *k += 1;
            *k <= n
        })
        .collect()
}

/// The task config a run reads: `supervised` is the `--config` default, so a zero-shot run
/// left at it means the zero-shot config.
pub fn run_config(zero_shot: bool, config: &str) -> &str {
    if zero_shot && config == "supervised" {
        "zeroshot"
    } else {
        config
    }
}

fn eval_job(a: EvalArgs, zero_shot: bool) -> Result<EvalJob> {
    let mut a = a.on;
    a.prompts.config = run_config(zero_shot, &a.prompts.config).to_string();
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
        predict: a.options(),
        device: device(&a.device)?,
        model: a.model,
        instances,
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
        stop_on_nan: a.stop_on_nan,
    })
}

fn print_event(e: &JobEvent, tty: bool) {
    match e {
        JobEvent::Started { run, resumed_at } if *resumed_at > 0 => {
            eprintln!("run {run}: resuming at step {resumed_at}")
        }
        JobEvent::Started { run, .. } => eprintln!("run {run}: started"),
        JobEvent::Metric { point, total, .. } => match total {
            Some(total) => super::train::progress(
                point.step as usize,
                *total as usize,
                point.loss,
                point.lr.unwrap_or(0.0),
                point.tokens_per_s.unwrap_or(0.0),
            ),
            None => eprintln!("step {} loss {:.4}", point.step, point.loss),
        },
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
