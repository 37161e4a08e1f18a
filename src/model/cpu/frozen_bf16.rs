//! A LoRA run's frozen base in bf16 on AMX tiles (`--frozen-weights bf16`): each projection
//! and the head packed once for both products a pass needs, `x·wᵀ` forward and `dy·w` for the
//! input gradient. The adapters stay f32 and are added as their low-rank products,
//! `s·(x·Aᵀ)·Bᵀ` and `s·(dy·B)·A`, so the base is never re-merged or re-packed between steps.

use super::amx::Bf16Matrix;
use super::matmul::{matmul, Out, Threads, View};
use super::quantized::out_dim;
use crate::model::decoder::lora::Adapters;
use crate::model::decoder::weights::{DOWN, GATE, K, O, Q, UP, V};
use crate::model::decoder::{DecoderConfig, DecoderWeights};

const PROJECTIONS: [usize; 7] = [Q, K, V, O, GATE, UP, DOWN];

/// One weight packed for its two products.
struct Packed {
    forward: Bf16Matrix,
    backward: Bf16Matrix,
}

impl Packed {
    /// `w` [n, k].
    fn of(w: &[f32], n: usize) -> Packed {
        let k = w.len() / n.max(1);
        Packed {
            forward: Bf16Matrix::transposed(w, n, k),
            backward: Bf16Matrix::plain(w, n, k),
        }
    }
}

/// The projections of every layer and the head, packed.
pub struct FrozenBf16 {
    /// `[layer][part]`, `None` for the parts that are not projections.
    layers: Vec<Vec<Option<Packed>>>,
    head: Packed,
}

impl FrozenBf16 {
    /// Packs the base weights `w` (before any adapter is merged into them). Needs
    /// `amx::available()` for its products.
    pub fn of(cfg: &DecoderConfig, w: &DecoderWeights) -> FrozenBf16 {
        let layers = w
            .layers
            .iter()
            .map(|l| {
                (0..l.len())
                    .map(|p| {
                        PROJECTIONS
                            .contains(&p)
                            .then(|| Packed::of(&l[p], out_dim(cfg, p)))
                    })
                    .collect()
            })
            .collect();
        FrozenBf16 {
            layers,
            head: Packed::of(w.head(), cfg.vocab_size),
        }
    }

    fn part(&self, layer: usize, p: usize) -> &Packed {
        self.layers[layer][p]
            .as_ref()
            .expect("only projections are multiplied")
    }

    /// Logits of normalised rows `xn`: xn·Hᵀ.
    pub fn logits(&self, xn: &[f32]) -> Vec<f32> {
        let f = &self.head.forward;
        f.times(xn, xn.len() / f.k())
    }

    /// The rows' gradient from the logits': dlogits·H.
    pub fn head_input_grad(&self, dlogits: &[f32], dx: &mut [f32]) {
        let b = &self.head.backward;
        b.times_into(dlogits, dlogits.len() / b.k(), dx, false);
    }
}

/// A pass through the packed base, with the adapters that add to it.
#[derive(Clone, Copy)]
pub struct Bf16Pass<'a> {
    pub base: &'a FrozenBf16,
    pub adapters: Option<&'a Adapters>,
}

impl Bf16Pass<'_> {
    /// Part `p` of `layer`'s adapter (A [rank, in], B [out, rank], scale), when it has one.
    fn adapter(&self, layer: usize, p: usize) -> Option<(&[f32], &[f32], f32)> {
        let ad = self.adapters?;
        let k = ad.parts.iter().position(|&q| q == p)?;
        Some((&ad.a[layer][k], &ad.b[layer][k], ad.options.scale()))
    }

    /// `x·(W0 + s·B·A)ᵀ` for part `p` of `layer`, x [rows, in].
    pub fn times(&self, layer: usize, p: usize, x: &[f32]) -> Vec<f32> {
        let f = &self.base.part(layer, p).forward;
        let rows = x.len() / f.k();
        let mut y = f.times(x, rows);
        if let Some((a, b, s)) = self.adapter(layer, p) {
            let rank = a.len() / f.k();
            let (a, b) = (View::new(a, rank, f.k()), View::new(b, f.n(), rank));
            low_rank_add(&mut y, View::new(x, rows, f.k()), a.t(), b.t(), s);
        }
        y
    }

    /// The input gradient of part `p` of `layer` from its output's `dy` [rows, out]:
    /// dx = dy·(W0 + s·B·A), or dx += with `accumulate`.
    pub fn input_grad(&self, layer: usize, p: usize, dy: &[f32], dx: &mut [f32], accumulate: bool) {
        let b0 = &self.base.part(layer, p).backward;
        let rows = dy.len() / b0.k();
        b0.times_into(dy, rows, dx, accumulate);
        if let Some((a, b, s)) = self.adapter(layer, p) {
            let rank = b.len() / b0.k();
            let (a, b) = (View::new(a, rank, b0.n()), View::new(b, b0.k(), rank));
            low_rank_add(dx, View::new(dy, rows, b0.k()), b, a, s);
        }
    }
}

/// `out += s·(x·first)·second` through the rank-wide middle `x·first`.
fn low_rank_add(out: &mut [f32], x: View, first: View, second: View, s: f32) {
    let mut mid = vec![0f32; x.rows * first.cols];
    matmul(
        Out::new(&mut mid, x.rows, first.cols),
        x,
        first,
        1.0,
        false,
        Threads::All,
    );
    matmul(
        Out::new(out, x.rows, second.cols),
        View::new(&mid, x.rows, first.cols),
        second,
        s,
        true,
        Threads::All,
    );
}
