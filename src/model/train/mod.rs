//! Fine-tuning: teacher forcing with padding ignored, AdamW with Hugging Face defaults, a
//! constant or linear schedule with warmup, global-norm clipping, gradient accumulation,
//! length-bucketed batches in a seeded order, and checkpoints that resume exactly.

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::cpu::{Backprop, Layout};
use super::error::{ModelError, Result};
use super::params::{Params, SplitMix};
use super::predict::pad_batch;
use super::t5::T5;
use super::tokenize::TextTokenizer;

mod adamw;
mod batches;
mod state;

pub use adamw::AdamW;
pub use batches::{epoch_batches, epoch_batches_by_length};
pub use state::{checkpoints, load_training_state, save_training_state, saved_position};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Warmup, then the peak rate (HF `constant_with_warmup`; `constant` with 0 warmup).
    Constant,
    /// Warmup, then linear decay to 0 at the last step (HF `linear`).
    Linear,
    /// Warmup, then half a cosine down to 0 at the last step (HF `cosine`).
    Cosine,
}

impl crate::ie::Named for Schedule {
    const ALL: &'static [Self] = &[Schedule::Constant, Schedule::Linear, Schedule::Cosine];
    fn name(self) -> &'static str {
        match self {
            Schedule::Constant => "constant",
            Schedule::Linear => "linear",
            Schedule::Cosine => "cosine",
        }
    }
}

/// The precision a LoRA run's frozen base weights multiply in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FrozenWeights {
    /// f32, as loaded: the passes equal transformers' to float rounding.
    #[default]
    F32,
    /// Packed once into bf16 for Intel AMX tiles (`cpu::amx`), the adapters kept in f32 and
    /// added as low-rank products: 8 bits of mantissa in each factor of the base's products,
    /// as in PyTorch's bf16 autocast, at a fraction of the time.
    Bf16,
}

impl crate::ie::Named for FrozenWeights {
    const ALL: &'static [Self] = &[FrozenWeights::F32, FrozenWeights::Bf16];
    fn name(self) -> &'static str {
        match self {
            FrozenWeights::F32 => "f32",
            FrozenWeights::Bf16 => "bf16",
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
    /// Decoder-only models: train LoRA adapters instead of the weights.
    #[serde(default)]
    pub lora: Option<super::decoder::lora::LoraOptions>,
    /// LoRA runs: the precision of the frozen base's products.
    #[serde(default)]
    pub frozen_weights: FrozenWeights,
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
            lora: None,
            frozen_weights: FrozenWeights::F32,
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
            Schedule::Linear | Schedule::Cosine => {
                let rest = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
                let done = ((step - self.warmup_steps) as f64 / rest).min(1.0);
                if self.schedule == Schedule::Linear {
                    self.lr * (1.0 - done)
                } else {
                    self.lr * 0.5 * (1.0 + (std::f64::consts::PI * done).cos())
                }
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
                if let Some(last) = labels.last_mut() {
                    *last = eos;
                }
            }
            Ok(Example { source, labels })
        })
        .collect()
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
    /// The hand-written CPU pass when the parameters are f32 on the CPU; candle's autograd
    /// otherwise (CUDA).
    backprop: Option<Backprop>,
}

impl<'a> Trainer<'a> {
    pub fn new(model: &'a T5, params: &'a Params, opt: AdamW, examples: Vec<Example>) -> Self {
        Trainer {
            model,
            params,
            opt,
            examples,
            backprop: Layout::applies(params).then(|| Backprop::new(&model.cfg)),
        }
    }

