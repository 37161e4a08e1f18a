//! T5's forward pass on the CPU over a padded batch, keeping for each sublayer what the
//! backward pass (`backprop`) needs; inference (`generate`) runs the same encoder and drops
//! those as it goes.

use rayon::prelude::*;

use super::kernels;
use super::layout::{AttnSlots, FfSlots, Layout, StackSlots, Weights};
use super::matmul::{matmul, Out, Threads, View};
use super::ops::{head_view, linear, par_add_assign, regroup, rows_per_task, Normed};
use crate::model::config::T5Config;
use crate::model::t5_bias::{relative_position_bucket, MASKED};

/// Sizes of one micro-batch.
#[derive(Clone, Copy)]
pub(super) struct Dims {
    pub(super) b: usize,
    /// Source and target lengths after padding.
    pub(super) s: usize,
    pub(super) t: usize,
    pub(super) d: usize,
    pub(super) heads: usize,
    pub(super) dkv: usize,
    pub(super) inner: usize,
}

/// A padded batch of sources (and, for training, labels) and its forward pass.
pub(super) struct Batch {
    pub(super) cfg: T5Config,
    pub(super) dims: Dims,
    pub(super) src_ids: Vec<u32>,
    /// [b, s]: 0 for tokens, MASKED for padding.
    pub(super) src_mask: Vec<f32>,
    pub(super) dec_ids: Vec<u32>,
    /// (row of the decoder output, label) for every label token.
    pub(super) targets: Vec<(usize, u32)>,
}

/// What an attention sublayer keeps for its backward pass.
pub(super) struct AttnCache {
    pub(super) input: Normed,
    pub(super) q: Vec<f32>,
    pub(super) k: Vec<f32>,
    pub(super) v: Vec<f32>,
    /// [b, heads, rows, keys].
    pub(super) probs: Vec<f32>,
    /// [b·rows, inner].
    pub(super) ctx: Vec<f32>,
}

pub(super) struct FfCache {
    pub(super) input: Normed,
    /// wi_0's and wi_1's outputs in the gated form (empty for relu, whose backward pass reads
    /// its mask from `act`: relu(h) > 0 exactly where h > 0).
    pub(super) h0: Vec<f32>,
    pub(super) h1: Vec<f32>,
    /// The activation wo reads.
    pub(super) act: Vec<f32>,
}

pub(super) struct BlockCache {
    pub(super) self_attn: AttnCache,
    pub(super) cross: Option<AttnCache>,
    pub(super) ff: FfCache,
}

pub(super) struct StackOut {
    pub(super) blocks: Vec<BlockCache>,
    /// The position-bias bucket of every (query, key) pair.
    pub(super) buckets: Vec<u32>,
    /// The final norm; its output is the stack's.
    pub(super) last: Normed,
}

impl Batch {
    /// A batch of `sources` with, for training, their `labels` (empty for inference).
    pub(super) fn new(cfg: &T5Config, sources: &[&[u32]], labels: &[&[u32]]) -> Self {
        let pad = cfg.pad_token_id as u32;
        let start = cfg.decoder_start_token_id as u32;
        let b = sources.len();
        let s = sources.iter().map(|r| r.len()).max().unwrap_or(0);
        let t = labels.iter().map(|r| r.len()).max().unwrap_or(0);
        let mut src_ids = vec![pad; b * s];
        let mut src_mask = vec![MASKED; b * s];
        let mut dec_ids = vec![pad; b * t];
        let mut targets = Vec::new();
        for (i, src) in sources.iter().enumerate() {
            src_ids[i * s..i * s + src.len()].copy_from_slice(src);
            src_mask[i * s..i * s + src.len()].fill(0.0);
        }
        for (i, labels) in labels.iter().enumerate() {
            // The labels shifted right behind the start token.
            for (j, &l) in labels.iter().enumerate() {
                dec_ids[i * t + j] = if j == 0 { start } else { labels[j - 1] };
                targets.push((i * t + j, l));
            }
        }
        Batch {
            dims: Dims {
                b,
                s,
                t,
                d: cfg.d_model,
                heads: cfg.num_heads,
                dkv: cfg.d_kv,
                inner: cfg.inner_dim(),
            },
            cfg: cfg.clone(),
            src_ids,
            src_mask,
            dec_ids,
            targets,
        }
    }

    pub(super) fn eps(&self) -> f32 {
        self.cfg.layer_norm_epsilon as f32
    }

