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

use candle_core::{CpuStorage, Storage};
use rayon::prelude::*;
use std::collections::HashMap;

use super::kernels;
use super::matmul::{matmul, Out, Threads, View};
use crate::model::config::T5Config;
use crate::model::error::{ModelError, Result};
use crate::model::params::{expected_params, Params};
use crate::model::t5::relative_position_bucket;
use crate::model::train::Example;

/// Added to the scores of masked keys, as in `t5.rs`.
const MASKED: f32 = -1e9;

/// Below this many elements an elementwise pass stays on the calling thread.
const PARALLEL_MIN: usize = 1 << 15;

struct AttnSlots {
    q: usize,
    k: usize,
    v: usize,
    o: usize,
}

enum FfSlots {
    Relu { wi: usize, wo: usize },
    Gated { wi0: usize, wi1: usize, wo: usize },
}

struct BlockSlots {
    self_attn: AttnSlots,
    self_ln: usize,
    cross: Option<(AttnSlots, usize)>,
    ff: FfSlots,
    ff_ln: usize,
}

struct StackSlots {
    blocks: Vec<BlockSlots>,
    final_ln: usize,
    rel_bias: usize,
}

/// Where each parameter sits in the gradient buffers, and the buffers.
pub struct Backprop {
    cfg: T5Config,
    names: Vec<String>,
    sizes: Vec<usize>,
    shared: usize,
    head: Option<usize>,
    encoder: StackSlots,
    decoder: StackSlots,
    /// One buffer per parameter, in `names` order; gradients add into them until `zero`.
    grads: Vec<Vec<f32>>,
}

/// The parameters as f32 slices, read-locked for the length of a pass.
struct Weights<'a>(Vec<&'a [f32]>);

impl std::ops::Index<usize> for Weights<'_> {
    type Output = [f32];
    fn index(&self, i: usize) -> &[f32] {
        self.0[i]
    }
}

impl Backprop {
    /// Whether this path can train `params`: f32 tensors on the CPU.
    pub fn applies(params: &Params) -> bool {
        params.vars.values().all(|v| {
            let t = v.as_tensor();
            t.device().is_cpu() && t.dtype() == candle_core::DType::F32
        })
    }

