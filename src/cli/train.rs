//! `ie-bench train`.

use anyhow::{bail, Context, Result};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::prompts::PromptArgs;
use crate::ie::Split;
use crate::model::checkpoint::{self, device};
use crate::model::train::{
    checkpoints, epoch_batches, load_training_state, save_training_state, tokenize_examples, AdamW,
    Schedule, StepReport, TrainOptions, TrainState, Trainer,
};

#[derive(clap::Args)]
pub struct Args {
    /// Model directory (e.g. from `ie-bench model init`) or Hugging Face repo id.
    #[arg(long)]
    model: String,
    #[command(flatten)]
    prompts: PromptArgs,
    /// Output directory: checkpoints, train_log.jsonl, and the final model.
    #[arg(long)]
    out: PathBuf,
    /// Continue from the newest checkpoint in --out.
    #[arg(long)]
    resume: bool,
    #[arg(long, default_value_t = 5e-5)]
    lr: f64,
    #[arg(long, default_value = "constant", value_parser = super::choice::<Schedule>())]
    schedule: Schedule,
    #[arg(long, default_value_t = 0)]
    warmup_steps: usize,
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    #[arg(long, default_value_t = 1)]
    grad_accum: usize,
    /// Passes over the training split (ignored when --max-steps is given).
    #[arg(long, default_value_t = 1.0)]
    epochs: f64,
    /// Optimizer steps in all.
    #[arg(long)]
    max_steps: Option<usize>,
    /// Save a checkpoint every N steps (0: only at the end).
    #[arg(long, default_value_t = 0)]
    save_every: usize,
    #[arg(long, default_value_t = 512)]
    max_source_length: usize,
    #[arg(long, default_value_t = 50)]
    max_target_length: usize,
    #[arg(long, default_value_t = 1.0)]
    clip_norm: f64,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
}

const KEEP_CHECKPOINTS: usize = 2;

