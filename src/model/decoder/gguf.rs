//! Reading a GGUF file (llama.cpp's format) into f32 weights in Hugging Face naming, its
//! metadata into a `DecoderConfig`, and its embedded SentencePiece vocabulary into a
//! `tokenizers` BPE tokenizer.

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::Device;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::config::{Activation, Arch, DecoderConfig, LayerKind, RopeScaling};
use super::weights::{self, DecoderWeights, PARTS};
use crate::model::error::{ModelError, Result};

/// An opened GGUF file: its header, read once.
pub struct Gguf {
    pub content: Content,
    path: std::path::PathBuf,
}

/// llama.cpp's tensor names for the parts of a layer, in `weights::PARTS` order.
const GGUF_PARTS: [&str; PARTS.len()] = [
    "attn_norm.weight",
    "attn_q.weight",
    "attn_k.weight",
    "attn_v.weight",
    "attn_output.weight",
    "attn_q_norm.weight",
    "attn_k_norm.weight",
    "post_attention_norm.weight",
    "ffn_norm.weight",
    "ffn_gate.weight",
    "ffn_up.weight",
    "ffn_down.weight",
    "post_ffw_norm.weight",
    "attn_q.bias",
    "attn_k.bias",
    "attn_v.bias",
];

/// llama.cpp's name for a tensor of Hugging Face name `hf` (as `DecoderWeights::named` gives).
pub fn gguf_name(hf: &str) -> String {
    if hf == weights::EMBED {
        return "token_embd.weight".into();
    }
    if hf == weights::FINAL_NORM {
        return "output_norm.weight".into();
    }
    // model.layers.{i}.{part} (Gemma 3's names)
    let rest = hf.trim_start_matches("model.layers.");
    let (i, part) = rest.split_once('.').unwrap_or(("0", rest));
    let p = PARTS.iter().position(|x| *x == part).unwrap_or(0);
    format!("blk.{i}.{}", GGUF_PARTS[p])
}

impl Gguf {
    pub fn open(path: &Path) -> Result<Gguf> {
        let mut f = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
        let content = Content::read(&mut f).map_err(|e| ModelError::Weights {
            path: path.to_path_buf(),
            message: format!("not a readable GGUF file: {e}"),
        })?;
        Ok(Gguf {
            content,
            path: path.to_path_buf(),
        })
    }

    fn bad(&self, message: String) -> ModelError {
        ModelError::Config {
            path: self.path.clone(),
            message,
        }
    }

