//! The shape of a decoder-only language model, read from a Hugging Face `config.json` or from
//! a GGUF file's metadata, with the per-architecture switches that make Gemma 3 differ from a
//! Llama-style decoder (norm weights stored as offsets from one, scaled embeddings, q/k norms,
//! norms after each sublayer, GELU-tanh, alternating sliding-window layers).

use serde_json::Value;
use std::path::Path;

use crate::model::error::ModelError;

/// Architectures this engine runs. Each is a set of switches on one decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Gemma3,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Gemma3 => "gemma3",
        }
    }

    /// From `model_type` (Hugging Face) or `general.architecture` (GGUF).
    pub fn parse(s: &str) -> Option<Arch> {
        match s {
            "gemma3" | "gemma3_text" => Some(Arch::Gemma3),
            _ => None,
        }
    }

    /// RMSNorm multiplies by (1 + w): Hugging Face stores w, GGUF stores 1 + w.
    pub fn norm_plus_one(self) -> bool {
        matches!(self, Arch::Gemma3)
    }
}

/// Whether a layer attends to every earlier token or to a window of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    Full,
    Sliding,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DecoderConfig {
    pub arch: Arch,
    pub vocab_size: usize,
    pub hidden: usize,
    pub intermediate: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub eps: f32,
    /// RoPE base of full-attention layers and of sliding-window ones.
    pub rope_theta: f32,
    pub rope_local_theta: f32,
    /// Linear RoPE scaling of full-attention layers (1 when none).
    pub rope_scale: f32,
    pub sliding_window: usize,
    pub layers: Vec<LayerKind>,
    /// Scores are multiplied by this^-1/2.
    pub query_pre_attn_scalar: f32,
    pub max_positions: usize,
    pub bos: u32,
    pub eos: Vec<u32>,
    pub pad: u32,
}

/// Bounds far above any released decoder, so a hostile file cannot make us allocate forever.
const LIMITS: [(&str, usize); 6] = [
    ("vocab_size", 1 << 22),
    ("hidden_size", 1 << 16),
    ("intermediate_size", 1 << 18),
    ("num_attention_heads", 1024),
    ("head_dim", 1 << 12),
    ("num_hidden_layers", 512),
];

impl DecoderConfig {
    pub fn q_dim(&self) -> usize {
        self.heads * self.head_dim
    }

    pub fn kv_dim(&self) -> usize {
        self.kv_heads * self.head_dim
    }

    pub fn scale(&self) -> f32 {
        self.query_pre_attn_scalar.powf(-0.5)
    }

    /// Gemma scales the embedding by √hidden (in the weights' dtype; f32 here).
    pub fn embed_scale(&self) -> f32 {
        (self.hidden as f32).sqrt()
    }

    /// Parameters in all, the tied embedding counted once.
    pub fn param_count(&self) -> u64 {
        let (d, f) = (self.hidden as u64, self.intermediate as u64);
        let (q, kv, hd) = (
            self.q_dim() as u64,
            self.kv_dim() as u64,
            self.head_dim as u64,
        );
        let layer = d * q * 2 + d * kv * 2 + 3 * d * f + 4 * d + 2 * hd;
        self.vocab_size as u64 * d + layer * self.layers.len() as u64 + d
    }

    /// Gemma 3's default layer pattern: five sliding-window layers, then one full one.
    pub fn gemma3_layers(n: usize, pattern: usize) -> Vec<LayerKind> {
        (0..n)
            .map(|i| {
                if pattern > 0 && (i + 1) % pattern == 0 {
                    LayerKind::Full
                } else {
                    LayerKind::Sliding
                }
            })
            .collect()
    }

