//! `external` runs: a trainer command (the official Python/DeepSpeed scripts, say) run as a
//! subprocess in its own process group. Its log lines become metrics, its predictions file is
//! ingested when it ends, and a cancel stops the whole group.

use regex::Regex;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::evaluate::{store_predictions, store_scores};
use super::{CancelToken, JobError, Recorder, Result};
use crate::eval::{read_predictions, PredictionLine};
use crate::ie::Split;
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
    /// Stop the trainer and end the run as diverged at the first NaN or infinite loss.
    pub stop_on_nan: bool,
}

pub fn run(job: ExternalJob, cancel: &CancelToken, rec: &mut Recorder) -> Result<()> {
    match run_inner(&job, cancel, rec) {
        Ok(true) => rec.finish(RunStatus::Finished, None),
        Ok(false) => rec.finish(RunStatus::Cancelled, None),
        Err(e) => {
            rec.finish(e.status(), Some(e.to_string()))?;
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
    // The trainer is tied to its holder: its output has nowhere to go once the holder is dead,
    // so it gets SIGTERM then. Processes it starts itself are not signalled by the kernel; a
    // resume refuses to start a second trainer while any of its group lives.
    let holder = std::process::id() as libc::pid_t;
    // SAFETY: between fork and exec only async-signal-safe calls (prctl, getppid, _exit).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 || libc::getppid() != holder
            {
                libc::_exit(143);
            }
            Ok(())
        });
    }
    if let Some(dir) = &job.workdir {
        cmd.current_dir(dir);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| JobError::Other(format!("starting `{program}`: {e}")))?;
    let pid = child.id();
    rec.started(0, pid, Some(pid))?;
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
        std::thread::spawn(move || forward_lines(stream, &tx));
    }
    drop(tx);
    let mut logged = 0u64;
    let mut cancelled = false;
    // Set by `--stop-on-nan`: the trainer is stopped as for a cancel, and its output still
    // goes to the log until it ends, but no later point is stored.
    let mut diverged: Option<JobError> = None;
    loop {
        if cancel.is_cancelled() && !cancelled {
            cancelled = true;
            stop_group(pid);
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                writeln!(log, "{line}")
                    .map_err(|e| JobError::Other(format!("{}: {e}", job.log.display())))?;
                let point = job
                    .pattern
                    .point(&line, logged)
                    .filter(|_| diverged.is_none());
                if let Some(point) = point {
                    logged += 1;
                    let (step, loss) = (point.step, point.loss);
                    rec.metric(point, None)?;
                    if let Err(e) = super::check_finite(job.stop_on_nan, step, loss) {
                        stop_group(pid);
                        diverged = Some(e);
                    }
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child
        .wait()
        .map_err(|e| JobError::Other(format!("waiting for `{program}`: {e}")))?;
    if cancelled || diverged.is_some() {
        // Anything it left behind in its group goes too.
        kill_group(pid, libc::SIGKILL);
        return diverged.map_or(Ok(false), Err);
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

/// The longest trainer output line kept whole; the rest of a longer one is dropped.
const MAX_LOG_LINE: usize = 1 << 20;

/// Sends every line of a trainer's output stream, decoded lossily: a trainer that prints a
/// stray non-UTF-8 byte or a megabyte without a newline keeps running, where stopping to read
/// would leave it to die of SIGPIPE at its next print.
fn forward_lines(stream: Box<dyn std::io::Read + Send>, tx: &std::sync::mpsc::Sender<String>) {
    use crate::text::{read_line_capped, skip_line, Line};
    let mut r = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        let mut line = match read_line_capped(&mut r, &mut buf, MAX_LOG_LINE) {
            Ok(Line::Eof) | Err(_) => return,
            Ok(Line::Complete) => String::from_utf8_lossy(&buf).into_owned(),
            Ok(Line::TooLong) => {
                let mut cut = String::from_utf8_lossy(&buf).into_owned();
                cut.push_str(" [line cut at 1 MiB]");
                if skip_line(&mut r).is_err() {
                    return;
                }
                cut
            }
        };
        if line.ends_with('\r') {
            line.pop();
        }
        if tx.send(line).is_err() {
            return;
        }
    }
}

/// Reads an official predictions file and stores its predictions and scores (split `test`).
pub fn ingest_file(rec: &mut Recorder, path: &Path, step: u64) -> Result<()> {
    let lines = read_predictions(path).map_err(|e| JobError::Other(e.to_string()))?;
    ingest(rec, &lines, step)
}

/// Stores predictions already read, and their scores (split `test`).
pub fn ingest(rec: &mut Recorder, lines: &[PredictionLine], step: u64) -> Result<()> {
    store_predictions(rec, lines)?;
    store_scores(rec, lines, Split::Test, step, 0)
}

/// SIGTERM to the whole group, then SIGKILL to whatever is left after a grace period.
fn stop_group(pid: u32) {
    kill_group(pid, libc::SIGTERM);
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(5));
        kill_group(pid, libc::SIGKILL);
    });
}

/// The process group of a run's external trainer while any process of it still lives (after
/// its holder died, say).
pub fn live_trainer_group(m: &crate::store::RunManifest) -> Option<u32> {
    m.trainer_group.filter(|&g| group_alive(g))
}

/// Whether any process of the group `pgid` is alive (one of another user's counts).
fn group_alive(pgid: u32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks for existence and permission.
    let r = unsafe { libc::kill(-(pgid as libc::pid_t), 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Sends SIGTERM to a trainer's group left behind by a holder that died.
pub fn stop_orphan(pgid: u32) {
    kill_group(pgid, libc::SIGTERM);
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
