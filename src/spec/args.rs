//! The settings of each kind of run, as one set of types that the command line parses
//! (clap), the launch form fills, and a run's manifest stores (serde). Building prompts and
//! jobs from them is the service's work; these are only the settings and their pure
//! conversions.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::ie::Split;
use crate::model::predict::{DecodeWeights, PredictOptions};
use crate::model::train::{FrozenWeights, Schedule, TrainOptions};
use crate::prompt::{InstructionStrategy, Substitution, TargetOrder, AUX_PROB};

/// How to turn data + task config into prompts.
#[derive(clap::Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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
    pub instructions: Option<PathBuf>,
    #[arg(long, default_value = "single", value_parser = super::choice::<InstructionStrategy>())]
    #[serde(with = "super::named")]
    pub strategy: InstructionStrategy,
    /// Probability of keeping an ES/ET/EP/EPR instance (1 keeps all).
    #[arg(long, default_value_t = AUX_PROB)]
    pub aux_prob: f64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Prefix every source with "Task:<TASK>\n".
    #[arg(long)]
    pub task_prefix: bool,
    /// Prefix every source with "Dataset:<name>\n".
    #[arg(long)]
    pub dataset_prefix: bool,
    /// max_num_instances_per_task (train cap for `random` datasets); 0 = no cap.
    #[arg(long, default_value_t = 10_000)]
    pub max_train: usize,
    /// max_num_instances_per_eval_task (dev cap); 0 = no cap.
    #[arg(long, default_value_t = 200)]
    pub max_eval: usize,
    /// Top short datasets up to the cap by drawing with replacement.
    #[arg(long)]
    pub over_sampling: bool,
    /// Fail when the config names a dataset or split file the data lacks. By default each one
    /// is skipped with a note on stderr (real copies of IE INSTRUCTIONS lack the licensed sets).
    #[arg(long)]
    pub require_all: bool,
    /// The default now; accepted for older scripts.
    #[arg(long, hide = true, conflicts_with = "require_all")]
    pub skip_missing: bool,
    /// `compat`: Python str.format, keeping the raw template when braces break it; `literal`.
    #[arg(long, default_value = "compat", value_parser = super::choice::<Substitution>())]
    #[serde(with = "super::named")]
    pub substitution: Substitution,
    /// The order of the structures in training targets: `data` as the files list them (the
    /// official builder), or `sentence`, left to right as they occur. The evaluation reference
    /// keeps the data's order either way.
    #[arg(long, default_value = "data", value_parser = super::choice::<TargetOrder>())]
    #[serde(default, with = "super::named")]
    pub target_order: TargetOrder,
}

