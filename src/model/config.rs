//! T5 configuration as Hugging Face writes it in `config.json`, plus the built-in shapes that
//! `model init` and the benchmarks use.

use serde::{Deserialize, Serialize};
use std::path::Path;

use super::error::ModelError;

fn default_max_distance() -> usize {
    128
}
fn default_eps() -> f64 {
    1e-6
}
fn default_ff_proj() -> String {
    "relu".into()
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct T5Config {
    pub vocab_size: usize,
    pub d_model: usize,
    pub d_kv: usize,
    pub d_ff: usize,
    pub num_layers: usize,
    #[serde(default)]
    pub num_decoder_layers: Option<usize>,
    pub num_heads: usize,
    pub relative_attention_num_buckets: usize,
    #[serde(default = "default_max_distance")]
    pub relative_attention_max_distance: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    #[serde(default)]
    pub dropout_rate: f64,
    /// `relu` (T5 v1.0) or `gated-gelu` (v1.1 / Flan-T5).
    #[serde(default = "default_ff_proj")]
    pub feed_forward_proj: String,
    /// v1.0 ties the LM head to the embedding and scales by d_model^-0.5; v1.1 does not.
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
    #[serde(default)]
    pub pad_token_id: usize,
    #[serde(default = "one")]
    pub eos_token_id: usize,
    #[serde(default)]
    pub decoder_start_token_id: usize,
    /// Everything else in the file, written back unchanged on save.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The largest model a config may describe: 20 billion parameters.
pub const MAX_PARAMS: u64 = 20_000_000_000;

fn one() -> usize {
    1
}

impl T5Config {
    pub fn read(path: &Path) -> Result<T5Config, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        let cfg: T5Config = serde_json::from_str(&text).map_err(|e| ModelError::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    fn validate(&self, path: &Path) -> Result<(), ModelError> {
        let bad = |message: String| ModelError::Config {
            path: path.to_path_buf(),
            message,
        };
        if !matches!(self.feed_forward_proj.as_str(), "relu" | "gated-gelu") {
            return Err(bad(format!(
                "feed_forward_proj {:?} is not supported (relu or gated-gelu)",
                self.feed_forward_proj
            )));
        }
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("d_model", self.d_model),
            ("d_kv", self.d_kv),
            ("d_ff", self.d_ff),
            ("num_layers", self.num_layers),
            ("num_heads", self.num_heads),
            (
                "relative_attention_num_buckets",
                self.relative_attention_num_buckets,
            ),
        ] {
            if v == 0 {
                return Err(bad(format!("{name} must be positive")));
            }
        }
        // A hostile or mistyped size would otherwise be allocated (or listed tensor by
        // tensor) until the process is killed. The bounds are far above any T5 released.
        for (name, v, max) in [
            ("vocab_size", self.vocab_size, 1 << 22),
            ("d_model", self.d_model, 1 << 16),
            ("d_kv", self.d_kv, 1 << 14),
            ("d_ff", self.d_ff, 1 << 18),
            ("num_layers", self.num_layers, 512),
            ("num_decoder_layers", self.decoder_layers(), 512),
            ("num_heads", self.num_heads, 1024),
            (
                "relative_attention_num_buckets",
                self.relative_attention_num_buckets,
                1 << 12,
            ),
            (
                "relative_attention_max_distance",
                self.relative_attention_max_distance,
                1 << 20,
            ),
        ] {
            if v > max {
                return Err(bad(format!("{name} is {v}, above the limit of {max}")));
            }
        }
        match self.param_count() {
            Some(n) if n <= MAX_PARAMS => Ok(()),
            n => Err(bad(format!(
                "describes {} parameters, above the limit of {MAX_PARAMS}",
                n.map_or("more than 2^64".to_string(), |n| n.to_string())
            ))),
        }
    }

    /// Parameters the configuration describes; `None` past `u64`.
    pub fn param_count(&self) -> Option<u64> {
        let [v, d, kv, ff, h, b] = [
            self.vocab_size,
            self.d_model,
            self.d_kv,
            self.d_ff,
            self.num_heads,
            self.relative_attention_num_buckets,
        ]
        .map(|x| x as u64);
        let inner = h.checked_mul(kv)?;
        let attention = d.checked_mul(inner)?.checked_mul(4)?;
        let ff = d
            .checked_mul(ff)?
            .checked_mul(if self.gated() { 3 } else { 2 })?;
        let encoder_layer = attention.checked_add(ff)?.checked_add(2 * d)?;
        let decoder_layer = encoder_layer.checked_add(attention)?.checked_add(d)?;
        let embeddings =
            v.checked_mul(d)?
                .checked_mul(if self.tie_word_embeddings { 1 } else { 2 })?;
        encoder_layer
            .checked_mul(self.num_layers as u64)?
            .checked_add(decoder_layer.checked_mul(self.decoder_layers() as u64)?)?
            .checked_add(embeddings)?
            .checked_add(b.checked_mul(h)?.checked_mul(2)?)?
            .checked_add(2 * d)
    }

    pub fn decoder_layers(&self) -> usize {
        self.num_decoder_layers.unwrap_or(self.num_layers)
    }

    pub fn gated(&self) -> bool {
        self.feed_forward_proj == "gated-gelu"
    }

    pub fn inner_dim(&self) -> usize {
        self.num_heads * self.d_kv
    }

    /// A built-in shape: `tiny` (for tests), `t5-small`, `flan-t5-small`.
    pub fn shape(name: &str, vocab_size: usize) -> Option<T5Config> {
        let (d_model, d_kv, d_ff, layers, dec, heads, gated, tied) = match name {
            "tiny" => (64, 16, 128, 2, 2, 4, true, false),
            "t5-small" => (512, 64, 2048, 6, 6, 8, false, true),
            "flan-t5-small" => (512, 64, 1024, 8, 8, 6, true, false),
            _ => return None,
        };
        Some(T5Config {
            vocab_size,
            d_model,
            d_kv,
            d_ff,
            num_layers: layers,
            num_decoder_layers: Some(dec),
            num_heads: heads,
            relative_attention_num_buckets: 32,
            relative_attention_max_distance: 128,
            layer_norm_epsilon: 1e-6,
            dropout_rate: 0.1,
            feed_forward_proj: if gated { "gated-gelu" } else { "relu" }.into(),
            tie_word_embeddings: tied,
            pad_token_id: 0,
            eos_token_id: 1,
            decoder_start_token_id: 0,
            extra: serde_json::Map::new(),
        })
    }

    /// The config.json Hugging Face expects, with our fields and any extra ones.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("config serialises");
        let obj = v.as_object_mut().expect("config is an object");
        obj.entry("model_type").or_insert("t5".into());
        obj.entry("architectures")
            .or_insert(serde_json::json!(["T5ForConditionalGeneration"]));
        obj.entry("is_encoder_decoder").or_insert(true.into());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_sizes_are_refused_before_anything_is_allocated() {
        let mut cfg = T5Config::shape("t5-small", 32128).unwrap();
        let path = Path::new("m/config.json");
        assert!(cfg.validate(path).is_ok());
        assert_eq!(cfg.param_count(), Some(60_506_624));
        cfg.num_layers = 10_000_000_000;
        let e = cfg.validate(path).unwrap_err().to_string();
        assert!(
            e.contains("num_layers is 10000000000, above the limit of 512"),
            "{e}"
        );
        cfg.num_layers = 6;
        cfg.d_model = 60_000;
        cfg.d_ff = 200_000;
        let e = cfg.validate(path).unwrap_err().to_string();
        assert!(e.contains("parameters, above the limit"), "{e}");
    }

    #[test]
    fn reads_real_configs_when_shared_is_present() {
        let Some(shared) = std::env::var_os("IE_BENCH_SHARED") else {
            return;
        };
        let dir = std::path::PathBuf::from(shared).join("models/t5-tokenizer");
        let flan = T5Config::read(&dir.join("flan-t5-small.config.json")).unwrap();
        assert!(flan.gated() && !flan.tie_word_embeddings);
        assert_eq!(
            (flan.vocab_size, flan.d_ff, flan.num_heads),
            (32128, 1024, 6)
        );
        let t5 = T5Config::read(&dir.join("t5-small.config.json")).unwrap();
        assert!(!t5.gated() && t5.tie_word_embeddings);
        assert_eq!(
            T5Config::shape("flan-t5-small", 32128).unwrap().d_ff,
            flan.d_ff
        );
    }
}
