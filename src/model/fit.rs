//! The fine-tuning loop: from a model (or the newest checkpoint of an output directory) through
//! the optimizer steps to the final model, with hooks for what a caller records at each step
//! and checkpoint. `ie-bench train` writes a log file from the hooks; a stored run writes the
//! database.

use candle_core::Device;
use std::path::{Path, PathBuf};

use super::checkpoint::{self, Loaded};
use super::error::{ModelError, Result};
use super::train::{
    checkpoints, epoch_batches, load_training_state, save_training_state, tokenize_examples, AdamW,
    StepReport, TrainOptions, TrainState, Trainer,
};

/// How many checkpoints an output directory keeps unless told otherwise.
pub const KEEP_CHECKPOINTS: usize = 2;

/// What the loop tells its caller, and asks it.
pub trait FitHooks {
    type Error: From<ModelError>;
    /// Training is about to start (at `state.step`, non-zero when resumed).
    fn started(
        &mut self,
        _loaded: &Loaded,
        _state: &TrainState,
        _per_epoch: usize,
    ) -> std::result::Result<(), Self::Error> {
        Ok(())
    }
    /// After each optimizer step; `tok_s` is the throughput since this process started.
    fn step(
        &mut self,
        report: &StepReport,
        state: &TrainState,
        tok_s: f64,
    ) -> std::result::Result<(), Self::Error>;
    /// After a checkpoint is on disk (the final one included).
    fn checkpoint(
        &mut self,
        _loaded: &Loaded,
        _state: &TrainState,
        _dir: &Path,
    ) -> std::result::Result<(), Self::Error> {
        Ok(())
    }
    /// Checked before every step: true stops the loop after the last finished step.
    fn cancelled(&self) -> bool {
        false
    }
}

pub struct FitSpec<'a> {
    /// Model directory or repo id to start from (ignored when resuming).
    pub model: &'a str,
    pub out: &'a Path,
    /// Continue from the newest checkpoint in `out`.
    pub resume: bool,
    /// Settings of a fresh run; a resumed run keeps those of its checkpoint.
    pub options: TrainOptions,
    /// When set, `options.total_steps` is replaced by this many epochs' worth of steps.
    pub epochs: Option<f64>,
    /// The newest this many checkpoints stay on disk (0: all of them).
    pub keep_checkpoints: usize,
    pub device: &'a Device,
}

pub struct FitOutcome {
    pub state: TrainState,
    pub cancelled: bool,
    pub seconds: f64,
    /// Where the checkpoint that started the run came from.
    pub source: String,
    pub resumed: bool,
}