    /// A Hugging Face `config.json` (a multimodal Gemma 3's `text_config` included), with
    /// transformers 5's `rope_parameters` and `layer_types` keys as well as the older ones.
    pub fn from_hf(path: &Path) -> Result<DecoderConfig, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        let bad = |message: String| ModelError::Config {
            path: path.to_path_buf(),
            message,
        };
        let root: Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let c = root.get("text_config").unwrap_or(&root);
        let model_type = c
            .get("model_type")
            .or_else(|| root.get("model_type"))
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no model_type".into()))?;
        let arch = Arch::parse(model_type).ok_or_else(|| {
            bad(format!(
                "model_type {model_type:?} is not a supported decoder (gemma3)"
            ))
        })?;
        let num = |k: &str| c.get(k).and_then(Value::as_u64).map(|v| v as usize);
        let float = |k: &str| c.get(k).and_then(Value::as_f64);
        let need = |k: &str| num(k).ok_or_else(|| bad(format!("{k} is missing")));
        let hidden = need("hidden_size")?;
        let heads = need("num_attention_heads")?;
        let n_layers = need("num_hidden_layers")?;
        // transformers 5 nests RoPE settings per layer kind; 4.x has flat keys.
        let rope = c.get("rope_parameters");
        let rope_of = |kind: &str, flat: &str, default: f64| {
            rope.and_then(|r| r.get(kind))
                .and_then(|r| r.get("rope_theta"))
                .and_then(Value::as_f64)
                .or_else(|| float(flat))
                .unwrap_or(default)
        };
        let rope_theta = rope_of("full_attention", "rope_theta", 1_000_000.0);
        let rope_local_theta = rope_of("sliding_attention", "rope_local_base_freq", 10_000.0);
        let scaling = rope
            .and_then(|r| r.get("full_attention"))
            .or_else(|| c.get("rope_scaling"))
            .filter(|s| s.get("rope_type").and_then(Value::as_str) == Some("linear"))
            .and_then(|s| s.get("factor"))
            .and_then(Value::as_f64)
            .unwrap_or(1.0);
        let layers = match c.get("layer_types").and_then(Value::as_array) {
            Some(kinds) => kinds
                .iter()
                .map(|k| match k.as_str() {
                    Some("full_attention") => Ok(LayerKind::Full),
                    Some("sliding_attention") => Ok(LayerKind::Sliding),
                    other => Err(bad(format!("layer_types holds {other:?}"))),
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => {
                DecoderConfig::gemma3_layers(n_layers, num("sliding_window_pattern").unwrap_or(6))
            }
        };
        let head_dim = num("head_dim").unwrap_or(hidden / heads.max(1));
        let ids = |k: &str| -> Vec<u32> {
            match c.get(k).or_else(|| root.get(k)) {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(Value::as_u64)
                    .map(|v| v as u32)
                    .collect(),
                Some(v) => v.as_u64().map(|v| vec![v as u32]).unwrap_or_default(),
                None => Vec::new(),
            }
        };
        let cfg = DecoderConfig {
            arch,
            vocab_size: need("vocab_size")?,
            hidden,
            intermediate: need("intermediate_size")?,
            heads,
            kv_heads: num("num_key_value_heads").unwrap_or(heads),
            head_dim,
            eps: float("rms_norm_eps").unwrap_or(1e-6) as f32,
            rope_theta: rope_theta as f32,
            rope_local_theta: rope_local_theta as f32,
            rope_scale: scaling as f32,
            sliding_window: num("sliding_window").unwrap_or(4096),
            layers,
            query_pre_attn_scalar: float("query_pre_attn_scalar").unwrap_or(head_dim as f64) as f32,
            max_positions: num("max_position_embeddings").unwrap_or(32_768),
            bos: ids("bos_token_id").first().copied().unwrap_or(2),
            eos: match ids("eos_token_id") {
                e if e.is_empty() => vec![1],
                e => e,
            },
            pad: ids("pad_token_id").first().copied().unwrap_or(0),
        };
        if cfg.layers.len() != n_layers {
            return Err(bad(format!(
                "layer_types has {} entries for {n_layers} layers",
                cfg.layers.len()
            )));
        }
        cfg.validate().map_err(bad)?;
        Ok(cfg)
    }

    /// Sizes in range, heads grouping evenly: a hostile config is refused before anything is
    /// allocated from it.
    pub fn validate(&self) -> Result<(), String> {
        for ((name, max), v) in LIMITS.iter().zip([
            self.vocab_size,
            self.hidden,
            self.intermediate,
            self.heads,
            self.head_dim,
            self.layers.len(),
        ]) {
            if v == 0 || v > *max {
                return Err(format!("{name} is {v}, outside 1..={max}"));
            }
        }
        if self.kv_heads == 0 || self.heads % self.kv_heads != 0 {
            return Err(format!(
                "{} attention heads do not group over {} key/value heads",
                self.heads, self.kv_heads
            ));
        }
        if self.head_dim % 2 != 0 {
            return Err(format!(
                "head_dim {} is odd (RoPE pairs dimensions)",
                self.head_dim
            ));
        }
        for id in [self.bos, self.pad].iter().chain(&self.eos) {
            if *id as usize >= self.vocab_size {
                return Err(format!(
                    "token id {id} is outside the vocabulary of {}",
                    self.vocab_size
                ));
            }
        }
        if self.param_count() > crate::model::config::MAX_PARAMS {
            return Err(format!(
                "describes {} parameters, above the limit of {}",
                self.param_count(),
                crate::model::config::MAX_PARAMS
            ));
        }
        Ok(())
    }

    /// The `config.json` transformers reads for this model (Gemma3ForCausalLM), so that a
    /// checkpoint we save loads there.
    pub fn to_hf(&self) -> Value {
        let kinds: Vec<&str> = self
            .layers
            .iter()
            .map(|k| match k {
                LayerKind::Full => "full_attention",
                LayerKind::Sliding => "sliding_attention",
            })
            .collect();
        serde_json::json!({
            "architectures": ["Gemma3ForCausalLM"],
            "model_type": "gemma3_text",
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden,
            "intermediate_size": self.intermediate,
            "num_hidden_layers": self.layers.len(),
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "head_dim": self.head_dim,
            "rms_norm_eps": self.eps,
            "rope_theta": self.rope_theta,
            "rope_local_base_freq": self.rope_local_theta,
            "rope_scaling": if self.rope_scale == 1.0 { Value::Null } else {
                serde_json::json!({"rope_type": "linear", "factor": self.rope_scale})
            },
            "sliding_window": self.sliding_window,
            "layer_types": kinds,
            // transformers' config class takes an integer here and refuses 256.0.
            "query_pre_attn_scalar": if self.query_pre_attn_scalar.fract() == 0.0 {
                serde_json::json!(self.query_pre_attn_scalar as u64)
            } else {
                serde_json::json!(self.query_pre_attn_scalar)
            },
            "max_position_embeddings": self.max_positions,
            "hidden_activation": "gelu_pytorch_tanh",
            "attn_logit_softcapping": null,
            "final_logit_softcapping": null,
            "bos_token_id": self.bos,
            "eos_token_id": self.eos,
            "pad_token_id": self.pad,
            "tie_word_embeddings": true,
            "torch_dtype": "float32",
        })
    }
}
