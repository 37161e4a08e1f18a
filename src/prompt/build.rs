//! Materialising a split of a task config into text-to-text instances (SPEC §2–3): sampling,
//! instruction choice, rendering, auxiliary-task thinning, in the official order.

use serde::Serialize;
use std::path::Path;

use super::instructions::{InstructionBank, InstructionStrategy};
use super::render::{fill, prefix, render, RecordRef, Substitution};
use super::target_order::TargetOrder;
use crate::data::records::one_event_per_record;
use crate::data::sampling::{resample_to, sample};
use crate::data::{DataError, DatasetLocation, TaskConfig};
use crate::ie::{Record, Split, TaskKind};
use crate::pyrandom::PyRandom;

/// Probability of keeping an ES/ET/EP/EPR instance (`AUX_PROB` in the official code).
pub const AUX_PROB: f64 = 0.3;

#[derive(Debug, Clone, Serialize)]
pub struct BuildOptions {
    pub strategy: InstructionStrategy,
    pub add_task_name: bool,
    pub add_dataset_name: bool,
    pub aux_prob: f64,
    pub seed: u64,
    /// `max_num_instances_per_task` (train cap for `random` datasets).
    pub max_train: Option<usize>,
    /// `max_num_instances_per_eval_task` (dev cap).
    pub max_eval: Option<usize>,
    pub over_sampling: bool,
    /// Report, rather than fail on, datasets or split files the config names but the data lacks.
    pub skip_missing: bool,
    pub substitution: Substitution,
    /// The order of the structures in training targets (`target_order`).
    pub target_order: TargetOrder,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            strategy: InstructionStrategy::Single,
            add_task_name: false,
            add_dataset_name: false,
            aux_prob: AUX_PROB,
            seed: 42,
            max_train: Some(10_000),
            max_eval: Some(200),
            over_sampling: false,
            skip_missing: false,
            substitution: Substitution::Compat,
            target_order: TargetOrder::Data,
        }
    }
}

/// One text-to-text instance, in the shape `ie-bench prompts` writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromptInstance {
    #[serde(rename = "Task")]
    pub task: crate::ie::TaskKind,
    #[serde(rename = "Dataset")]
    pub dataset: String,
    pub id: String,
    /// The full model input.
    pub source: String,
    pub target: String,
    pub ground_truth: String,
    #[serde(skip)]
    pub sentence: String,
    /// The instruction template with `{0}`, as the official `Instance.instruction`.
    #[serde(skip)]
    pub instruction: String,
    /// The label lists an answer draws from (`answer_grammar::answer_options`).
    #[serde(skip)]
    pub options: Vec<Vec<String>>,
}

impl PromptInstance {
    /// The answers this instance allows, for constrained decoding.
    pub fn grammar(&self) -> super::answer_grammar::AnswerGrammar {
        super::answer_grammar::AnswerGrammar::new(self.task, &self.options, &self.sentence)
    }
}

#[derive(Debug, Default)]
pub struct BuildOutput {
    pub instances: Vec<PromptInstance>,
    /// Datasets or files skipped under `skip_missing`, and other notes for the user.
    pub notes: Vec<String>,
}

/// Makes the records of a location what the config's directory would hold: a `_sample_N`
/// name served by its base gets the base's train resampled to N, and EEA gets one event per
/// record. Each change comes with a note for the user.
fn as_the_release_ships(
    records: Vec<Record>,
    loc: &DatasetLocation,
    split: Split,
    seed: u64,
) -> (Vec<Record>, Vec<String>) {
    let mut notes = Vec::new();
    let mut records = records;
    if let (Some(n), Split::Train) = (loc.resample_train, split) {
        // Its own generator, so the split's shared stream draws as it would with the
        // resampled directory on disk.
        records = resample_to(records, n, &mut PyRandom::new(seed));
    }
    notes.extend(loc.fallback_note());
    if loc.task == TaskKind::Eea {
        let before = records.len();
        let (expanded, odd) = one_event_per_record(records);
        records = expanded;
        if let Some((first, count)) = odd {
            let path = loc.split_path(split);
            notes.push(if loc.aliased {
                format!(
                    "EEA/{} {split}: {count} of {before} records of {} hold several events (or none); \
                     each event became its own instance ({} in all), as the release's EEA copies are made",
                    loc.name,
                    path.display(),
                    records.len()
                )
            } else {
                format!(
                    "warning: {}: record {first} (and {} more) does not hold exactly one event; \
                     each event became its own instance ({} in all)",
                    path.display(),
                    count - 1,
                    records.len()
                )
            });
        }
    }
    (records, notes)
}

/// Builds one split. Each split draws from its own generator seeded with `opts.seed` (the
/// official builder shares one stream across train, dev and test; see the README).
pub fn build_split(
    root: &Path,
    config: &TaskConfig,
    split: Split,
    bank: &InstructionBank,
    opts: &BuildOptions,
) -> Result<BuildOutput, DataError> {
    let mut rng = PyRandom::new(opts.seed);
    let max = match split {
        Split::Train => opts.max_train,
        Split::Dev => opts.max_eval,
        Split::Test => None,
    };
    let mut out = BuildOutput::default();
    for entry in &config.split(split).entries {
        let loc = match DatasetLocation::locate(root, entry.task, &entry.dataset) {
            Ok(loc) => loc,
            Err(e) if opts.skip_missing => {
                out.notes.push(format!("skipped: {e}"));
                continue;
            }
            Err(e) => return Err(e),
        };
        let records = match loc.read_split(split) {
            Ok(r) => r,
            Err(e @ DataError::MissingSplit { .. }) if opts.skip_missing => {
                out.notes.push(format!("skipped: {e}"));
                continue;
            }
            Err(e) => return Err(e),
        };
        let labels = loc.task_labels()?;
        let path = loc.split_path(split);
        let (records, notes) = as_the_release_ships(records, &loc, split, opts.seed);
        out.notes.extend(notes);
        let records = sample(records, entry.strategy, max, opts.over_sampling, &mut rng);
        let head = prefix(
            entry.task,
            &entry.dataset,
            opts.add_task_name,
            opts.add_dataset_name,
        );
        for (index, record) in records.iter().enumerate() {
            let instruction = bank
                .choose(entry.task, opts.strategy, &mut rng)
                .ok_or_else(|| DataError::Config {
                    path: bank.origin.clone().into(),
                    message: format!("no zero-shot instruction for task {}", entry.task),
                })?;
            let at = RecordRef { path: &path, index };
            let r = render(entry.task, &labels, instruction, record, &at)?;
            let target = match opts.target_order {
                TargetOrder::Data => r.label,
                order => {
                    render(
                        entry.task,
                        &labels,
                        instruction,
                        &order.arrange(record),
                        &at,
                    )?
                    .label
                }
            };
            if entry.task.is_subsampled_aux() && rng.random() >= opts.aux_prob {
                continue;
            }
            out.instances.push(PromptInstance {
                task: entry.task,
                dataset: entry.dataset.clone(),
                id: index.to_string(),
                source: format!(
                    "{head}{}",
                    fill(&r.template, &record.sentence, opts.substitution)
                ),
                target,
                ground_truth: r.ground_truth,
                sentence: record.sentence.clone(),
                instruction: r.template,
                options: super::answer_grammar::answer_options(entry.task, &labels, record),
            });
        }
    }
    Ok(out)
}
