//! Runs as the service keeps them: stored before they start, queued on the compute thread,
//! resumed and cancelled; and the jobs their specs build (prompts, models, datasets and
//! the instruction bank each run used, linked to its manifest).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

use crate::eval::read_predictions;
use crate::ie::{dataset_key, Split, TaskKind};
use crate::jobs::evaluate::{run_eval, EvalJob};
use crate::jobs::external::{ExternalJob, MetricPattern};
use crate::jobs::manager::{JobManager, Work};
use crate::jobs::train::TrainJob;
use crate::model::checkpoint::device;
use crate::model::predict::PredictOptions;
use crate::spec::{EvalArgs, ExternalArgs, PromptArgs, RunSpec, RunTrainArgs};
use crate::store::{DatasetRef, RunId, RunManifest, RunStatus, Store};

/// Checks what can be checked before a run exists, so bad input leaves no trace. A spec that
/// did not come through the command line (the socket carries JSON) gets the command line's
/// checks too: spelled as words and parsed back, it must come back the same.
pub fn check(cmd: &RunSpec) -> Result<()> {
    // A path that is not UTF-8 cannot be stored (JSON) nor spelled back.
    let stored = serde_json::to_value(cmd).context("the run's settings cannot be stored")?;
    let words = cmd.to_words();
    // Compared as stored: `--detach` says how to start the run, not what it is.
    match RunSpec::from_words(&words) {
        Ok(back) if serde_json::to_value(&back).ok() == Some(stored) => {}
        Ok(_) => bail!(
            "the run's settings do not survive as a command: ie-bench run {}",
            words.join(" ")
        ),
        Err(e) => bail!("{}", crate::text::display_safe(&e.to_string())),
    }
    match cmd {
        RunSpec::Ingest(a) => {
            read_predictions(&a.predictions).context("reading predictions")?;
        }
        RunSpec::External(ExternalArgs {
            metric_pattern: Some(p),
            ..
        }) => {
            MetricPattern::parse(p)?;
        }
        _ => {}
    }
    Ok(())
}

/// Where a run's files go: `--out`, else `runs/ID` beside the database (absolute, so
/// `runs resume` works from any directory).
pub fn store_out(db: &Path, id: RunId, cmd: &RunSpec) -> String {
    let out = cmd
        .out()
        .unwrap_or_else(|| db.join("runs").join(id.to_string()));
    std::path::absolute(&out)
        .unwrap_or(out)
        .display()
        .to_string()
}

/// Stores a new run, queued.
pub fn create(store: &Store, db: &Path, cmd: &RunSpec) -> Result<RunId> {
    let id = store.create_run(&RunManifest {
        model: cmd.model(),
        spec: Some(cmd.clone()),
        ..RunManifest::new(cmd.kind(), crate::store::now())
    })?;
    store.update_run(id, |m| m.out_dir = Some(store_out(db, id, cmd)))?;
    Ok(id)
}

/// Starts `ie-bench runs resume ID` in its own session, logging to `OUT/job.log`.
pub fn detach(db: &Path, id: RunId, out: &Path) -> Result<()> {
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
    eprintln!(
        "run {id} started in the background; log: {}",
        log_path.display()
    );
    Ok(())
}

