//! `external` runs: a trainer command (the official Python/DeepSpeed scripts, say) run as a
//! subprocess in its own process group. Its log lines become metrics, its predictions file is
//! ingested when it ends, and a cancel stops the whole group.

use regex::Regex;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::evaluate::{store_predictions, store_scores};
use super::{CancelToken, JobError, Recorder, Result};
use crate::eval::{read_predictions, PredictionLine};
use crate::store::{MetricPoint, RunStatus};

/// How a log line becomes a metric point.
#[derive(Debug, Clone)]
pub enum MetricPattern {
    /// The Hugging Face Trainer's `{'loss': 0.52, 'learning_rate': 4e-05, 'epoch': 0.1}`
    /// lines (a Python dict; `step` counts them unless the dict has one).
    TrainerDict,
    /// A regex with a named group `loss`, and optionally `step`, `lr`, `epoch`.
    Regex(Regex),
}

impl MetricPattern {
    pub fn parse(spec: &str) -> Result<MetricPattern> {
        let re = Regex::new(spec).map_err(|e| JobError::Other(format!("--metric-pattern: {e}")))?;
        if !re.capture_names().any(|n| n == Some("loss")) {
            return Err(JobError::Other(
                "--metric-pattern needs a named group `(?P<loss>...)`".to_string(),
            ));
        }
        Ok(MetricPattern::Regex(re))
    }

    /// The point a line reports, `logged` points having been seen before it.
    pub fn point(&self, line: &str, logged: u64) -> Option<MetricPoint> {
        match self {
            MetricPattern::TrainerDict => trainer_dict(line, logged),
            MetricPattern::Regex(re) => {
                let c = re.captures(line)?;
                let num = |name: &str| c.name(name).and_then(|m| m.as_str().parse::<f64>().ok());
                Some(MetricPoint {
                    step: num("step").map_or(logged + 1, |s| s as u64),
                    loss: num("loss")?,
                    lr: num("lr"),
                    tokens_per_s: None,
                    epoch: num("epoch"),
                })
            }
        }
    }
}

fn trainer_dict(line: &str, logged: u64) -> Option<MetricPoint> {
    let start = line.find("{'loss'")?;
    let end = start + line[start..].find('}')? + 1;
    let mut fields = std::collections::HashMap::new();
    for part in line[start + 1..end - 1].split(',') {
        let (k, v) = part.split_once(':')?;
        let v = v.trim().trim_matches('\'');
        fields.insert(k.trim().trim_matches('\''), v.parse::<f64>().ok()?);
    }
    Some(MetricPoint {
        step: fields.get("step").map_or(logged + 1, |&s| s as u64),
        loss: *fields.get("loss")?,
        lr: fields.get("learning_rate").copied(),
        tokens_per_s: None,
        epoch: fields.get("epoch").copied(),
    })
}

pub struct ExternalJob {
    /// Program and arguments.
    pub command: Vec<String>,
    pub workdir: Option<PathBuf>,
    /// The official predictions file the trainer writes.
    pub predictions: PathBuf,
    pub pattern: MetricPattern,
    /// Every line of its output, as it came.
    pub log: PathBuf,
}

pub fn run(job: ExternalJob, cancel: &CancelToken, rec: &mut Recorder) -> Result<()> {
    match run_inner(&job, cancel, rec) {
        Ok(true) => rec.finish(RunStatus::Finished, None),
        Ok(false) => rec.finish(RunStatus::Cancelled, None),
        Err(e) => {
            rec.finish(RunStatus::Failed, Some(e.to_string()))?;
            Err(e)
        }
    }
}

fn run_inner(job: &ExternalJob, cancel: &CancelToken, rec: &mut Recorder) -> Result<bool> {
    use std::os::unix::process::CommandExt;
    let (program, args) = job
        .command
        .split_first()
        .ok_or_else(|| JobError::Other("no trainer command given".to_string()))?;
    let mut log = std::fs::File::create(&job.log)
        .map_err(|e| JobError::Other(format!("{}: {e}", job.log.display())))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(dir) = &job.workdir {
        cmd.current_dir(dir);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| JobError::Other(format!("starting `{program}`: {e}")))?;
    let pid = child.id();
    rec.store.update_run(rec.run, |m| {
        m.status = RunStatus::Running;
        m.pid = Some(pid);
    })?;
    rec.tell(super::JobEvent::Started {
        run: rec.run,
        resumed_at: 0,
    });
    // Both streams feed one channel, so lines are handled in the order they come.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut logged = 0u64;
    let mut cancelled = false;
    loop {
        if cancel.is_cancelled() && !cancelled {
            cancelled = true;
            stop_group(pid);
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                writeln!(log, "{line}")
                    .map_err(|e| JobError::Other(format!("{}: {e}", job.log.display())))?;
                if let Some(point) = job.pattern.point(&line, logged) {
                    logged += 1;
                    rec.metric(point, None)?;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child
        .wait()
        .map_err(|e| JobError::Other(format!("waiting for `{program}`: {e}")))?;
    if cancelled {
        // Anything it left behind in its group goes too.
        kill_group(pid, libc::SIGKILL);
        return Ok(false);
    }
    if !status.success() {
        return Err(JobError::Other(format!(
            "`{}` ended with {status}; its output is in {}",
            job.command.join(" "),
            job.log.display()
        )));
    }
    let last_step = rec.store.metrics(rec.run)?.last().map_or(0, |p| p.step);
    ingest_file(rec, &job.predictions, last_step)?;
    Ok(true)
}

/// Reads an official predictions file and stores its predictions and scores (split `test`).
pub fn ingest_file(rec: &mut Recorder, path: &Path, step: u64) -> Result<()> {
    let lines = read_predictions(path).map_err(|e| JobError::Other(e.to_string()))?;
    ingest(rec, &lines, step)
}

/// Stores predictions already read, and their scores (split `test`).
pub fn ingest(rec: &mut Recorder, lines: &[PredictionLine], step: u64) -> Result<()> {
    store_predictions(rec, lines)?;
    store_scores(rec, lines, "test", step, 0)
}

/// SIGTERM to the whole group, then SIGKILL to whatever is left after a grace period.
fn stop_group(pid: u32) {
    kill_group(pid, libc::SIGTERM);
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(5));
        kill_group(pid, libc::SIGKILL);
    });
}

fn kill_group(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) with a negative pid signals the process group the child leads; it
    // touches no memory of ours.
    unsafe {
        libc::kill(-(pid as libc::pid_t), signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trainer_dict_lines_become_points() {
        let p = MetricPattern::TrainerDict;
        let point = p
            .point(
                "{'loss': 0.5213, 'learning_rate': 4.5e-05, 'epoch': 0.12}",
                3,
            )
            .unwrap();
        assert_eq!(
            (point.step, point.loss, point.lr, point.epoch),
            (4, 0.5213, Some(4.5e-5), Some(0.12))
        );
        assert!(p.point("{'eval_loss': 0.3}", 0).is_none());
        assert!(p.point("loading checkpoint shards", 0).is_none());
        let re = MetricPattern::parse(r"step (?P<step>\d+) loss (?P<loss>[\d.]+)").unwrap();
        assert_eq!(re.point("step 40 loss 1.25", 0).unwrap().step, 40);
        assert!(MetricPattern::parse(r"step (\d+)").is_err());
    }
}
