//! A decoder's weights as f32 vectors in Hugging Face naming, with Gemma's norm weights kept
//! as Hugging Face stores them (the offset from one). One layout serves every architecture:
//! a part an architecture lacks (Llama's q/k norms, Gemma's biases) is an empty vector.

use super::config::{Arch, DecoderConfig};

/// The tensors of one layer, in this order, as Gemma 3 and Qwen2 name them.
pub const PARTS: [&str; 16] = [
    "input_layernorm.weight",
    "self_attn.q_proj.weight",
    "self_attn.k_proj.weight",
    "self_attn.v_proj.weight",
    "self_attn.o_proj.weight",
    "self_attn.q_norm.weight",
    "self_attn.k_norm.weight",
    "post_attention_layernorm.weight",
    "pre_feedforward_layernorm.weight",
    "mlp.gate_proj.weight",
    "mlp.up_proj.weight",
    "mlp.down_proj.weight",
    "post_feedforward_layernorm.weight",
    "self_attn.q_proj.bias",
    "self_attn.k_proj.bias",
    "self_attn.v_proj.bias",
];

pub const ATTN_NORM: usize = 0;
pub const Q: usize = 1;
pub const K: usize = 2;
pub const V: usize = 3;
pub const O: usize = 4;
pub const Q_NORM: usize = 5;
pub const K_NORM: usize = 6;
pub const POST_ATTN_NORM: usize = 7;
pub const FFN_NORM: usize = 8;
pub const GATE: usize = 9;
pub const UP: usize = 10;
pub const DOWN: usize = 11;
pub const POST_FFN_NORM: usize = 12;
pub const Q_BIAS: usize = 13;
pub const K_BIAS: usize = 14;
pub const V_BIAS: usize = 15;

pub const EMBED: &str = "model.embed_tokens.weight";
pub const FINAL_NORM: &str = "model.norm.weight";
/// An untied LM head's.
pub const HEAD: &str = "lm_head.weight";

pub type Layer = [Vec<f32>; PARTS.len()];

/// Every weight of a decoder.
#[derive(Clone)]
pub struct DecoderWeights {
    pub embed: Vec<f32>,
    pub layers: Vec<Layer>,
    pub final_norm: Vec<f32>,
    /// The LM head when it is not the embedding (`tie_word_embeddings` false); else empty.
    pub head: Vec<f32>,
}

/// The module a projection part belongs to (`self_attn.q_proj`), as PEFT names it.
pub fn module(p: usize) -> &'static str {
    PARTS[p].trim_end_matches(".weight")
}

/// Whether an architecture has part `p`.
pub fn part_present(cfg: &DecoderConfig, p: usize) -> bool {
    match p {
        Q_NORM | K_NORM | POST_ATTN_NORM | POST_FFN_NORM => cfg.arch.gemma_norms(),
        Q_BIAS | K_BIAS | V_BIAS => cfg.qkv_bias,
        _ => true,
    }
}

/// The Hugging Face name of part `p` of layer `i`. Llama-style layers have one norm before
/// the MLP and call it `post_attention_layernorm`, the name Gemma gives the norm after
/// attention.
pub fn part_name(cfg: &DecoderConfig, i: usize, p: usize) -> String {
    let part = if p == FFN_NORM && cfg.arch != Arch::Gemma3 {
        PARTS[POST_ATTN_NORM]
    } else {
        PARTS[p]
    };
    format!("model.layers.{i}.{part}")
}

/// Each part's shape as [rows, cols], or [len] for a vector; [0] for a part the architecture
/// lacks.
pub fn part_shape(cfg: &DecoderConfig, p: usize) -> Vec<usize> {
    let (d, f, q, kv) = (cfg.hidden, cfg.intermediate, cfg.q_dim(), cfg.kv_dim());
    if !part_present(cfg, p) {
        return vec![0];
    }
    match p {
        Q => vec![q, d],
        K | V => vec![kv, d],
        O => vec![d, q],
        GATE | UP => vec![f, d],
        DOWN => vec![d, f],
        Q_NORM | K_NORM => vec![cfg.head_dim],
        Q_BIAS => vec![q],
        K_BIAS | V_BIAS => vec![kv],
        _ => vec![d],
    }
}

impl DecoderWeights {
    /// Zeros in every tensor but the embedding, which is empty: the shape of a gradient
    /// buffer for a model whose embedding is frozen.
    pub fn zeros_like(cfg: &DecoderConfig, with_embed: bool) -> DecoderWeights {
        let n = |s: Vec<usize>| vec![0f32; s.iter().product()];
        DecoderWeights {
            embed: if with_embed {
                vec![0f32; cfg.vocab_size * cfg.hidden]
            } else {
                Vec::new()
            },
            layers: (0..cfg.layers.len())
                .map(|_| std::array::from_fn(|p| n(part_shape(cfg, p))))
                .collect(),
            final_norm: vec![0f32; cfg.hidden],
            head: Vec::new(),
        }
    }

