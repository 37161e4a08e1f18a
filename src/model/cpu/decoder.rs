//! A decoder-only model's passes on the CPU. Gemma 3's layer: RMSNorm (1 + w) before and after
//! each sublayer, q/k norms, RoPE with a local and a global base, grouped-query attention with
//! sliding-window layers, GELU-tanh gated MLP, scaled embedding, tied head. Llama's is the same
//! less the norms after each sublayer and on q/k, with SiLU, RoPE scaling by frequency and
//! perhaps its own head; Qwen2's adds q/k/v biases.
//!
//! Sequences are packed, not padded: every linear layer runs once over the rows of all
//! sequences, and attention runs per sequence, each query at position p seeing keys 0..=p
//! (within the window on sliding layers). Nothing is computed for padding, and a sequence's
//! outputs are those it has alone. Training keeps what the backward pass needs; generation
//! (`decoder_generate`) runs the same layer over key/value caches.

use std::borrow::Cow;

use rayon::prelude::*;

use super::frozen_bf16::Bf16Pass;
use super::kernels;
use super::matmul::{matmul, Out, Threads, View};
use super::ops::{
    linear, linear_input_grad, linear_weight_grad, low_rank_weight_grads, par_add_assign,
    rows_per_task, Normed, PARALLEL_MIN,
};
use super::quantized::{out_dim, HeadScreen, Q8Decoder, Q8Matrix};
use crate::model::decoder::config::{Activation, RopeScaling};
use crate::model::decoder::lora::Adapters;
use crate::model::decoder::tokenizer::DecoderExample;
use crate::model::decoder::weights::*;
use crate::model::decoder::{DecoderConfig, DecoderWeights, LayerKind};

/// A score that softmax turns into exactly zero.
const MASKED: f32 = f32::NEG_INFINITY;

/// A run of rows of one sequence: rows `row..row + rows` of the packed matrix hold positions
/// `pos..pos + rows`, and attend to `pos + rows` keys in all.
#[derive(Clone, Copy, Debug)]
pub struct Span {
    pub row: usize,
    pub rows: usize,
    pub pos: usize,
}

/// cos and sin of RoPE's angles for positions `0..len`, [len, head_dim / 2] each.
pub struct Rope {
    half: usize,
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl Rope {
    pub fn new(theta: f32, scaling: RopeScaling, head_dim: usize, len: usize) -> Rope {
        let half = head_dim / 2;
        let inv: Vec<f32> = (0..half)
            .map(|i| scaling.apply(1.0 / theta.powf((2 * i) as f32 / head_dim as f32)))
            .collect();
        let mut cos = Vec::with_capacity(len * half);
        let mut sin = Vec::with_capacity(len * half);
        for p in 0..len {
            for f in &inv {
                let a = p as f32 * f;
                cos.push(a.cos());
                sin.push(a.sin());
            }
        }
        Rope { half, cos, sin }
    }

    pub fn len(&self) -> usize {
        self.cos.len() / self.half.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.cos.is_empty()
    }

    /// Rotates each head of `row` (heads × head_dim) to position `pos` (rotate-half pairing:
    /// dimension i with i + head_dim/2), or back with `inverse` (the backward pass).
    fn apply(&self, row: &mut [f32], pos: usize, inverse: bool) {
        let h = self.half;
        let (c, s) = (
            &self.cos[pos * h..(pos + 1) * h],
            &self.sin[pos * h..(pos + 1) * h],
        );
        let sign = if inverse { -1.0 } else { 1.0 };
        for head in row.chunks_exact_mut(2 * h) {
            let (a, b) = head.split_at_mut(h);
            for i in 0..h {
                let (x, y, si) = (a[i], b[i], sign * s[i]);
                a[i] = x * c[i] - y * si;
                b[i] = y * c[i] + x * si;
            }
        }
    }

    /// Rotates every row of `m` ([rows, width]) of each span to its positions.
    pub fn rotate(&self, m: &mut [f32], width: usize, spans: &[Span], inverse: bool) {
        let mut parts: Vec<(&mut [f32], usize)> = Vec::with_capacity(spans.len());
        let mut rest = m;
        let mut at = 0;
        for s in spans {
            let (_, tail) = rest.split_at_mut((s.row - at) * width);
            let (mine, tail) = tail.split_at_mut(s.rows * width);
            parts.push((mine, s.pos));
            rest = tail;
            at = s.row + s.rows;
        }
        parts.into_par_iter().for_each(|(m, pos)| {
            for (i, row) in m.chunks_exact_mut(width).enumerate() {
                self.apply(row, pos + i, inverse);
            }
        });
    }
}

/// The model's per-pass constants: effective norm weights and RoPE tables.
pub struct Prepared<'a> {
    pub cfg: &'a DecoderConfig,
    pub w: &'a DecoderWeights,
    /// Each layer's norms as they multiply (1 + w for Gemma), in part order (others empty).
    norms: Vec<[Vec<f32>; PARTS.len()]>,
    final_norm: Vec<f32>,
    global: Rope,
    local: Rope,
    /// Int8 copies of the projections and head, for decoding steps (`with_q8`).
    q8: Option<&'a Q8Decoder>,
    /// Picks greedy tokens under the f32 head (`with_head_screen`).
    screen: Option<&'a HeadScreen>,
    /// The frozen base in bf16 with its adapters (`with_bf16`).
    bf16: Option<Bf16Pass<'a>>,
}

fn effective(cfg: &DecoderConfig, w: &[f32]) -> Vec<f32> {
    if cfg.arch.norm_plus_one() {
        w.iter().map(|v| 1.0 + v).collect()
    } else {
        w.to_vec()
    }
}

