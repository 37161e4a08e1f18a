//! Generating answers for many prompts: official source truncation, length-bucketed batches,
//! batched greedy decoding, decoding back to text.

use candle_core::Tensor;

use super::cpu::{self, Layout};
use super::error::Result;
use super::params::Params;
use super::t5::T5;
use super::tokenize::TextTokenizer;

/// How a T5 decodes greedily: the hand-written CPU passes where they apply (f32 weights on
/// the CPU; several times faster than candle's graph there), else candle's graph (CUDA, bf16).
/// Chosen here, once per model, so that `T5` stays the plain graph the passes are tested
/// against.
pub struct Decoding<'a> {
    model: &'a T5,
    cpu: Option<(Layout, &'a Params)>,
}

impl<'a> Decoding<'a> {
    /// `model`, built from `params`.
    pub fn of(model: &'a T5, params: &'a Params) -> Decoding<'a> {
        Decoding {
            model,
            cpu: Layout::applies(params).then(|| (Layout::new(&model.cfg), params)),
        }
    }

    /// Greedy answers to `rows` (token ids without padding), at most `max_new_tokens` each,
    /// EOS included when reached; with `stop_at_eos` false, exactly `max_new_tokens`.
    pub fn generate(
        &self,
        rows: &[&[u32]],
        max_new_tokens: usize,
        stop_at_eos: bool,
    ) -> Result<Vec<Vec<u32>>> {
        match &self.cpu {
            Some((layout, params)) => cpu::generate::generate(
                &self.model.cfg,
                layout,
                params,
                rows,
                max_new_tokens,
                stop_at_eos,
            ),
            None => {
                let pad = self.model.cfg.pad_token_id as u32;
                let (ids, mask) = pad_batch(rows, pad, &self.model.device)?;
                self.model
                    .generate_with(&ids, &mask, max_new_tokens, stop_at_eos)
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct PredictOptions {
    pub batch_size: usize,
    /// SPEC §5.2: 50.
    pub max_new_tokens: usize,
    /// SPEC §2.2: 512.
    pub max_source_length: usize,
    /// Decoder-only models: end an answer at its first newline (the official code stops at
    /// eos only).
    pub stop_at_newline: bool,
    /// Decoder-only models: keep every answer inside its instance's answer grammar (labels
    /// from the options, spans from the sentence); the callers pass the grammars.
    pub constrain: bool,
    /// Decoder-only models: the weights decoding steps multiply by.
    pub decode_weights: DecodeWeights,
}

/// The weights a decoder-only model's decoding steps multiply by. Prefill and training always
/// use f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecodeWeights {
    /// The model's own: greedy answers equal transformers'.
    #[default]
    F32,
    /// Int8 blocks of 32 weights with an f32 scale each (llama.cpp's Q8_0 layout): 3.6× fewer
    /// bytes per step; answers can differ from f32's where two tokens score alike.
    Q8,
}

impl crate::ie::Named for DecodeWeights {
    const ALL: &'static [Self] = &[DecodeWeights::F32, DecodeWeights::Q8];
    fn name(self) -> &'static str {
        match self {
            DecodeWeights::F32 => "f32",
            DecodeWeights::Q8 => "q8",
        }
    }
}

impl Default for PredictOptions {
    fn default() -> Self {
        PredictOptions {
            batch_size: 16,
            max_new_tokens: 50,
            max_source_length: 512,
            stop_at_newline: false,
            constrain: false,
            decode_weights: DecodeWeights::F32,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub text: String,
    pub ids: Vec<u32>,
    /// The source was cut to `max_source_length`.
    pub source_truncated: bool,
    /// Generation stopped at `max_new_tokens` without EOS.
    pub hit_limit: bool,
}

/// Pads rows to one length: ids and a 0/1 mask, both [rows, len] u32.
pub fn pad_batch(
    rows: &[&[u32]],
    pad: u32,
    device: &candle_core::Device,
) -> Result<(Tensor, Tensor)> {
    let len = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(rows.len() * len);
    let mut mask = Vec::with_capacity(rows.len() * len);
    for r in rows {
        ids.extend_from_slice(r);
        ids.extend(std::iter::repeat_n(pad, len - r.len()));
        mask.extend(std::iter::repeat_n(1u32, r.len()));
        mask.extend(std::iter::repeat_n(0u32, len - r.len()));
    }
    Ok((
        Tensor::from_vec(ids, (rows.len(), len), device)?,
        Tensor::from_vec(mask, (rows.len(), len), device)?,
    ))
}

/// Answers for `sources`, in their order. `progress` is told how many are done.
pub fn predict(
    model: &Decoding,
    tok: &TextTokenizer,
    sources: &[String],
    opts: &PredictOptions,
    progress: impl FnMut(usize),
) -> Result<Vec<Generation>> {
    let encoded: Vec<(Vec<u32>, bool)> = sources
        .iter()
        .map(|s| tok.encode_truncated(s, opts.max_source_length))
        .collect::<Result<_>>()?;
    let eos = model.model.cfg.eos_token_id as u32;
    in_length_order(&encoded, opts.batch_size, progress, |_, rows| {
        model
            .generate(rows, opts.max_new_tokens, true)?
            .into_iter()
            .map(|g| {
                Ok(Generation {
                    text: tok.decode(&g)?,
                    hit_limit: g.last() != Some(&eos),
                    ids: g,
                    source_truncated: false,
                })
            })
            .collect()
    })
}

/// Runs `generate` on batches of at most `batch_size` of the `encoded` sources (ids, whether
/// cut; `generate` gets their indices and ids), longest first so that similar lengths share a batch, and returns the answers in the
/// sources' order with `source_truncated` filled in. `progress` is told how many are done.
pub fn in_length_order(
    encoded: &[(Vec<u32>, bool)],
    batch_size: usize,
    mut progress: impl FnMut(usize),
    mut generate: impl FnMut(&[usize], &[&[u32]]) -> Result<Vec<Generation>>,
) -> Result<Vec<Generation>> {
    let mut order: Vec<usize> = (0..encoded.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(encoded[i].0.len()));
    let mut out: Vec<Option<Generation>> = vec![None; encoded.len()];
    let mut done = 0;
    for chunk in order.chunks(batch_size.max(1)) {
        let rows: Vec<&[u32]> = chunk.iter().map(|&i| encoded[i].0.as_slice()).collect();
        for (&i, mut g) in chunk.iter().zip(generate(chunk, &rows)?) {
            g.source_truncated = encoded[i].1;
            out[i] = Some(g);
        }
        done += chunk.len();
        progress(done);
    }
    Ok(out
        .into_iter()
        .map(|g| g.expect("every source is predicted"))
        .collect())
}
