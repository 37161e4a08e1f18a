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

    /// One update of every parameter with its gradient times `grad_scale` (the clipping
    /// factor, folded in here rather than spent on a pass of its own).
    pub fn step(
        &mut self,
        params: &Params,
        grads: &[(&str, &[f32])],
        lr: f64,
        grad_scale: f32,
    ) -> Result<()> {
        let coef = self.advance(lr, grad_scale);
        for &(name, g) in grads {
            let var = params.vars.get(name).ok_or_else(|| {
                ModelError::NotFound(format!("gradient for `{name}`, which the model lacks"))
            })?;
            let (m, v) = self.moments(name, g.len());
            let t = var.as_tensor();
            if t.device().is_cpu() && t.dtype() == DType::F32 {
                // In place on the parameter's own storage: no copies out and back.
                t.inplace_op1(&InPlaceAdam {
                    coef,
                    g,
                    moments: std::cell::RefCell::new((m, v)),
                })?;
            } else {
                let mut p: Vec<f32> = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?;
                coef.update(&mut p, m, v, g);
                var.set(&Tensor::from_vec(p, t.shape(), t.device())?.to_dtype(t.dtype())?)?;
            }
        }
        Ok(())
    }
}

impl AdamW {
    /// The first and second moments of parameter `name` (of `n` values), zero at first.
    fn moments(&mut self, name: &str, n: usize) -> (&mut Vec<f32>, &mut Vec<f32>) {
        let m = self
            .m
            .entry(name.to_string())
            .or_insert_with(|| vec![0.0; n]);
        let v = self
            .v
            .entry(name.to_string())
            .or_insert_with(|| vec![0.0; n]);
        (m, v)
    }

    /// Counts an update and returns its scalars.
    fn advance(&mut self, lr: f64, grad_scale: f32) -> AdamCoef {
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t as i32);
        AdamCoef {
            b1: self.beta1 as f32,
            b2: self.beta2 as f32,
            bc2_sqrt: (1.0 - self.beta2.powi(self.t as i32)).sqrt() as f32,
            step_size: (lr / bc1) as f32,
            eps: self.eps as f32,
            decay: (1.0 - lr * self.weight_decay) as f32,
            grad_scale,
        }
    }

    /// One update of parameters held as plain f32 vectors: (name, parameter, gradient).
    pub fn step_slices<'a>(
        &mut self,
        params: impl IntoIterator<Item = (&'a str, &'a mut [f32], &'a [f32])>,
        lr: f64,
        grad_scale: f32,
    ) {
        let coef = self.advance(lr, grad_scale);
        for (name, p, g) in params {
            let (m, v) = self.moments(name, g.len());
            coef.update(p, m, v, g);
        }
    }
}

/// The scalars of one AdamW update (torch semantics).
#[derive(Clone, Copy)]
struct AdamCoef {
    b1: f32,
    b2: f32,
    bc2_sqrt: f32,
    step_size: f32,
    eps: f32,
    decay: f32,
    grad_scale: f32,
}

/// Below this many elements a parameter is updated on one thread; above it, on every core.
const PARALLEL_MIN: usize = 1 << 16;

impl AdamCoef {
    fn update_serial(&self, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
        for (((p, m), v), &g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
            let g = g * self.grad_scale;
            *m = self.b1 * *m + (1.0 - self.b1) * g;
            *v = self.b2 * *v + (1.0 - self.b2) * g * g;
            let denom = (v.sqrt() / self.bc2_sqrt) + self.eps;
            *p = *p * self.decay - self.step_size * *m / denom;
        }
    }

    fn update(&self, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
        let threads = rayon::current_num_threads().max(1);
        if p.len() < PARALLEL_MIN || threads == 1 {
            return self.update_serial(p, m, v, g);
        }
        let chunk = p.len().div_ceil(threads);
        std::thread::scope(|s| {
            for (((p, m), v), g) in p
                .chunks_mut(chunk)
                .zip(m.chunks_mut(chunk))
                .zip(v.chunks_mut(chunk))
                .zip(g.chunks(chunk))
            {
                s.spawn(move || self.update_serial(p, m, v, g));
            }
        });
    }
}

/// AdamW applied to a parameter's CPU storage through candle's in-place op hook.
struct InPlaceAdam<'a> {
    coef: AdamCoef,
    g: &'a [f32],
    moments: std::cell::RefCell<(&'a mut Vec<f32>, &'a mut Vec<f32>)>,
}

impl candle_core::InplaceOp1 for InPlaceAdam<'_> {
    fn name(&self) -> &'static str {
        "adamw"
    }

    fn cpu_fwd(
        &self,
        storage: &mut candle_core::CpuStorage,
        layout: &candle_core::Layout,
    ) -> candle_core::Result<()> {
        let candle_core::CpuStorage::F32(data) = storage else {
            candle_core::bail!("adamw: parameters must be f32 on the CPU")
        };
        let n = self.g.len();
        if !layout.is_contiguous() || layout.shape().elem_count() != n {
            candle_core::bail!(
                "adamw: a parameter is not a contiguous tensor of its gradient's size"
            )
        }
        let p = &mut data[layout.start_offset()..layout.start_offset() + n];
        let mut moments = self.moments.borrow_mut();
        let (m, v) = &mut *moments;
        self.coef.update(p, m, v, self.g);
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
    let lens: Vec<usize> = examples.iter().map(|e| e.source.len()).collect();
    epoch_batches_by_length(&lens, batch_size, seed, epoch)
}

/// `epoch_batches` for examples of the given lengths.
pub fn epoch_batches_by_length(
    lens: &[usize],
    batch_size: usize,
    seed: u64,
    epoch: usize,
) -> Vec<Vec<usize>> {
    let mut rng = SplitMix(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut idx: Vec<usize> = (0..lens.len()).collect();
    shuffle(&mut idx, &mut rng);
    let mega = batch_size * 50;
    let mut out = Vec::new();
    for chunk in idx.chunks(mega) {
        let mut c = chunk.to_vec();
        c.sort_by_key(|&i| std::cmp::Reverse(lens[i]));
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
        groups.last_mut().unwrap().push(g);
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
        let shapes = [("big", PARALLEL_MIN * 3 + 5), ("small", 37)];
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
