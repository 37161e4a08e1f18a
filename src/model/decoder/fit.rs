//! Fine-tuning a decoder-only model on the CPU engine: the official decoder-only examples,
//! every weight but the embedding and the LM head (tied or not) trained with AdamW, the loss
//! the mean cross-entropy over the target and eos tokens of a step, the head computed only at
//! those positions. With LoRA options, adapters are trained instead (`lora`) and checkpoints are PEFT
//! adapter folders. The loop, checkpoints and exact resume are the shared ones (`fit::drive`).

use rayon::prelude::*;

use std::path::PathBuf;

use super::lora::{self, AdapterInfo, Adapters};
use super::tokenizer::DecoderExample;
use super::{resolve, save_folder, DecoderModel, DecoderWeights};
use crate::model::backbone::Backbone;
use crate::model::cpu::decoder::{Grads, Prepared};
use crate::model::cpu::frozen_bf16::{Bf16Pass, FrozenBf16};
use crate::model::error::Result;
use crate::model::fit::{drive, FitHooks, FitOutcome, FitSpec, Start, Stepper};
use crate::model::train::{epoch_batches_by_length, AdamW, FrozenWeights, StepReport};

struct DecoderRun {
    model: Backbone,
    opt: AdamW,
    examples: Vec<DecoderExample>,
    names: Vec<String>,
    max_len: usize,
    trained: Trained,
}

/// What a run trains, with its gradient buffers.
enum Trained {
    /// Every weight but the embedding and the LM head.
    Weights {
        grads: DecoderWeights,
    },
    Lora(Box<LoraRun>),
}

/// A LoRA run's adapters, the frozen weights they add to, the base model's path (which the
/// saved adapter names) and the adapters' gradients (in `Adapters::names()` order).
struct LoraRun {
    adapters: Adapters,
    frozen: Vec<Vec<Vec<f32>>>,
    base: PathBuf,
    grads: Vec<Vec<f32>>,
    /// The base packed in bf16 (`--frozen-weights bf16`): the passes add the adapters to it
    /// as low-rank products, so the model's weights are merged only when something reads
    /// them (`stale`).
    bf16: Option<FrozenBf16>,
    stale: bool,
}

impl DecoderRun {
    fn decoder(&self) -> &DecoderModel {
        match &self.model {
            Backbone::Decoder(m) => m,
            Backbone::T5(_) => unreachable!("a decoder run holds a decoder"),
        }
    }
}

impl Stepper for DecoderRun {
    fn model(&mut self) -> &Backbone {
        if let (Trained::Lora(l), Backbone::Decoder(m)) = (&mut self.trained, &mut self.model) {
            if l.stale {
                l.adapters.merge(&m.cfg, &l.frozen, &mut m.weights);
                l.stale = false;
            }
        }
        &self.model
    }

    fn opt(&self) -> &AdamW {
        &self.opt
    }

    fn step(
        &mut self,
        micro: &[Vec<usize>],
        lr: f64,
        clip: f64,
        step: usize,
    ) -> Result<StepReport> {
        let started = std::time::Instant::now();
        let buffers: Vec<&mut Vec<f32>> = match &mut self.trained {
            Trained::Weights { grads } => grads.trainable_mut(),
            Trained::Lora(l) => l.grads.iter_mut().collect(),
        };
        buffers
            .into_par_iter()
            .for_each(|g| g.iter_mut().for_each(|v| *v = 0.0));
        let targets: usize = micro
            .iter()
            .flatten()
            .map(|&i| self.examples[i].targets())
            .sum();
        let scale = 1.0 / targets.max(1) as f32;
        let (mut loss, mut tokens) = (0.0, 0);
        {
            let Backbone::Decoder(m) = &self.model else {
                unreachable!("a decoder run holds a decoder")
            };
            let (mut full, mut lora) = match &mut self.trained {
                Trained::Weights { grads } => (Some(grads), None),
                Trained::Lora(l) => (None, Some((&l.adapters, &mut l.grads, l.bf16.as_ref()))),
            };
            let bf16 = lora.as_ref().and_then(|&(adapters, _, base)| {
                base.map(|base| Bf16Pass {
                    base,
                    adapters: Some(adapters),
                })
            });
            let p = Prepared::new(&m.cfg, &m.weights, self.max_len).with_bf16(bf16);
            for batch in micro {
                let refs: Vec<&DecoderExample> = batch.iter().map(|&i| &self.examples[i]).collect();
                tokens += refs.iter().map(|e| e.ids.len()).sum::<usize>();
                let sink = match (&mut full, &mut lora) {
                    (Some(grads), _) => Grads::Weights(grads),
                    (_, Some((adapters, grads, _))) => Grads::Adapters(adapters, grads),
                    (None, None) => unreachable!("a run trains weights or adapters"),
                };
                loss += p.accumulate(&refs, scale, sink).0;
            }
        }
        let passes = started.elapsed().as_secs_f64();
        let Backbone::Decoder(m) = &mut self.model else {
            unreachable!("a decoder run holds a decoder")
        };
        let (params, grads): (Vec<&mut Vec<f32>>, Vec<&[f32]>) = match &mut self.trained {
            Trained::Weights { grads } => (
                m.weights.trainable_mut(),
                grads.trainable().into_iter().map(Vec::as_slice).collect(),
            ),
            Trained::Lora(l) => (
                l.adapters.tensors_mut(),
                l.grads.iter().map(Vec::as_slice).collect(),
            ),
        };
        let norm = grads
            .par_iter()
            .map(|g| g.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>())
            .sum::<f64>()
            .sqrt();
        // torch's clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1.
        let factor = if clip > 0.0 {
            (clip / (norm + 1e-6)).min(1.0)
        } else {
            1.0
        };
        let opt_started = std::time::Instant::now();
        self.opt.step_slices(
            self.names
                .iter()
                .zip(params)
                .zip(grads)
                .map(|((n, p), g)| (n.as_str(), p.as_mut_slice(), g)),
            lr,
            factor as f32,
        );
        if let Trained::Lora(l) = &mut self.trained {
            if l.bf16.is_some() {
                l.stale = true;
            } else {
                l.adapters.merge(&m.cfg, &l.frozen, &mut m.weights);
            }
        }
        Ok(StepReport {
            step: step + 1,
            loss: loss / targets.max(1) as f64,
            lr,
            grad_norm: norm,
            tokens,
            forward_s: passes,
            backward_s: 0.0,
            optimizer_s: opt_started.elapsed().as_secs_f64(),
        })
    }

