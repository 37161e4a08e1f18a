//! Fine-tuning: teacher forcing with padding ignored, AdamW with Hugging Face defaults, a
//! constant or linear schedule with warmup, global-norm clipping, gradient accumulation,
//! length-bucketed batches in a seeded order, and checkpoints that resume exactly.

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::{ModelError, Result};
use super::params::{Params, SplitMix};
use super::predict::pad_batch;
use super::t5::T5;
use super::tokenize::TextTokenizer;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Warmup, then the peak rate (HF `constant_with_warmup`; `constant` with 0 warmup).
    Constant,
    /// Warmup, then linear decay to 0 at the last step (HF `linear`).
    Linear,
}

impl crate::ie::Named for Schedule {
    const ALL: &'static [Self] = &[Schedule::Constant, Schedule::Linear];
    fn name(self) -> &'static str {
        match self {
            Schedule::Constant => "constant",
            Schedule::Linear => "linear",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    pub lr: f64,
    pub schedule: Schedule,
    pub warmup_steps: usize,
    /// Micro-batch size.
    pub batch_size: usize,
    pub grad_accum: usize,
    /// Optimizer steps in all.
    pub total_steps: usize,
    pub max_source_length: usize,
    pub max_target_length: usize,
    pub clip_norm: f64,
    pub seed: u64,
    /// Save a checkpoint every N optimizer steps (0: only at the end).
    pub save_every: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            lr: 5e-5,
            schedule: Schedule::Constant,
            warmup_steps: 0,
            batch_size: 8,
            grad_accum: 1,
            total_steps: 100,
            max_source_length: 512,
            max_target_length: 50,
            clip_norm: 1.0,
            seed: 42,
            save_every: 0,
        }
    }
}

impl TrainOptions {
    pub fn lr_at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        match self.schedule {
            Schedule::Constant => self.lr,
            Schedule::Linear => {
                let rest = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
                self.lr * (1.0 - (step - self.warmup_steps) as f64 / rest).max(0.0)
            }
        }
    }
}

/// A tokenised training pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub source: Vec<u32>,
    /// Target ids ending in `</s>`, cut to the target length as the official collator does.
    pub labels: Vec<u32>,
}

pub fn tokenize_examples(
    tok: &TextTokenizer,
    pairs: &[(String, String)],
    max_source: usize,
    max_target: usize,
) -> Result<Vec<Example>> {
    pairs
        .iter()
        .map(|(s, t)| {
            let (source, _) = tok.encode_truncated(s, max_source)?;
            let mut labels = tok.encode(t)?;
            if labels.len() > max_target {
                // Truncation keeps `</s>` last, as the tokenizer's truncation does.
                let eos = *labels.last().expect("encoding appends </s>");
                labels.truncate(max_target);
                *labels.last_mut().unwrap() = eos;
            }
            Ok(Example { source, labels })
        })
        .collect()
}

/// AdamW as torch implements it, updating parameters in place from raw slices.
pub struct AdamW {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Completed updates.
    pub t: u64,
    pub m: BTreeMap<String, Vec<f32>>,
    pub v: BTreeMap<String, Vec<f32>>,
}

impl AdamW {
    pub fn new() -> Self {
        AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            t: 0,
            m: BTreeMap::new(),
            v: BTreeMap::new(),
        }
    }

    /// One update of every parameter with its gradient (already clipped and averaged).
    pub fn step(
        &mut self,
        params: &Params,
        grads: &BTreeMap<String, Vec<f32>>,
        lr: f64,
    ) -> Result<()> {
        self.t += 1;
        let (b1, b2) = (self.beta1 as f32, self.beta2 as f32);
        let bc1 = 1.0 - self.beta1.powi(self.t as i32);
        let bc2_sqrt = (1.0 - self.beta2.powi(self.t as i32)).sqrt();
        let step_size = (lr / bc1) as f32;
        let (eps, decay) = (self.eps as f32, (1.0 - lr * self.weight_decay) as f32);
        for (name, var) in &params.vars {
            let Some(g) = grads.get(name) else { continue };
            let mut p: Vec<f32> = var
                .as_tensor()
                .flatten_all()?
                .to_dtype(DType::F32)?
                .to_vec1()?;
            let m = self
                .m
                .entry(name.clone())
                .or_insert_with(|| vec![0.0; p.len()]);
            let v = self
                .v
                .entry(name.clone())
                .or_insert_with(|| vec![0.0; p.len()]);
            for i in 0..p.len() {
                m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                let denom = (v[i].sqrt() / bc2_sqrt as f32) + eps;
                p[i] = p[i] * decay - step_size * m[i] / denom;
            }
            let t = var.as_tensor();
            var.set(&Tensor::from_vec(p, t.shape(), t.device())?.to_dtype(t.dtype())?)?;
        }
        Ok(())
    }
}