    pub fn meta(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    pub fn string(&self, key: &str) -> Option<String> {
        self.meta(key).and_then(|v| v.to_string().ok()).cloned()
    }

    fn uint(&self, key: &str) -> Option<usize> {
        let v = self.meta(key)?;
        v.to_u32()
            .map(|v| v as usize)
            .or_else(|_| v.to_u64().map(|v| v as usize))
            .or_else(|_| v.to_i32().map(|v| v.max(0) as usize))
            .ok()
    }

    fn float(&self, key: &str) -> Option<f32> {
        let v = self.meta(key)?;
        v.to_f32().or_else(|_| v.to_f64().map(|v| v as f32)).ok()
    }

    pub fn architecture(&self) -> Result<Arch> {
        let name = self
            .string("general.architecture")
            .ok_or_else(|| self.bad("general.architecture is missing".into()))?;
        match Arch::parse(&name) {
            Some(Arch::Gemma3) => Ok(Arch::Gemma3),
            // llama.cpp reorders the query and key rows of these for its own RoPE, and names
            // their tensors its own way; their Hugging Face folders load.
            Some(other) => Err(self.bad(format!(
                "GGUF files of {} models are not read yet (only gemma3); load its Hugging Face folder (config.json, tokenizer.json, safetensors) instead",
                other.name()
            ))),
            None => Err(self.bad(format!(
                "architecture {name:?} is not supported (gemma3)"
            ))),
        }
    }

    /// The model's shape from `<arch>.*` keys and the tokenizer's special ids.
    pub fn config(&self) -> Result<DecoderConfig> {
        let arch = self.architecture()?;
        let a = arch.name();
        let need = |k: &str| {
            self.uint(&format!("{a}.{k}"))
                .ok_or_else(|| self.bad(format!("{a}.{k} is missing")))
        };
        let hidden = need("embedding_length")?;
        let heads = need("attention.head_count")?;
        let n_layers = need("block_count")?;
        let head_dim = self
            .uint(&format!("{a}.attention.key_length"))
            .unwrap_or(hidden / heads.max(1));
        let vocab_size = match self.meta("tokenizer.ggml.tokens").map(|v| v.to_vec()) {
            Some(Ok(tokens)) => tokens.len(),
            _ => return Err(self.bad("tokenizer.ggml.tokens is missing".into())),
        };
        // Newer writers store the pattern as one flag per layer; older ones leave Gemma 3's
        // fixed pattern (every sixth layer global) implicit.
        let layers = match self.meta(&format!("{a}.attention.sliding_window_pattern")) {
            Some(Value::Array(flags)) => flags
                .iter()
                .map(|f| match f.to_bool() {
                    Ok(true) => LayerKind::Sliding,
                    _ => LayerKind::Full,
                })
                .collect(),
            Some(v) => DecoderConfig::gemma3_layers(n_layers, v.to_u32().unwrap_or(6) as usize),
            None => DecoderConfig::gemma3_layers(n_layers, 6),
        };
        let rope_scaling = match self.string(&format!("{a}.rope.scaling.type")).as_deref() {
            Some("linear") => RopeScaling::Linear {
                factor: self
                    .float(&format!("{a}.rope.scaling.factor"))
                    .unwrap_or(1.0),
            },
            _ => RopeScaling::None,
        };
        let cfg = DecoderConfig {
            arch,
            vocab_size,
            hidden,
            intermediate: need("feed_forward_length")?,
            heads,
            kv_heads: self
                .uint(&format!("{a}.attention.head_count_kv"))
                .unwrap_or(heads),
            head_dim,
            eps: self
                .float(&format!("{a}.attention.layer_norm_rms_epsilon"))
                .unwrap_or(1e-6),
            rope_theta: self.float(&format!("{a}.rope.freq_base")).unwrap_or(1e6),
            // llama.cpp fixes Gemma 3's local base at 10,000 rather than storing it.
            rope_local_theta: self
                .float(&format!("{a}.rope.freq_base_swa"))
                .unwrap_or(10_000.0),
            rope_scaling,
            activation: Activation::GeluTanh,
            qkv_bias: false,
            tie_embeddings: true,
            sliding_window: self
                .uint(&format!("{a}.attention.sliding_window"))
                .unwrap_or(512),
            layers,
            query_pre_attn_scalar: head_dim as f32,
            max_positions: self.uint(&format!("{a}.context_length")).unwrap_or(32_768),
            bos: self.uint("tokenizer.ggml.bos_token_id").unwrap_or(2) as u32,
            eos: vec![self.uint("tokenizer.ggml.eos_token_id").unwrap_or(1) as u32],
            pad: self.uint("tokenizer.ggml.padding_token_id").unwrap_or(0) as u32,
        };
        if cfg.layers.len() != n_layers {
            return Err(self.bad(format!(
                "the sliding-window pattern has {} entries for {n_layers} layers",
                cfg.layers.len()
            )));
        }
        cfg.validate().map_err(|m| self.bad(m))?;
        Ok(cfg)
    }

    /// Every weight dequantized to f32, renamed to Hugging Face's names; Gemma's norms, which
    /// llama.cpp stores as 1 + w, are turned back into w.
    pub fn weights(&self, cfg: &DecoderConfig) -> Result<DecoderWeights> {
        let mut f = std::fs::File::open(&self.path).map_err(|e| ModelError::io(&self.path, e))?;
        let path = self.path.clone();
        let shift = cfg.arch.norm_plus_one();
        DecoderWeights::assemble(cfg, |hf, shape| {
            let name = gguf_name(hf);
            let t = self
                .content
                .tensor(&mut f, &name, &Device::Cpu)
                .map_err(|e| format!("tensor {name}: {e}"))?;
            let found = t.shape().dims().to_vec();
            if found.iter().product::<usize>() != shape.iter().product::<usize>()
                || (found.len() == shape.len() && found != shape)
            {
                return Err(format!(
                    "tensor {name} has shape {found:?}, the config needs {shape:?}"
                ));
            }
            let mut v: Vec<f32> = t
                .dequantize(&Device::Cpu)
                .and_then(|t| t.flatten_all()?.to_vec1())
                .map_err(|e| format!("tensor {name}: {e}"))?;
            if shift && name.ends_with("norm.weight") {
                v.iter_mut().for_each(|x| *x -= 1.0);
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(format!("tensor {name} holds a NaN or infinite value"));
            }
            Ok(v)
        })
        .map_err(|message| ModelError::Weights { path, message })
    }

    /// Licence and provenance fields (`general.*`) for `model info`.
    pub fn general(&self) -> BTreeMap<String, String> {
        self.content
            .metadata
            .iter()
            .filter(|(k, _)| k.starts_with("general."))
            .filter_map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::U32(n) => n.to_string(),
                    Value::U64(n) => n.to_string(),
                    Value::I32(n) => n.to_string(),
                    Value::F32(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Array(a) => format!("[{} values]", a.len()),
                    _ => return None,
                };
                Some((k.clone(), text))
            })
            .collect()
    }

    /// The tokenizer as `tokenizer.json` text: SentencePiece's BPE rebuilt from the embedded
    /// pieces and scores. SentencePiece merges the adjacent pair whose joined piece scores
    /// highest; a `tokenizers` BPE merges by rank, so every way of splitting a piece into two
    /// pieces becomes a merge ranked by the joined piece's score (what transformers'
    /// converter derives from a `.model` file).
    pub fn tokenizer_json(&self) -> Result<String> {
        let list = |k: &str| -> Result<&Vec<Value>> {
            self.meta(k)
                .and_then(|v| v.to_vec().ok())
                .ok_or_else(|| self.bad(format!("{k} is missing")))
        };
        let model = self.string("tokenizer.ggml.model").unwrap_or_default();
        if model != "llama" {
            return Err(self.bad(format!(
                "tokenizer.ggml.model is {model:?}; only SentencePiece (\"llama\") vocabularies are supported"
            )));
        }
        let tokens: Vec<String> = list("tokenizer.ggml.tokens")?
            .iter()
            .map(|v| v.to_string().cloned().unwrap_or_default())
            .collect();
        let n = tokens.len();
        let scores: Vec<f32> = match self.meta("tokenizer.ggml.scores").map(|v| v.to_vec()) {
            Some(Ok(s)) if s.len() == n => s.iter().map(|v| v.to_f32().unwrap_or(0.0)).collect(),
            _ => (0..n).map(|i| -(i as f32)).collect(),
        };
        let types: Vec<i32> = match self.meta("tokenizer.ggml.token_type").map(|v| v.to_vec()) {
            Some(Ok(t)) if t.len() == n => t.iter().map(|v| v.to_i32().unwrap_or(1)).collect(),
            _ => vec![1; n],
        };
        let unk = self.uint("tokenizer.ggml.unknown_token_id").unwrap_or(3);
        Ok(sentencepiece_bpe_json(&tokens, &scores, &types, unk).to_string())
    }
}

