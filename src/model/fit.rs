//! The fine-tuning loop: from a model (or the newest checkpoint of an output directory) through
//! the optimizer steps to the final model, with hooks for what a caller records at each step
//! and checkpoint. `ie-bench train` writes a log file from the hooks; a stored run writes the
//! database.

use candle_core::Device;
use std::path::{Path, PathBuf};

use super::backbone::Backbone;
use super::checkpoint;
use super::error::{ModelError, Result};
use super::train::{
    checkpoints, epoch_batches_by_length, load_training_state, save_training_state, saved_position,
    tokenize_examples, AdamW, FrozenWeights, StepReport, TrainOptions, TrainState, Trainer,
};

/// How many checkpoints an output directory keeps unless told otherwise.
pub const KEEP_CHECKPOINTS: usize = 2;

/// What the loop tells its caller, and asks it.
pub trait FitHooks {
    type Error: From<ModelError>;
    /// Training is about to start (at `state.step`, non-zero when resumed).
    fn started(
        &mut self,
        _model: &Backbone,
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
        _model: &Backbone,
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
    if pairs.is_empty() {
        return Err(ModelError::NotFound("no training examples".to_string()).into());
    }
    if let Some(e) = super::decoder::fetch::not_installed(&source) {
        return Err(e.into());
    }
    let start = Start {
        latest,
        source,
        resumed,
    };
    // A resumed run multiplies its base as its checkpoints were trained, whatever this
    // command line says, so that it continues exactly.
    let mut spec = spec;
    if let (Some((_, dir)), true) = (&start.latest, start.resumed) {
        spec.options.frozen_weights = saved_position(dir)?.0.options.frozen_weights;
    }
    if spec.options.frozen_weights == FrozenWeights::Bf16 {
        if spec.options.lora.is_none() {
            return Err(ModelError::Unsupported(
                "--frozen-weights bf16 is for LoRA runs (--lora-rank N), whose base weights stay frozen".into(),
            )
            .into());
        }
        if !super::cpu::amx::available() {
            return Err(ModelError::Unsupported(
                "--frozen-weights bf16 (this run's, or its checkpoints' when resumed) multiplies on Intel AMX tiles (Sapphire Rapids or later, Linux), which this machine does not offer; start the run with --frozen-weights f32".into(),
            )
            .into());
        }
    }
    if Backbone::is_decoder(&start.source) {
        return super::decoder::fit::fit(spec, pairs, hooks, start);
    }
    if spec.options.lora.is_some() {
        return Err(ModelError::Unsupported(
            "LoRA (--lora-rank) is for decoder-only models (a .gguf file, a Gemma 3 folder or gemma-3-270m); T5 runs fine-tune every weight".into(),
        )
        .into());
    }
    fit_t5(spec, pairs, hooks, start)
}

/// Where a run starts: the newest checkpoint (when resuming) or the model it was given.
pub struct Start {
    pub latest: Option<(usize, PathBuf)>,
    pub source: String,
    pub resumed: bool,
}

impl Start {
    /// The optimizer and position to start from: a resumed run's saved ones, or fresh ones
    /// (with `epochs` turned into steps).
    pub fn state(&self, spec: &FitSpec, per_epoch: usize) -> Result<(AdamW, TrainState)> {
        if let (Some((_, dir)), true) = (&self.latest, self.resumed) {
            return load_training_state(dir);
        }
        let mut options = spec.options.clone();
        if let Some(epochs) = spec.epochs {
            options.total_steps = ((per_epoch as f64) * epochs).ceil() as usize;
        }
        options.total_steps = options.total_steps.max(1);
        Ok((
            AdamW::new(),
            TrainState {
                step: 0,
                epoch: 0,
                batch_in_epoch: 0,
                options,
            },
        ))
    }
}

/// One kind of model's training step and saving, for the shared loop (`drive`).
pub trait Stepper {
    /// The model as trained so far (for checkpoint hooks).
    fn model(&mut self) -> &Backbone;
    fn opt(&self) -> &AdamW;
    /// One optimizer step over the given micro-batches (indices into the examples).
    fn step(&mut self, micro: &[Vec<usize>], lr: f64, clip: f64, step: usize)
        -> Result<StepReport>;
    /// Writes the model's files into a directory.
    fn save_model(&self, dir: &Path) -> Result<()>;
}

/// The loop every backbone shares: epochs of length-grouped batches drawn from `lens`
/// (each example's length), an optimizer step per `grad_accum` micro-batches, hooks after each
/// step and checkpoint, a checkpoint on cancel, and the final model at the top of `out`.
pub fn drive<H: FitHooks, S: Stepper>(
    spec: &FitSpec,
    hooks: &mut H,
    run: &mut S,
    lens: &[usize],
    mut state: TrainState,
    start: &Start,
) -> std::result::Result<FitOutcome, H::Error> {
    let o = state.options.clone();
    let started = std::time::Instant::now();
    let mut tokens = 0usize;
    let mut cancelled = false;
    // An epoch's order is drawn once, not at every step.
    let mut batches = epoch_batches_by_length(lens, o.batch_size, o.seed, state.epoch);
    while state.step < o.total_steps {
        if hooks.cancelled() {
            cancelled = true;
            break;
        }
        if state.batch_in_epoch >= batches.len() {
            state.epoch += 1;
            state.batch_in_epoch = 0;
            batches = epoch_batches_by_length(lens, o.batch_size, o.seed, state.epoch);
            continue;
        }
        let end = (state.batch_in_epoch + o.grad_accum).min(batches.len());
        let micro = &batches[state.batch_in_epoch..end];
        let report = run.step(micro, o.lr_at(state.step), o.clip_norm, state.step)?;
        state.step += 1;
        state.batch_in_epoch = end;
        tokens += report.tokens;
        hooks.step(
            &report,
            &state,
            tokens as f64 / started.elapsed().as_secs_f64(),
        )?;
        if (o.save_every > 0 && state.step.is_multiple_of(o.save_every))
            || state.step == o.total_steps
        {
            let dir = save_checkpoint(spec, &|d| run.save_model(d), run.opt(), &state)?;
            hooks.checkpoint(run.model(), &state, &dir)?;
        }
    }
    if cancelled && state.step > 0 && checkpoints(spec.out).last().map(|c| c.0) != Some(state.step)
    {
        let dir = save_checkpoint(spec, &|d| run.save_model(d), run.opt(), &state)?;
        hooks.checkpoint(run.model(), &state, &dir)?;
    }
    if !cancelled {
        // The final model at the top of `out`, loadable like any checkpoint.
        run.save_model(spec.out)?;
    }
    Ok(FitOutcome {
        state,
        cancelled,
        seconds: started.elapsed().as_secs_f64(),
        source: start.source.clone(),
        resumed: start.resumed,
    })
}

/// T5's trainer over the model it borrows.
struct T5Run<'a> {
    model: &'a Backbone,
    trainer: Trainer<'a>,
}