const NORMS: [usize; 6] = [
    ATTN_NORM,
    Q_NORM,
    K_NORM,
    POST_ATTN_NORM,
    FFN_NORM,
    POST_FFN_NORM,
];

impl<'a> Prepared<'a> {
    /// For sequences of up to `max_len` positions.
    pub fn new(cfg: &'a DecoderConfig, w: &'a DecoderWeights, max_len: usize) -> Prepared<'a> {
        let norms = w
            .layers
            .iter()
            .map(|l| {
                std::array::from_fn(|p| {
                    if NORMS.contains(&p) {
                        effective(cfg, &l[p])
                    } else {
                        Vec::new()
                    }
                })
            })
            .collect();
        Prepared {
            cfg,
            w,
            norms,
            final_norm: effective(cfg, &w.final_norm),
            global: Rope::new(cfg.rope_theta, cfg.rope_scaling, cfg.head_dim, max_len),
            local: Rope::new(
                cfg.rope_local_theta,
                RopeScaling::None,
                cfg.head_dim,
                max_len,
            ),
            q8: None,
            screen: None,
            bf16: None,
        }
    }

    /// Every projection and the head multiply through `pass` (the packed base plus its
    /// adapters) instead of `w`, which then goes unread by them.
    pub fn with_bf16(self, bf16: Option<Bf16Pass<'a>>) -> Prepared<'a> {
        Prepared { bf16, ..self }
    }

    /// Greedy tokens under the f32 head are found through `screen` (the same tokens, a
    /// quarter of the head's bytes read); no effect with `with_q8`'s int8 head.
    pub fn with_head_screen(self, screen: Option<&'a HeadScreen>) -> Prepared<'a> {
        Prepared { screen, ..self }
    }

    /// The screen for greedy tokens, unless the head is int8 already.
    pub(super) fn head_screen(&self) -> Option<&HeadScreen> {
        match self.q8.and_then(Q8Decoder::head) {
            Some(_) => None,
            None => self.screen,
        }
    }

    /// Decoding steps (`Keys::Steps`) and the head that picks each new token multiply by
    /// `q8`'s int8 copies instead of the f32 weights; prefill and training keep f32.
    pub fn with_q8(self, q8: Option<&'a Q8Decoder>) -> Prepared<'a> {
        Prepared { q8, ..self }
    }

    /// `x·wᵀ` for `x` [rows, in] and weight `w` [out_dim, in], or through `q`, its int8 copy.
    fn times(&self, x: &[f32], w: &[f32], q: Option<&Q8Matrix>, out_dim: usize) -> Vec<f32> {
        let rows = x.len() / (w.len() / out_dim.max(1)).max(1);
        match q {
            Some(q) => q.times(x, rows),
            None => linear(x, rows, w, out_dim),
        }
    }

    /// `x·wᵀ` for part `p` of `layer`: through `q`, the int8 copy, when given, else the bf16
    /// base when set, else the f32 weight.
    fn part_times(&self, layer: usize, p: usize, x: &[f32], q: Option<&Q8Matrix>) -> Vec<f32> {
        match (q, &self.bf16) {
            (None, Some(pass)) => pass.times(layer, p, x),
            _ => self.times(x, &self.w.layers[layer][p], q, out_dim(self.cfg, p)),
        }
    }

    /// The input gradient of part `p` of `layer`, dx = dy·w (dx += with `accumulate`), and
    /// the gradient of what is trained in it into `g`.
    #[allow(clippy::too_many_arguments)]
    fn linear_backward(
        &self,
        g: &mut LayerGrads,
        layer: usize,
        p: usize,
        dy: &[f32],
        x: &[f32],
        rows: usize,
        dx: &mut [f32],
        accumulate: bool,
    ) {
        g.weight_grads(p, dy, x, rows);
        match &self.bf16 {
            Some(pass) => pass.input_grad(layer, p, dy, dx, accumulate),
            None => linear_input_grad(dy, rows, &self.w.layers[layer][p], dx, accumulate),
        }
    }

    pub fn max_len(&self) -> usize {
        self.global.len()
    }

    fn rope(&self, layer: usize) -> &Rope {
        match self.cfg.layers[layer] {
            LayerKind::Full => &self.global,
            LayerKind::Sliding => &self.local,
        }
    }

    fn window(&self, layer: usize) -> usize {
        match self.cfg.layers[layer] {
            LayerKind::Full => usize::MAX,
            LayerKind::Sliding => self.cfg.sliding_window,
        }
    }

    /// The scaled embeddings of `ids`.
    pub fn embed(&self, ids: &[u32]) -> Vec<f32> {
        let d = self.cfg.hidden;
        let scale = self.cfg.embed_scale();
        let mut x = vec![0f32; ids.len() * d];
        x.par_chunks_mut(d).zip(ids).for_each(|(row, &id)| {
            let e = &self.w.embed[id as usize * d..(id as usize + 1) * d];
            row.iter_mut().zip(e).for_each(|(o, e)| *o = e * scale);
        });
        x
    }

    /// The final norm of the given rows of `x`.
    pub(super) fn final_rows(&self, x: &[f32], rows: &[usize]) -> Normed {
        let d = self.cfg.hidden;
        let mut sel = Vec::with_capacity(rows.len() * d);
        for &r in rows {
            sel.extend_from_slice(&x[r * d..(r + 1) * d]);
        }
        Normed::new(sel, &self.final_norm, self.cfg.eps, d)
    }

    /// Logits of one normalised row at the given token ids only.
    pub fn logits_of(&self, xn: &[f32], ids: &[u32]) -> Vec<f32> {
        let d = self.cfg.hidden;
        let head = self.w.head();
        let q8 = self.q8.and_then(Q8Decoder::head);
        ids.iter()
            .map(|&id| match q8 {
                Some(q) => q.dot_row(id as usize, xn),
                None => kernels::dot(xn, &head[id as usize * d..(id as usize + 1) * d]),
            })
            .collect()
    }

    /// Logits of normalised rows: x·Hᵀ (H the head, the embedding when tied).
    pub fn logits(&self, xn: &[f32]) -> Vec<f32> {
        let q8 = self.q8.and_then(Q8Decoder::head);
        if let (None, Some(pass)) = (q8, &self.bf16) {
            return pass.base.logits(xn);
        }
        self.times(xn, self.w.head(), q8, self.cfg.vocab_size)
    }

    /// `x` through norm `p` of `layer` when the architecture has it: the output, and what the
    /// backward pass needs.
    fn maybe_norm(
        &self,
        layer: usize,
        p: usize,
        x: Vec<f32>,
        width: usize,
    ) -> (Vec<f32>, Option<Normed>) {
        if self.norms[layer][p].is_empty() {
            return (x, None);
        }
        let n = Normed::new(x, &self.norms[layer][p], self.cfg.eps, width);
        (n.out.clone(), Some(n))
    }

    /// `x·wᵀ (+ b)` for each (part, bias part) of `layer`, all taking the same input `x`: one
    /// product through `q8`'s int8 stack of the parts when it has one, else one per part.
    fn projections(
        &self,
        layer: usize,
        parts: &[(usize, Option<usize>)],
        x: &[f32],
        q8: Option<&Q8Decoder>,
    ) -> Vec<Vec<f32>> {
        let l = &self.w.layers[layer];
        let ids: Vec<usize> = parts.iter().map(|&(p, _)| p).collect();
        let widths: Vec<usize> = ids.iter().map(|&p| out_dim(self.cfg, p)).collect();
        let mut ys = match q8.and_then(|q| q.stack(layer, &ids)) {
            Some(stack) => {
                let rows = x.len() / stack.cols();
                split_columns(&stack.times(x, rows), rows, &widths)
            }
            None => ids
                .iter()
                .map(|&p| self.part_times(layer, p, x, None))
                .collect(),
        };
        for (y, (&(_, bias), &out)) in ys.iter_mut().zip(parts.iter().zip(&widths)) {
            let Some(b) = bias.map(|b| &l[b]).filter(|b| !b.is_empty()) else {
                continue;
            };
            let per = rows_per_task(y.len() / out, out) * out;
            y.par_chunks_mut(per).for_each(|rows| {
                rows.chunks_exact_mut(out)
                    .for_each(|row| kernels::add_assign(row, b));
            });
        }
        ys
    }
}

/// The columns of a [rows, Σ widths] matrix split into one [rows, width] matrix per width.
fn split_columns(y: &[f32], rows: usize, widths: &[usize]) -> Vec<Vec<f32>> {
    let total: usize = widths.iter().sum();
    let mut start = 0;
    widths
        .iter()
        .map(|&w| {
            let part = (0..rows)
                .flat_map(|r| &y[r * total + start..r * total + start + w])
                .copied()
                .collect();
            start += w;
            part
        })
        .collect()
}

/// What attention keeps per layer for the backward pass.
pub struct LayerCache {
    attn_in: Normed,
    /// The q/k norms and the norms after each sublayer, where the architecture has them.
    q: Option<Normed>,
    k: Option<Normed>,
    q_rot: Vec<f32>,
    k_rot: Vec<f32>,
    v: Vec<f32>,
    /// Per (span, head): the softmax rows, [rows, keys] (keys: the span's position + rows).
    probs: Vec<Vec<f32>>,
    ctx: Vec<f32>,
    post_attn: Option<Normed>,
    ffn_in: Normed,
    gate: Vec<f32>,
    up: Vec<f32>,
    act: Vec<f32>,
    post_ffn: Option<Normed>,
}

/// Keys and values a span attends to: [keys, kv_dim] each, rotated keys.
pub struct KeysValues<'k> {
    pub k: &'k [f32],
    pub v: &'k [f32],
}

impl Prepared<'_> {
    /// softmax(q·kᵀ·scale, causal and windowed)·v for every span and head. `q` is
    /// [rows, q_dim]; `kv(i)` gives span i's keys and values. Returns ctx [rows, q_dim] and,
    /// with `keep`, each (span, head)'s probabilities.
    pub fn attention<'k>(
        &self,
        layer: usize,
        q: &[f32],
        spans: &[Span],
        kv: &(dyn Fn(usize) -> KeysValues<'k> + Sync),
        keep: bool,
    ) -> (Vec<f32>, Vec<Vec<f32>>) {
        let c = self.cfg;
        let (hd, heads, qd, kvd) = (c.head_dim, c.heads, c.q_dim(), c.kv_dim());
        let group = heads / c.kv_heads;
        let window = self.window(layer);
        let scale = c.scale();
        let tasks: Vec<(usize, usize)> = (0..spans.len())
            .flat_map(|s| (0..heads).map(move |h| (s, h)))
            .collect();
        let head = |&(si, h): &(usize, usize)| {
            let s = spans[si];
            let kvs = kv(si);
            let n = s.pos + s.rows;
            let g = h / group;
            let qv = View::new(q, q.len() / qd, qd)
                .rows(s.row, s.rows)
                .columns(h * hd, hd);
            let kv_ = View::new(kvs.k, n, kvd).columns(g * hd, hd);
            let vv = View::new(kvs.v, n, kvd).columns(g * hd, hd);
            let mut p = vec![0f32; s.rows * n];
            matmul(
                Out::new(&mut p, s.rows, n),
                qv,
                kv_.t(),
                scale,
                false,
                Threads::One,
            );
            for (i, row) in p.chunks_exact_mut(n).enumerate() {
                let at = s.pos + i;
                let first = (at + 1).saturating_sub(window);
                row[..first].fill(MASKED);
                row[at + 1..].fill(MASKED);
            }
            kernels::softmax_rows(&mut p, n);
            let mut ctx = vec![0f32; s.rows * hd];
            matmul(
                Out::new(&mut ctx, s.rows, hd),
                View::new(&p, s.rows, n),
                vv,
                1.0,
                false,
                Threads::One,
            );
            (ctx, if keep { p } else { Vec::new() })
        };
        // A decoding step's heads are a few microseconds each: handing them to rayon would
        // wake its threads for less work than the waking costs.
        let work: usize = spans
            .iter()
            .map(|s| s.rows * (s.pos + s.rows))
            .sum::<usize>()
            * qd;
        let results: Vec<(Vec<f32>, Vec<f32>)> = if work < PARALLEL_MIN * 8 {
            tasks.iter().map(head).collect()
        } else {
            tasks.par_iter().map(head).collect()
        };
        let rows = q.len() / qd;
        let mut ctx = vec![0f32; rows * qd];
        let mut probs = Vec::with_capacity(if keep { tasks.len() } else { 0 });
        for (&(si, h), (c, p)) in tasks.iter().zip(results) {
            let s = spans[si];
            for i in 0..s.rows {
                let dst = (s.row + i) * qd + h * hd;
                ctx[dst..dst + hd].copy_from_slice(&c[i * hd..(i + 1) * hd]);
            }
            if keep {
                probs.push(p);
            }
        }
        (ctx, probs)
    }

    /// Projections (with biases), q/k norms and RoPE of a layer's attention input: (q, k, v)
    /// and, for the backward pass, the norms' inputs. `q8`: the int8 copies for a decoding
    /// step.
    #[allow(clippy::type_complexity)]
    fn qkv(
        &self,
        layer: usize,
        h: &[f32],
        spans: &[Span],
        q8: Option<&Q8Decoder>,
    ) -> (Option<Normed>, Option<Normed>, Vec<f32>, Vec<f32>, Vec<f32>) {
        let c = self.cfg;
        let parts = [(Q, Some(Q_BIAS)), (K, Some(K_BIAS)), (V, Some(V_BIAS))];
        let [q, k, v]: [Vec<f32>; 3] = self
            .projections(layer, &parts, h, q8)
            .try_into()
            .expect("three projections");
        let (mut q_rot, qn) = self.maybe_norm(layer, Q_NORM, q, c.head_dim);
        let (mut k_rot, kn) = self.maybe_norm(layer, K_NORM, k, c.head_dim);
        self.rope(layer).rotate(&mut q_rot, c.q_dim(), spans, false);
        self.rope(layer)
            .rotate(&mut k_rot, c.kv_dim(), spans, false);
        (qn, kn, q_rot, k_rot, v)
    }

    /// One layer over `x` [rows, hidden], in place, attention reading what `keys` says. With
    /// `keep` the cache for the backward pass comes back.
    pub fn layer(
        &self,
        layer: usize,
        x: &mut Vec<f32>,
        spans: &[Span],
        keys: Keys,
        keep: bool,
    ) -> Option<LayerCache> {
        let c = self.cfg;
        let (d, f, kvd) = (c.hidden, c.intermediate, c.kv_dim());
        let nw = &self.norms[layer];
        let rows = x.len() / d;
        let attn_in = Normed::new(std::mem::take(x), &nw[ATTN_NORM], c.eps, d);
        let q8 = match keys {
            Keys::Steps(_) => self.q8,
            _ => None,
        };
        let part = |p: usize| q8.and_then(|q| q.stack(layer, &[p]));
        let (qn, kn, q_rot, k_rot, v) = self.qkv(layer, &attn_in.out, spans, q8);
        let (ctx, probs) = match keys {
            Keys::Cached(caches) | Keys::Steps(caches) => {
                for (s, cache) in spans.iter().zip(caches.iter_mut()) {
                    let kc = &mut cache[layer];
                    kc.k.truncate(s.pos * kvd);
                    kc.v.truncate(s.pos * kvd);
                    kc.k.extend_from_slice(own_rows(&k_rot, kvd, *s));
                    kc.v.extend_from_slice(own_rows(&v, kvd, *s));
                }
                let caches: &[Vec<KvCache>] = caches;
                let kv = |i: usize| KeysValues {
                    k: &caches[i][layer].k,
                    v: &caches[i][layer].v,
                };
                self.attention(layer, &q_rot, spans, &kv, keep)
            }
            Keys::Packed => {
                let keys: Vec<Cow<[f32]>> =
                    spans.iter().map(|&s| span_keys(&k_rot, kvd, s)).collect();
                let values: Vec<Cow<[f32]>> =
                    spans.iter().map(|&s| span_keys(&v, kvd, s)).collect();
                let kv = |i: usize| KeysValues {
                    k: &keys[i],
                    v: &values[i],
                };
                self.attention(layer, &q_rot, spans, &kv, keep)
            }
        };
        let o = self.part_times(layer, O, &ctx, part(O));
        let (o, post_attn) = self.maybe_norm(layer, POST_ATTN_NORM, o, d);
        let mut xm = attn_in.x.clone();
        par_add_assign(&mut xm, &o);
        let ffn_in = Normed::new(xm, &nw[FFN_NORM], c.eps, d);
        let [gate, up]: [Vec<f32>; 2] = self
            .projections(layer, &[(GATE, None), (UP, None)], &ffn_in.out, q8)
            .try_into()
            .expect("two projections");
        let mut act = vec![0f32; gate.len()];
        let per = rows_per_task(rows, f) * f;
        let gated = match c.activation {
            Activation::GeluTanh => kernels::gated_gelu,
            Activation::Silu => kernels::gated_silu,
        };
        act.par_chunks_mut(per)
            .zip(gate.par_chunks(per).zip(up.par_chunks(per)))
            .for_each(|(o, (a, b))| gated(a, b, o));
        let m = self.part_times(layer, DOWN, &act, part(DOWN));
        let (m, post_ffn) = self.maybe_norm(layer, POST_FFN_NORM, m, d);
        let mut out = ffn_in.x.clone();
        par_add_assign(&mut out, &m);
        *x = out;
        keep.then_some(LayerCache {
            attn_in,
            q: qn,
            k: kn,
            q_rot,
            k_rot,
            v,
            probs,
            ctx,
            post_attn,
            ffn_in,
            gate,
            up,
            act,
            post_ffn,
        })
    }
}