    pub(super) fn embed(&self, w: &[f32], ids: &[u32]) -> Vec<f32> {
        let d = self.dims.d;
        let mut x = vec![0f32; ids.len() * d];
        x.par_chunks_mut(d).zip(ids).for_each(|(row, &id)| {
            row.copy_from_slice(&w[id as usize * d..(id as usize + 1) * d]);
        });
        x
    }

    /// The position bias of a stack as [heads, q, k], with the causal mask folded in for the
    /// decoder, and the bucket of every (q, k) for the backward pass.
    pub(super) fn position_bias(
        &self,
        rel: &[f32],
        q_start: usize,
        q: usize,
        k: usize,
        decoder: bool,
    ) -> (Vec<f32>, Vec<u32>) {
        let h = self.dims.heads;
        let mut buckets = Vec::with_capacity(q * k);
        for i in q_start..q_start + q {
            for j in 0..k {
                buckets.push(relative_position_bucket(
                    j as i64 - i as i64,
                    !decoder,
                    self.cfg.relative_attention_num_buckets,
                    self.cfg.relative_attention_max_distance,
                ) as u32);
            }
        }
        let mut bias = vec![0f32; h * q * k];
        for head in 0..h {
            for i in 0..q {
                for j in 0..k {
                    bias[(head * q + i) * k + j] = if decoder && j > q_start + i {
                        MASKED
                    } else {
                        rel[buckets[i * k + j] as usize * h + head]
                    };
                }
            }
        }
        (bias, buckets)
    }

