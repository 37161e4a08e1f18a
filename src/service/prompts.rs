//! Turning a run's prompt settings into instances: the data, task config and instruction bank
//! they name, built for one split.

use anyhow::{Context, Result};
use std::path::PathBuf;

use crate::ie::Split;
use crate::prompt::{build_split, BuildOptions, BuildOutput};
use crate::spec::PromptArgs;

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
        let root = super::workspace::data_dir(self.data.clone())?;
        super::workspace::instruction_bank_source(self.instructions.as_deref(), &root)
    }

    pub fn build(&self, split: Split) -> Result<Built> {
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.aux_prob),
            "--aux-prob must be between 0 and 1, got {}",
            self.aux_prob
        );
        let root = super::workspace::data_dir(self.data.clone())?;
        let config = super::workspace::task_config(&self.config, &root)?;
        let bank = super::workspace::instruction_bank(self.instructions.as_deref(), &root)?;
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
            target_order: self.target_order,
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