/// SentencePiece token types as llama.cpp stores them.
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;

fn sentencepiece_bpe_json(
    tokens: &[String],
    scores: &[f32],
    types: &[i32],
    unk: usize,
) -> serde_json::Value {
    let ids: HashMap<&str, usize> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let mut merges: Vec<(f32, usize, usize, usize)> = Vec::new();
    for (id, piece) in tokens.iter().enumerate() {
        let mut local = Vec::new();
        for (cut, _) in piece.char_indices().skip(1) {
            let (l, r) = piece.split_at(cut);
            if let (Some(&a), Some(&b)) = (ids.get(l), ids.get(r)) {
                local.push((a, b));
            }
        }
        local.sort();
        merges.extend(local.into_iter().map(|(a, b)| (scores[id], id, a, b)));
    }
    // Highest score first; ties keep the order above (a stable sort).
    merges.sort_by(|x, y| y.0.total_cmp(&x.0));
    let vocab: serde_json::Map<String, serde_json::Value> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), json!(i)))
        .collect();
    let added: Vec<serde_json::Value> = tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| matches!(types[*i], CONTROL | USER_DEFINED) || *i == unk)
        .map(|(i, t)| {
            json!({"id": i, "content": t, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": types[i] != USER_DEFINED})
        })
        .collect();
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
        "pre_tokenizer": null,
        "post_processor": null,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"}
        ]},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": tokens.get(unk).cloned().unwrap_or_default(),
            "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
            "vocab": vocab,
            "merges": merges.iter().map(|(_, _, a, b)| json!([tokens[*a], tokens[*b]])).collect::<Vec<_>>(),
        }
    })
}