    /// softmax(q·kᵀ + bias + key mask)·v for every batch row and head. `q` is [b·rq, inner];
    /// `k` and `v` hold `kv_block` rows per batch row, of which the first `rk` are the keys
    /// (a decoding cache has room for more); `bias` is [heads, rq, rk] and `key_mask` is
    /// [b, kv_block]. Returns (probs [b, heads, rq, rk], ctx [b·rq, inner]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn attention(
        &self,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        (rq, rk): (usize, usize),
        kv_block: usize,
        bias: Option<&[f32]>,
        key_mask: Option<&[f32]>,
    ) -> (Vec<f32>, Vec<f32>) {
        let Dims {
            b,
            heads,
            dkv,
            inner,
            ..
        } = self.dims;
        let mut probs = vec![0f32; b * heads * rq * rk];
        let mut ctx_heads = vec![0f32; b * heads * rq * dkv];
        probs
            .par_chunks_mut(rq * rk)
            .zip(ctx_heads.par_chunks_mut(rq * dkv))
            .enumerate()
            .for_each(|(task, (p, c))| {
                let (bi, h) = (task / heads, task % heads);
                let qv = head_view(q, (b, rq), rq, inner, (bi, h), dkv);
                let kv = head_view(k, (b, kv_block), rk, inner, (bi, h), dkv);
                let vv = head_view(v, (b, kv_block), rk, inner, (bi, h), dkv);
                matmul(Out::new(p, rq, rk), qv, kv.t(), 1.0, false, Threads::One);
                for (i, row) in p.chunks_exact_mut(rk).enumerate() {
                    if let Some(bias) = bias {
                        let br = &bias[(h * rq + i) * rk..(h * rq + i + 1) * rk];
                        kernels::add_assign(row, br);
                    }
                    if let Some(mask) = key_mask {
                        kernels::add_assign(row, &mask[bi * kv_block..bi * kv_block + rk]);
                    }
                }
                kernels::softmax_rows(p, rk);
                matmul(
                    Out::new(c, rq, dkv),
                    View::new(p, rq, rk),
                    vv,
                    1.0,
                    false,
                    Threads::One,
                );
            });
        (probs, regroup(&ctx_heads, b, rq, heads, dkv, false))
    }

    /// An attention sublayer: norm, projections, attention, output projection added to `x`.
    /// `kv_from` is None for self-attention, else the encoder output.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn attn_forward(
        &self,
        w: &Weights,
        slots: &AttnSlots,
        ln: usize,
        x: &mut [f32],
        rows: (usize, usize),
        kv_from: Option<&[f32]>,
        bias: Option<&[f32]>,
        key_mask: Option<&[f32]>,
    ) -> AttnCache {
        let Dims { b, d, inner, .. } = self.dims;
        let input = Normed::new(x.to_vec(), &w[ln], self.eps(), d);
        let q = linear(&input.out, b * rows.0, &w[slots.q], inner);
        let src = kv_from.unwrap_or(&input.out);
        let k = linear(src, b * rows.1, &w[slots.k], inner);
        let v = linear(src, b * rows.1, &w[slots.v], inner);
        let (probs, ctx) = self.attention(&q, &k, &v, rows, rows.1, bias, key_mask);
        let out = linear(&ctx, b * rows.0, &w[slots.o], d);
        par_add_assign(x, &out);
        AttnCache {
            input,
            q,
            k,
            v,
            probs,
            ctx,
        }
    }

    pub(super) fn ff_forward(
        &self,
        w: &Weights,
        slots: &FfSlots,
        ln: usize,
        x: &mut [f32],
    ) -> FfCache {
        let (d, f) = (self.dims.d, self.cfg.d_ff);
        let rows = x.len() / d;
        let input = Normed::new(x.to_vec(), &w[ln], self.eps(), d);
        let xn = &input.out;
        let per = rows_per_task(rows, f) * f;
        let (h0, h1, act, wo) = match slots {
            FfSlots::Relu { wi, wo } => {
                let mut act = linear(xn, rows, &w[*wi], f);
                act.par_chunks_mut(per)
                    .for_each(|a| a.iter_mut().for_each(|v| *v = v.max(0.0)));
                (Vec::new(), Vec::new(), act, *wo)
            }
            FfSlots::Gated { wi0, wi1, wo } => {
                let h0 = linear(xn, rows, &w[*wi0], f);
                let h1 = linear(xn, rows, &w[*wi1], f);
                let mut act = vec![0f32; h0.len()];
                act.par_chunks_mut(per)
                    .zip(h0.par_chunks(per).zip(h1.par_chunks(per)))
                    .for_each(|(o, (a, b))| kernels::gated_gelu(a, b, o));
                (h0, h1, act, *wo)
            }
        };
        let out = linear(&act, rows, &w[wo], d);
        par_add_assign(x, &out);
        FfCache { input, h0, h1, act }
    }

    /// One stack's forward pass: the encoder over the sources when `enc` is None, else the
    /// decoder over the shifted labels, attending to the encoder output `enc`. `keep` keeps
    /// each block's cache for the backward pass (inference drops them block by block, so its
    /// memory stays at one block's).
    pub(super) fn stack(
        &self,
        layout: &Layout,
        w: &Weights,
        enc: Option<&StackOut>,
        keep: bool,
    ) -> StackOut {
        let Dims { s, d, .. } = self.dims;
        let (slots, ids, n) = self.stack_parts(layout, enc.is_some());
        // Encoder queries skip padded keys; decoder ones see every earlier label (the causal
        // mask is in the bias).
        let self_mask = enc.is_none().then_some(self.src_mask.as_slice());
        let (bias, buckets) = self.position_bias(&w[slots.rel_bias], 0, n, n, enc.is_some());
        let mut x = self.embed(&w[layout.shared], ids);
        let mut blocks = Vec::with_capacity(slots.blocks.len());
        for blk in &slots.blocks {
            let self_attn = self.attn_forward(
                w,
                &blk.self_attn,
                blk.self_ln,
                &mut x,
                (n, n),
                None,
                Some(&bias),
                self_mask,
            );
            let cross = enc.map(|enc| {
                let (cross_slots, cross_ln) =
                    blk.cross.as_ref().expect("decoder blocks have cross");
                self.attn_forward(
                    w,
                    cross_slots,
                    *cross_ln,
                    &mut x,
                    (n, s),
                    Some(&enc.last.out),
                    None,
                    Some(&self.src_mask),
                )
            });
            let ff = self.ff_forward(w, &blk.ff, blk.ff_ln, &mut x);
            if keep {
                blocks.push(BlockCache {
                    self_attn,
                    cross,
                    ff,
                });
            }
        }
        StackOut {
            blocks,
            buckets,
            last: Normed::new(x, &w[slots.final_ln], self.eps(), d),
        }
    }

    /// The encoder's or the decoder's slots, input ids and length.
    pub(super) fn stack_parts<'a>(
        &'a self,
        layout: &'a Layout,
        decoder: bool,
    ) -> (&'a StackSlots, &'a [u32], usize) {
        if decoder {
            (&layout.decoder, &self.dec_ids, self.dims.t)
        } else {
            (&layout.encoder, &self.src_ids, self.dims.s)
        }
    }
}
