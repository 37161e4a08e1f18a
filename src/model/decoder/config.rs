//! The shape of a decoder-only language model, read from a Hugging Face `config.json` or from
//! a GGUF file's metadata, with the per-architecture switches that make Gemma 3 differ from a
//! Llama-style decoder (norm weights stored as offsets from one, scaled embeddings, q/k norms,
//! norms after each sublayer, GELU-tanh, alternating sliding-window layers) and Qwen2 from
//! Llama (biases on the q/k/v projections).

use serde_json::Value;
use std::path::Path;

use crate::model::error::ModelError;

/// Architectures this engine runs. Each is a set of switches on one decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Gemma3,
    /// Llama 2 and 3.x, and the models built on its layer (Mistral without sliding windows,
    /// SmolLM, TinyLlama, ...).
    Llama,
    /// Qwen2 and Qwen2.5: Llama's layer with biases on the q/k/v projections.
    Qwen2,
}

/// What the architectures are called where a message lists them.
pub const ARCH_NAMES: &str = "gemma3, llama, qwen2";

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Gemma3 => "gemma3",
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
        }
    }

    /// From `model_type` (Hugging Face) or `general.architecture` (GGUF).
    pub fn parse(s: &str) -> Option<Arch> {
        match s {
            "gemma3" | "gemma3_text" => Some(Arch::Gemma3),
            "llama" => Some(Arch::Llama),
            "qwen2" => Some(Arch::Qwen2),
            _ => None,
        }
    }

    /// RMSNorm multiplies by (1 + w): Hugging Face stores w, GGUF stores 1 + w.
    pub fn norm_plus_one(self) -> bool {
        matches!(self, Arch::Gemma3)
    }

    /// RMS norms on each head's query and key, and after each sublayer (Gemma 3's "sandwich"
    /// norms); Llama-style layers have neither.
    pub fn gemma_norms(self) -> bool {
        matches!(self, Arch::Gemma3)
    }
}

/// The gate's activation in the gated MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// GELU, tanh approximation (`gelu_pytorch_tanh`).
    GeluTanh,
    /// SiLU (`silu`), Llama's and Qwen2's.
    Silu,
}

impl Activation {
    pub fn parse(s: &str) -> Option<Activation> {
        match s {
            "gelu_pytorch_tanh" | "gelu_new" | "gelu_fast" => Some(Activation::GeluTanh),
            "silu" | "swish" => Some(Activation::Silu),
            _ => None,
        }
    }

    pub fn hf_name(self) -> &'static str {
        match self {
            Activation::GeluTanh => "gelu_pytorch_tanh",
            Activation::Silu => "silu",
        }
    }
}

/// How full-attention layers stretch RoPE beyond the trained context.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RopeScaling {
    None,
    /// Positions divided by `factor` (Gemma 3's global layers).
    Linear {
        factor: f32,
    },
    /// Llama 3.1's: low frequencies divided by `factor`, high ones kept, a smooth ramp
    /// between (wavelengths against `original` positions).
    Llama3 {
        factor: f32,
        low_freq_factor: f32,
        high_freq_factor: f32,
        original: f32,
    },
}

impl std::fmt::Display for RopeScaling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RopeScaling::None => write!(f, "no scaling"),
            RopeScaling::Linear { factor } => write!(f, "linear scaling {factor}"),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original,
            } => write!(
                f,
                "llama3 scaling {factor} (low {low_freq_factor}, high {high_freq_factor}, original context {original})"
            ),
        }
    }
}

