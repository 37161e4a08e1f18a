//! Reading a GGUF file (llama.cpp's format) into f32 weights in Hugging Face naming, its
//! metadata into a `DecoderConfig`, and its embedded vocabulary into a `tokenizers`
//! tokenizer (`gguf_vocab`). Gemma 3, Llama and Qwen2 files, as llama.cpp's converter writes
//! them: what it changes for its own kernels (Gemma's norms stored as 1 + w, Llama's q/k rows
//! reordered, Llama 3.1's RoPE scaling turned into a tensor of divisors) is undone here.

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::Device;
use std::collections::BTreeMap;
use std::path::Path;

use super::config::{Activation, Arch, DecoderConfig, LayerKind, RopeScaling};
use super::gguf_vocab::{self, Vocab};
use super::weights::{self, DecoderWeights, FFN_NORM, PARTS, POST_ATTN_NORM};
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

/// Llama 3.1's RoPE scaling as llama.cpp's converter stores it: one divisor per frequency.
const ROPE_FREQS: &str = "rope_freqs.weight";

/// llama.cpp's name for a tensor of Hugging Face name `hf` (as `DecoderWeights::named` gives).
pub fn gguf_name(arch: Arch, hf: &str) -> String {
    match hf {
        weights::EMBED => return "token_embd.weight".into(),
        weights::FINAL_NORM => return "output_norm.weight".into(),
        weights::HEAD => return "output.weight".into(),
        _ => {}
    }
    // model.layers.{i}.{part}
    let rest = hf.trim_start_matches("model.layers.");
    let (i, part) = rest.split_once('.').unwrap_or(("0", rest));
    let mut p = PARTS.iter().position(|x| *x == part).unwrap_or(0);
    // Llama-style layers name their one norm before the MLP `post_attention_layernorm`.
    if p == POST_ATTN_NORM && !arch.gemma_norms() {
        p = FFN_NORM;
    }
    format!("blk.{i}.{}", GGUF_PARTS[p])
}

