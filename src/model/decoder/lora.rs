//! LoRA adapters for decoder-only models (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large
//! Language Models"), saved in PEFT's layout (`adapter_model.safetensors` with
//! `base_model.model.<module>.lora_{A,B}.weight` keys, and an `adapter_config.json` that
//! `PeftModel.from_pretrained` reads).
//!
//! Training runs the engine's passes on the merged weights W = W0 + s·B·A (s = alpha / rank);
//! the backward pass gives the adapters' gradients straight from each projection's dy and x
//! (dB = s·dyᵀ·(x·Aᵀ), dA = s·(dy·B)ᵀ·x, which are s·G·Aᵀ and s·Bᵀ·G for the merged weight's
//! gradient G = dyᵀ·x, never formed). The base weights are kept apart, so merging again after
//! each step adds no drift and a resumed run is the uninterrupted one.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::config::DecoderConfig;
use super::weights::{module, part_shape, DecoderWeights, PARTS};
use crate::model::cpu::kernels;
use crate::model::error::{ModelError, Result};
use crate::model::params::{write_f32_safetensors, OwnedView, SplitMix, WeightFiles};

/// The modules PEFT targets by their last name; all seven projections by default.
pub const DEFAULT_TARGETS: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

pub const ADAPTER_CONFIG: &str = "adapter_config.json";
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraOptions {
    pub rank: usize,
    pub alpha: f64,
    /// Module names as PEFT's `target_modules` takes them (`q_proj`, `down_proj`, ...).
    pub targets: Vec<String>,
}

impl LoraOptions {
    pub fn scale(&self) -> f32 {
        (self.alpha / self.rank as f64) as f32
    }

    /// The layer parts (`weights::PARTS` indices) the targets name, in part order.
    pub fn parts(&self) -> Result<Vec<usize>> {
        if self.rank == 0 {
            return Err(ModelError::Unsupported(
                "LoRA needs a rank of at least 1".into(),
            ));
        }
        let mut parts = Vec::new();
        for t in &self.targets {
            let p = (0..PARTS.len())
                .position(|p| {
                    PARTS[p].ends_with(".weight")
                        && module(p).ends_with(&format!(".{t}"))
                        && module(p).contains("proj")
                })
                .ok_or_else(|| {
                    ModelError::Unsupported(format!(
                        "LoRA target {t:?} is not a projection of this model (choose from {})",
                        DEFAULT_TARGETS.join(", ")
                    ))
                })?;
            parts.push(p);
        }
        parts.sort_unstable();
        parts.dedup();
        Ok(parts)
    }
}

/// One adapter pair per (layer, targeted part): A [rank, in], B [out, rank].
pub struct Adapters {
    pub options: LoraOptions,
    pub parts: Vec<usize>,
    /// `[layer][k]` for `parts[k]`.
    pub a: Vec<Vec<Vec<f32>>>,
    pub b: Vec<Vec<Vec<f32>>>,
}

fn peft_key(layer: usize, part: usize, ab: char) -> String {
    format!(
        "base_model.model.model.layers.{layer}.{}.lora_{ab}.weight",
        module(part)
    )
}

/// A's and B's shapes for part `p`: [rank, in] and [out, rank].
fn shapes(cfg: &DecoderConfig, p: usize, rank: usize) -> ([usize; 2], [usize; 2]) {
    let s = part_shape(cfg, p);
    ([rank, s[1]], [s[0], rank])
}

impl Adapters {
    /// Adapters for every layer and targeted part, `pair(layer, part, a_shape, b_shape)`
    /// giving each A and B.
    fn build(
        cfg: &DecoderConfig,
        options: LoraOptions,
        mut pair: impl FnMut(usize, usize, [usize; 2], [usize; 2]) -> Result<(Vec<f32>, Vec<f32>)>,
    ) -> Result<Adapters> {
        let parts = options.parts()?;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for l in 0..cfg.layers.len() {
            let (mut la, mut lb) = (Vec::new(), Vec::new());
            for &p in &parts {
                let (sa, sb) = shapes(cfg, p, options.rank);
                let (ta, tb) = pair(l, p, sa, sb)?;
                la.push(ta);
                lb.push(tb);
            }
            a.push(la);
            b.push(lb);
        }
        Ok(Adapters {
            options,
            parts,
            a,
            b,
        })
    }

    /// PEFT's initialisation: A from kaiming-uniform with a = √5 (uniform in ±1/√in), B zero,
    /// so the adapted model starts as the base model.
    pub fn init(cfg: &DecoderConfig, options: &LoraOptions, seed: u64) -> Result<Adapters> {
        let mut rng = SplitMix(seed ^ 0x4c6f_5241);
        Self::build(cfg, options.clone(), |_, _, sa, sb| {
            let bound = 1.0 / (sa[1] as f64).sqrt();
            let a = (0..sa[0] * sa[1])
                .map(|_| ((rng.uniform() * 2.0 - 1.0) * bound) as f32)
                .collect();
            Ok((a, vec![0f32; sb[0] * sb[1]]))
        })
    }

