//! The `train` job: fine-tuning with every step's loss stored, a dev evaluation at each
//! checkpoint, and a test evaluation at the end. Killed at any point, it resumes from its newest
//! checkpoint; the metrics past that checkpoint are dropped and recorded again, so each step is
//! stored once.

use candle_core::Device;
use std::path::{Path, PathBuf};

use super::evaluate::{generate, store_predictions, store_scores};
use super::{CancelToken, JobError, Recorder, Result};
use crate::ie::Split;
use crate::model::backbone::Backbone;
use crate::model::fit::{fit, FitHooks, FitSpec};
use crate::model::predict::PredictOptions;
use crate::model::train::{StepReport, TrainOptions, TrainState};
use crate::prompt::PromptInstance;
use crate::store::{MetricPoint, RunStatus};

pub struct TrainJob {
    pub model: String,
    pub out: PathBuf,
    pub options: TrainOptions,
    pub epochs: Option<f64>,
    /// The newest this many checkpoints stay on disk (0: all).
    pub keep_checkpoints: usize,
    pub train: Vec<PromptInstance>,
    /// Evaluated at each checkpoint (scores only).
    pub dev: Vec<PromptInstance>,
    /// Evaluated at the end (predictions and scores).
    pub test: Vec<PromptInstance>,
    pub predict: PredictOptions,
    pub device: Device,
    /// End the run as diverged at the first NaN or infinite loss.
    pub stop_on_nan: bool,
}

/// Runs (or resumes, when `out` holds a checkpoint) the job and records its end in the store:
/// finished, cancelled, or failed with the error.
pub fn run(job: TrainJob, cancel: &CancelToken, rec: &mut Recorder) -> Result<()> {
    let resume = !crate::model::train::checkpoints(&job.out).is_empty();
    let outcome = run_inner(&job, resume, cancel, rec);
    match outcome {
        Ok(true) => rec.finish(RunStatus::Finished, None),
        Ok(false) => rec.finish(RunStatus::Cancelled, None),
        Err(e) => {
            rec.finish(e.status(), Some(e.to_string()))?;
            Err(e)
        }
    }
}

/// True when it ran to the end, false when cancelled.
fn run_inner(
    job: &TrainJob,
    resume: bool,
    cancel: &CancelToken,
    rec: &mut Recorder,
) -> Result<bool> {
    let pairs: Vec<(String, String)> = job
        .train
        .iter()
        .map(|i| (i.source.clone(), i.target.clone()))
        .collect();
    let spec = FitSpec {
        model: &job.model,
        out: &job.out,
        resume,
        options: job.options.clone(),
        epochs: job.epochs,
        keep_checkpoints: job.keep_checkpoints,
        device: &job.device,
    };
    let mut hooks = StoreHooks { rec, cancel, job };
    let outcome = fit(spec, &pairs, &mut hooks)?;
    if outcome.cancelled {
        return Ok(false);
    }
    let loaded = Backbone::load(&job.out.display().to_string(), &job.device)?;
    if !job.test.is_empty() {
        let lines = generate(&loaded, &job.test, &job.predict, hooks.rec)?;
        store_predictions(hooks.rec, &lines)?;
        store_scores(hooks.rec, &lines, Split::Test, outcome.state.step as u64, 0)?;
    }
    Ok(true)
}

struct StoreHooks<'a, 'r> {
    rec: &'a mut Recorder<'r>,
    cancel: &'a CancelToken,
    job: &'a TrainJob,
}

impl FitHooks for StoreHooks<'_, '_> {
    type Error = JobError;

    fn started(&mut self, _loaded: &Backbone, state: &TrainState, _per_epoch: usize) -> Result<()> {
        // Steps after the checkpoint are about to be run again.
        self.rec
            .store
            .truncate_metrics(self.rec.run, state.step as u64)?;
        self.rec
            .started(state.step as u64, std::process::id(), None)?;
        Ok(())
    }

    fn step(&mut self, r: &StepReport, state: &TrainState, tok_s: f64) -> Result<()> {
        let point = MetricPoint {
            step: r.step as u64,
            loss: r.loss,
            lr: Some(r.lr),
            tokens_per_s: Some(tok_s),
            epoch: Some(state.epoch as f64),
        };
        self.rec
            .metric(point, Some(state.options.total_steps as u64))?;
        super::check_finite(self.job.stop_on_nan, r.step as u64, r.loss)
    }

    fn checkpoint(&mut self, loaded: &Backbone, state: &TrainState, dir: &Path) -> Result<()> {
        let (step, dir) = (state.step as u64, dir.display().to_string());
        self.rec.checkpoint(step, dir)?;
        if !self.job.dev.is_empty() {
            let lines = generate(loaded, &self.job.dev, &self.job.predict, self.rec)?;
            store_scores(self.rec, &lines, Split::Dev, state.step as u64, 0)?;
        }
        Ok(())
    }

    fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}