/// Hugging Face's order of a Llama q or k projection's rows (weight or bias, `cols` wide):
/// llama.cpp's converter interleaves each head's two rotated halves for its RoPE kernel; this
/// undoes it (row 2j + t of a head goes back to t·half + j).
fn unpermute_heads(v: &[f32], heads: usize, cols: usize) -> Vec<f32> {
    let rows = v.len() / cols.max(1);
    let head_dim = rows / heads.max(1);
    let half = head_dim / 2;
    let mut out = vec![0f32; v.len()];
    for h in 0..heads {
        for j in 0..half {
            for t in 0..2 {
                let from = (h * head_dim + 2 * j + t) * cols;
                let to = (h * head_dim + t * half + j) * cols;
                out[to..to + cols].copy_from_slice(&v[from..from + cols]);
            }
        }
    }
    out
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
        Arch::parse(&name).ok_or_else(|| {
            self.bad(format!(
                "architecture {name:?} is not supported ({})",
                super::config::ARCH_NAMES
            ))
        })
    }

    fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    fn bool(&self, key: &str) -> Option<bool> {
        self.meta(key).and_then(|v| v.to_bool().ok())
    }

    /// A tensor dequantized to f32, its shape checked against `shape`.
    fn tensor_f32(
        &self,
        f: &mut std::fs::File,
        name: &str,
        shape: &[usize],
    ) -> std::result::Result<Vec<f32>, String> {
        let t = self
            .content
            .tensor(f, name, &Device::Cpu)
            .map_err(|e| format!("tensor {name}: {e}"))?;
        let found = t.shape().dims().to_vec();
        if found.iter().product::<usize>() != shape.iter().product::<usize>()
            || (found.len() == shape.len() && found != shape)
        {
            return Err(format!(
                "tensor {name} has shape {found:?}, the config needs {shape:?}"
            ));
        }
        let v: Vec<f32> = t
            .dequantize(&Device::Cpu)
            .and_then(|t| t.flatten_all()?.to_vec1())
            .map_err(|e| format!("tensor {name}: {e}"))?;
        if v.iter().any(|x| !x.is_finite()) {
            return Err(format!("tensor {name} holds a NaN or infinite value"));
        }
        Ok(v)
    }

    /// Full-attention layers' RoPE scaling: `linear` from the metadata, or Llama 3.1's from
    /// the divisors the converter stores in `rope_freqs.weight`.
    fn rope_scaling(&self, a: &str, theta: f32, head_dim: usize) -> Result<RopeScaling> {
        let kind = self.string(&format!("{a}.rope.scaling.type"));
        match kind.as_deref() {
            Some("linear") => {
                return Ok(RopeScaling::Linear {
                    factor: self
                        .float(&format!("{a}.rope.scaling.factor"))
                        .unwrap_or(1.0),
                })
            }
            None | Some("none") => {}
            Some(other) => {
                return Err(self.bad(format!(
                    "{a}.rope.scaling.type {other:?} is not supported (linear, none)"
                )))
            }
        }
        if !self.has_tensor(ROPE_FREQS) {
            return Ok(RopeScaling::None);
        }
        let mut f = std::fs::File::open(&self.path).map_err(|e| ModelError::io(&self.path, e))?;
        let divisors = self
            .tensor_f32(&mut f, ROPE_FREQS, &[head_dim / 2])
            .map_err(|m| self.bad(m))?;
        RopeScaling::llama3_from_divisors(theta, head_dim, &divisors)
            .map_err(|m| self.bad(format!("{ROPE_FREQS}: {m}")))
    }

    /// The model's shape from `<arch>.*` keys and the tokenizer's special ids.
    pub fn config(&self) -> Result<DecoderConfig> {
        let arch = self.architecture()?;
        let gemma = arch == Arch::Gemma3;
        let a = arch.name();
        let need = |k: &str| {
            self.uint(&format!("{a}.{k}"))
                .ok_or_else(|| self.bad(format!("{a}.{k} is missing")))
        };
        let hidden = need("embedding_length")?;
        let heads = need("attention.head_count")?;
        let n_layers = super::config::layer_count(need("block_count")?).map_err(|m| self.bad(m))?;
        let head_dim = self
            .uint(&format!("{a}.attention.key_length"))
            .unwrap_or(hidden / heads.max(1));
        let vocab_size = match self.meta("tokenizer.ggml.tokens").map(|v| v.to_vec()) {
            Some(Ok(tokens)) => tokens.len(),
            _ => return Err(self.bad("tokenizer.ggml.tokens is missing".into())),
        };
        // Newer writers store the pattern as one flag per layer; older ones leave Gemma 3's
        // fixed pattern (every sixth layer global) implicit. llama.cpp windows no Llama or
        // Qwen2 layer.
        let layers = match self.meta(&format!("{a}.attention.sliding_window_pattern")) {
            _ if !gemma => vec![LayerKind::Full; n_layers],
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
        let rope_theta = self
            .float(&format!("{a}.rope.freq_base"))
            .unwrap_or(if gemma { 1e6 } else { 10_000.0 });
        let rope_scaling = self.rope_scaling(a, rope_theta, head_dim)?;
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
            rope_theta,
            // llama.cpp fixes Gemma 3's local base at 10,000 rather than storing it.
            rope_local_theta: if gemma {
                self.float(&format!("{a}.rope.freq_base_swa"))
                    .unwrap_or(10_000.0)
            } else {
                rope_theta
            },
            rope_scaling,
            activation: if gemma {
                Activation::GeluTanh
            } else {
                Activation::Silu
            },
            // As for a Hugging Face folder: Qwen2 always has q/k/v biases.
            qkv_bias: arch == Arch::Qwen2 || self.has_tensor("blk.0.attn_q.bias"),
            tie_embeddings: !self.has_tensor("output.weight"),
            sliding_window: self
                .uint(&format!("{a}.attention.sliding_window"))
                .unwrap_or(if gemma { 512 } else { 4096 }),
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
    /// llama.cpp stores as 1 + w, are turned back into w, and Llama's q/k rows put back in
    /// Hugging Face's order.
    pub fn weights(&self, cfg: &DecoderConfig) -> Result<DecoderWeights> {
        let mut f = std::fs::File::open(&self.path).map_err(|e| ModelError::io(&self.path, e))?;
        let path = self.path.clone();
        let shift = cfg.arch.norm_plus_one();
        DecoderWeights::assemble(cfg, |hf, shape| {
            let name = gguf_name(cfg.arch, hf);
            let mut v = self.tensor_f32(&mut f, &name, shape)?;
            if shift && name.ends_with("norm.weight") {
                v.iter_mut().for_each(|x| *x -= 1.0);
            }
            if cfg.arch == Arch::Llama {
                let cols = if shape.len() == 2 { shape[1] } else { 1 };
                if name.contains(".attn_q.") {
                    v = unpermute_heads(&v, cfg.heads, cols);
                } else if name.contains(".attn_k.") {
                    v = unpermute_heads(&v, cfg.kv_heads, cols);
                }
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

    /// The tokenizer as `tokenizer.json` text, from the embedded SentencePiece pieces or
    /// byte-level BPE merges (`gguf_vocab`).
    pub fn tokenizer_json(&self) -> Result<String> {
        let list = |k: &str| -> Result<&Vec<Value>> {
            self.meta(k)
                .and_then(|v| v.to_vec().ok())
                .ok_or_else(|| self.bad(format!("{k} is missing")))
        };
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
        let vocab = Vocab {
            tokens: &tokens,
            types: &types,
        };
        let json = match self.string("tokenizer.ggml.model").unwrap_or_default().as_str() {
            "llama" => {
                let unk = self.uint("tokenizer.ggml.unknown_token_id").unwrap_or(3);
                // llama.cpp's default for SentencePiece vocabularies; Gemma's files say false.
                let prefix = self.bool("tokenizer.ggml.add_space_prefix").unwrap_or(true);
                gguf_vocab::sentencepiece(&vocab, &scores, unk, prefix)
            }
            "gpt2" => {
                let merges: Vec<String> = list("tokenizer.ggml.merges")?
                    .iter()
                    .map(|v| v.to_string().cloned().unwrap_or_default())
                    .collect();
                let pre = self.string("tokenizer.ggml.pre").unwrap_or("default".into());
                gguf_vocab::byte_level_bpe(&vocab, &merges, &pre).map_err(|m| self.bad(m))?
            }
            other => {
                return Err(self.bad(format!(
                    "tokenizer.ggml.model is {other:?}; the vocabularies read are SentencePiece (\"llama\") and byte-level BPE (\"gpt2\")"
                )))
            }
        };
        Ok(json.to_string())
    }
}
