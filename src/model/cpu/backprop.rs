//! T5 training on the CPU in f32: a forward pass that keeps what the backward pass needs, and
//! the backward pass written out layer by layer, with every gradient added straight into its
//! buffer by the matrix product that makes it.
//!
//! candle's autograd computes the same thing (the parity tests hold both to transformers'
//! gradients), but it builds a graph node per elementary op, and in the backward pass each
//! node allocates a zeroed gradient, adds into it and runs its elementwise work single-threaded
//! in SSE2 code. That overhead was as large as the matrix products themselves. Here the
//! products go to `gemm` (about 200 GFLOP/s on two cores) and the rest is a handful of fused,
//! vectorised row passes. The semantics are those of `t5.rs` and `train::batch_loss`: padding
//! masks on source keys, a causal decoder without a padding mask, the position bias of each
//! stack's first layer shared by all its layers, mean cross-entropy over the label tokens.

use rayon::prelude::*;

use super::kernels;
use super::layout::{AttnSlots, FfSlots, Layout, Weights};
use super::matmul::{matmul, Out, Threads, View};
use super::ops::{head_view, linear, linear_backward, par_add_assign, regroup, rows_per_task};
use super::stack::{AttnCache, Batch, Dims, FfCache, StackOut};
use crate::model::config::T5Config;
use crate::model::error::Result;
use crate::model::params::Params;
use crate::model::train::Example;

/// The gradient buffers of a model, and the pass that fills them.
pub struct Backprop {
    cfg: T5Config,
    layout: Layout,
    /// One buffer per parameter, in `layout.names` order; gradients add into them until `zero`.
    grads: Vec<Vec<f32>>,
}

impl Backprop {
    pub fn new(cfg: &T5Config) -> Backprop {
        let layout = Layout::new(cfg);
        Backprop {
            cfg: cfg.clone(),
            grads: layout.sizes.iter().map(|&n| vec![0.0; n]).collect(),
            layout,
        }
    }

    /// Sets every gradient to zero (at the start of an optimizer step).
    pub fn zero(&mut self) {
        self.grads
            .par_iter_mut()
            .for_each(|g| g.iter_mut().for_each(|v| *v = 0.0));
    }

    /// The gradients by parameter name.
    pub fn grads(&self) -> impl Iterator<Item = (&str, &[f32])> {
        self.layout
            .names
            .iter()
            .map(String::as_str)
            .zip(self.grads.iter().map(Vec::as_slice))
    }

    /// Adds the gradient of `scale` times the batch's mean cross-entropy into the gradient
    /// buffers, and tells the (unscaled) loss.
    pub fn accumulate(
        &mut self,
        params: &Params,
        batch: &[&Example],
        scale: f32,
    ) -> Result<PassReport> {
        let started = std::time::Instant::now();
        let sources: Vec<&[u32]> = batch.iter().map(|e| e.source.as_slice()).collect();
        let labels: Vec<&[u32]> = batch.iter().map(|e| e.labels.as_slice()).collect();
        let pass = Batch::new(&self.cfg, &sources, &labels);
        let (layout, g) = (&self.layout, &mut self.grads);
        layout.with_weights(params, |w| {
            let enc_out = pass.stack(layout, w, None, true);
            let dec_out = pass.stack(layout, w, Some(&enc_out), true);
            let forward = std::time::Instant::now();
            let (loss, d_dec_out) = pass.head(layout, g, w, &dec_out.last.out, scale);
            let mut d_enc = vec![0f32; enc_out.last.out.len()];
            let enc = Some((enc_out.last.out.as_slice(), d_enc.as_mut_slice()));
            pass.stack_backward(layout, g, w, dec_out, d_dec_out, enc);
            pass.stack_backward(layout, g, w, enc_out, d_enc, None);
            PassReport {
                loss,
                forward_s: (forward - started).as_secs_f64(),
                backward_s: forward.elapsed().as_secs_f64(),
            }
        })
    }
}

/// What one forward and backward pass did; the loss head counts as backward, since its
/// forward and backward are one fused pass.
pub struct PassReport {
    pub loss: f32,
    pub forward_s: f64,
    pub backward_s: f64,
}

