//! Where each T5 parameter sits in the hand-written CPU passes, and the parameters themselves
//! as f32 slices, read-locked while a pass runs.

use candle_core::{CpuStorage, Storage};
use std::collections::HashMap;

use crate::model::config::T5Config;
use crate::model::error::{ModelError, Result};
use crate::model::params::{expected_params, Params};

pub(super) struct AttnSlots {
    pub(super) q: usize,
    pub(super) k: usize,
    pub(super) v: usize,
    pub(super) o: usize,
}

pub(super) enum FfSlots {
    Relu { wi: usize, wo: usize },
    Gated { wi0: usize, wi1: usize, wo: usize },
}

pub(super) struct BlockSlots {
    pub(super) self_attn: AttnSlots,
    pub(super) self_ln: usize,
    pub(super) cross: Option<(AttnSlots, usize)>,
    pub(super) ff: FfSlots,
    pub(super) ff_ln: usize,
}

pub(super) struct StackSlots {
    pub(super) blocks: Vec<BlockSlots>,
    pub(super) final_ln: usize,
    pub(super) rel_bias: usize,
}

/// Every parameter's slot (its index in `names`) and size, with the slots grouped as the
/// model uses them.
pub struct Layout {
    pub(super) names: Vec<String>,
    pub(super) sizes: Vec<usize>,
    pub(super) shared: usize,
    /// The untied LM head (T5 v1.1 / Flan); None when the head is the shared embedding.
    pub(super) head: Option<usize>,
    pub(super) encoder: StackSlots,
    pub(super) decoder: StackSlots,
}

impl Layout {
    /// Whether the hand-written passes can run on `params`: f32 tensors on the CPU.
    pub fn applies(params: &Params) -> bool {
        params.vars.values().all(|v| {
            let t = v.as_tensor();
            t.device().is_cpu() && t.dtype() == candle_core::DType::F32
        })
    }

    pub fn new(cfg: &T5Config) -> Layout {
        let expected = expected_params(cfg);
        let names: Vec<String> = expected.iter().map(|(n, _)| n.clone()).collect();
        let sizes: Vec<usize> = expected.iter().map(|(_, s)| s.iter().product()).collect();
        let slot: HashMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let s = |n: String| slot[n.as_str()];
        let attn = |p: String| AttnSlots {
            q: s(format!("{p}.q.weight")),
            k: s(format!("{p}.k.weight")),
            v: s(format!("{p}.v.weight")),
            o: s(format!("{p}.o.weight")),
        };
        let stack = |name: &str, layers: usize, decoder: bool| StackSlots {
            blocks: (0..layers)
                .map(|i| {
                    let b = format!("{name}.block.{i}.layer");
                    let f = if decoder { 2 } else { 1 };
                    let dense = |w: &str| s(format!("{b}.{f}.DenseReluDense.{w}.weight"));
                    BlockSlots {
                        self_attn: attn(format!("{b}.0.SelfAttention")),
                        self_ln: s(format!("{b}.0.layer_norm.weight")),
                        cross: decoder.then(|| {
                            (
                                attn(format!("{b}.1.EncDecAttention")),
                                s(format!("{b}.1.layer_norm.weight")),
                            )
                        }),
                        ff: if cfg.gated() {
                            FfSlots::Gated {
                                wi0: dense("wi_0"),
                                wi1: dense("wi_1"),
                                wo: dense("wo"),
                            }
                        } else {
                            FfSlots::Relu {
                                wi: dense("wi"),
                                wo: dense("wo"),
                            }
                        },
                        ff_ln: s(format!("{b}.{f}.layer_norm.weight")),
                    }
                })
                .collect(),
            final_ln: s(format!("{name}.final_layer_norm.weight")),
            rel_bias: s(format!(
                "{name}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"
            )),
        };
        Layout {
            shared: s("shared.weight".into()),
            head: (!cfg.tie_word_embeddings).then(|| s("lm_head.weight".into())),
            encoder: stack("encoder", cfg.num_layers, false),
            decoder: stack("decoder", cfg.decoder_layers(), true),
            names,
            sizes,
        }
    }

    /// The LM head's slot and the factor on the decoder output it reads: the untied head as
    /// it is, or the shared embedding after d_model^-0.5 (T5 v1.0's tied head).
    pub(super) fn head(&self, d_model: usize) -> (usize, f32) {
        match self.head {
            Some(h) => (h, 1.0),
            None => (self.shared, (d_model as f32).powf(-0.5)),
        }
    }

    /// Runs `f` on the parameters as slices, holding their read locks meanwhile.
    pub(super) fn with_weights<R>(
        &self,
        params: &Params,
        f: impl FnOnce(&Weights) -> R,
    ) -> Result<R> {
        let mut guards = Vec::with_capacity(self.names.len());
        for name in &self.names {
            let var = params.vars.get(name).ok_or_else(|| {
                ModelError::NotFound(format!("parameter `{name}` not in the model"))
            })?;
            guards.push(var.as_tensor().storage_and_layout());
        }
        let mut slices = Vec::with_capacity(guards.len());
        for ((guard, layout), (name, &n)) in guards.iter().zip(self.names.iter().zip(&self.sizes)) {
            let Storage::Cpu(CpuStorage::F32(data)) = &**guard else {
                return Err(ModelError::NotFound(format!(
                    "parameter `{name}` is not an f32 tensor on the CPU"
                )));
            };
            let start = layout.start_offset();
            if !layout.is_contiguous() || data.len() < start + n {
                return Err(ModelError::NotFound(format!(
                    "parameter `{name}` is not a contiguous tensor of {n} elements"
                )));
            }
            slices.push(&data[start..start + n]);
        }
        Ok(f(&Weights(slices)))
    }
}

/// The parameters as f32 slices, read-locked for the length of a pass.
pub(super) struct Weights<'a>(Vec<&'a [f32]>);

impl std::ops::Index<usize> for Weights<'_> {
    type Output = [f32];
    fn index(&self, i: usize) -> &[f32] {
        self.0[i]
    }
}