/// Optimisation settings, shared by `train` and `run train`.
#[derive(clap::Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainSettings {
    /// Peak learning rate of AdamW (the official scripts use 5e-5).
    #[arg(long, default_value_t = 5e-5)]
    pub lr: f64,
    /// Learning-rate schedule after warm-up: constant, or linear decay to 0 at the last step.
    #[arg(long, default_value = "constant", value_parser = super::choice::<Schedule>())]
    #[serde(with = "super::named")]
    pub schedule: Schedule,
    /// Steps over which the learning rate rises linearly from 0.
    #[arg(long, default_value_t = 0)]
    pub warmup_steps: usize,
    /// Instances per optimiser step (times --grad-accum).
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Batches whose gradients are summed before each optimiser step.
    #[arg(long, default_value_t = 1)]
    pub grad_accum: usize,
    /// Passes over the training split (ignored when --max-steps is given).
    #[arg(long, default_value_t = 1.0)]
    pub epochs: f64,
    /// Optimizer steps in all.
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Save a checkpoint every N steps (0: only at the end).
    #[arg(long, default_value_t = 0)]
    pub save_every: usize,
    /// Keep the newest N checkpoints on disk (0: keep them all, for a learning curve).
    #[arg(long, default_value_t = crate::model::fit::KEEP_CHECKPOINTS)]
    pub keep_checkpoints: usize,
    #[arg(long, default_value_t = 512)]
    pub max_source_length: usize,
    #[arg(long, default_value_t = 50)]
    pub max_target_length: usize,
    #[arg(long, default_value_t = 1.0)]
    pub clip_norm: f64,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Decoder-only models: train LoRA adapters of this rank instead of the weights (0: full
    /// fine-tuning). The run's folder then holds a PEFT adapter.
    #[arg(long, default_value_t = 0)]
    pub lora_rank: usize,
    /// LoRA's alpha (the adapters are scaled by alpha / rank).
    #[arg(long, default_value_t = 16.0)]
    pub lora_alpha: f64,
    /// The projections LoRA adapts, comma-separated.
    #[arg(
        long,
        default_value = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
        value_delimiter = ','
    )]
    pub lora_targets: Vec<String>,
    /// LoRA runs: the precision the frozen base weights multiply in. `f32` as loaded; `bf16`
    /// packs them once for Intel AMX tiles (Sapphire Rapids and later), the adapters staying
    /// f32: several times faster products, with bf16 rounding of both factors as in
    /// PyTorch's bf16 autocast.
    #[arg(long, default_value = "f32", value_parser = super::choice::<FrozenWeights>())]
    #[serde(default, with = "super::named")]
    pub frozen_weights: FrozenWeights,
}

impl TrainSettings {
    pub fn options(&self, seed: u64) -> TrainOptions {
        TrainOptions {
            lr: self.lr,
            schedule: self.schedule,
            warmup_steps: self.warmup_steps,
            batch_size: self.batch_size,
            grad_accum: self.grad_accum,
            total_steps: self.max_steps.unwrap_or(0),
            max_source_length: self.max_source_length,
            max_target_length: self.max_target_length,
            clip_norm: self.clip_norm,
            seed,
            save_every: self.save_every,
            lora: (self.lora_rank > 0).then(|| crate::model::decoder::lora::LoraOptions {
                rank: self.lora_rank,
                alpha: self.lora_alpha,
                targets: self.lora_targets.clone(),
            }),
            frozen_weights: self.frozen_weights,
        }
    }

    /// Epochs to derive the step count from, unless --max-steps fixes it.
    pub fn epochs(&self) -> Option<f64> {
        self.max_steps.is_none().then_some(self.epochs)
    }
}

/// A model generating for a split, shared by `predict` and the stored `eval` / `zero-shot`
/// runs.
#[derive(clap::Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerateArgs {
    /// Model: a T5 directory or Hugging Face repo id (resolved through the local HF cache), a
    /// decoder-only folder, a .gguf file, or a fetched model's name (gemma-3-270m).
    #[arg(long)]
    pub model: String,
    #[command(flatten)]
    pub prompts: PromptArgs,
    /// Decoder-only models: end each answer at its first newline.
    #[arg(long)]
    pub stop_at_newline: bool,
    /// Decoder-only models: keep each answer inside its instance's answer grammar, so that
    /// labels come from the options and spans from the sentence (the head is computed over
    /// the allowed tokens only, which also makes decoding cheaper).
    #[arg(long)]
    pub constrain: bool,
    /// Decoder-only models: the weights decoding steps multiply by: `f32`, the model's own
    /// (answers equal transformers'), or `q8`, int8 blocks of 32 with a scale each (llama.cpp's
    /// Q8_0): 3.6× fewer bytes to read per step, so faster where memory bandwidth limits
    /// decoding; answers can differ from f32's where two tokens score alike.
    #[arg(long, default_value = "f32", value_parser = super::choice::<DecodeWeights>())]
    #[serde(default, with = "super::named")]
    pub decode_weights: DecodeWeights,
    /// Which split of the task config.
    #[arg(long, default_value = "test", value_parser = super::choice::<Split>())]
    #[serde(with = "super::named")]
    pub split: Split,
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 50)]
    pub max_new_tokens: usize,
    /// Longer sources are cut, as the official code does (SPEC §2.2).
    #[arg(long, default_value_t = 512)]
    pub max_source_length: usize,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

