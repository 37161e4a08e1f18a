//! `ie-bench train`.

use anyhow::{bail, Context, Result};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::ie::Split;
use crate::model::backbone::Backbone;
use crate::model::checkpoint::device;
use crate::model::fit::{fit, FitHooks, FitSpec};
use crate::model::train::{StepReport, TrainState};
use crate::spec::{PromptArgs, TrainSettings};

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
    #[command(flatten)]
    settings: TrainSettings,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let dev = device(&a.settings.device)?;
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
    let spec = FitSpec {
        model: &a.model,
        out: &a.out,
        resume: a.resume,
        options: a.settings.options(a.prompts.seed),
        epochs: a.settings.epochs(),
        keep_checkpoints: a.settings.keep_checkpoints,
        device: &dev,
    };
    let mut hooks = LogHooks {
        path: a.out.join("train_log.jsonl"),
        log: None,
        examples: pairs.len(),
    };
    let outcome = fit(spec, &pairs, &mut hooks).with_context(|| format!("training {}", a.model))?;
    eprintln!();
    eprintln!(
        "trained to step {} in {:.1}s -> {}",
        outcome.state.step,
        outcome.seconds,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `train_log.jsonl` (one line per step) and a progress line on stderr.
struct LogHooks {
    path: PathBuf,
    log: Option<std::fs::File>,
    examples: usize,
}

impl FitHooks for LogHooks {
    type Error = anyhow::Error;

    fn started(&mut self, loaded: &Backbone, state: &TrainState, per_epoch: usize) -> Result<()> {
        truncate_log(&self.path, state.step)?;
        self.log = Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .with_context(|| format!("opening {}", self.path.display()))?,
        );
        let o = &state.options;
        eprintln!(
            "training {} on {} examples ({} steps of {}x{}, {} per epoch){}",
            loaded.source(),
            self.examples,
            o.total_steps,
            o.batch_size,
            o.grad_accum,
            per_epoch,
            if state.step > 0 {
                format!(", resuming at step {}", state.step)
            } else {
                String::new()
            }
        );
        Ok(())
    }

    fn step(&mut self, report: &StepReport, state: &TrainState, tok_s: f64) -> Result<()> {
        let log = self.log.as_mut().expect("opened in started");
        // An unbuffered file: the line is written before the checkpoint that covers it.
        writeln!(log, "{}", serde_json::to_string(report)?)?;
        progress(
            report.step,
            state.options.total_steps,
            report.loss,
            report.lr,
            tok_s,
        );
        Ok(())
    }
}

/// A progress bar on a terminal; a line every 10 steps otherwise (a log file).
pub fn progress(step: usize, total: usize, loss: f64, lr: f64, tok_s: f64) {
    let line = format!("step {step}/{total} loss {loss:.4} lr {lr:.2e} {tok_s:.0} tok/s");
    if std::io::stderr().is_terminal() {
        let width = 30;
        let filled = (width * step / total.max(1)).min(width);
        eprint!(
            "\r[{}{}] {line}   ",
            "=".repeat(filled),
            " ".repeat(width - filled)
        );
    } else if step == 1 || step.is_multiple_of(10) || step == total {
        eprintln!("{line}");
    }
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