/// One layer's keys (rotated) and values for one sequence, [positions, kv_dim].
#[derive(Clone, Default)]
pub struct KvCache {
    pub k: Vec<f32>,
    pub v: Vec<f32>,
}

impl KvCache {
    /// A cache per layer with room for `len` positions, so that decoding never reallocates.
    pub fn for_sequence(cfg: &DecoderConfig, len: usize) -> Vec<KvCache> {
        (0..cfg.layers.len())
            .map(|_| KvCache {
                k: Vec::with_capacity(len * cfg.kv_dim()),
                v: Vec::with_capacity(len * cfg.kv_dim()),
            })
            .collect()
    }
}

/// Packs sequences of `lens` rows each, from position 0.
pub fn pack(lens: &[usize]) -> Vec<Span> {
    let mut row = 0;
    lens.iter()
        .map(|&rows| {
            let s = Span { row, rows, pos: 0 };
            row += rows;
            s
        })
        .collect()
}

/// What a layer's attention reads besides the rows it computes.
pub enum Keys<'c> {
    /// A packed batch (training, scoring): a span from position 0 attends to its own rows; a
    /// span from position p > 0 continues a prefix shared by the batch, held in the first p
    /// rows, and attends to those, then to its own.
    Packed,
    /// Generation: each span's new keys and values are appended to its cache (cut to the
    /// span's position first), and attention reads the cache.
    Cached(&'c mut [Vec<KvCache>]),
    /// Generation's decoding steps, one new row per sequence: as `Cached`, and the products
    /// use the int8 copies of the weights when there are any (`Prepared::with_q8`).
    Steps(&'c mut [Vec<KvCache>]),
}

/// Rows `span.row..` of a [rows, width] matrix.
fn own_rows(m: &[f32], width: usize, s: Span) -> &[f32] {
    &m[s.row * width..(s.row + s.rows) * width]
}

/// The keys (or values) span `s` attends to in a packed batch, positions `0..s.pos + s.rows`:
/// its own rows, after the shared prefix's (the batch's first `s.pos` rows) when it has one.
fn span_keys(m: &[f32], width: usize, s: Span) -> Cow<'_, [f32]> {
    if s.pos == 0 {
        return Cow::Borrowed(own_rows(m, width, s));
    }
    let mut joined = Vec::with_capacity((s.pos + s.rows) * width);
    joined.extend_from_slice(&m[..s.pos * width]);
    joined.extend_from_slice(own_rows(m, width, s));
    Cow::Owned(joined)
}