    /// Every tensor the architecture has, with its Hugging Face name and shape.
    pub fn named<'a>(&'a self, cfg: &DecoderConfig) -> Vec<(String, Vec<usize>, &'a [f32])> {
        let mut out = vec![(
            EMBED.to_string(),
            vec![cfg.vocab_size, cfg.hidden],
            self.embed.as_slice(),
        )];
        for (i, layer) in self.layers.iter().enumerate() {
            for (p, t) in layer.iter().enumerate() {
                if part_present(cfg, p) {
                    out.push((part_name(cfg, i, p), part_shape(cfg, p), t.as_slice()));
                }
            }
        }
        out.push((
            FINAL_NORM.to_string(),
            vec![cfg.hidden],
            self.final_norm.as_slice(),
        ));
        if !cfg.tie_embeddings {
            out.push((
                HEAD.to_string(),
                vec![cfg.vocab_size, cfg.hidden],
                self.head.as_slice(),
            ));
        }
        out
    }

    /// The trainable tensors (all the architecture has but the embedding and head), mutably,
    /// in `named` order.
    pub fn trainable_mut(&mut self) -> Vec<&mut Vec<f32>> {
        let mut out: Vec<&mut Vec<f32>> = self
            .layers
            .iter_mut()
            .flat_map(|l| l.iter_mut())
            .filter(|t| !t.is_empty())
            .collect();
        out.push(&mut self.final_norm);
        out
    }

    /// The names of `trainable_mut`'s tensors, in its order.
    pub fn trainable_names(&self, cfg: &DecoderConfig) -> Vec<String> {
        let mut out: Vec<String> = (0..cfg.layers.len())
            .flat_map(|i| {
                (0..PARTS.len())
                    .filter(|&p| part_present(cfg, p))
                    .map(move |p| part_name(cfg, i, p))
            })
            .collect();
        out.push(FINAL_NORM.to_string());
        out
    }

    pub fn trainable(&self) -> Vec<&Vec<f32>> {
        let mut out: Vec<&Vec<f32>> = self
            .layers
            .iter()
            .flat_map(|l| l.iter())
            .filter(|t| !t.is_empty())
            .collect();
        out.push(&self.final_norm);
        out
    }

    /// The rows of the LM head: the embedding's when tied.
    pub fn head(&self) -> &[f32] {
        if self.head.is_empty() {
            &self.embed
        } else {
            &self.head
        }
    }

    /// Builds the weights from a lookup by Hugging Face name, checking every shape.
    pub fn assemble(
        cfg: &DecoderConfig,
        mut take: impl FnMut(&str, &[usize]) -> Result<Vec<f32>, String>,
    ) -> Result<DecoderWeights, String> {
        let embed = take(EMBED, &[cfg.vocab_size, cfg.hidden])?;
        let mut layers = Vec::with_capacity(cfg.layers.len());
        for i in 0..cfg.layers.len() {
            let mut parts: Vec<Vec<f32>> = Vec::with_capacity(PARTS.len());
            for p in 0..PARTS.len() {
                parts.push(if part_present(cfg, p) {
                    take(&part_name(cfg, i, p), &part_shape(cfg, p))?
                } else {
                    Vec::new()
                });
            }
            layers.push(parts.try_into().expect("PARTS.len() parts"));
        }
        let final_norm = take(FINAL_NORM, &[cfg.hidden])?;
        let head = if cfg.tie_embeddings {
            Vec::new()
        } else {
            take(HEAD, &[cfg.vocab_size, cfg.hidden])?
        };
        Ok(DecoderWeights {
            embed,
            layers,
            final_norm,
            head,
        })
    }

    /// Random weights for tests and fixtures (normal, std 0.02; norm offsets small).
    pub fn random(cfg: &DecoderConfig, seed: u64) -> DecoderWeights {
        let mut rng = crate::model::params::SplitMix(seed);
        let mut fill = |shape: &[usize], std: f64| -> Vec<f32> {
            (0..shape.iter().product::<usize>())
                .map(|_| (rng.normal() * std) as f32)
                .collect()
        };
        let embed = fill(&[cfg.vocab_size, cfg.hidden], 0.5);
        let layers = (0..cfg.layers.len())
            .map(|_| {
                std::array::from_fn(|p| {
                    let shape = part_shape(cfg, p);
                    let std = if shape.len() == 1 { 0.1 } else { 0.05 };
                    fill(&shape, std)
                })
            })
            .collect();
        let final_norm = fill(&[cfg.hidden], 0.1);
        let head = if cfg.tie_embeddings {
            Vec::new()
        } else {
            fill(&[cfg.vocab_size, cfg.hidden], 0.5)
        };
        DecoderWeights {
            embed,
            layers,
            final_norm,
            head,
        }
    }
}