/// The run's stored spec, for `runs resume`. A manifest the schema-2 migration could not
/// convert keeps its words, and says why here.
pub fn stored_spec(m: &RunManifest, id: RunId) -> Result<RunSpec> {
    if let Some(spec) = &m.spec {
        return Ok(spec.clone());
    }
    let words = crate::store::legacy_words(m).unwrap_or_default();
    RunSpec::from_words(&words)
        .with_context(|| format!("run {id}: its stored command no longer parses"))
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

/// Stores a run and queues it.
pub fn submit(store: &Store, manager: &JobManager, db: &Path, cmd: RunSpec) -> Result<RunId> {
    check(&cmd)?;
    let id = create(store, db, &cmd)?;
    queue(store, manager, id, cmd)?;
    Ok(id)
}

pub fn resume(store: &Store, manager: &JobManager, id: RunId) -> Result<()> {
    let m = store.run(id)?;
    check_resumable(&m, id)?;
    if manager.has(id) {
        bail!("run {id} is already {}", m.status.as_str());
    }
    let cmd = stored_spec(&m, id)?;
    queue(store, manager, id, cmd)
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
pub fn queue(store: &Store, manager: &JobManager, id: RunId, cmd: RunSpec) -> Result<()> {
    let m = store.run(id)?;
    let out = PathBuf::from(m.out_dir.context("run has no output directory")?);
    store.update_run(id, |m| m.status = RunStatus::Queued)?;
    let work: Work = Box::new(move |cancel, rec| {
        let store = rec.store;
        let run = rec.run;
        let job = || -> Result<()> {
            match cmd {
                RunSpec::Train(a) => {
                    link_bank(store, run, &a.prompts)?;
                    let job = train_job(a, out)?;
                    let used = job.train.iter().chain(&job.dev).chain(&job.test);
                    link_datasets(store, run, used.map(|i| (i.task, i.dataset.as_str())))?;
                    crate::jobs::train::run(job, cancel, rec)?;
                }
                RunSpec::Eval(a) => eval_run(a, false, cancel, rec)?,
                RunSpec::ZeroShot(a) => eval_run(a, true, cancel, rec)?,
                RunSpec::External(a) => {
                    crate::jobs::external::run(external_job(a, out)?, cancel, rec)?;
                }
                RunSpec::Ingest(a) => {
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
/// not seen becomes its next version, so every run names one. A bank that does not parse
/// fails the run before it is stored, so no version of it exists.
fn link_bank(store: &Store, id: RunId, prompts: &PromptArgs) -> Result<()> {
    let (origin, text) = prompts.bank_source()?;
    crate::prompt::InstructionBank::from_text(&origin, &text)
        .context("reading instruction bank")?;
    let record = crate::store::TemplateRecord::instruction_bank(&text);
    let name = format!("{}/{}", record.kind, record.name);
    let version = match store.import_template(record)? {
        crate::store::Imported::Unchanged(v) | crate::store::Imported::NewVersion(v) => v,
    };
    store.update_run(id, |m| {
        m.templates = vec![DatasetRef {
            name: name.clone(),
            version,
        }];
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
            decode_weights: a.decode_weights,
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

/// `n` instances drawn without replacement, in their order (all of them when `n` is 0 or
/// there are no more). The draw sees only how many instances there are, so builds that differ
/// only in their instructions keep the same instances.
pub fn sample_instances(
    instances: Vec<crate::prompt::PromptInstance>,
    n: usize,
    seed: u64,
) -> Vec<crate::prompt::PromptInstance> {
    if n == 0 || instances.len() <= n {
        return instances;
    }
    let mut rng = crate::pyrandom::PyRandom::new(seed);
    crate::data::sampling::resample_to(instances, n, &mut rng)
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
    let (sample, tasks) = (a.sample, a.tasks);
    let mut a = a.on;
    a.prompts.config = run_config(zero_shot, &a.prompts.config).to_string();
    let instances = a
        .prompts
        .clone_skipping_missing()
        .build(a.split)?
        .output
        .instances;
    let instances: Vec<_> = instances
        .into_iter()
        .filter(|i| tasks.is_empty() || tasks.contains(&i.task))
        .collect();
    let instances = sample_instances(instances, sample, a.prompts.seed);
    if instances.is_empty() {
        let only = if tasks.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = tasks.iter().map(|t| t.as_str()).collect();
            format!(" for task {}", names.join(","))
        };
        bail!(
            "the {} split of config {} is empty{only}",
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The socket carries specs as JSON: one the command line would refuse is refused here.
    #[test]
    fn a_spec_from_elsewhere_gets_the_command_lines_checks() {
        let words: Vec<String> = ["external", "--predictions", "p", "--", "python", "t.py"]
            .map(String::from)
            .to_vec();
        let mut spec = RunSpec::from_words(&words).unwrap();
        check(&spec).unwrap();
        // `--detach` is how a run starts, not part of it.
        let detached: Vec<String> = ["train", "--model", "m", "--detach"]
            .map(String::from)
            .to_vec();
        check(&RunSpec::from_words(&detached).unwrap()).unwrap();
        if let RunSpec::External(a) = &mut spec {
            a.command.clear();
        }
        let err = format!("{:#}", check(&spec).unwrap_err());
        assert!(err.contains("required"), "{err}");
    }
}
