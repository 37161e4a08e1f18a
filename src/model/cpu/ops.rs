//! The pieces of T5's passes on f32 slices: linear layers forward and backward, RMS norms,
//! and the regrouping of attention heads.

use rayon::prelude::*;

use super::kernels;
use super::matmul::{few_rows, matmul, x_times_wt, Out, Threads, View};

/// Below this many elements an elementwise pass stays on the calling thread.
pub(super) const PARALLEL_MIN: usize = 1 << 15;

/// `x·wᵀ` for `x` [rows, in] and `w` [out_dim, in].
pub(super) fn linear(x: &[f32], rows: usize, w: &[f32], out_dim: usize) -> Vec<f32> {
    if few_rows(rows, w.len()) {
        return x_times_wt(x, rows, w, out_dim);
    }
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
pub(super) fn linear_backward(
    dy: &[f32],
    x: &[f32],
    rows: usize,
    w: &[f32],
    dw: &mut [f32],
    dx: &mut [f32],
    accumulate: bool,
) {
    linear_weight_grad(dy, x, rows, dw);
    linear_input_grad(dy, rows, w, dx, accumulate);
}

/// The weight's gradient of `y = x·wᵀ` alone: dw += dyᵀ·x.
pub(super) fn linear_weight_grad(dy: &[f32], x: &[f32], rows: usize, dw: &mut [f32]) {
    let out_dim = dy.len() / rows.max(1);
    let in_dim = x.len() / rows.max(1);
    matmul(
        Out::new(dw, out_dim, in_dim),
        View::new(dy, rows, out_dim).t(),
        View::new(x, rows, in_dim),
        1.0,
        true,
        Threads::All,
    );
}

/// The input's gradient of `y = x·wᵀ` alone (a frozen `w`): dx = dy·w, or dx += with
/// `accumulate`.
pub(super) fn linear_input_grad(
    dy: &[f32],
    rows: usize,
    w: &[f32],
    dx: &mut [f32],
    accumulate: bool,
) {
    let out_dim = dy.len() / rows.max(1);
    let in_dim = w.len() / out_dim.max(1);
    matmul(
        Out::new(dx, rows, in_dim),
        View::new(dy, rows, out_dim),
        View::new(w, out_dim, in_dim),
        1.0,
        accumulate,
        Threads::All,
    );
}

/// A LoRA pair's gradients for `y = x·(W0 + s·B·A)ᵀ`, A [rank, in] and B [out, rank], without
/// forming the [out, in] gradient of the merged weight G = dyᵀ·x: dB += s·G·Aᵀ = s·dyᵀ·(x·Aᵀ)
/// and dA += s·Bᵀ·G = s·(dy·B)ᵀ·x, about 2·rows·rank·(in + out) products instead of
/// rows·in·out.
pub(super) fn low_rank_weight_grads(
    dy: &[f32],
    x: &[f32],
    rows: usize,
    (a, b): (&[f32], &[f32]),
    scale: f32,
    da: &mut [f32],
    db: &mut [f32],
) {
    let out_dim = dy.len() / rows.max(1);
    let in_dim = x.len() / rows.max(1);
    let rank = a.len() / in_dim.max(1);
    let mut xa = vec![0f32; rows * rank];
    matmul(
        Out::new(&mut xa, rows, rank),
        View::new(x, rows, in_dim),
        View::new(a, rank, in_dim).t(),
        1.0,
        false,
        Threads::All,
    );
    matmul(
        Out::new(db, out_dim, rank),
        View::new(dy, rows, out_dim).t(),
        View::new(&xa, rows, rank),
        scale,
        true,
        Threads::All,
    );
    let mut dyb = xa;
    matmul(
        Out::new(&mut dyb, rows, rank),
        View::new(dy, rows, out_dim),
        View::new(b, out_dim, rank),
        1.0,
        false,
        Threads::All,
    );
    matmul(
        Out::new(da, rank, in_dim),
        View::new(&dyb, rows, rank).t(),
        View::new(x, rows, in_dim),
        scale,
        true,
        Threads::All,
    );
}

/// Rows per parallel task for an elementwise pass over `rows` of `cols`.
pub(super) fn rows_per_task(rows: usize, cols: usize) -> usize {
    if rows * cols < PARALLEL_MIN {
        return rows.max(1);
    }
    rows.div_ceil(rayon::current_num_threads() * 4).max(1)
}

/// An RMS-normalised sublayer input: the residual stream, its normalised form (times the
/// norm's weight) and 1/rms per row.
pub(super) struct Normed {
    pub(super) x: Vec<f32>,
    pub(super) out: Vec<f32>,
    pub(super) inv_rms: Vec<f32>,
}

impl Normed {
    pub(super) fn new(x: Vec<f32>, w: &[f32], eps: f32, d: usize) -> Normed {
        let rows = x.len() / d;
        let mut out = vec![0f32; x.len()];
        let mut inv_rms = vec![0f32; rows];
        let per = rows_per_task(rows, d);
        out.par_chunks_mut(per * d)
            .zip(inv_rms.par_chunks_mut(per))
            .zip(x.par_chunks(per * d))
            .for_each(|((o, r), x)| kernels::rms_norm_rows(x, w, eps, d, o, r));
        Normed { x, out, inv_rms }
    }

    /// dw += Σ dy⊙x·r (unless the weight is frozen: `None`), and dx (+)= the input gradient.
    pub(super) fn backward(
        &self,
        w: &[f32],
        dy: &[f32],
        dw: Option<&mut [f32]>,
        dx: &mut [f32],
        accumulate: bool,
    ) {
        let d = w.len();
        if let Some(dw) = dw {
            kernels::rms_norm_weight_grad(&self.x, &self.inv_rms, dy, d, dw);
        }
        let rows = self.x.len() / d;
        let per = rows_per_task(rows, d);
        dx.par_chunks_mut(per * d)
            .zip(self.x.par_chunks(per * d))
            .zip(dy.par_chunks(per * d).zip(self.inv_rms.par_chunks(per)))
            .for_each(|((dx, x), (dy, r))| {
                kernels::rms_norm_backward_rows(x, w, r, dy, d, dx, accumulate);
            });
    }
}

pub(super) fn par_add_assign(y: &mut [f32], x: &[f32]) {
    let per = rows_per_task(y.len(), 1);
    y.par_chunks_mut(per)
        .zip(x.par_chunks(per))
        .for_each(|(y, x)| kernels::add_assign(y, x));
}

/// Head `h` of batch row `bi` in a [b·block, inner] matrix whose batch rows hold `block`
/// rows each: the first `rows` of them, as a [rows, dkv] view.
pub(super) fn head_view(
    m: &[f32],
    (b, block): (usize, usize),
    rows: usize,
    inner: usize,
    (bi, h): (usize, usize),
    dkv: usize,
) -> View<'_> {
    View::new(m, b * block, inner)
        .rows(bi * block, rows)
        .columns(h * dkv, dkv)
}

/// Rows of [b·rows, heads·dkv] regrouped as [b, heads, rows, dkv], or back with `to_heads`
/// false.
pub(super) fn regroup(
    x: &[f32],
    b: usize,
    rows: usize,
    heads: usize,
    dkv: usize,
    to_heads: bool,
) -> Vec<f32> {
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