/// Where the backward pass puts the gradients of what is trained.
pub enum Grads<'a> {
    /// Every weight's but the embedding's (full fine-tuning), added into these buffers.
    Weights(&'a mut DecoderWeights),
    /// LoRA adapters' alone, added into buffers in `Adapters::names()` order. The base weights
    /// are frozen, so their gradients are never formed: each adapter pair's come from the
    /// pass's own dy and x (`ops::low_rank_weight_grads`), and the norms get none.
    Adapters(&'a Adapters, &'a mut [Vec<f32>]),
}

/// One layer's share of `Grads`.
enum LayerGrads<'a> {
    Weights(&'a mut Layer),
    Adapters {
        ad: &'a Adapters,
        layer: usize,
        /// dA, dB of each of `ad.parts`, in turn.
        grads: &'a mut [Vec<f32>],
    },
}

impl<'a> Grads<'a> {
    /// Each layer's share, and the final norm's buffer when it is trained.
    fn split(self) -> (Vec<LayerGrads<'a>>, Option<&'a mut [f32]>) {
        match self {
            Grads::Weights(w) => (
                w.layers.iter_mut().map(LayerGrads::Weights).collect(),
                Some(w.final_norm.as_mut_slice()),
            ),
            Grads::Adapters(ad, grads) => {
                let per = 2 * ad.parts.len();
                let mut rest = grads;
                let mut layers = Vec::with_capacity(ad.a.len());
                for layer in 0..ad.a.len() {
                    let (mine, tail) = std::mem::take(&mut rest).split_at_mut(per);
                    rest = tail;
                    layers.push(LayerGrads::Adapters {
                        ad,
                        layer,
                        grads: mine,
                    });
                }
                (layers, None)
            }
        }
    }
}

