//! Decoder-only language models (Gemma 3, Llama, Qwen2) for InstructUIE: loading from a GGUF file or a
//! Hugging Face folder, the tokenizer with the official decoder-only instance format, and
//! saving in Hugging Face layout. The passes themselves run on `model::cpu::decoder`.

pub mod config;
pub mod constrain;
pub mod fetch;
pub mod fit;
pub mod gguf;
pub mod gguf_vocab;
pub mod lora;
pub mod predict;
pub mod tokenizer;
pub mod weights;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use config::{Arch, DecoderConfig, LayerKind};
pub use tokenizer::DecoderTokenizer;
pub use weights::DecoderWeights;

use crate::model::error::{ModelError, Result};
use crate::model::params::{
    tensor_from_view, write_f32_safetensors, OwnedView, Tables, WeightFiles,
};

/// A loaded decoder: shape, weights, tokenizer, and where they came from.
pub struct DecoderModel {
    pub cfg: DecoderConfig,
    pub weights: DecoderWeights,
    pub tokenizer: DecoderTokenizer,
    pub source: PathBuf,
    /// `general.*` metadata of a GGUF file (licence, name, ...); empty for a folder.
    pub general: BTreeMap<String, String>,
}

/// Where a decoder's files are: a `.gguf` file, or a folder whose `config.json` names a
/// decoder architecture.
pub fn is_decoder(path: &Path) -> bool {
    if path.is_file() {
        return is_gguf(path);
    }
    if lora::is_adapter(path) {
        return lora::AdapterInfo::read(path).is_ok_and(|i| is_decoder(&i.base));
    }
    let cfg = path.join("config.json");
    std::fs::read_to_string(cfg)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .map(|v| {
            let c = v.get("text_config").unwrap_or(&v);
            let t = c.get("model_type").or_else(|| v.get("model_type"));
            t.and_then(|t| t.as_str()).and_then(Arch::parse).is_some()
        })
        .unwrap_or(false)
}

fn is_gguf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map(|()| &magic == b"GGUF")
        .unwrap_or(false)
}

/// The tokenizer cached beside a GGUF file: `NAME.gguf` → `NAME.tokenizer.json`.
pub fn cached_tokenizer_path(gguf: &Path) -> PathBuf {
    gguf.with_extension("tokenizer.json")
}

impl DecoderModel {
    /// A GGUF file, a Hugging Face folder, or a LoRA adapter folder (its base, loaded as
    /// either, with the adapter merged in).
    pub fn load(path: &Path) -> Result<DecoderModel> {
        if path.is_file() {
            Self::load_gguf(path)
        } else if lora::is_adapter(path) {
            let info = lora::AdapterInfo::read(path)?;
            let base = &info.base;
            if lora::is_adapter(base) {
                return Err(ModelError::Unsupported(format!(
                    "{}: the adapter's base {} is an adapter itself",
                    path.display(),
                    base.display()
                )));
            }
            let mut m = Self::load(base)?;
            let adapters = lora::Adapters::load(path, &info, &m.cfg)?;
            let frozen = adapters.frozen_parts(&m.weights);
            adapters.merge(&m.cfg, &frozen, &mut m.weights);
            m.source = path.to_path_buf();
            Ok(m)
        } else {
            Self::load_folder(path)
        }
    }

    /// A GGUF file, its weights dequantized to f32. The tokenizer is built from the embedded
    /// vocabulary the first time and cached beside the file (in memory only when the folder
    /// is read-only).
    pub fn load_gguf(path: &Path) -> Result<DecoderModel> {
        let g = gguf::Gguf::open(path)?;
        let cfg = g.config()?;
        let cache = cached_tokenizer_path(path);
        let tokenizer = match DecoderTokenizer::load(&cache, &cfg) {
            Ok(t) => t,
            Err(_) => {
                let json = g.tokenizer_json()?;
                let tmp = cache.with_extension("json.tmp");
                if std::fs::write(&tmp, &json).is_ok() {
                    let _ = std::fs::rename(&tmp, &cache);
                }
                DecoderTokenizer::from_json(&json, &cache, &cfg)?
            }
        };
        let weights = g.weights(&cfg)?;
        Ok(DecoderModel {
            general: g.general(),
            cfg,
            weights,
            tokenizer,
            source: path.to_path_buf(),
        })
    }