/// Trains on `(source, target)` pairs. A cancelled run stops after a finished step and saves a
/// checkpoint there, so `resume` continues it exactly.
pub fn fit<H: FitHooks>(
    spec: FitSpec,
    pairs: &[(String, String)],
    hooks: &mut H,
) -> std::result::Result<FitOutcome, H::Error> {
    std::fs::create_dir_all(spec.out).map_err(|e| ModelError::io(spec.out, e))?;
    let latest = checkpoints(spec.out).pop();
    let (source, resumed) = match (&latest, spec.resume) {
        (Some((_, dir)), true) => (dir.display().to_string(), true),
        (None, true) => {
            return Err(ModelError::NotFound(format!(
                "resume: no checkpoint in {}",
                spec.out.display()
            ))
            .into())
        }
        (Some((step, _)), false) => {
            return Err(ModelError::NotFound(format!(
                "{} already holds checkpoint-{step}: resume it, or choose another output directory",
                spec.out.display()
            ))
            .into())
        }
        (None, false) => (spec.model.to_string(), false),
    };
    let loaded = checkpoint::load_as(&source, spec.device, candle_core::DType::F32)?;
    if pairs.is_empty() {
        return Err(ModelError::NotFound("no training examples".to_string()).into());
    }
    let o = &spec.options;
    let examples = tokenize_examples(
        &loaded.tokenizer,
        pairs,
        o.max_source_length,
        o.max_target_length,
    )?;
    let per_epoch = epoch_batches(&examples, o.batch_size, o.seed, 0)
        .len()
        .div_ceil(o.grad_accum);
    let (opt, mut state) = match &latest {
        Some((_, dir)) if resumed => load_training_state(dir)?,
        _ => {
            let mut options = spec.options.clone();
            if let Some(epochs) = spec.epochs {
                options.total_steps = ((per_epoch as f64) * epochs).ceil() as usize;
            }
            options.total_steps = options.total_steps.max(1);
            (
                AdamW::new(),
                TrainState {
                    step: 0,
                    epoch: 0,
                    batch_in_epoch: 0,
                    options,
                },
            )
        }
    };
    let o = state.options.clone();
    hooks.started(&loaded, &state, per_epoch)?;
    let mut trainer = Trainer::new(&loaded.model, &loaded.params, opt, examples);
    let started = std::time::Instant::now();
    let mut tokens = 0usize;
    let mut cancelled = false;
    // An epoch's order is drawn once, not at every step.
    let mut batches = epoch_batches(&trainer.examples, o.batch_size, o.seed, state.epoch);
    while state.step < o.total_steps {
        if hooks.cancelled() {
            cancelled = true;
            break;
        }
        if state.batch_in_epoch >= batches.len() {
            state.epoch += 1;
            state.batch_in_epoch = 0;
            batches = epoch_batches(&trainer.examples, o.batch_size, o.seed, state.epoch);
            continue;
        }
        let end = (state.batch_in_epoch + o.grad_accum).min(batches.len());
        let micro = &batches[state.batch_in_epoch..end];
        let report = trainer.step(micro, o.lr_at(state.step), o.clip_norm, state.step)?;
        state.step += 1;
        state.batch_in_epoch = end;
        tokens += report.tokens;
        hooks.step(
            &report,
            &state,
            tokens as f64 / started.elapsed().as_secs_f64(),
        )?;
        if (o.save_every > 0 && state.step % o.save_every == 0) || state.step == o.total_steps {
            let dir = save_checkpoint(&spec, &loaded, &trainer.opt, &state)?;
            hooks.checkpoint(&loaded, &state, &dir)?;
        }
    }
    if cancelled && state.step > 0 && checkpoints(spec.out).last().map(|c| c.0) != Some(state.step)
    {
        let dir = save_checkpoint(&spec, &loaded, &trainer.opt, &state)?;
        hooks.checkpoint(&loaded, &state, &dir)?;
    }
    if !cancelled {
        // The final model at the top of `out`, loadable like any checkpoint.
        checkpoint::save(spec.out, &loaded.config, &loaded.params, &loaded.tokenizer)?;
    }
    Ok(FitOutcome {
        state,
        cancelled,
        seconds: started.elapsed().as_secs_f64(),
        source,
        resumed,
    })
}

/// Writes a checkpoint atomically (a temporary directory renamed into place) and keeps the
/// newest few.
fn save_checkpoint(
    spec: &FitSpec,
    loaded: &Loaded,
    opt: &AdamW,
    state: &TrainState,
) -> Result<PathBuf> {
    let out = spec.out;
    let name = format!("checkpoint-{}", state.step);
    let tmp = out.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    // A write that fails (a full disk) takes its half-written directory with it at once, so
    // the space it held is free for the user's next attempt.
    if let Err(e) = checkpoint::save(&tmp, &loaded.config, &loaded.params, &loaded.tokenizer)
        .and_then(|()| save_training_state(&tmp, opt, state))
    {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let dst = out.join(&name);
    let _ = std::fs::remove_dir_all(&dst);
    std::fs::rename(&tmp, &dst).map_err(|e| ModelError::io(&dst, e))?;
    let all = checkpoints(out);
    let keep = match spec.keep_checkpoints {
        0 => all.len(),
        n => n,
    };
    for (_, old) in all.iter().take(all.len().saturating_sub(keep)) {
        let _ = std::fs::remove_dir_all(old);
    }
    Ok(dst)
}