impl LayerGrads<'_> {
    /// The gradient of what is trained in part `p`, `y = x·wᵀ` (the weight, its adapters, or
    /// nothing), from the output's `dy` and the input `x`.
    fn weight_grads(&mut self, p: usize, dy: &[f32], x: &[f32], rows: usize) {
        match self {
            LayerGrads::Weights(g) => linear_weight_grad(dy, x, rows, &mut g[p]),
            LayerGrads::Adapters { ad, layer, grads } => {
                if let Some(k) = ad.parts.iter().position(|&q| q == p) {
                    let (da, db) = grads[2 * k..2 * k + 2].split_at_mut(1);
                    low_rank_weight_grads(
                        dy,
                        x,
                        rows,
                        (&ad.a[*layer][k], &ad.b[*layer][k]),
                        ad.options.scale(),
                        &mut da[0],
                        &mut db[0],
                    );
                }
            }
        }
    }

    /// Bias part `p`'s gradient, db += Σ_rows dy, when the architecture has it and it is
    /// trained.
    fn bias(&mut self, p: usize, dy: &[f32]) {
        if let LayerGrads::Weights(g) = self {
            let b = &mut g[p];
            if !b.is_empty() {
                dy.chunks_exact(b.len())
                    .for_each(|row| kernels::add_assign(b, row));
            }
        }
    }

    /// Norm `p`'s gradient buffer, when norms are trained.
    fn norm(&mut self, p: usize) -> Option<&mut [f32]> {
        match self {
            LayerGrads::Weights(g) => Some(g[p].as_mut_slice()),
            LayerGrads::Adapters { .. } => None,
        }
    }
}