    /// A Hugging Face folder: `config.json`, `tokenizer.json`, safetensors (one file or
    /// shards) in any float dtype; a multimodal checkpoint's language model is read too.
    pub fn load_folder(dir: &Path) -> Result<DecoderModel> {
        let cfg = DecoderConfig::from_hf(&dir.join("config.json"))?;
        let tokenizer = DecoderTokenizer::load(&dir.join("tokenizer.json"), &cfg)?;
        let files = WeightFiles::read(dir)?;
        let Tables { tables, file_of } = files.tables()?;
        let weights = DecoderWeights::assemble(&cfg, |name, shape| {
            let key = [name.to_string(), format!("language_model.{name}")]
                .into_iter()
                .find(|k| file_of.contains_key(k))
                .ok_or_else(|| format!("tensor `{name}` is missing"))?;
            let view = tables[file_of[&key]]
                .tensor(&key)
                .map_err(|e| format!("tensor `{key}`: {e}"))?;
            if view.shape() != shape {
                return Err(format!(
                    "tensor `{key}` has shape {:?}, the config needs {shape:?}",
                    view.shape()
                ));
            }
            tensor_from_view(&view, &candle_core::Device::Cpu)
                .and_then(|t| {
                    t.to_dtype(candle_core::DType::F32)?
                        .flatten_all()?
                        .to_vec1()
                })
                .map_err(|e| format!("tensor `{key}`: {e}"))
        })
        .map_err(|message| ModelError::Weights {
            path: dir.to_path_buf(),
            message,
        })?;
        Ok(DecoderModel {
            cfg,
            weights,
            tokenizer,
            source: dir.to_path_buf(),
            general: BTreeMap::new(),
        })
    }

    /// Writes `config.json`, `model.safetensors` (f32) and `tokenizer.json` into `dir`, a folder
    /// transformers' `AutoModelForCausalLM.from_pretrained` loads.
    pub fn save(&self, dir: &Path) -> Result<()> {
        save_folder(dir, &self.cfg, &self.weights, &self.tokenizer)
    }

    /// What `model info` prints.
    pub fn describe(&self) -> Vec<(String, String)> {
        let c = &self.cfg;
        let kinds = |k: LayerKind| c.layers.iter().filter(|l| **l == k).count();
        let mut out = vec![
            ("path".into(), self.source.display().to_string()),
            (
                "architecture".into(),
                format!("{} (decoder-only)", c.arch.name()),
            ),
            ("parameters".into(), c.param_count().to_string()),
            (
                "layers".into(),
                match kinds(LayerKind::Sliding) {
                    0 => format!("{} (full attention)", c.layers.len()),
                    sliding => format!(
                        "{} ({} full attention, {sliding} sliding window of {})",
                        c.layers.len(),
                        kinds(LayerKind::Full),
                        c.sliding_window
                    ),
                },
            ),
            ("hidden".into(), c.hidden.to_string()),
            (
                "layer".into(),
                format!(
                    "{} gated MLP, {}{}{}",
                    c.activation.hf_name(),
                    if c.arch.gemma_norms() {
                        "q/k norms and norms after each sublayer"
                    } else {
                        "norms before each sublayer"
                    },
                    if c.qkv_bias { ", q/k/v biases" } else { "" },
                    if c.tie_embeddings {
                        ", head tied to the embedding"
                    } else {
                        ", own head"
                    }
                ),
            ),
            ("intermediate".into(), c.intermediate.to_string()),
            (
                "attention".into(),
                format!(
                    "{} heads, {} key/value heads, head dim {}",
                    c.heads, c.kv_heads, c.head_dim
                ),
            ),
            (
                "rope".into(),
                if c.layers.contains(&LayerKind::Sliding) {
                    format!(
                        "base {} (full), {} (sliding), {}",
                        c.rope_theta, c.rope_local_theta, c.rope_scaling
                    )
                } else {
                    format!("base {}, {}", c.rope_theta, c.rope_scaling)
                },
            ),
            ("vocabulary".into(), c.vocab_size.to_string()),
            (
                "tokenizer".into(),
                format!(
                    "{} (bos {}, eos {:?}, pad {})",
                    self.tokenizer.path().display(),
                    c.bos,
                    c.eos,
                    c.pad
                ),
            ),
        ];
        let terms = self.source.with_file_name("GEMMA_TERMS.html");
        if terms.is_file() {
            out.push(("licence terms".into(), terms.display().to_string()));
        }
        for (k, v) in &self.general {
            if k.contains("licen")
                || k.ends_with(".name")
                || k.contains("url")
                || k.ends_with("basename")
            {
                out.push((k.clone(), v.clone()));
            }
        }
        out
    }
}

/// Saves a decoder's pieces in Hugging Face layout.
pub fn save_folder(
    dir: &Path,
    cfg: &DecoderConfig,
    weights: &DecoderWeights,
    tokenizer: &DecoderTokenizer,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let config = serde_json::to_string_pretty(&cfg.to_hf()).expect("JSON");
    let cpath = dir.join("config.json");
    std::fs::write(&cpath, config).map_err(|e| ModelError::io(&cpath, e))?;
    let views = weights
        .named(cfg)
        .into_iter()
        .map(|(n, s, d)| (n, OwnedView::from_f32(&s, d)))
        .collect();
    write_f32_safetensors(&dir.join("model.safetensors"), views)?;
    tokenizer.save(&dir.join("tokenizer.json"))
}

/// A `--model` value as a path: the name of a fetched model (`gemma-3-270m`) becomes its file.
pub fn resolve(spec: &str) -> PathBuf {
    fetch::resolve_name(spec).unwrap_or_else(|| PathBuf::from(spec))
}