pub fn run(a: Args) -> Result<ExitCode> {
    let dev = device(&a.device)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let latest = checkpoints(&a.out).pop();
    let (source, resumed) = match (&latest, a.resume) {
        (Some((_, dir)), true) => (dir.display().to_string(), true),
        (None, true) => bail!("--resume: no checkpoint in {}", a.out.display()),
        (Some((step, _)), false) => bail!(
            "{} already holds checkpoint-{step}: pass --resume to continue it, or choose another --out",
            a.out.display()
        ),
        (None, false) => (a.model.clone(), false),
    };
    let loaded =
        checkpoint::load(&source, &dev).with_context(|| format!("loading model {source}"))?;
    let built = a.prompts.build(Split::Train)?;
    let pairs: Vec<(String, String)> = built
        .output
        .instances
        .iter()
        .map(|i| (i.source.clone(), i.target.clone()))
        .collect();
    if pairs.is_empty() {
        bail!("the train split of config {} is empty", built.origin);
    }
    let examples = tokenize_examples(
        &loaded.tokenizer,
        &pairs,
        a.max_source_length,
        a.max_target_length,
    )?;
    let per_epoch = epoch_batches(&examples, a.batch_size, a.prompts.seed, 0)
        .len()
        .div_ceil(a.grad_accum);
    let (opt, mut state) = if resumed {
        let (opt, state) = load_training_state(&latest.as_ref().expect("resumed").1)?;
        (opt, state)
    } else {
        let options = TrainOptions {
            lr: a.lr,
            schedule: a.schedule,
            warmup_steps: a.warmup_steps,
            batch_size: a.batch_size,
            grad_accum: a.grad_accum,
            total_steps: a
                .max_steps
                .unwrap_or(((per_epoch as f64) * a.epochs).ceil() as usize)
                .max(1),
            max_source_length: a.max_source_length,
            max_target_length: a.max_target_length,
            clip_norm: a.clip_norm,
            seed: a.prompts.seed,
            save_every: a.save_every,
        };
        (
            AdamW::new(),
            TrainState {
                step: 0,
                epoch: 0,
                batch_in_epoch: 0,
                options,
            },
        )
    };
    let o = state.options.clone();
    let mut trainer = Trainer {
        model: &loaded.model,
        params: &loaded.params,
        opt,
        examples,
    };
    let log_path = a.out.join("train_log.jsonl");
    truncate_log(&log_path, state.step)?;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)?;
    eprintln!(
        "training {} on {} examples ({} steps of {}x{}, {} per epoch){}",
        source,
        trainer.examples.len(),
        o.total_steps,
        o.batch_size,
        o.grad_accum,
        per_epoch,
        if resumed {
            format!(", resuming at step {}", state.step)
        } else {
            String::new()
        }
    );
    let started = std::time::Instant::now();
    let mut tokens_since_start = 0usize;
    while state.step < o.total_steps {
        let batches = epoch_batches(&trainer.examples, o.batch_size, o.seed, state.epoch);
        if state.batch_in_epoch >= batches.len() {
            state.epoch += 1;
            state.batch_in_epoch = 0;
            continue;
        }
        let end = (state.batch_in_epoch + o.grad_accum).min(batches.len());
        let micro = &batches[state.batch_in_epoch..end];
        let report = trainer.step(micro, o.lr_at(state.step), o.clip_norm, state.step)?;
        state.step += 1;
        state.batch_in_epoch = end;
        tokens_since_start += report.tokens;
        writeln!(log, "{}", serde_json::to_string(&report)?)?;
        progress(
            &report,
            o.total_steps,
            tokens_since_start as f64 / started.elapsed().as_secs_f64(),
        );
        if (o.save_every > 0 && state.step % o.save_every == 0) || state.step == o.total_steps {
            log.flush()?;
            save_checkpoint(&a.out, &loaded, &trainer.opt, &state)?;
        }
    }
    eprintln!();
    // The final model at the top of --out, loadable like any checkpoint.
    checkpoint::save(&a.out, &loaded.config, &loaded.params, &loaded.tokenizer)?;
    eprintln!(
        "trained to step {} in {:.1}s -> {}",
        state.step,
        started.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn progress(r: &StepReport, total: usize, tok_s: f64) {
    let line = format!(
        "step {}/{} loss {:.4} lr {:.2e} {:.0} tok/s",
        r.step, total, r.loss, r.lr, tok_s
    );
    if std::io::stderr().is_terminal() {
        let width = 30;
        let filled = width * r.step / total.max(1);
        eprint!(
            "\r[{}{}] {line}   ",
            "=".repeat(filled),
            " ".repeat(width - filled)
        );
    } else if r.step == 1 || r.step % 10 == 0 || r.step == total {
        eprintln!("{line}");
    }
}

/// Writes a checkpoint atomically (a temporary directory renamed into place) and keeps the
/// newest few.
fn save_checkpoint(
    out: &Path,
    loaded: &checkpoint::Loaded,
    opt: &AdamW,
    state: &TrainState,
) -> Result<()> {
    let name = format!("checkpoint-{}", state.step);
    let tmp = out.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    checkpoint::save(&tmp, &loaded.config, &loaded.params, &loaded.tokenizer)?;
    save_training_state(&tmp, opt, state)?;
    let dst = out.join(&name);
    let _ = std::fs::remove_dir_all(&dst);
    std::fs::rename(&tmp, &dst)?;
    let all = checkpoints(out);
    for (_, old) in all.iter().take(all.len().saturating_sub(KEEP_CHECKPOINTS)) {
        let _ = std::fs::remove_dir_all(old);
    }
    Ok(())
}

/// Drops log lines past the checkpoint a resumed run starts from, so no step appears twice.
fn truncate_log(path: &Path, step: usize) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v["step"].as_u64())
                .is_some_and(|s| s as usize <= step)
        })
        .collect();
    let mut body = kept.join("\n");
    if !body.is_empty() {
        body.push('\n');
    }
    std::fs::write(path, body)?;
    Ok(())
}