/// A training batch's forward pass, kept for the backward pass.
pub struct Forward {
    pub spans: Vec<Span>,
    pub layers: Vec<LayerCache>,
    /// The residual stream after the last layer.
    pub x: Vec<f32>,
}

impl Prepared<'_> {
    /// Runs every layer over packed `seqs` (each from position 0).
    pub fn forward(&self, seqs: &[&[u32]], keep: bool) -> Forward {
        self.forward_shared(0, seqs, keep)
    }

    /// Runs every layer over `seqs`, whose first `shared` tokens are the same in all: those
    /// are computed once, as the batch's first span, and each sequence's rest is a span from
    /// position `shared` that attends to them. Outputs are the unshared pass's (up to float
    /// rounding) at a fraction of the rows when the sequences share a long instruction.
    pub fn forward_shared(&self, shared: usize, seqs: &[&[u32]], keep: bool) -> Forward {
        let mut lens = Vec::with_capacity(seqs.len() + 1);
        let mut ids: Vec<u32> = Vec::new();
        if shared > 0 {
            lens.push(shared);
            ids.extend_from_slice(&seqs[0][..shared]);
        }
        for s in seqs {
            debug_assert_eq!(s[..shared], seqs[0][..shared]);
            lens.push(s.len() - shared);
            ids.extend_from_slice(&s[shared..]);
        }
        let mut spans = pack(&lens);
        if shared > 0 {
            spans.iter_mut().skip(1).for_each(|s| s.pos = shared);
        }
        let mut x = self.embed(&ids);
        let mut layers = Vec::new();
        for li in 0..self.cfg.layers.len() {
            layers.extend(self.layer(li, &mut x, &spans, Keys::Packed, keep));
        }
        Forward { spans, layers, x }
    }
}

