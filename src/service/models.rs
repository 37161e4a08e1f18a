//! Making models from the workspace's data: `model init`'s random checkpoints, with a
//! tokenizer trained on the prompts and targets the data gives, and the workbench's default
//! model.

use anyhow::{bail, Result};
use std::path::PathBuf;

use crate::ie::Split;
use crate::model::checkpoint;
use crate::model::{HeadInit, Params, T5Config, TextTokenizer};
use crate::spec::PromptArgs;

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
    init(parsed.init)
}

pub fn init(a: InitArgs) -> Result<()> {
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
    Ok(())
}