impl Stepper for T5Run<'_> {
    fn model(&mut self) -> &Backbone {
        self.model
    }
    fn opt(&self) -> &AdamW {
        &self.trainer.opt
    }
    fn step(
        &mut self,
        micro: &[Vec<usize>],
        lr: f64,
        clip: f64,
        step: usize,
    ) -> Result<StepReport> {
        self.trainer.step(micro, lr, clip, step)
    }
    fn save_model(&self, dir: &Path) -> Result<()> {
        let Backbone::T5(l) = self.model else {
            unreachable!("a T5 run holds a T5")
        };
        checkpoint::save(dir, &l.config, &l.params, &l.tokenizer)
    }
}

fn fit_t5<H: FitHooks>(
    spec: FitSpec,
    pairs: &[(String, String)],
    hooks: &mut H,
    start: Start,
) -> std::result::Result<FitOutcome, H::Error> {
    let loaded = checkpoint::load_as(&start.source, spec.device, candle_core::DType::F32)?;
    let model = Backbone::T5(Box::new(loaded));
    let Backbone::T5(loaded) = &model else {
        unreachable!("made as T5 above")
    };
    let o = &spec.options;
    let examples = tokenize_examples(
        &loaded.tokenizer,
        pairs,
        o.max_source_length,
        o.max_target_length,
    )?;
    let lens: Vec<usize> = examples.iter().map(|e| e.source.len()).collect();
    let per_epoch = epoch_batches_by_length(&lens, o.batch_size, o.seed, 0)
        .len()
        .div_ceil(o.grad_accum);
    let (opt, state) = start.state(&spec, per_epoch)?;
    hooks.started(&model, &state, per_epoch)?;
    let mut run = T5Run {
        model: &model,
        trainer: Trainer::new(&loaded.model, &loaded.params, opt, examples),
    };
    drive(&spec, hooks, &mut run, &lens, state, &start)
}

/// Writes a checkpoint atomically (a temporary directory renamed into place) and keeps the
/// newest few. `write_model` writes the model's files into a directory.
pub fn save_checkpoint(
    spec: &FitSpec,
    write_model: &dyn Fn(&Path) -> Result<()>,
    opt: &AdamW,
    state: &TrainState,
) -> Result<PathBuf> {
    let out = spec.out;
    let name = format!("checkpoint-{}", state.step);
    let tmp = out.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    // A write that fails (a full disk) takes its half-written directory with it at once, so
    // the space it held is free for the user's next attempt.
    if let Err(e) = write_model(&tmp).and_then(|()| save_training_state(&tmp, opt, state)) {
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
