//! `ie-bench prompts`.

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::ie::Split;
use crate::prompt::{build_split, BuildOptions, InstructionStrategy, Substitution, AUX_PROB};

#[derive(clap::Args)]
pub struct Args {
    /// IE INSTRUCTIONS directory; default: the sample data.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Task config: `supervised`, `zeroshot` (the data's own configs/NAME if it ships one, else
    /// the official config), `builtin:NAME` (always the official one), or a directory.
    #[arg(long, default_value = "supervised")]
    config: String,
    #[arg(long, default_value = "test")]
    split: Split,
    /// Instruction bank (instruction_config.json); default: the data's own, else the official one.
    #[arg(long)]
    instructions: Option<PathBuf>,
    #[arg(long, default_value = "single", value_parser = super::choice::<InstructionStrategy>())]
    strategy: InstructionStrategy,
    /// Probability of keeping an ES/ET/EP/EPR instance (1 keeps all).
    #[arg(long, default_value_t = AUX_PROB)]
    aux_prob: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
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
    /// Skip, with a note, datasets or splits the config names but the data lacks.
    #[arg(long)]
    skip_missing: bool,
    /// `compat`: Python str.format, keeping the raw template when braces break it; `literal`.
    #[arg(long, default_value = "compat", value_parser = super::choice::<Substitution>())]
    substitution: Substitution,
    /// Output JSONL file (`-` for standard output).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: Args) -> Result<ExitCode> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.aux_prob),
        "--aux-prob must be between 0 and 1, got {}",
        args.aux_prob
    );
    let root = super::data_dir(args.data)?;
    let config = super::task_config(&args.config, &root)?;
    let bank = super::instruction_bank(args.instructions.as_deref(), &root)?;
    let cap = |n: usize| (n > 0).then_some(n);
    let opts = BuildOptions {
        strategy: args.strategy,
        add_task_name: args.task_prefix,
        add_dataset_name: args.dataset_prefix,
        aux_prob: args.aux_prob,
        seed: args.seed,
        max_train: cap(args.max_train),
        max_eval: cap(args.max_eval),
        over_sampling: args.over_sampling,
        skip_missing: args.skip_missing,
        substitution: args.substitution,
    };
    let built = build_split(&root, &config, args.split, &bank, &opts).with_context(|| {
        format!(
            "building the {} split of config {}",
            args.split, config.origin
        )
    })?;
    for s in &built.skipped {
        eprintln!("skipped: {s}");
    }
    let mut buf = Vec::with_capacity(built.instances.len() * 512);
    for inst in &built.instances {
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
        built.instances.len(),
        config.origin,
        args.split,
        root.display(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