    /// One optimizer step over `micro` batches: accumulate, average, clip, update.
    pub fn step(
        &mut self,
        micro: &[Vec<usize>],
        lr: f64,
        clip: f64,
        step: usize,
    ) -> Result<StepReport> {
        let mut autograd: BTreeMap<String, Vec<f32>> = BTreeMap::new();
        if let Some(bp) = &mut self.backprop {
            bp.zero();
        }
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
            if let Some(bp) = &mut self.backprop {
                let pass = bp.accumulate(self.params, &batch, scale as f32)?;
                loss_sum += pass.loss as f64;
                forward_s += pass.forward_s;
                backward_s += pass.backward_s;
                continue;
            }
            let t0 = std::time::Instant::now();
            let loss = batch_loss(self.model, &batch)?;
            loss_sum += loss.to_scalar::<f32>()? as f64;
            let t1 = std::time::Instant::now();
            forward_s += (t1 - t0).as_secs_f64();
            let store = (loss * scale)?.backward()?;
            for (name, var) in &self.params.vars {
                if let Some(g) = store.get(var.as_tensor()) {
                    let g: Vec<f32> = g.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?;
                    match autograd.get_mut(name) {
                        Some(acc) => acc.iter_mut().zip(g).for_each(|(a, b)| *a += b),
                        None => {
                            autograd.insert(name.clone(), g);
                        }
                    }
                }
            }
            backward_s += t1.elapsed().as_secs_f64();
        }
        let t2 = std::time::Instant::now();
        let grads: Vec<(&str, &[f32])> = match &self.backprop {
            Some(bp) => bp.grads().collect(),
            None => autograd
                .iter()
                .map(|(n, g)| (n.as_str(), g.as_slice()))
                .collect(),
        };
        // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when above max_norm.
        let norm = global_norm(&grads);
        let c = if clip > 0.0 && norm > clip {
            (clip / (norm + 1e-6)) as f32
        } else {
            1.0
        };
        self.opt.step(self.params, &grads, lr, c)?;
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

/// The L2 norm of all gradients together, summed in f64 on every core.
fn global_norm(grads: &[(&str, &[f32])]) -> f64 {
    let sq = |g: &[f32]| g.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>();
    let all: Vec<&[f32]> = grads.iter().map(|(_, g)| *g).collect();
    let threads = rayon::current_num_threads().max(1);
    let per = all
        .iter()
        .map(|g| g.len())
        .sum::<usize>()
        .div_ceil(threads)
        .max(1);
    // Whole tensors go to a thread until it has its share, so the sum is the same on any run
    // with the same thread count.
    let mut groups: Vec<Vec<&[f32]>> = vec![Vec::new()];
    let mut filled = 0;
    for g in all {
        if filled >= per {
            groups.push(Vec::new());
            filled = 0;
        }
        filled += g.len();
        if let Some(group) = groups.last_mut() {
            group.push(g);
        }
    }
    std::thread::scope(|s| {
        let parts: Vec<_> = groups
            .iter()
            .map(|grp| s.spawn(move || grp.iter().map(|g| sq(g)).sum::<f64>()))
            .collect();
        parts
            .into_iter()
            .map(|h| h.join().expect("norm thread"))
            .sum::<f64>()
    })
    .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use candle_nn::Optimizer;

    /// The in-place update (large enough to run on several threads, and a small one on one)
    /// against candle-nn's AdamW, which follows torch, fed the same clipped gradients.
    #[test]
    fn in_place_adamw_matches_candle_nn() {
        let mut rng = SplitMix(7);
        let mut draw = |n: usize| (0..n).map(|_| rng.normal() as f32).collect::<Vec<f32>>();
        let shapes = [("big", adamw::PARALLEL_MIN * 3 + 5), ("small", 37)];
        let mut ours = Params {
            vars: BTreeMap::new(),
        };
        let mut theirs = Vec::new();
        for (name, n) in shapes {
            let init = Tensor::from_vec(draw(n), n, &Device::Cpu).unwrap();
            ours.vars.insert(
                name.into(),
                Var::from_tensor(&init.copy().unwrap()).unwrap(),
            );
            theirs.push(Var::from_tensor(&init).unwrap());
        }
        let lr = 1e-2;
        let mut reference = candle_nn::AdamW::new(
            theirs.clone(),
            candle_nn::ParamsAdamW {
                lr,
                weight_decay: 0.0,
                ..Default::default()
            },
        )
        .unwrap();
        let mut opt = AdamW::new();
        for step in 0..4 {
            let scale = if step % 2 == 0 { 0.5f32 } else { 1.0 };
            let grads: BTreeMap<String, Vec<f32>> = shapes
                .iter()
                .map(|(name, n)| (name.to_string(), draw(*n)))
                .collect();
            let slices: Vec<(&str, &[f32])> = grads
                .iter()
                .map(|(n, g)| (n.as_str(), g.as_slice()))
                .collect();
            opt.step(&ours, &slices, lr, scale).unwrap();
            let mut store = candle_core::backprop::GradStore::default();
            for ((name, _), var) in shapes.iter().zip(&theirs) {
                let g: Vec<f32> = grads[*name].iter().map(|g| g * scale).collect();
                let n = g.len();
                store.insert(
                    var.as_tensor(),
                    Tensor::from_vec(g, n, &Device::Cpu).unwrap(),
                );
            }
            reference.step(&store).unwrap();
        }
        for ((name, _), var) in shapes.iter().zip(&theirs) {
            let a: Vec<f32> = ours.vars[*name].as_tensor().to_vec1().unwrap();
            let b: Vec<f32> = var.as_tensor().to_vec1().unwrap();
            let worst = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-6, "{name}: differs by {worst}");
            assert!(a.iter().zip(&b).any(|(x, y)| x != &0.0 && y != &0.0));
        }
    }

    #[test]
    fn global_norm_is_the_l2_norm_of_everything() {
        let (a, b) = (vec![3.0; 1 << 17], vec![4.0; 1 << 17]);
        let grads: Vec<(&str, &[f32])> = vec![("a", &a), ("b", &b), ("c", &[])];
        let want = ((9.0 + 16.0) * (1 << 17) as f64).sqrt();
        assert!((global_norm(&grads) - want).abs() < 1e-9 * want);
    }
}