impl GenerateArgs {
    pub fn options(&self) -> PredictOptions {
        PredictOptions {
            batch_size: self.batch_size,
            max_new_tokens: self.max_new_tokens,
            max_source_length: self.max_source_length,
            stop_at_newline: self.stop_at_newline,
            constrain: self.constrain,
            decode_weights: self.decode_weights,
        }
    }
}

#[derive(clap::Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExternalArgs {
    /// The official predictions file the trainer writes (read when it ends).
    #[arg(long)]
    pub predictions: PathBuf,
    /// A regex for metric lines, with a named group `loss` (and optionally `step`, `lr`,
    /// `epoch`); default: the Hugging Face Trainer's `{'loss': ...}` lines.
    #[arg(long)]
    pub metric_pattern: Option<String>,
    /// Directory to run the command in.
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Where its log goes (default: runs/ID beside the database).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long)]
    #[serde(skip)]
    pub detach: bool,
    /// Stop the trainer and end the run as `diverged` at the first NaN or infinite loss.
    #[arg(long)]
    pub stop_on_nan: bool,
    /// The trainer command and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

#[derive(clap::Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalArgs {
    #[command(flatten)]
    pub on: GenerateArgs,
    /// Evaluate N instances drawn from the split without replacement (seeded by --seed, kept
    /// in file order; 0: all). The draw does not depend on the instruction bank, so two runs
    /// that differ only in --instructions see the same instances and `runs compare` pairs
    /// them: a quick A/B of a template edit.
    #[arg(long, default_value_t = 0)]
    #[serde(default)]
    pub sample: usize,
    /// Keep only these tasks' instances (comma-separated: NER,RE,...; default: all).
    #[arg(long = "task", value_delimiter = ',')]
    #[serde(default, rename = "task")]
    pub tasks: Vec<crate::ie::TaskKind>,
    #[arg(long)]
    #[serde(skip)]
    pub detach: bool,
}

#[derive(clap::Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IngestArgs {
    /// Official predictions file, or ie-bench prompts lines with a "prediction" field.
    pub predictions: PathBuf,
}

#[derive(clap::Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunTrainArgs {
    /// Model directory or Hugging Face repo id.
    #[arg(long)]
    pub model: String,
    #[command(flatten)]
    pub prompts: PromptArgs,
    #[command(flatten)]
    pub settings: TrainSettings,
    /// Checkpoint directory (default: runs/ID beside the database).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Batch size for the dev and test evaluations.
    #[arg(long, default_value_t = 16)]
    pub eval_batch_size: usize,
    /// Decoder-only models: keep the dev and test answers inside each instance's answer
    /// grammar (labels from its options, spans from its sentence).
    #[arg(long)]
    pub constrain: bool,
    /// Decoder-only models: the weights the dev and test evaluations decode with (see
    /// `predict --decode-weights`).
    #[arg(long, default_value = "f32", value_parser = super::choice::<DecodeWeights>())]
    #[serde(default, with = "super::named")]
    pub decode_weights: DecodeWeights,
    #[arg(long, default_value_t = 50)]
    pub max_new_tokens: usize,
    /// Evaluate at most the first N test instances of each dataset at the end (0: all; the
    /// release's supervised test split has 83,916).
    #[arg(long, default_value_t = 0)]
    pub max_test: usize,
    /// Start in the background and print the run id.
    #[arg(long)]
    #[serde(skip)]
    pub detach: bool,
    /// End the run as `diverged` at the first NaN or infinite loss (its metrics so far and its
    /// last checkpoint stay).
    #[arg(long)]
    pub stop_on_nan: bool,
}

impl Default for PromptArgs {
    fn default() -> Self {
        super::clap_defaults()
    }
}

impl Default for TrainSettings {
    fn default() -> Self {
        super::clap_defaults()
    }
}