impl Prepared<'_> {
    /// Adds into `grads` the gradient of `scale` × the summed cross-entropy of `targets`
    /// ((row, token): the row of the packed batch that predicts the token), and returns the
    /// summed loss. The head runs only on those rows.
    pub fn backward(
        &self,
        fwd: Forward,
        targets: &[(usize, u32)],
        scale: f32,
        grads: Grads,
    ) -> f64 {
        let c = self.cfg;
        let (mut layer_grads, final_grad) = grads.split();
        let d = c.hidden;
        let rows: Vec<usize> = targets.iter().map(|t| t.0).collect();
        let fin = self.final_rows(&fwd.x, &rows);
        let mut logits = self.logits(&fin.out);
        let v = c.vocab_size;
        let per = rows_per_task(targets.len(), v);
        let loss: f64 = logits
            .par_chunks_mut(per * v)
            .zip(targets.par_chunks(per))
            .map(|(l, t)| {
                l.chunks_exact_mut(v)
                    .zip(t)
                    .map(|(row, &(_, tok))| kernels::cross_entropy_row(row, tok as usize, scale))
                    .sum::<f64>()
            })
            .sum();
        // d(final rows) = dlogits·E, then through the final norm into the residual rows.
        let mut dsel = vec![0f32; targets.len() * d];
        match &self.bf16 {
            Some(pass) => pass.base.head_input_grad(&logits, &mut dsel),
            None => matmul(
                Out::new(&mut dsel, targets.len(), d),
                View::new(&logits, targets.len(), v),
                View::new(self.w.head(), v, d),
                1.0,
                false,
                Threads::All,
            ),
        }
        drop(logits);
        let mut dsel_x = vec![0f32; targets.len() * d];
        fin.backward(&self.final_norm, &dsel, final_grad, &mut dsel_x, false);
        let mut dx = vec![0f32; fwd.x.len()];
        for (i, &r) in rows.iter().enumerate() {
            kernels::add_assign(&mut dx[r * d..(r + 1) * d], &dsel_x[i * d..(i + 1) * d]);
        }
        for (li, cache) in fwd.layers.into_iter().enumerate().rev() {
            self.layer_backward(li, cache, &fwd.spans, &mut dx, &mut layer_grads[li]);
        }
        loss
    }

    /// One layer's backward pass: `dx` holds the gradient of its output and receives its
    /// input's.
    fn layer_backward(
        &self,
        li: usize,
        c: LayerCache,
        spans: &[Span],
        dx: &mut [f32],
        g: &mut LayerGrads,
    ) {
        let cfg = self.cfg;
        let (d, f, qd, kvd) = (cfg.hidden, cfg.intermediate, cfg.q_dim(), cfg.kv_dim());
        let nw = &self.norms[li];
        let rows = dx.len() / d;
        // Feed-forward: out = xm + post(down(act(gate)⊙up)), post the identity where the
        // architecture has no norm there.
        let dm = self.norm_backward(c.post_ffn.as_ref(), li, POST_FFN_NORM, dx, g);
        let mut dact = vec![0f32; rows * f];
        self.linear_backward(g, li, DOWN, &dm, &c.act, rows, &mut dact, false);
        drop(dm);
        let (mut dgate, mut dup) = (vec![0f32; rows * f], vec![0f32; rows * f]);
        let per = rows_per_task(rows, f) * f;
        dgate
            .par_chunks_mut(per)
            .zip(dup.par_chunks_mut(per))
            .zip(c.gate.par_chunks(per).zip(c.up.par_chunks(per)))
            .zip(dact.par_chunks(per))
            .for_each(|(((da, db), (a, b)), gr)| match cfg.activation {
                Activation::GeluTanh => kernels::gated_gelu_backward(a, b, gr, da, db),
                Activation::Silu => kernels::gated_silu_backward(a, b, gr, da, db),
            });
        drop(dact);
        let mut dh = vec![0f32; rows * d];
        self.linear_backward(g, li, GATE, &dgate, &c.ffn_in.out, rows, &mut dh, false);
        self.linear_backward(g, li, UP, &dup, &c.ffn_in.out, rows, &mut dh, true);
        drop((dgate, dup));
        c.ffn_in
            .backward(&nw[FFN_NORM], &dh, g.norm(FFN_NORM), dx, true);
        // Attention: xm = x + post(o(attn(rope(norm(q)), rope(norm(k)), v))).
        let do_ = self.norm_backward(c.post_attn.as_ref(), li, POST_ATTN_NORM, dx, g);
        let mut dctx = vec![0f32; rows * qd];
        self.linear_backward(g, li, O, &do_, &c.ctx, rows, &mut dctx, false);
        drop(do_);
        let (mut dq, mut dk, dv) = self.attention_backward(&c, spans, &dctx);
        self.rope(li).rotate(&mut dq, qd, spans, true);
        self.rope(li).rotate(&mut dk, kvd, spans, true);
        let dqn = self.norm_backward(c.q.as_ref(), li, Q_NORM, &dq, g);
        let dkn = self.norm_backward(c.k.as_ref(), li, K_NORM, &dk, g);
        g.bias(Q_BIAS, &dqn);
        g.bias(K_BIAS, &dkn);
        g.bias(V_BIAS, &dv);
        let xn = &c.attn_in.out;
        self.linear_backward(g, li, Q, &dqn, xn, rows, &mut dh, false);
        self.linear_backward(g, li, K, &dkn, xn, rows, &mut dh, true);
        self.linear_backward(g, li, V, &dv, xn, rows, &mut dh, true);
        c.attn_in
            .backward(&nw[ATTN_NORM], &dh, g.norm(ATTN_NORM), dx, true);
    }

    /// The input gradient of norm `p` of layer `li` from its output's `dy` (and its weight's
    /// into `g`), or `dy` itself where the architecture has no such norm.
    fn norm_backward(
        &self,
        n: Option<&Normed>,
        li: usize,
        p: usize,
        dy: &[f32],
        g: &mut LayerGrads,
    ) -> Vec<f32> {
        let Some(n) = n else {
            return dy.to_vec();
        };
        let mut dx = vec![0f32; dy.len()];
        n.backward(&self.norms[li][p], dy, g.norm(p), &mut dx, false);
        dx
    }

    /// Gradients of (rotated) q, k and v from the context's: per span and head, dv = pᵀ·dc,
    /// ds = softmax'(dc·vᵀ)·scale, dq = ds·k, dk = dsᵀ·q; the heads sharing a key/value
    /// head add into it.
    fn attention_backward(
        &self,
        c: &LayerCache,
        spans: &[Span],
        dctx: &[f32],
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let cfg = self.cfg;
        let (hd, heads, qd, kvd) = (cfg.head_dim, cfg.heads, cfg.q_dim(), cfg.kv_dim());
        let group = heads / cfg.kv_heads;
        let scale = cfg.scale();
        let rows = dctx.len() / qd;
        // One task per (span, key/value head): its query heads run in turn, adding into the
        // shared dk and dv. A span that continues the shared prefix has keys over the
        // prefix's rows too (`span_keys`), whose gradients are added into those rows.
        let tasks: Vec<(usize, usize)> = (0..spans.len())
            .flat_map(|s| (0..cfg.kv_heads).map(move |g| (s, g)))
            .collect();
        let parts: Vec<(Vec<f32>, Vec<f32>, Vec<f32>)> = tasks
            .par_iter()
            .map(|&(si, g)| {
                let s = spans[si];
                let (r, n) = (s.rows, s.pos + s.rows);
                let (keys, values) = (span_keys(&c.k_rot, kvd, s), span_keys(&c.v, kvd, s));
                let kv_ = View::new(&keys, n, kvd).columns(g * hd, hd);
                let vv = View::new(&values, n, kvd).columns(g * hd, hd);
                let mut dq = vec![0f32; r * group * hd];
                let (mut dk, mut dv) = (vec![0f32; n * hd], vec![0f32; n * hd]);
                for j in 0..group {
                    let h = g * group + j;
                    let p = &c.probs[si * heads + h];
                    let qv = View::new(&c.q_rot, rows, qd)
                        .rows(s.row, r)
                        .columns(h * hd, hd);
                    let dc = View::new(dctx, rows, qd).rows(s.row, r).columns(h * hd, hd);
                    let pv = View::new(p, r, n);
                    matmul(
                        Out::new(&mut dv, n, hd),
                        pv.t(),
                        dc,
                        1.0,
                        true,
                        Threads::One,
                    );
                    let mut ds = vec![0f32; r * n];
                    matmul(
                        Out::new(&mut ds, r, n),
                        dc,
                        vv.t(),
                        1.0,
                        false,
                        Threads::One,
                    );
                    kernels::softmax_backward_rows(p, &mut ds, n);
                    let dsv = View::new(&ds, r, n);
                    matmul(
                        Out {
                            data: &mut dq[j * hd..],
                            rows: r,
                            cols: hd,
                            rs: group * hd,
                        },
                        dsv,
                        kv_,
                        scale,
                        false,
                        Threads::One,
                    );
                    matmul(
                        Out::new(&mut dk, n, hd),
                        dsv.t(),
                        qv,
                        scale,
                        true,
                        Threads::One,
                    );
                }
                (dq, dk, dv)
            })
            .collect();
        let (mut dq, mut dk, mut dv) = (
            vec![0f32; rows * qd],
            vec![0f32; rows * kvd],
            vec![0f32; rows * kvd],
        );
        for (&(si, g), (pq, pk, pv)) in tasks.iter().zip(parts) {
            let s = spans[si];
            let w = group * hd;
            for i in 0..s.rows {
                let r = s.row + i;
                dq[r * qd + g * w..r * qd + (g + 1) * w].copy_from_slice(&pq[i * w..(i + 1) * w]);
            }
            // Key j is position j: a prefix row below the span's position, its own after.
            for j in 0..s.pos + s.rows {
                let r = if j < s.pos { j } else { s.row + j - s.pos };
                let at = r * kvd + g * hd;
                kernels::add_assign(&mut dk[at..at + hd], &pk[j * hd..(j + 1) * hd]);
                kernels::add_assign(&mut dv[at..at + hd], &pv[j * hd..(j + 1) * hd]);
            }
        }
        (dq, dk, dv)
    }
}

