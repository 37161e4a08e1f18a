//! Runs as jobs: each job reports typed events, and every event is written to the store before
//! anyone is told of it, so what a watcher saw live is what a later reader replays.

pub mod evaluate;
pub mod external;
pub mod manager;
pub mod train;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::ie::Split;
use crate::store::{
    MetricPoint, RunId, RunStatus, Store, StoreError, StoredPrediction, StoredScore,
};

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error("{0}")]
    Other(String),
    /// `--stop-on-nan` saw a loss that is not a number.
    #[error("loss {loss} at step {step}; stopped by --stop-on-nan (lower the learning rate or clip harder)")]
    Diverged { step: u64, loss: f64 },
}

impl JobError {
    /// The status a run ends with when its job fails with this error.
    pub fn status(&self) -> RunStatus {
        match self {
            JobError::Diverged { .. } => RunStatus::Diverged,
            _ => RunStatus::Failed,
        }
    }
}

/// The `--stop-on-nan` check: an error for a loss that is NaN or infinite.
pub fn check_finite(stop_on_nan: bool, step: u64, loss: f64) -> Result<()> {
    if stop_on_nan && !loss.is_finite() {
        return Err(JobError::Diverged { step, loss });
    }
    Ok(())
}

pub type Result<T> = std::result::Result<T, JobError>;

#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    Started {
        run: RunId,
        resumed_at: u64,
    },
    Progress {
        run: RunId,
        done: usize,
        total: usize,
        what: &'static str,
    },
    /// A training point; `total` is the number of steps planned, when known.
    Metric {
        run: RunId,
        point: MetricPoint,
        total: Option<u64>,
    },
    /// Predictions of one dataset stored.
    Predictions {
        run: RunId,
        dataset: String,
        count: usize,
    },
    /// Score rows stored for `split` at `step`.
    Scores {
        run: RunId,
        step: u64,
        split: Split,
    },
    Checkpoint {
        run: RunId,
        step: u64,
        dir: String,
    },
    Finished {
        run: RunId,
    },
    Failed {
        run: RunId,
        error: String,
    },
    Cancelled {
        run: RunId,
    },
    /// The run re-scored against the gold in force (its score rows already stored), or why
    /// that failed (stored as the run's `rescore_error`).
    Rescored {
        run: RunId,
        outcome: std::result::Result<Rescored, String>,
    },
}

/// What a re-scoring against corrected gold found.
#[derive(Debug, Clone, PartialEq)]
pub struct Rescored {
    pub gold_version: u64,
    /// Predictions whose gold a correction changed.
    pub changed: usize,
    pub predictions: usize,
}

impl JobEvent {
    /// Whether this event tells a run's end.
    pub fn is_end(&self) -> bool {
        matches!(
            self,
            JobEvent::Finished { .. } | JobEvent::Failed { .. } | JobEvent::Cancelled { .. }
        )
    }
}

/// Cooperative cancellation, checked between steps and batches.
#[derive(Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Persists an event, then hands it to the listener.
pub struct Recorder<'a> {
    pub store: &'a Store,
    pub run: RunId,
    pub listener: &'a mut dyn FnMut(&JobEvent),
}

impl Recorder<'_> {
    pub fn metric(&mut self, point: MetricPoint, total: Option<u64>) -> Result<()> {
        self.store
            .put_metrics(self.run, std::slice::from_ref(&point))?;
        (self.listener)(&JobEvent::Metric {
            run: self.run,
            point,
            total,
        });
        Ok(())
    }

    /// Only tells: progress counters are not worth a write.
    pub fn progress(&mut self, done: usize, total: usize, what: &'static str) {
        (self.listener)(&JobEvent::Progress {
            run: self.run,
            done,
            total,
            what,
        });
    }

    /// Marks the run as running in this process (`pid`; `group`, an external trainer's
    /// process group), then tells that it started at step `resumed_at`.
    pub fn started(&mut self, resumed_at: u64, pid: u32, group: Option<u32>) -> Result<()> {
        self.store.update_run(self.run, |m| {
            m.status = RunStatus::Running;
            m.pid = Some(pid);
            if group.is_some() {
                m.trainer_group = group;
            }
        })?;
        (self.listener)(&JobEvent::Started {
            run: self.run,
            resumed_at,
        });
        Ok(())
    }

    /// Stores one dataset's predictions, then tells.
    pub fn predictions(&mut self, dataset: String, rows: &[(u64, StoredPrediction)]) -> Result<()> {
        self.store.put_predictions(self.run, &dataset, rows)?;
        (self.listener)(&JobEvent::Predictions {
            run: self.run,
            count: rows.len(),
            dataset,
        });
        Ok(())
    }

    /// Stores score rows for `split` at `step`, then tells.
    pub fn scores(&mut self, rows: &[StoredScore], split: Split, step: u64) -> Result<()> {
        self.store.put_scores(self.run, rows)?;
        (self.listener)(&JobEvent::Scores {
            run: self.run,
            step,
            split,
        });
        Ok(())
    }

    /// Records the run's newest checkpoint, then tells.
    pub fn checkpoint(&mut self, step: u64, dir: String) -> Result<()> {
        self.store
            .update_run(self.run, |m| m.checkpoint = Some((step, dir.clone())))?;
        (self.listener)(&JobEvent::Checkpoint {
            run: self.run,
            step,
            dir,
        });
        Ok(())
    }

    /// Records a re-scoring's outcome in the run's manifest (a failure's reason, or none),
    /// then tells.
    pub fn rescored(&mut self, outcome: std::result::Result<Rescored, String>) -> Result<()> {
        self.store.update_run(self.run, |m| {
            m.rescore_error = outcome.as_ref().err().cloned();
        })?;
        (self.listener)(&JobEvent::Rescored {
            run: self.run,
            outcome,
        });
        Ok(())
    }

    /// Marks the run's end in its manifest, then tells.
    pub fn finish(&mut self, status: RunStatus, error: Option<String>) -> Result<()> {
        self.store.update_run(self.run, |m| {
            m.status = status;
            m.error = error.clone();
            m.finished = Some(crate::store::now());
            m.pid = None;
            m.trainer_group = None;
        })?;
        let run = self.run;
        (self.listener)(&match status {
            RunStatus::Finished => JobEvent::Finished { run },
            RunStatus::Cancelled => JobEvent::Cancelled { run },
            _ => JobEvent::Failed {
                run,
                error: error.unwrap_or_default(),
            },
        });
        Ok(())
    }
}