    fn save_model(&self, dir: &std::path::Path) -> Result<()> {
        let m = self.decoder();
        match &self.trained {
            Trained::Lora(l) => l.adapters.save(dir, &m.cfg, &l.base),
            Trained::Weights { .. } => save_folder(dir, &m.cfg, &m.weights, &m.tokenizer),
        }
    }
}

pub fn fit<H: FitHooks>(
    spec: FitSpec,
    pairs: &[(String, String)],
    hooks: &mut H,
    start: Start,
) -> std::result::Result<FitOutcome, H::Error> {
    let o = &spec.options;
    let source = resolve(&start.source);
    let (m, lora) = match &o.lora {
        None => (DecoderModel::load(&source)?, None),
        Some(options) => {
            // A LoRA run starts from a base model (fresh adapters) or, resumed, from its
            // adapter folder (the base it names, the adapters it holds).
            let saved = if lora::is_adapter(&source) {
                Some(AdapterInfo::read(&source)?)
            } else {
                None
            };
            let base = saved.as_ref().map_or(source.clone(), |i| i.base.clone());
            let mut m = DecoderModel::load(&base)?;
            let adapters = match &saved {
                Some(info) => Adapters::load(&source, info, &m.cfg)?,
                None => Adapters::init(&m.cfg, options, o.seed)?,
            };
            let frozen = adapters.frozen_parts(&m.weights);
            // Packed before the adapters are merged in: the base alone.
            let bf16 = (o.frozen_weights == FrozenWeights::Bf16)
                .then(|| FrozenBf16::of(&m.cfg, &m.weights));
            adapters.merge(&m.cfg, &frozen, &mut m.weights);
            let grads = adapters.zeros_like();
            let run = LoraRun {
                adapters,
                frozen,
                base,
                grads,
                bf16,
                stale: false,
            };
            (m, Some(run))
        }
    };
    let examples: Vec<DecoderExample> = pairs
        .iter()
        .map(|(s, t)| {
            m.tokenizer
                .example(s, t, o.max_source_length, o.max_target_length)
        })
        .collect::<Result<_>>()?;
    let lens: Vec<usize> = examples.iter().map(|e| e.ids.len()).collect();
    let per_epoch = epoch_batches_by_length(&lens, o.batch_size, o.seed, 0)
        .len()
        .div_ceil(o.grad_accum);
    let (opt, state) = start.state(&spec, per_epoch)?;
    let (names, trained) = match lora {
        Some(l) => (l.adapters.names(), Trained::Lora(Box::new(l))),
        None => (
            m.weights.trainable_names(&m.cfg),
            Trained::Weights {
                grads: DecoderWeights::zeros_like(&m.cfg, false),
            },
        ),
    };
    let mut run = DecoderRun {
        max_len: lens.iter().copied().max().unwrap_or(1),
        model: Backbone::Decoder(Box::new(m)),
        opt,
        examples,
        names,
        trained,
    };
    hooks.started(&run.model, &state, per_epoch)?;
    drive(&spec, hooks, &mut run, &lens, state, &start)
}