    pub fn new(cfg: &T5Config) -> Backprop {
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
        Backprop {
            cfg: cfg.clone(),
            shared: s("shared.weight".into()),
            head: (!cfg.tie_word_embeddings).then(|| s("lm_head.weight".into())),
            encoder: stack("encoder", cfg.num_layers, false),
            decoder: stack("decoder", cfg.decoder_layers(), true),
            grads: sizes.iter().map(|&n| vec![0.0; n]).collect(),
            names,
            sizes,
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
        self.names
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
        let w = Weights(slices);
        let pass = Pass::new(&self.cfg, batch);
        let enc_out = pass.encode(self, &w);
        let dec_out = pass.decode(self, &w, &enc_out);
        let forward = std::time::Instant::now();
        let (loss, d_dec_out) = pass.head(self, &w, &dec_out.last.out, scale);
        let d_enc = pass.decode_backward(self, &w, dec_out, &enc_out.last.out, d_dec_out);
        pass.encode_backward(self, &w, enc_out, d_enc);
        Ok(PassReport {
            loss,
            forward_s: (forward - started).as_secs_f64(),
            backward_s: forward.elapsed().as_secs_f64(),
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

/// Sizes of one micro-batch.
#[derive(Clone, Copy)]
struct Dims {
    b: usize,
    /// Source and target lengths after padding.
    s: usize,
    t: usize,
    d: usize,
    heads: usize,
    dkv: usize,
    inner: usize,
}

/// One forward and backward pass over a micro-batch.
struct Pass {
    cfg: T5Config,
    dims: Dims,
    src_ids: Vec<u32>,
    /// [b, s]: 0 for tokens, MASKED for padding.
    src_mask: Vec<f32>,
    dec_ids: Vec<u32>,
    /// (row of the decoder output, label) for every label token.
    targets: Vec<(usize, u32)>,
}

/// What an attention sublayer keeps for its backward pass.
struct AttnCache {
    input: Normed,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    /// [b, heads, rows, keys].
    probs: Vec<f32>,
    /// [b·rows, inner].
    ctx: Vec<f32>,
}

struct FfCache {
    input: Normed,
    /// wi (or wi_0) output before the activation, and wi_1's output for the gated form.
    h0: Vec<f32>,
    h1: Vec<f32>,
    /// The activation wo reads.
    act: Vec<f32>,
}

struct BlockCache {
    self_attn: AttnCache,
    cross: Option<AttnCache>,
    ff: FfCache,
}

struct StackOut {
    blocks: Vec<BlockCache>,
    /// The position-bias bucket of every (query, key) pair.
    buckets: Vec<u32>,
    /// The final norm; its output is the stack's.
    last: Normed,
}

fn linear(x: &[f32], rows: usize, w: &[f32], out_dim: usize) -> Vec<f32> {
    let in_dim = w.len() / out_dim;
    let mut y = vec![0f32; rows * out_dim];
    matmul(
        Out::new(&mut y, rows, out_dim),
        View::new(x, rows, in_dim),
        View::new(w, out_dim, in_dim).t(),
        1.0,
        false,
        Threads::All,
    );
    y
}

/// The backward pass of `y = x·wᵀ`: dw += dyᵀ·x, and dx = dy·w (or dx += with `accumulate`).
fn linear_backward(
    dy: &[f32],
    x: &[f32],
    rows: usize,
    w: &[f32],
    dw: &mut [f32],
    dx: &mut [f32],
    accumulate: bool,
) {
    let out_dim = dy.len() / rows.max(1);
    let in_dim = w.len() / out_dim.max(1);
    matmul(
        Out::new(dw, out_dim, in_dim),
        View::new(dy, rows, out_dim).t(),
        View::new(x, rows, in_dim),
        1.0,
        true,
        Threads::All,
    );
    matmul(
        Out::new(dx, rows, in_dim),
        View::new(dy, rows, out_dim),
        View::new(w, out_dim, in_dim),
        1.0,
        accumulate,
        Threads::All,
    );
}

/// Rows per parallel task for an elementwise pass over `rows` of `cols`.
fn rows_per_task(rows: usize, cols: usize) -> usize {
    if rows * cols < PARALLEL_MIN {
        return rows.max(1);
    }
    rows.div_ceil(rayon::current_num_threads() * 4).max(1)
}

/// An RMS-normalised sublayer input: the residual stream, its normalised form (times the
/// norm's weight) and 1/rms per row.
struct Normed {
    x: Vec<f32>,
    out: Vec<f32>,
    inv_rms: Vec<f32>,
}

impl Normed {
    fn new(x: Vec<f32>, w: &[f32], eps: f32, d: usize) -> Normed {
        let rows = x.len() / d;
        let mut out = vec![0f32; x.len()];
        let mut inv_rms = vec![0f32; rows];
        let per = rows_per_task(rows, d);
        out.par_chunks_mut(per * d)
            .zip(inv_rms.par_chunks_mut(per))
            .zip(x.par_chunks(per * d))
            .for_each(|((o, r), x)| kernels::rms_norm_rows(x, Some(w), eps, d, o, r));
        Normed { x, out, inv_rms }
    }

    /// dw += Σ dy⊙x·r, and dx (+)= the input gradient.
    fn backward(&self, w: &[f32], dy: &[f32], dw: &mut [f32], dx: &mut [f32], accumulate: bool) {
        let d = w.len();
        kernels::rms_norm_weight_grad(&self.x, &self.inv_rms, dy, d, dw);
        let rows = self.x.len() / d;
        let per = rows_per_task(rows, d);
        dx.par_chunks_mut(per * d)
            .zip(self.x.par_chunks(per * d))
            .zip(dy.par_chunks(per * d).zip(self.inv_rms.par_chunks(per)))
            .for_each(|((dx, x), (dy, r))| {
                kernels::rms_norm_backward_rows(x, Some(w), r, dy, d, dx, accumulate)
            });
    }
}

fn par_add_assign(y: &mut [f32], x: &[f32]) {
    let per = rows_per_task(y.len(), 1);
    y.par_chunks_mut(per)
        .zip(x.par_chunks(per))
        .for_each(|(y, x)| kernels::add_assign(y, x));
}

/// Head `h` of batch row `bi` in a [b·rows, inner] matrix: a [rows, dkv] view.
fn head_view(
    m: &[f32],
    b: usize,
    rows: usize,
    inner: usize,
    bi: usize,
    h: usize,
    dkv: usize,
) -> View<'_> {
    View::new(m, b * rows, inner)
        .rows(bi * rows, rows)
        .columns(h * dkv, dkv)
}

/// Rows of [b·rows, heads·dkv] regrouped as [b, heads, rows, dkv], or back with `to_heads`
/// false.
fn regroup(x: &[f32], b: usize, rows: usize, heads: usize, dkv: usize, to_heads: bool) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    let inner = heads * dkv;
    out.par_chunks_mut(rows * inner)
        .zip(x.par_chunks(rows * inner))
        .take(b)
        .for_each(|(o, x)| {
            for h in 0..heads {
                for r in 0..rows {
                    let (rowwise, headwise) = (r * inner + h * dkv, (h * rows + r) * dkv);
                    let (src, dst) = if to_heads {
                        (rowwise, headwise)
                    } else {
                        (headwise, rowwise)
                    };
                    o[dst..dst + dkv].copy_from_slice(&x[src..src + dkv]);
                }
            }
        });
    out
}

impl Pass {
    fn new(cfg: &T5Config, batch: &[&Example]) -> Self {
        let pad = cfg.pad_token_id as u32;
        let start = cfg.decoder_start_token_id as u32;
        let b = batch.len();
        let s = batch.iter().map(|e| e.source.len()).max().unwrap_or(0);
        let t = batch.iter().map(|e| e.labels.len()).max().unwrap_or(0);
        let mut src_ids = vec![pad; b * s];
        let mut src_mask = vec![MASKED; b * s];
        let mut dec_ids = vec![pad; b * t];
        let mut targets = Vec::new();
        for (i, e) in batch.iter().enumerate() {
            src_ids[i * s..i * s + e.source.len()].copy_from_slice(&e.source);
            src_mask[i * s..i * s + e.source.len()].fill(0.0);
            // The labels shifted right behind the start token.
            for (j, &l) in e.labels.iter().enumerate() {
                dec_ids[i * t + j] = if j == 0 { start } else { e.labels[j - 1] };
                targets.push((i * t + j, l));
            }
        }
        Pass {
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

    fn eps(&self) -> f32 {
        self.cfg.layer_norm_epsilon as f32
    }

    fn embed(&self, w: &[f32], ids: &[u32]) -> Vec<f32> {
        let d = self.dims.d;
        let mut x = vec![0f32; ids.len() * d];
        x.par_chunks_mut(d).zip(ids).for_each(|(row, &id)| {
            row.copy_from_slice(&w[id as usize * d..(id as usize + 1) * d]);
        });
        x
    }

    /// The position bias of a stack as [heads, q, k], with the causal mask folded in for the
    /// decoder, and the bucket of every (q, k) for the backward pass.
    fn position_bias(
        &self,
        rel: &[f32],
        q: usize,
        k: usize,
        decoder: bool,
    ) -> (Vec<f32>, Vec<u32>) {
        let h = self.dims.heads;
        let mut buckets = Vec::with_capacity(q * k);
        for i in 0..q {
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
                    bias[(head * q + i) * k + j] = if decoder && j > i {
                        MASKED
                    } else {
                        rel[buckets[i * k + j] as usize * h + head]
                    };
                }
            }
        }
        (bias, buckets)
    }

    /// softmax(q·kᵀ + bias + key mask)·v for every batch row and head. `q` is [b·rq, inner],
    /// `k` and `v` are [b·rk, inner]; returns (probs [b, heads, rq, rk], ctx [b·rq, inner]).
    fn attention(
        &self,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        (rq, rk): (usize, usize),
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
                let qv = head_view(q, b, rq, inner, bi, h, dkv);
                let kv = head_view(k, b, rk, inner, bi, h, dkv);
                let vv = head_view(v, b, rk, inner, bi, h, dkv);
                matmul(Out::new(p, rq, rk), qv, kv.t(), 1.0, false, Threads::One);
                for (i, row) in p.chunks_exact_mut(rk).enumerate() {
                    if let Some(bias) = bias {
                        let br = &bias[(h * rq + i) * rk..(h * rq + i + 1) * rk];
                        kernels::add_assign(row, br);
                    }
                    if let Some(mask) = key_mask {
                        kernels::add_assign(row, &mask[bi * rk..(bi + 1) * rk]);
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

    /// The backward pass of `attention`: returns (dq, dk, dv) in the row layout of q, k, v, and
    /// leaves the score gradients in `probs` (for the position bias).
    fn attention_backward(
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
                    head_view(cache_q, b, rq, inner, bi, h, dkv),
                    head_view(k, b, rk, inner, bi, h, dkv),
                    head_view(v, b, rk, inner, bi, h, dkv),
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

    /// An attention sublayer: norm, projections, attention, output projection added to `x`.
    /// `kv_from` is None for self-attention, else the encoder output.
    #[allow(clippy::too_many_arguments)]
    fn attn_forward(
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
        let (probs, ctx) = self.attention(&q, &k, &v, rows, bias, key_mask);
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

    /// The backward pass of `attn_forward`: `dx` holds the gradient of the sublayer's output
    /// and receives its input's. Returns the score gradients [b, heads, rq, rk] (for the
    /// position bias), and adds the gradient of `kv_from` into `d_kv_from` for cross-attention.
    #[allow(clippy::too_many_arguments)]
    fn attn_backward(
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
        c.input.backward(&w[ln], &dxn, &mut g[ln], dx, true);
        c.probs
    }

    fn ff_forward(&self, w: &Weights, slots: &FfSlots, ln: usize, x: &mut [f32]) -> FfCache {
        let (d, f) = (self.dims.d, self.cfg.d_ff);
        let rows = x.len() / d;
        let input = Normed::new(x.to_vec(), &w[ln], self.eps(), d);
        let xn = &input.out;
        let per = rows_per_task(rows, f) * f;
        let (h0, h1, act, wo) = match slots {
            FfSlots::Relu { wi, wo } => {
                let h0 = linear(xn, rows, &w[*wi], f);
                let act: Vec<f32> = h0.par_iter().map(|v| v.max(0.0)).collect();
                (h0, Vec::new(), act, *wo)
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

    fn ff_backward(
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
                dact.par_iter_mut()
                    .zip(c.h0.par_iter())
                    .for_each(|(g, h)| *g = if *h > 0.0 { *g } else { 0.0 });
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
                        kernels::gated_gelu_backward(a, b, g, da, db)
                    });
                let xn = &c.input.out;
                linear_backward(&dh0, xn, rows, &w[*wi0], &mut g[*wi0], &mut dxn, false);
                linear_backward(&dh1, xn, rows, &w[*wi1], &mut g[*wi1], &mut dxn, true);
            }
        }
        c.input.backward(&w[ln], &dxn, &mut g[ln], dx, true);
    }

    fn encode(&self, bp: &Backprop, w: &Weights) -> StackOut {
        let Dims { s, .. } = self.dims;
        let (bias, buckets) = self.position_bias(&w[bp.encoder.rel_bias], s, s, false);
        let mut x = self.embed(&w[bp.shared], &self.src_ids);
        let mut blocks = Vec::with_capacity(bp.encoder.blocks.len());
        for blk in &bp.encoder.blocks {
            let self_attn = self.attn_forward(
                w,
                &blk.self_attn,
                blk.self_ln,
                &mut x,
                (s, s),
                None,
                Some(&bias),
                Some(&self.src_mask),
            );
            let ff = self.ff_forward(w, &blk.ff, blk.ff_ln, &mut x);
            blocks.push(BlockCache {
                self_attn,
                cross: None,
                ff,
            });
        }
        StackOut {
            blocks,
            buckets,
            last: Normed::new(x, &w[bp.encoder.final_ln], self.eps(), self.dims.d),
        }
    }

    fn decode(&self, bp: &Backprop, w: &Weights, enc: &StackOut) -> StackOut {
        let Dims { s, t, .. } = self.dims;
        let (bias, buckets) = self.position_bias(&w[bp.decoder.rel_bias], t, t, true);
        let mut x = self.embed(&w[bp.shared], &self.dec_ids);
        let mut blocks = Vec::with_capacity(bp.decoder.blocks.len());
        for blk in &bp.decoder.blocks {
            let self_attn = self.attn_forward(
                w,
                &blk.self_attn,
                blk.self_ln,
                &mut x,
                (t, t),
                None,
                Some(&bias),
                None,
            );
            let (cross_slots, cross_ln) = blk.cross.as_ref().expect("decoder blocks have cross");
            let cross = self.attn_forward(
                w,
                cross_slots,
                *cross_ln,
                &mut x,
                (t, s),
                Some(&enc.last.out),
                None,
                Some(&self.src_mask),
            );
            let ff = self.ff_forward(w, &blk.ff, blk.ff_ln, &mut x);
            blocks.push(BlockCache {
                self_attn,
                cross: Some(cross),
                ff,
            });
        }
        StackOut {
            blocks,
            buckets,
            last: Normed::new(x, &w[bp.decoder.final_ln], self.eps(), self.dims.d),
        }
    }

    /// The LM head and mean cross-entropy over the label tokens: returns the loss and the
    /// gradient of `scale`·loss with respect to the decoder output, and adds the head's own
    /// gradient (the shared embedding's, for a tied head).
    fn head(&self, bp: &mut Backprop, w: &Weights, hidden: &[f32], scale: f32) -> (f32, Vec<f32>) {
        let d = self.dims.d;
        let n = self.targets.len();
        // A tied head reads the decoder output times d_model^-0.5 (T5 v1.0).
        let (hw, factor) = match bp.head {
            Some(h) => (h, 1.0),
            None => (bp.shared, (d as f32).powf(-0.5)),
        };
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
        let g = scale / n as f32;
        let losses: Vec<f64> = logits
            .par_chunks_mut(vocab)
            .zip(self.targets.par_iter())
            .map(|(row, &(_, target))| kernels::cross_entropy_row(row, target as usize, g))
            .collect();
        let loss = (losses.iter().sum::<f64>() / n as f64) as f32;
        let mut dsel = vec![0f32; n * d];
        linear_backward(
            &logits,
            &hsel,
            n,
            &w[hw],
            &mut bp.grads[hw],
            &mut dsel,
            false,
        );
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
    fn bias_backward(&self, dscores: &[f32], buckets: &[u32], g: &mut [f32]) {
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

    fn decode_backward(
        &self,
        bp: &mut Backprop,
        w: &Weights,
        out: StackOut,
        enc_hidden: &[f32],
        d_out: Vec<f32>,
    ) -> Vec<f32> {
        let Dims { s, t, .. } = self.dims;
        let g = &mut bp.grads;
        let mut dx = vec![0f32; d_out.len()];
        let fl = bp.decoder.final_ln;
        out.last
            .backward(&w[fl], &d_out, &mut g[fl], &mut dx, false);
        let mut d_enc = vec![0f32; enc_hidden.len()];
        let mut d_scores_sum = vec![0f32; self.dims.b * self.dims.heads * t * t];
        for (blk, cache) in bp.decoder.blocks.iter().zip(out.blocks).rev() {
            self.ff_backward(w, g, &blk.ff, blk.ff_ln, cache.ff, &mut dx);
            let (cross_slots, cross_ln) = blk.cross.as_ref().expect("decoder blocks have cross");
            self.attn_backward(
                w,
                g,
                cross_slots,
                *cross_ln,
                cache.cross.expect("decoder caches hold cross-attention"),
                &mut dx,
                (t, s),
                Some((enc_hidden, &mut d_enc)),
            );
            let ds = self.attn_backward(
                w,
                g,
                &blk.self_attn,
                blk.self_ln,
                cache.self_attn,
                &mut dx,
                (t, t),
                None,
            );
            par_add_assign(&mut d_scores_sum, &ds);
        }
        self.bias_backward(&d_scores_sum, &out.buckets, &mut g[bp.decoder.rel_bias]);
        self.embed_backward(&dx, &self.dec_ids, &mut g[bp.shared]);
        d_enc
    }

    fn encode_backward(&self, bp: &mut Backprop, w: &Weights, out: StackOut, d_out: Vec<f32>) {
        let Dims { s, .. } = self.dims;
        let g = &mut bp.grads;
        let mut dx = vec![0f32; d_out.len()];
        let fl = bp.encoder.final_ln;
        out.last
            .backward(&w[fl], &d_out, &mut g[fl], &mut dx, false);
        let mut d_scores_sum = vec![0f32; self.dims.b * self.dims.heads * s * s];
        for (blk, cache) in bp.encoder.blocks.iter().zip(out.blocks).rev() {
            self.ff_backward(w, g, &blk.ff, blk.ff_ln, cache.ff, &mut dx);
            let ds = self.attn_backward(
                w,
                g,
                &blk.self_attn,
                blk.self_ln,
                cache.self_attn,
                &mut dx,
                (s, s),
                None,
            );
            par_add_assign(&mut d_scores_sum, &ds);
        }
        self.bias_backward(&d_scores_sum, &out.buckets, &mut g[bp.encoder.rel_bias]);
        self.embed_backward(&dx, &self.src_ids, &mut g[bp.shared]);
    }

    fn embed_backward(&self, dx: &[f32], ids: &[u32], g: &mut [f32]) {
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