    /// Every adapter tensor's PEFT name, A then B per (layer, part): the optimizer's names.
    pub fn names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for l in 0..self.a.len() {
            for &p in &self.parts {
                out.push(peft_key(l, p, 'A'));
                out.push(peft_key(l, p, 'B'));
            }
        }
        out
    }

    /// The tensors in `names()` order.
    pub fn tensors_mut(&mut self) -> Vec<&mut Vec<f32>> {
        let mut out = Vec::new();
        for (la, lb) in self.a.iter_mut().zip(self.b.iter_mut()) {
            for (a, b) in la.iter_mut().zip(lb.iter_mut()) {
                out.push(a);
                out.push(b);
            }
        }
        out
    }

    /// `into`'s targeted parts become `base + s·B·A` (`base[layer][k]` holds the frozen part).
    pub fn merge(&self, cfg: &DecoderConfig, base: &[Vec<Vec<f32>>], into: &mut DecoderWeights) {
        let (r, s) = (self.options.rank, self.options.scale());
        for (l, layer) in into.layers.iter_mut().enumerate() {
            for (k, &p) in self.parts.iter().enumerate() {
                let cols = part_shape(cfg, p)[1];
                let (a, b, w0) = (&self.a[l][k], &self.b[l][k], &base[l][k]);
                layer[p]
                    .par_chunks_mut(cols)
                    .zip(w0.par_chunks(cols))
                    .zip(b.par_chunks(r))
                    .for_each(|((w, w0), brow)| {
                        w.copy_from_slice(w0);
                        for (j, &bj) in brow.iter().enumerate() {
                            if bj != 0.0 {
                                kernels::axpy(w, s * bj, &a[j * cols..(j + 1) * cols]);
                            }
                        }
                    });
            }
        }
    }

    /// Zeroed buffers shaped as the tensors in `names()` order: the adapters' gradients.
    pub fn zeros_like(&self) -> Vec<Vec<f32>> {
        self.a
            .iter()
            .zip(&self.b)
            .flat_map(|(la, lb)| la.iter().zip(lb).flat_map(|(a, b)| [a, b]))
            .map(|t| vec![0f32; t.len()])
            .collect()
    }

    /// Writes the adapter in PEFT's layout; `base` is what `base_model_name_or_path` names.
    pub fn save(&self, dir: &Path, cfg: &DecoderConfig, base: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
        let mut views = Vec::new();
        for (l, (la, lb)) in self.a.iter().zip(&self.b).enumerate() {
            for (k, &p) in self.parts.iter().enumerate() {
                let (sa, sb) = shapes(cfg, p, self.options.rank);
                views.push((peft_key(l, p, 'A'), OwnedView::from_f32(&sa, &la[k])));
                views.push((peft_key(l, p, 'B'), OwnedView::from_f32(&sb, &lb[k])));
            }
        }
        write_f32_safetensors(&dir.join(ADAPTER_WEIGHTS), views)?;
        let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
        let config = serde_json::json!({
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "base_model_name_or_path": base.display().to_string(),
            "r": self.options.rank,
            "lora_alpha": self.options.alpha,
            "target_modules": self.options.targets,
            "lora_dropout": 0.0,
            "bias": "none",
            "fan_in_fan_out": false,
            "use_rslora": false,
            "use_dora": false,
            "init_lora_weights": true,
            "inference_mode": true,
            "modules_to_save": null,
        });
        let path = dir.join(ADAPTER_CONFIG);
        std::fs::write(&path, serde_json::to_string_pretty(&config).expect("JSON"))
            .map_err(|e| ModelError::io(&path, e))
    }

    /// The adapters of a folder (ours or PEFT's, LoRA without DoRA or rsLoRA) whose
    /// `adapter_config.json` said `info`.
    pub fn load(dir: &Path, info: &AdapterInfo, cfg: &DecoderConfig) -> Result<Adapters> {
        let files = WeightFiles::read_named(dir, ADAPTER_WEIGHTS)?;
        let tables = files.tables()?;
        Self::build(cfg, info.options.clone(), |l, p, sa, sb| {
            Ok((
                files.f32_tensor(&tables, &peft_key(l, p, 'A'), &sa)?,
                files.f32_tensor(&tables, &peft_key(l, p, 'B'), &sb)?,
            ))
        })
    }

    /// The targeted parts of `w`, as `merge` takes its base.
    pub fn frozen_parts(&self, w: &DecoderWeights) -> Vec<Vec<Vec<f32>>> {
        w.layers
            .iter()
            .map(|layer| self.parts.iter().map(|&p| layer[p].clone()).collect())
            .collect()
    }
}

/// What an adapter folder's `adapter_config.json` says.
pub struct AdapterInfo {
    pub options: LoraOptions,
    pub base: PathBuf,
}

impl AdapterInfo {
    pub fn read(dir: &Path) -> Result<AdapterInfo> {
        let path = dir.join(ADAPTER_CONFIG);
        let text = std::fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
        let bad = |message: String| ModelError::Config {
            path: path.clone(),
            message,
        };
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if v["peft_type"].as_str() != Some("LORA") {
            return Err(bad(format!(
                "peft_type is {}, only LORA adapters are read",
                v["peft_type"]
            )));
        }
        for flag in ["use_dora", "use_rslora"] {
            if v[flag].as_bool() == Some(true) {
                return Err(bad(format!("{flag} adapters are not supported")));
            }
        }
        let rank = v["r"].as_u64().ok_or_else(|| bad("no rank `r`".into()))? as usize;
        let alpha = v["lora_alpha"].as_f64().unwrap_or(8.0);
        let targets: Vec<String> = match &v["target_modules"] {
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect(),
            serde_json::Value::String(s) => vec![s.clone()],
            other => return Err(bad(format!("target_modules is {other}"))),
        };
        let base = v["base_model_name_or_path"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("no base_model_name_or_path".into()))?;
        Ok(AdapterInfo {
            options: LoraOptions {
                rank,
                alpha,
                targets,
            },
            base: super::resolve(base),
        })
    }
}

/// Whether `dir` holds a LoRA adapter.
pub fn is_adapter(dir: &Path) -> bool {
    dir.join(ADAPTER_CONFIG).is_file()
}