impl RopeScaling {
    /// One inverse frequency as this scaling leaves it.
    pub fn apply(self, inv_freq: f32) -> f32 {
        match self {
            RopeScaling::None => inv_freq,
            RopeScaling::Linear { factor } => inv_freq / factor,
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original,
            } => {
                let wavelen = 2.0 * std::f32::consts::PI / inv_freq;
                let (low_wavelen, high_wavelen) =
                    (original / low_freq_factor, original / high_freq_factor);
                if wavelen < high_wavelen {
                    inv_freq
                } else if wavelen > low_wavelen {
                    inv_freq / factor
                } else {
                    let smooth = (original / wavelen - low_freq_factor)
                        / (high_freq_factor - low_freq_factor);
                    (1.0 - smooth) * inv_freq / factor + smooth * inv_freq
                }
            }
        }
    }

    /// Llama 3.1's scaling from the divisor of each frequency (what llama.cpp's converter
    /// stores in `rope_freqs.weight`): the factor is the largest divisor, and the ramp's ends
    /// are fitted through the ramped frequencies (`low_freq_factor` 1, as every released
    /// Llama 3 model has) or, with fewer than two on the ramp, Llama 3.1's own (1, 4, 8192).
    /// Refused unless the scaling found gives every divisor again.
    pub fn llama3_from_divisors(
        theta: f32,
        head_dim: usize,
        divisors: &[f32],
    ) -> Result<RopeScaling, String> {
        let inv = |i: usize| 1.0 / theta.powf((2 * i) as f32 / head_dim as f32);
        let factor = divisors.iter().copied().fold(1.0f32, f32::max);
        let close = |a: f32, b: f32| (a - b).abs() <= 1e-4 * a.abs().max(b.abs());
        if divisors.iter().all(|&d| close(d, 1.0)) {
            return Ok(RopeScaling::None);
        }
        let llama3 = |high: f32, original: f32| RopeScaling::Llama3 {
            factor,
            low_freq_factor: 1.0,
            high_freq_factor: high,
            original,
        };
        let mut candidates = vec![llama3(4.0, 8192.0)];
        // On the ramp, 1/d = 1/factor + s·(1 − 1/factor) with s = (original/λ − 1)/(high − 1),
        // a line in 1/λ (λ the wavelength): two points give `high` and `original`.
        let ramp: Vec<(f32, f32)> = divisors
            .iter()
            .enumerate()
            .filter(|(_, &d)| !close(d, 1.0) && !close(d, factor))
            .map(|(i, &d)| {
                let s = (1.0 / d - 1.0 / factor) / (1.0 - 1.0 / factor);
                (inv(i) / (2.0 * std::f32::consts::PI), s)
            })
            .collect();
        if let (Some(&(x1, s1)), Some(&(x2, s2))) = (ramp.first(), ramp.last()) {
            if ramp.len() >= 2 && x1 != x2 {
                let slope = (s2 - s1) / (x2 - x1);
                let intercept = s1 - slope * x1;
                // Whole numbers come back a hair off; the check below guards the rounding.
                let tidy = |v: f32| if close(v, v.round()) { v.round() } else { v };
                let (high, original) = (tidy(1.0 - 1.0 / intercept), tidy(-slope / intercept));
                if high.is_finite() && original.is_finite() && high > 1.0 && original > 0.0 {
                    candidates.insert(0, llama3(high, original));
                }
            }
        }
        candidates
            .into_iter()
            .find(|c| {
                divisors
                    .iter()
                    .enumerate()
                    .all(|(i, &d)| close(inv(i) / c.apply(inv(i)), d))
            })
            .ok_or_else(|| format!("no llama3 scaling gives these {} divisors", divisors.len()))
    }

    /// From a Hugging Face `rope_scaling` / `rope_parameters` object.
    fn from_hf(v: Option<&Value>) -> Result<RopeScaling, String> {
        let Some(v) = v.filter(|v| v.is_object()) else {
            return Ok(RopeScaling::None);
        };
        let kind = v
            .get("rope_type")
            .or_else(|| v.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("default");
        let f = |k: &str, default: f64| v.get(k).and_then(Value::as_f64).unwrap_or(default) as f32;
        match kind {
            "default" => Ok(RopeScaling::None),
            "linear" => Ok(RopeScaling::Linear {
                factor: f("factor", 1.0),
            }),
            "llama3" => Ok(RopeScaling::Llama3 {
                factor: f("factor", 8.0),
                low_freq_factor: f("low_freq_factor", 1.0),
                high_freq_factor: f("high_freq_factor", 4.0),
                original: f("original_max_position_embeddings", 8192.0),
            }),
            other => Err(format!(
                "RoPE scaling {other:?} is not supported (linear, llama3)"
            )),
        }
    }

    fn to_hf(self) -> Value {
        match self {
            RopeScaling::None => Value::Null,
            RopeScaling::Linear { factor } => {
                serde_json::json!({"rope_type": "linear", "factor": factor})
            }
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original,
            } => serde_json::json!({
                "rope_type": "llama3",
                "factor": factor,
                "low_freq_factor": low_freq_factor,
                "high_freq_factor": high_freq_factor,
                "original_max_position_embeddings": original,
            }),
        }
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
    /// RoPE scaling of full-attention layers.
    pub rope_scaling: RopeScaling,
    pub activation: Activation,
    /// Biases on the q, k and v projections (Qwen2).
    pub qkv_bias: bool,
    /// The LM head is the embedding; otherwise it is its own `lm_head.weight`.
    pub tie_embeddings: bool,
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
    ("num_hidden_layers", MAX_LAYERS),
];