impl Batch {
    /// The backward pass of `attention`: returns (dq, dk, dv) in the row layout of q, k, v, and
    /// leaves the score gradients in `probs` (for the position bias).
    pub(super) fn attention_backward(
        &self,
        cache_q: &[f32],
        k: &[f32],
        v: &[f32],
        probs: &mut [f32],
        dctx: &[f32],
        (rq, rk): (usize, usize),
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let Dims {
            b,
            heads,
            dkv,
            inner,
            ..
        } = self.dims;
        let dctx_heads = regroup(dctx, b, rq, heads, dkv, true);
        let mut dq = vec![0f32; b * heads * rq * dkv];
        let mut dk = vec![0f32; b * heads * rk * dkv];
        let mut dv = vec![0f32; b * heads * rk * dkv];
        probs
            .par_chunks_mut(rq * rk)
            .zip(dq.par_chunks_mut(rq * dkv))
            .zip(dk.par_chunks_mut(rk * dkv).zip(dv.par_chunks_mut(rk * dkv)))
            .enumerate()
            .for_each(|(task, ((p, dq), (dk, dv)))| {
                let (bi, h) = (task / heads, task % heads);
                let (qv, kv, vv) = (
                    head_view(cache_q, (b, rq), rq, inner, (bi, h), dkv),
                    head_view(k, (b, rk), rk, inner, (bi, h), dkv),
                    head_view(v, (b, rk), rk, inner, (bi, h), dkv),
                );
                let dc = View::new(&dctx_heads[task * rq * dkv..(task + 1) * rq * dkv], rq, dkv);
                // dv = pᵀ·dctx; dp = dctx·vᵀ; ds = p⊙(dp − Σ dp⊙p).
                matmul(
                    Out::new(dv, rk, dkv),
                    View::new(p, rq, rk).t(),
                    dc,
                    1.0,
                    false,
                    Threads::One,
                );
                let mut ds = vec![0f32; rq * rk];
                matmul(
                    Out::new(&mut ds, rq, rk),
                    dc,
                    vv.t(),
                    1.0,
                    false,
                    Threads::One,
                );
                kernels::softmax_backward_rows(p, &mut ds, rk);
                // dq = ds·k; dk = dsᵀ·q.
                let dsv = View::new(&ds, rq, rk);
                matmul(Out::new(dq, rq, dkv), dsv, kv, 1.0, false, Threads::One);
                matmul(Out::new(dk, rk, dkv), dsv.t(), qv, 1.0, false, Threads::One);
                p.copy_from_slice(&ds);
            });
        (
            regroup(&dq, b, rq, heads, dkv, false),
            regroup(&dk, b, rk, heads, dkv, false),
            regroup(&dv, b, rk, heads, dkv, false),
        )
    }