impl Prepared<'_> {
    /// Adds into `grads` the gradient of `scale` × the summed cross-entropy of the target
    /// tokens of `batch` (the decoder-only format: each example's last `target_len` tokens),
    /// and returns (summed loss, target tokens).
    pub fn accumulate(&self, batch: &[&DecoderExample], scale: f32, grads: Grads) -> (f64, usize) {
        self.accumulate_shared(batch, shared_prefix(batch), scale, grads)
    }

    /// `accumulate` with the batch's first `shared` tokens computed once (`forward_shared`);
    /// `shared` must not reach a row that predicts a target.
    pub fn accumulate_shared(
        &self,
        batch: &[&DecoderExample],
        shared: usize,
        scale: f32,
        grads: Grads,
    ) -> (f64, usize) {
        let seqs: Vec<&[u32]> = batch.iter().map(|e| e.ids.as_slice()).collect();
        let fwd = self.forward_shared(shared, &seqs, true);
        let own = &fwd.spans[fwd.spans.len() - batch.len()..];
        let mut targets = Vec::new();
        for (e, s) in batch.iter().zip(own) {
            let (len, n) = (e.ids.len(), e.targets());
            for k in 0..n {
                let at = len - n - 1 + k;
                assert!(at >= s.pos, "a target's row lies in the shared prefix");
                targets.push((s.row + at - s.pos, e.ids[len - n + k]));
            }
        }
        if targets.is_empty() {
            return (0.0, 0);
        }
        let count = targets.len();
        (self.backward(fwd, &targets, scale, grads), count)
    }
}

/// How many leading tokens every example of `batch` shares and can be computed once: their
/// common prefix (the instruction and options, when a batch holds one dataset's prompts),
/// short of the row that predicts any example's first target. None (0) for a single example.
pub fn shared_prefix(batch: &[&DecoderExample]) -> usize {
    let cap = batch
        .iter()
        .map(|e| (e.ids.len() - e.targets()).saturating_sub(1))
        .min()
        .unwrap_or(0);
    let seqs: Vec<&[u32]> = batch.iter().map(|e| e.ids.as_slice()).collect();
    common_prefix(&seqs, cap)
}

/// The length of the longest beginning all of `seqs` share, at most `cap`; 0 for fewer than
/// two sequences, where nothing is shared.
pub fn common_prefix(seqs: &[&[u32]], cap: usize) -> usize {
    let Some((first, rest)) = seqs.split_first() else {
        return 0;
    };
    if rest.is_empty() {
        return 0;
    }
    let mut n = cap.min(first.len());
    for s in rest {
        n = first[..n]
            .iter()
            .zip(*s)
            .take_while(|(a, b)| a == b)
            .count();
    }
    n
}