const MAX_LAYERS: usize = 512;

/// A layer count read from a file, checked before the per-layer list is built from it.
pub fn layer_count(n: usize) -> Result<usize, String> {
    if n == 0 || n > MAX_LAYERS {
        return Err(format!("{n} layers, outside 1..={MAX_LAYERS}"));
    }
    Ok(n)
}

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

    /// Gemma scales the embedding by √hidden (in the weights' dtype; f32 here); Llama-style
    /// models do not.
    pub fn embed_scale(&self) -> f32 {
        if self.arch == Arch::Gemma3 {
            (self.hidden as f32).sqrt()
        } else {
            1.0
        }
    }

    /// Parameters in all, a tied embedding counted once.
    pub fn param_count(&self) -> u64 {
        let (d, f) = (self.hidden as u64, self.intermediate as u64);
        let (q, kv, hd) = (
            self.q_dim() as u64,
            self.kv_dim() as u64,
            self.head_dim as u64,
        );
        let norms = if self.arch.gemma_norms() {
            4 * d + 2 * hd
        } else {
            2 * d
        };
        let bias = if self.qkv_bias { q + 2 * kv } else { 0 };
        let layer = d * q * 2 + d * kv * 2 + 3 * d * f + norms + bias;
        let head = if self.tie_embeddings { 1 } else { 2 };
        head * self.vocab_size as u64 * d + layer * self.layers.len() as u64 + d
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
                "model_type {model_type:?} is not a supported decoder ({ARCH_NAMES})"
            ))
        })?;
        let num = |k: &str| c.get(k).and_then(Value::as_u64).map(|v| v as usize);
        let float = |k: &str| c.get(k).and_then(Value::as_f64);
        let need = |k: &str| num(k).ok_or_else(|| bad(format!("{k} is missing")));
        let hidden = need("hidden_size")?;
        let heads = need("num_attention_heads")?;
        let n_layers = layer_count(need("num_hidden_layers")?).map_err(&bad)?;
        // transformers 5 keeps RoPE settings in `rope_parameters`, nested per layer kind for
        // Gemma 3 and flat for Llama-style models; 4.x has `rope_theta` and `rope_scaling`.
        let rope = c.get("rope_parameters");
        let full = rope
            .and_then(|r| r.get("full_attention"))
            .or(rope.filter(|r| r.get("rope_theta").is_some()));
        let rope_of = |r: Option<&Value>, flat: &str, default: f64| {
            r.and_then(|r| r.get("rope_theta"))
                .and_then(Value::as_f64)
                .or_else(|| float(flat))
                .unwrap_or(default)
        };
        let default_theta = if arch == Arch::Gemma3 {
            1_000_000.0
        } else {
            10_000.0
        };
        let rope_theta = rope_of(full, "rope_theta", default_theta);
        let rope_local_theta = match arch {
            Arch::Gemma3 => rope_of(
                rope.and_then(|r| r.get("sliding_attention")),
                "rope_local_base_freq",
                10_000.0,
            ),
            _ => rope_theta,
        };
        let rope_scaling =
            RopeScaling::from_hf(full.or_else(|| c.get("rope_scaling"))).map_err(&bad)?;
        let activation = match c
            .get("hidden_activation")
            .or_else(|| c.get("hidden_act"))
            .and_then(Value::as_str)
        {
            Some(a) => Activation::parse(a).ok_or_else(|| {
                bad(format!(
                    "activation {a:?} is not supported (gelu_pytorch_tanh, silu)"
                ))
            })?,
            None if arch == Arch::Gemma3 => Activation::GeluTanh,
            None => Activation::Silu,
        };
        let flag = |k: &str| c.get(k).or_else(|| root.get(k)).and_then(Value::as_bool);
        // Qwen2's layer has q/k/v biases without saying so; Llama's says `attention_bias`.
        let qkv_bias = arch == Arch::Qwen2 || flag("attention_bias").unwrap_or(false);
        let tie_embeddings = flag("tie_word_embeddings").unwrap_or(arch == Arch::Gemma3);
        // Qwen2 windows attention only with `use_sliding_window`, on the layers from
        // `max_window_layers` on; Llama never does.
        let uniform = |kind| vec![kind; n_layers];
        let default_layers = match arch {
            Arch::Gemma3 => {
                DecoderConfig::gemma3_layers(n_layers, num("sliding_window_pattern").unwrap_or(6))
            }
            Arch::Qwen2 if flag("use_sliding_window") == Some(true) => {
                let from = num("max_window_layers").unwrap_or(n_layers);
                (0..n_layers)
                    .map(|i| {
                        if i >= from {
                            LayerKind::Sliding
                        } else {
                            LayerKind::Full
                        }
                    })
                    .collect()
            }
            _ => uniform(LayerKind::Full),
        };
        let layers = match c.get("layer_types").and_then(Value::as_array) {
            Some(kinds) => kinds
                .iter()
                .map(|k| match k.as_str() {
                    Some("full_attention") => Ok(LayerKind::Full),
                    Some("sliding_attention") => Ok(LayerKind::Sliding),
                    other => Err(bad(format!("layer_types holds {other:?}"))),
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => default_layers,
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
            rope_scaling,
            activation,
            qkv_bias,
            tie_embeddings,
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
        if self.kv_heads == 0 || !self.heads.is_multiple_of(self.kv_heads) {
            return Err(format!(
                "{} attention heads do not group over {} key/value heads",
                self.heads, self.kv_heads
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
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

    /// The `config.json` transformers reads for this model (Gemma3ForCausalLM,
    /// LlamaForCausalLM or Qwen2ForCausalLM), so that a checkpoint we save loads there.
    pub fn to_hf(&self) -> Value {
        let (class, model_type) = match self.arch {
            Arch::Gemma3 => ("Gemma3ForCausalLM", "gemma3_text"),
            Arch::Llama => ("LlamaForCausalLM", "llama"),
            Arch::Qwen2 => ("Qwen2ForCausalLM", "qwen2"),
        };
        let mut v = serde_json::json!({
            "architectures": [class],
            "model_type": model_type,
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden,
            "intermediate_size": self.intermediate,
            "num_hidden_layers": self.layers.len(),
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "head_dim": self.head_dim,
            "rms_norm_eps": self.eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": self.rope_scaling.to_hf(),
            "max_position_embeddings": self.max_positions,
            "bos_token_id": self.bos,
            "eos_token_id": self.eos,
            "pad_token_id": self.pad,
            "tie_word_embeddings": self.tie_embeddings,
            "torch_dtype": "float32",
        });
        let kinds: Vec<&str> = self
            .layers
            .iter()
            .map(|k| match k {
                LayerKind::Full => "full_attention",
                LayerKind::Sliding => "sliding_attention",
            })
            .collect();
        let extra = match self.arch {
            Arch::Gemma3 => serde_json::json!({
                "rope_local_base_freq": self.rope_local_theta,
                "sliding_window": self.sliding_window,
                "layer_types": kinds,
                // transformers' config class takes an integer here and refuses 256.0.
                "query_pre_attn_scalar": if self.query_pre_attn_scalar.fract() == 0.0 {
                    serde_json::json!(self.query_pre_attn_scalar as u64)
                } else {
                    serde_json::json!(self.query_pre_attn_scalar)
                },
                "hidden_activation": self.activation.hf_name(),
                "attn_logit_softcapping": null,
                "final_logit_softcapping": null,
            }),
            Arch::Qwen2 => serde_json::json!({
                "hidden_act": self.activation.hf_name(),
                "use_sliding_window": self.layers.contains(&LayerKind::Sliding),
                "sliding_window": self.sliding_window,
                "max_window_layers": self
                    .layers
                    .iter()
                    .position(|k| *k == LayerKind::Sliding)
                    .unwrap_or(self.layers.len()),
            }),
            Arch::Llama => serde_json::json!({
                "hidden_act": self.activation.hf_name(),
                "attention_bias": self.qkv_bias,
                "mlp_bias": false,
            }),
        };
        if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
            v.extend(extra);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::{DecoderConfig, RopeScaling};

    #[test]
    fn a_hostile_layer_count_is_refused_before_anything_is_built() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config.json");
        let config = r#"{"model_type": "llama", "hidden_size": 32, "intermediate_size": 48,
            "num_attention_heads": 4, "num_hidden_layers": 1000000000000, "vocab_size": 97}"#;
        std::fs::write(&path, config).unwrap();
        let err = DecoderConfig::from_hf(&path).unwrap_err().to_string();
        assert!(err.contains("1000000000000 layers"), "{err}");
    }

    /// The divisors llama.cpp's converter stores for a scaling (its `rope_freqs.weight`).
    fn divisors(s: RopeScaling, theta: f32, head_dim: usize) -> Vec<f32> {
        (0..head_dim / 2)
            .map(|i| {
                let inv = 1.0 / theta.powf((2 * i) as f32 / head_dim as f32);
                inv / s.apply(inv)
            })
            .collect()
    }

    #[test]
    fn llama3_scaling_comes_back_from_its_divisors() {
        let llama32 = RopeScaling::Llama3 {
            factor: 32.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original: 8192.0,
        };
        let odd = RopeScaling::Llama3 {
            factor: 16.0,
            low_freq_factor: 1.0,
            high_freq_factor: 2.0,
            original: 4096.0,
        };
        // Llama 3.2 1B's (head dim 64: Llama 3.1's own ramp ends), and ends of our own, fitted
        // (head dim 128: three frequencies on the ramp).
        for (s, head_dim) in [(llama32, 64), (odd, 128)] {
            let d = divisors(s, 500_000.0, head_dim);
            assert_eq!(
                RopeScaling::llama3_from_divisors(500_000.0, head_dim, &d),
                Ok(s)
            );
        }
        let ones = vec![1.0; 32];
        assert_eq!(
            RopeScaling::llama3_from_divisors(500_000.0, 64, &ones),
            Ok(RopeScaling::None)
        );
        // Divisors no llama3 scaling gives (a ramp that goes down) are refused.
        let mut bent = divisors(llama32, 500_000.0, 64);
        let ramp = bent.iter().position(|&d| d > 1.5 && d < 31.0).unwrap();
        bent[ramp] *= 1.5;
        assert!(RopeScaling::llama3_from_divisors(500_000.0, 64, &bent).is_err());
    }
}