    /// The backward pass of `attn_forward`: `dx` holds the gradient of the sublayer's output
    /// and receives its input's. Returns the score gradients [b, heads, rq, rk] (for the
    /// position bias), and adds the gradient of `kv_from` into `d_kv_from` for cross-attention.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn attn_backward(
        &self,
        w: &Weights,
        g: &mut [Vec<f32>],
        slots: &AttnSlots,
        ln: usize,
        mut c: AttnCache,
        dx: &mut [f32],
        rows: (usize, usize),
        kv_from: Option<(&[f32], &mut [f32])>,
    ) -> Vec<f32> {
        let Dims { b, d, inner, .. } = self.dims;
        let (nq, nk) = (b * rows.0, b * rows.1);
        let mut dctx = vec![0f32; nq * inner];
        linear_backward(
            dx,
            &c.ctx,
            nq,
            &w[slots.o],
            &mut g[slots.o],
            &mut dctx,
            false,
        );
        let (dq, dk, dv) = self.attention_backward(&c.q, &c.k, &c.v, &mut c.probs, &dctx, rows);
        let mut dxn = vec![0f32; nq * d];
        let xn = &c.input.out;
        linear_backward(&dq, xn, nq, &w[slots.q], &mut g[slots.q], &mut dxn, false);
        match kv_from {
            None => {
                linear_backward(&dk, xn, nk, &w[slots.k], &mut g[slots.k], &mut dxn, true);
                linear_backward(&dv, xn, nk, &w[slots.v], &mut g[slots.v], &mut dxn, true);
            }
            Some((src, d_src)) => {
                linear_backward(&dk, src, nk, &w[slots.k], &mut g[slots.k], d_src, true);
                linear_backward(&dv, src, nk, &w[slots.v], &mut g[slots.v], d_src, true);
            }
        }
        c.input.backward(&w[ln], &dxn, Some(&mut g[ln]), dx, true);
        c.probs
    }

    pub(super) fn ff_backward(
        &self,
        w: &Weights,
        g: &mut [Vec<f32>],
        slots: &FfSlots,
        ln: usize,
        c: FfCache,
        dx: &mut [f32],
    ) {
        let (d, f) = (self.dims.d, self.cfg.d_ff);
        let rows = dx.len() / d;
        let per = rows_per_task(rows, f) * f;
        let mut dact = vec![0f32; rows * f];
        let mut dxn = vec![0f32; rows * d];
        match slots {
            FfSlots::Relu { wi, wo } => {
                linear_backward(dx, &c.act, rows, &w[*wo], &mut g[*wo], &mut dact, false);
                dact.par_chunks_mut(per)
                    .zip(c.act.par_chunks(per))
                    .for_each(|(g, a)| {
                        g.iter_mut()
                            .zip(a)
                            .for_each(|(g, a)| *g = if *a > 0.0 { *g } else { 0.0 });
                    });
                linear_backward(
                    &dact,
                    &c.input.out,
                    rows,
                    &w[*wi],
                    &mut g[*wi],
                    &mut dxn,
                    false,
                );
            }
            FfSlots::Gated { wi0, wi1, wo } => {
                linear_backward(dx, &c.act, rows, &w[*wo], &mut g[*wo], &mut dact, false);
                let mut dh0 = vec![0f32; rows * f];
                let mut dh1 = vec![0f32; rows * f];
                dh0.par_chunks_mut(per)
                    .zip(dh1.par_chunks_mut(per))
                    .zip(c.h0.par_chunks(per).zip(c.h1.par_chunks(per)))
                    .zip(dact.par_chunks(per))
                    .for_each(|(((da, db), (a, b)), g)| {
                        kernels::gated_gelu_backward(a, b, g, da, db);
                    });
                let xn = &c.input.out;
                linear_backward(&dh0, xn, rows, &w[*wi0], &mut g[*wi0], &mut dxn, false);
                linear_backward(&dh1, xn, rows, &w[*wi1], &mut g[*wi1], &mut dxn, true);
            }
        }
        c.input.backward(&w[ln], &dxn, Some(&mut g[ln]), dx, true);
    }

    /// The LM head and mean cross-entropy over the label tokens: returns the loss and the
    /// gradient of `scale`·loss with respect to the decoder output, and adds the head's own
    /// gradient (the shared embedding's, for a tied head).
    pub(super) fn head(
        &self,
        layout: &Layout,
        g: &mut [Vec<f32>],
        w: &Weights,
        hidden: &[f32],
        scale: f32,
    ) -> (f32, Vec<f32>) {
        let d = self.dims.d;
        let n = self.targets.len();
        let (hw, factor) = layout.head(d);
        let vocab = w[hw].len() / d;
        let mut hsel = vec![0f32; n * d];
        for (row, &(src, _)) in hsel.chunks_exact_mut(d).zip(&self.targets) {
            row.iter_mut()
                .zip(&hidden[src * d..(src + 1) * d])
                .for_each(|(o, h)| *o = h * factor);
        }
        let mut logits = linear(&hsel, n, &w[hw], vocab);
        // Row by row: loss = logsumexp − logit[target]; the logits become the gradient
        // (softmax − one-hot)·scale/n.
        let per_token = scale / n as f32;
        let losses: Vec<f64> = logits
            .par_chunks_mut(vocab)
            .zip(self.targets.par_iter())
            .map(|(row, &(_, target))| kernels::cross_entropy_row(row, target as usize, per_token))
            .collect();
        let loss = (losses.iter().sum::<f64>() / n as f64) as f32;
        let mut dsel = vec![0f32; n * d];
        linear_backward(&logits, &hsel, n, &w[hw], &mut g[hw], &mut dsel, false);
        let mut dhidden = vec![0f32; hidden.len()];
        for (row, &(dst, _)) in dsel.chunks_exact(d).zip(&self.targets) {
            dhidden[dst * d..(dst + 1) * d]
                .iter_mut()
                .zip(row)
                .for_each(|(o, g)| *o += g * factor);
        }
        (loss, dhidden)
    }

    /// Scatters score gradients [b, heads, q, k], summed over layers, into the gradient of
    /// the relative attention bias table [buckets, heads]. Causally masked scores have a zero
    /// gradient (their probability is exactly 0), as in the autograd path.
    pub(super) fn bias_backward(&self, dscores: &[f32], buckets: &[u32], g: &mut [f32]) {
        let Dims { b, heads, .. } = self.dims;
        let per_head = buckets.len();
        for bi in 0..b {
            for h in 0..heads {
                let base = (bi * heads + h) * per_head;
                for (&bucket, ds) in buckets.iter().zip(&dscores[base..base + per_head]) {
                    g[bucket as usize * heads + h] += ds;
                }
            }
        }
    }

    /// The backward pass of `stack`: `d_out` is the gradient of the stack's output. For the
    /// decoder, `enc` holds the encoder output and receives its gradient.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn stack_backward(
        &self,
        layout: &Layout,
        g: &mut [Vec<f32>],
        w: &Weights,
        out: StackOut,
        d_out: Vec<f32>,
        mut enc: Option<(&[f32], &mut [f32])>,
    ) {
        let Dims { b, heads, s, .. } = self.dims;
        let (slots, ids, n) = self.stack_parts(layout, enc.is_some());
        let mut dx = vec![0f32; d_out.len()];
        let fl = slots.final_ln;
        out.last
            .backward(&w[fl], &d_out, Some(&mut g[fl]), &mut dx, false);
        let mut d_scores_sum = vec![0f32; b * heads * n * n];
        for (blk, cache) in slots.blocks.iter().zip(out.blocks).rev() {
            self.ff_backward(w, g, &blk.ff, blk.ff_ln, cache.ff, &mut dx);
            if let Some((enc_hidden, d_enc)) = enc.as_mut() {
                let (cross_slots, cross_ln) =
                    blk.cross.as_ref().expect("decoder blocks have cross");
                self.attn_backward(
                    w,
                    g,
                    cross_slots,
                    *cross_ln,
                    cache.cross.expect("decoder caches hold cross-attention"),
                    &mut dx,
                    (n, s),
                    Some((enc_hidden, d_enc)),
                );
            }
            let ds = self.attn_backward(
                w,
                g,
                &blk.self_attn,
                blk.self_ln,
                cache.self_attn,
                &mut dx,
                (n, n),
                None,
            );
            par_add_assign(&mut d_scores_sum, &ds);
        }
        self.bias_backward(&d_scores_sum, &out.buckets, &mut g[slots.rel_bias]);
        self.embed_backward(&dx, ids, &mut g[layout.shared]);
    }

    pub(super) fn embed_backward(&self, dx: &[f32], ids: &[u32], g: &mut [f32]) {
        let d = self.dims.d;
        for (row, &id) in dx.chunks_exact(d).zip(ids) {
            kernels::add_assign(&mut g[id as usize * d..(id as usize + 1) * d], row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::params::SplitMix;
    use crate::model::t5::T5;
    use crate::model::train::batch_loss;
    use candle_core::Device;

    fn config(gated: bool) -> T5Config {
        let mut cfg = T5Config::shape("tiny", 300).unwrap();
        cfg.d_ff = 96;
        cfg.num_decoder_layers = Some(3);
        if !gated {
            cfg.feed_forward_proj = "relu".into();
            cfg.tie_word_embeddings = true;
        }
        cfg
    }

    /// Every gradient element of the hand-written pass against candle's autograd on the same
    /// model (transformers' initialisation) and a padded batch of uneven lengths, for the
    /// v1.0 form (relu, tied head) and the Flan form (gated-gelu, untied head). The sources
    /// reach past the 32 exact buckets, and one is long enough for rows to run on threads.
    #[test]
    fn hand_written_gradients_equal_autograd() {
        for gated in [false, true] {
            let cfg = config(gated);
            let params = Params::random(&cfg, 5, &Device::Cpu).unwrap();
            let model = T5::new(&cfg, &params).unwrap();
            let mut rng = SplitMix(11);
            let mut ids = |n: usize| -> Vec<u32> {
                let mut v: Vec<u32> = (1..n).map(|_| 2 + (rng.next_u64() % 298) as u32).collect();
                v.push(1);
                v
            };
            let examples: Vec<Example> = [(70, 9), (5, 2), (600, 13), (33, 1)]
                .iter()
                .map(|&(s, t)| Example {
                    source: ids(s),
                    labels: ids(t),
                })
                .collect();
            let batch: Vec<&Example> = examples.iter().collect();
            let loss = batch_loss(&model, &batch).unwrap();
            let want = loss.to_scalar::<f32>().unwrap();
            let reference = (loss * 0.5).unwrap().backward().unwrap();
            let mut bp = Backprop::new(&cfg);
            let pass = bp.accumulate(&params, &batch, 0.5).unwrap();
            assert!(
                (pass.loss - want).abs() < 1e-5 * want,
                "gated {gated}: loss {} vs {want}",
                pass.loss
            );
            let mut worst = 0f32;
            for (name, got) in bp.grads() {
                let r = reference.get(params.vars[name].as_tensor()).unwrap();
                let r: Vec<f32> = r.flatten_all().unwrap().to_vec1().unwrap();
                let scale = r.iter().fold(0f32, |m, x| m.max(x.abs()));
                let diff = got
                    .iter()
                    .zip(&r)
                    .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                assert!(scale > 0.0, "gated {gated}: {name} has no gradient");
                assert!(
                    diff <= 2e-5 * scale,
                    "gated {gated}: gradient of {name} differs by {diff} (max {scale})"
                );
                worst = worst.max(diff / scale);
            }
            eprintln!("gated {gated}: gradients agree to {worst:e} (relative to each max)");
        }
    }
}