impl Default for AdamW {
    fn default() -> Self {
        Self::new()
    }
}

/// Where training stands: enough to continue exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub step: usize,
    pub epoch: usize,
    /// Batches of `epoch` already consumed.
    pub batch_in_epoch: usize,
    pub options: TrainOptions,
}

/// What one optimizer step did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StepReport {
    pub step: usize,
    pub loss: f64,
    pub lr: f64,
    pub grad_norm: f64,
    /// Source + target tokens processed (no padding).
    pub tokens: usize,
    /// Seconds in the forward pass, the backward pass (with gradient collection) and the
    /// optimizer update.
    pub forward_s: f64,
    pub backward_s: f64,
    pub optimizer_s: f64,
}

/// The micro-batches of one epoch: a seeded shuffle, megabatches of 50 batches sorted by source
/// length (as HF's `group_by_length`), cut into batches, and the batches shuffled again.
///
/// The last shuffle matters: without it every 50 steps run from the longest sources to the
/// shortest, and the shortest CoNLL sentences mostly have the target `None`. A model then
/// checkpointed at a multiple of 50 steps has just been pushed towards `None` by several
/// batches in a row, and answers `None` for every input.
pub fn epoch_batches(
    examples: &[Example],
    batch_size: usize,
    seed: u64,
    epoch: usize,
) -> Vec<Vec<usize>> {
    let mut rng = SplitMix(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut idx: Vec<usize> = (0..examples.len()).collect();
    shuffle(&mut idx, &mut rng);
    let mega = batch_size * 50;
    let mut out = Vec::new();
    for chunk in idx.chunks(mega) {
        let mut c = chunk.to_vec();
        c.sort_by_key(|&i| std::cmp::Reverse(examples[i].source.len()));
        out.extend(c.chunks(batch_size).map(<[usize]>::to_vec));
    }
    shuffle(&mut out, &mut rng);
    out
}

/// Fisher-Yates with the seeded generator.
fn shuffle<T>(items: &mut [T], rng: &mut SplitMix) {
    for i in (1..items.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// Mean cross-entropy over the target tokens of a micro-batch.
pub fn batch_loss(model: &T5, batch: &[&Example]) -> Result<Tensor> {
    let dev = &model.device;
    let pad = model.cfg.pad_token_id as u32;
    let start = model.cfg.decoder_start_token_id as u32;
    let sources: Vec<&[u32]> = batch.iter().map(|e| e.source.as_slice()).collect();
    let (ids, mask) = pad_batch(&sources, pad, dev)?;
    // Decoder input: the labels shifted right behind the start token.
    let shifted: Vec<Vec<u32>> = batch
        .iter()
        .map(|e| {
            std::iter::once(start)
                .chain(e.labels[..e.labels.len() - 1].iter().copied())
                .collect()
        })
        .collect();
    let dec_rows: Vec<&[u32]> = shifted.iter().map(Vec::as_slice).collect();
    let (dec, _) = pad_batch(&dec_rows, pad, dev)?;
    let t = dec.dim(1)?;
    let mut rows = Vec::new();
    let mut targets = Vec::new();
    for (b, e) in batch.iter().enumerate() {
        for (j, &l) in e.labels.iter().enumerate() {
            rows.push((b * t + j) as u32);
            targets.push(l);
        }
    }
    let enc = model.encode(&ids, &mask, true)?;
    let logits = model.decode(&enc, &dec, None, true)?;
    let vocab = logits.dim(2)?;
    let flat = logits.reshape((batch.len() * t, vocab))?;
    let n = rows.len();
    let sel = flat
        .index_select(&Tensor::from_vec(rows, n, dev)?, 0)?
        .to_dtype(DType::F32)?;
    let targets = Tensor::from_vec(targets, n, dev)?;
    Ok(candle_nn::loss::cross_entropy(&sel, &targets)?)
}

/// The model being trained, its optimizer and data.
pub struct Trainer<'a> {
    pub model: &'a T5,
    pub params: &'a Params,
    pub opt: AdamW,
    pub examples: Vec<Example>,
}

impl Trainer<'_> {
    /// One optimizer step over `micro` batches: accumulate, average, clip, update.
    pub fn step(
        &mut self,
        micro: &[Vec<usize>],
        lr: f64,
        clip: f64,
        step: usize,
    ) -> Result<StepReport> {
        let mut grads: BTreeMap<String, Vec<f32>> = BTreeMap::new();
        let mut loss_sum = 0.0;
        let mut tokens = 0;
        let scale = 1.0 / micro.len() as f64;
        let (mut forward_s, mut backward_s) = (0.0, 0.0);
        for mb in micro {
            let batch: Vec<&Example> = mb.iter().map(|&i| &self.examples[i]).collect();
            tokens += batch
                .iter()
                .map(|e| e.source.len() + e.labels.len())
                .sum::<usize>();
            let t0 = std::time::Instant::now();
            let loss = batch_loss(self.model, &batch)?;
            loss_sum += loss.to_scalar::<f32>()? as f64;
            let t1 = std::time::Instant::now();
            forward_s += (t1 - t0).as_secs_f64();
            let store = (loss * scale)?.backward()?;
            for (name, var) in &self.params.vars {
                if let Some(g) = store.get(var.as_tensor()) {
                    let g: Vec<f32> = g.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?;
                    match grads.get_mut(name) {
                        Some(acc) => acc.iter_mut().zip(g).for_each(|(a, b)| *a += b),
                        None => {
                            grads.insert(name.clone(), g);
                        }
                    }
                }
            }
            backward_s += t1.elapsed().as_secs_f64();
        }
        let t2 = std::time::Instant::now();
        // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when above max_norm.
        let norm = grads
            .values()
            .flatten()
            .map(|&g| (g as f64) * (g as f64))
            .sum::<f64>()
            .sqrt();
        if clip > 0.0 && norm > clip {
            let c = (clip / (norm + 1e-6)) as f32;
            grads.values_mut().flatten().for_each(|g| *g *= c);
        }
        self.opt.step(self.params, &grads, lr)?;
        Ok(StepReport {
            step: step + 1,
            loss: loss_sum * scale,
            lr,
            grad_norm: norm,
            tokens,
            forward_s,
            backward_s,
            optimizer_s: t2.elapsed().as_secs_f64(),
        })
    }
}

/// The checkpoint directories under `out`, by step.
pub fn checkpoints(out: &Path) -> Vec<(usize, PathBuf)> {
    let mut v: Vec<(usize, PathBuf)> = std::fs::read_dir(out)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step = name.strip_prefix("checkpoint-")?.parse().ok()?;
            e.path()
                .join("trainer_state.json")
                .is_file()
                .then(|| (step, e.path()))
        })
        .collect();
    v.sort();
    v
}

