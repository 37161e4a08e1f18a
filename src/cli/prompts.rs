//! `ie-bench prompts`, and the prompt-building flags that `predict` and `train` share.

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::ie::Split;
use crate::prompt::{
    build_split, BuildOptions, BuildOutput, InstructionStrategy, Substitution, AUX_PROB,
};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub build: PromptArgs,
    /// Which split of the task config.
    #[arg(long, default_value = "test", value_parser = super::choice::<Split>())]
    split: Split,
    /// Output JSONL file (`-` for standard output).
    #[arg(long)]
    out: PathBuf,
}

/// How to turn data + task config into prompts.
#[derive(clap::Args, Clone)]
pub struct PromptArgs {
    /// IE INSTRUCTIONS directory; default: the sample data.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Task config: `supervised`, `zeroshot` (the data's own configs/NAME if it ships one, else
    /// the official config), `builtin:NAME` (always the official one), or a directory.
    #[arg(long, default_value = "supervised")]
    pub config: String,
    /// Instruction bank (instruction_config.json); default: the data's own, else the official one.
    #[arg(long)]
    instructions: Option<PathBuf>,
    #[arg(long, default_value = "single", value_parser = super::choice::<InstructionStrategy>())]
    strategy: InstructionStrategy,
    /// Probability of keeping an ES/ET/EP/EPR instance (1 keeps all).
    #[arg(long, default_value_t = AUX_PROB)]
    aux_prob: f64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Prefix every source with "Task:<TASK>\n".
    #[arg(long)]
    task_prefix: bool,
    /// Prefix every source with "Dataset:<name>\n".
    #[arg(long)]
    dataset_prefix: bool,
    /// max_num_instances_per_task (train cap for `random` datasets); 0 = no cap.
    #[arg(long, default_value_t = 10_000)]
    max_train: usize,
    /// max_num_instances_per_eval_task (dev cap); 0 = no cap.
    #[arg(long, default_value_t = 200)]
    max_eval: usize,
    /// Top short datasets up to the cap by drawing with replacement.
    #[arg(long)]
    over_sampling: bool,
    /// Fail when the config names a dataset or split file the data lacks. By default each one
    /// is skipped with a note on stderr (real copies of IE INSTRUCTIONS lack the licensed sets).
    #[arg(long)]
    pub require_all: bool,
    /// The default now; accepted for older scripts.
    #[arg(long, hide = true, conflicts_with = "require_all")]
    pub skip_missing: bool,
    /// `compat`: Python str.format, keeping the raw template when braces break it; `literal`.
    #[arg(long, default_value = "compat", value_parser = super::choice::<Substitution>())]
    substitution: Substitution,
}

/// A built split and where it came from.
pub struct Built {
    pub root: PathBuf,
    pub origin: String,
    pub output: BuildOutput,
}

impl PromptArgs {
    /// The same data and config with every auxiliary instance kept and absent splits
    /// skipped: all the text a new tokenizer should see.
    pub fn clone_for_tokenizer(&self) -> PromptArgs {
        PromptArgs {
            aux_prob: 1.0,
            require_all: false,
            ..self.clone()
        }
    }

    /// The same settings, skipping (with a note) datasets that lack a split: for the dev and
    /// test evaluations of a training run, where some datasets ship no dev file.
    pub fn clone_skipping_missing(&self) -> PromptArgs {
        PromptArgs {
            require_all: false,
            ..self.clone()
        }
    }

    /// The instruction bank these settings use: origin and JSON text.
    pub fn bank_source(&self) -> Result<(PathBuf, String)> {
        let root = super::data_dir(self.data.clone())?;
        super::instruction_bank_source(self.instructions.as_deref(), &root)
    }

    pub fn build(&self, split: Split) -> Result<Built> {
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.aux_prob),
            "--aux-prob must be between 0 and 1, got {}",
            self.aux_prob
        );
        let root = super::data_dir(self.data.clone())?;
        let config = super::task_config(&self.config, &root)?;
        let bank = super::instruction_bank(self.instructions.as_deref(), &root)?;
        let cap = |n: usize| (n > 0).then_some(n);
        let opts = BuildOptions {
            strategy: self.strategy,
            add_task_name: self.task_prefix,
            add_dataset_name: self.dataset_prefix,
            aux_prob: self.aux_prob,
            seed: self.seed,
            max_train: cap(self.max_train),
            max_eval: cap(self.max_eval),
            over_sampling: self.over_sampling,
            skip_missing: !self.require_all,
            substitution: self.substitution,
        };
        let output = build_split(&root, &config, split, &bank, &opts)
            .with_context(|| format!("building the {split} split of config {}", config.origin))?;
        for s in &output.notes {
            eprintln!("{s}");
        }
        Ok(Built {
            root,
            origin: config.origin,
            output,
        })
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let built = args.build.build(args.split)?;
    let mut buf = Vec::with_capacity(built.output.instances.len() * 512);
    for inst in &built.output.instances {
        serde_json::to_writer(&mut buf, inst)?;
        buf.push(b'\n');
    }
    if args.out.as_os_str() == "-" {
        super::emit(&String::from_utf8(buf)?)?;
    } else {
        std::fs::write(&args.out, &buf)
            .with_context(|| format!("writing {}", args.out.display()))?;
    }
    eprintln!(
        "{} instances from config {} ({} split) of {} -> {}",
        built.output.instances.len(),
        built.origin,
        args.split,
        built.root.display(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