/// Writes optimizer moments and the trainer state beside a saved model.
pub fn save_training_state(dir: &Path, opt: &AdamW, state: &TrainState) -> Result<()> {
    let mut tensors = Vec::new();
    for (kind, map) in [("m", &opt.m), ("v", &opt.v)] {
        for (name, data) in map {
            tensors.push((
                format!("{kind}.{name}"),
                Tensor::from_vec(data.clone(), data.len(), &candle_core::Device::Cpu)?,
            ));
        }
    }
    let map: std::collections::HashMap<String, Tensor> = tensors.into_iter().collect();
    candle_core::safetensors::save(&map, dir.join("optimizer.safetensors"))?;
    let st = serde_json::json!({"state": state, "adam_t": opt.t});
    std::fs::write(
        dir.join("trainer_state.json"),
        serde_json::to_string_pretty(&st).expect("state serialises"),
    )
    .map_err(|e| ModelError::io(dir.join("trainer_state.json"), e))
}

pub fn load_training_state(dir: &Path) -> Result<(AdamW, TrainState)> {
    let path = dir.join("trainer_state.json");
    let text = std::fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| ModelError::Weights {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let state: TrainState =
        serde_json::from_value(v["state"].clone()).map_err(|e| ModelError::Weights {
            path: path.clone(),
            message: e.to_string(),
        })?;
    let mut opt = AdamW::new();
    opt.t = v["adam_t"].as_u64().unwrap_or(0);
    let tensors = candle_core::safetensors::load(
        dir.join("optimizer.safetensors"),
        &candle_core::Device::Cpu,
    )?;
    for (k, t) in tensors {
        let data: Vec<f32> = t.to_vec1()?;
        match k.split_once('.') {
            Some(("m", name)) => {
                opt.m.insert(name.to_string(), data);
            }
            Some(("v", name)) => {
                opt.v.insert(name.to_string(), data);
            }
            _ => {}
        }
    }
    Ok((opt, state))
}
