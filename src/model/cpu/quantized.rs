//! Int8 copies of a decoder's matrices for decoding (`--decode-weights q8`). A decoding step
//! multiplies a few rows by every weight, so it is bound by the bytes it streams: int8 blocks
//! of 32 with an f32 scale each (llama.cpp's Q8_0 layout, 1.125 bytes a weight) stream 3.6×
//! fewer than f32. Only decoding steps and the head use them; prefill and training keep f32.

use rayon::prelude::*;

use super::kernels::{self, Q8_BLOCK};
use super::matmul::few_rows_times;
use crate::model::decoder::config::DecoderConfig;
use crate::model::decoder::weights::{DecoderWeights, DOWN, GATE, K, O, PARTS, Q, UP, V};

/// A [rows, cols] matrix as int8 blocks of `Q8_BLOCK` along each row, each block scaled by
/// its largest magnitude over 127.
pub struct Q8Matrix {
    rows: usize,
    cols: usize,
    q: Vec<i8>,
    scales: Vec<f32>,
}

impl Q8Matrix {
    /// `w` [rows, w.len() / rows] in int8 blocks; `None` when a row does not split into whole
    /// blocks or a weight is not finite (the matrix then stays f32).
    pub fn quantize(w: &[f32], rows: usize) -> Option<Q8Matrix> {
        let cols = w.len() / rows.max(1);
        if rows == 0 || cols == 0 || cols % Q8_BLOCK != 0 || rows * cols != w.len() {
            return None;
        }
        if !w.par_iter().all(|v| v.is_finite()) {
            return None;
        }
        let mut q = vec![0i8; w.len()];
        let mut scales = vec![0f32; w.len() / Q8_BLOCK];
        q.par_chunks_mut(Q8_BLOCK)
            .zip(scales.par_iter_mut())
            .zip(w.par_chunks(Q8_BLOCK))
            .for_each(|((qb, s), wb)| {
                let largest = wb.iter().fold(0f32, |m, v| m.max(v.abs()));
                *s = largest / 127.0;
                if *s > 0.0 {
                    for (q, v) in qb.iter_mut().zip(wb) {
                        *q = (v / *s).round().clamp(-127.0, 127.0) as i8;
                    }
                }
            });
        Some(Q8Matrix {
            rows,
            cols,
            q,
            scales,
        })
    }

    /// Row `r` as the f32 weights the products use.
    pub fn row(&self, r: usize) -> Vec<f32> {
        let blocks = self.cols / Q8_BLOCK;
        let q = &self.q[r * self.cols..(r + 1) * self.cols];
        let s = &self.scales[r * blocks..(r + 1) * blocks];
        q.chunks_exact(Q8_BLOCK)
            .zip(s)
            .flat_map(|(qb, &s)| qb.iter().map(move |&v| v as f32 * s))
            .collect()
    }

    /// The weight rows `first..first + count`: (int8 values, scales).
    fn block_rows(&self, first: usize, count: usize) -> (&[i8], &[f32]) {
        let blocks = self.cols / Q8_BLOCK;
        (
            &self.q[first * self.cols..(first + count) * self.cols],
            &self.scales[first * blocks..(first + count) * blocks],
        )
    }

    /// `x·Wᵀ` for the rows of `x` [rows, cols] (a decoding step's few), split over the cores by
    /// weight rows.
    pub fn times(&self, x: &[f32], rows: usize) -> Vec<f32> {
        assert_eq!(x.len(), rows * self.cols, "x is not [rows, cols]");
        few_rows_times(rows, self.rows, self.cols, |first, out| {
            let (q, s) = self.block_rows(first, out.len() / rows);
            kernels::q8_rows_times(q, s, x, self.cols, out);
        })
    }

    /// Row `r`·x, one logit of a constrained step.
    pub fn dot_row(&self, r: usize, x: &[f32]) -> f32 {
        let (q, s) = self.block_rows(r, 1);
        let mut out = [0f32];
        kernels::q8_rows_times(q, s, x, self.cols, &mut out);
        out[0]
    }
}

/// The projections and head a decoding step multiplies by, in int8.
pub struct Q8Decoder {
    /// Per layer, per part of `PARTS`: the projections' int8 copies (norms and biases none).
    layers: Vec<Vec<Option<Q8Matrix>>>,
    head: Option<Q8Matrix>,
}

impl Q8Decoder {
    /// Int8 copies of `w`'s projections and head.
    pub fn of(cfg: &DecoderConfig, w: &DecoderWeights) -> Q8Decoder {
        let layers = w
            .layers
            .iter()
            .map(|l| {
                (0..PARTS.len())
                    .map(|p| out_dim(cfg, p).and_then(|rows| Q8Matrix::quantize(&l[p], rows)))
                    .collect()
            })
            .collect();
        Q8Decoder {
            layers,
            head: Q8Matrix::quantize(w.head(), cfg.vocab_size),
        }
    }

    pub fn part(&self, layer: usize, p: usize) -> Option<&Q8Matrix> {
        self.layers[layer][p].as_ref()
    }

    pub fn head(&self) -> Option<&Q8Matrix> {
        self.head.as_ref()
    }
}

/// The output size of projection `p` (its rows); `None` for norms and biases.
fn out_dim(cfg: &DecoderConfig, p: usize) -> Option<usize> {
    match p {
        Q => Some(cfg.q_dim()),
        K | V => Some(cfg.kv_dim()),
        O | DOWN => Some(cfg.hidden),
        GATE | UP => Some(cfg.intermediate),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 33) % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn each_weight_is_within_half_a_step_of_its_block_scale() {
        let (n, k) = (5, 96);
        let mut w = values(n * k, 1);
        w[40] = 7.5; // one large weight sets its block's step
        w[64..96].fill(0.0); // an all-zero block
        let q = Q8Matrix::quantize(&w, n).unwrap();
        for r in 0..n {
            let got = q.row(r);
            for (b, (gb, wb)) in got
                .chunks(Q8_BLOCK)
                .zip(w[r * k..(r + 1) * k].chunks(Q8_BLOCK))
                .enumerate()
            {
                let step = wb.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
                for (g, v) in gb.iter().zip(wb) {
                    assert!(
                        (g - v).abs() <= step / 2.0 + 1e-6,
                        "row {r} block {b}: {g} for {v} (step {step})"
                    );
                }
            }
        }
        assert!(q.row(0)[64..96].iter().all(|v| *v == 0.0));
    }

    #[test]
    fn rows_that_do_not_split_into_blocks_or_hold_a_nan_stay_f32() {
        assert!(Q8Matrix::quantize(&values(3 * 48, 2), 3).is_none());
        let mut w = values(2 * 64, 3);
        w[70] = f32::NAN;
        assert!(Q8Matrix::quantize(&w, 2).is_none());
        w[70] = f32::INFINITY;
        assert!(Q8Matrix::quantize(&w, 2).is_none());
        assert!(Q8Matrix::quantize(&[], 0).is_none());
    }

    /// The products equal those with the converted weights, and a row's result is the same
    /// bits whether it is multiplied alone, in a batch, or as one logit.
    #[test]
    fn products_use_the_converted_weights_whatever_the_batch() {
        let (n, k) = (300, 128);
        let q = Q8Matrix::quantize(&values(n * k, 4), n).unwrap();
        let converted: Vec<f32> = (0..n).flat_map(|r| q.row(r)).collect();
        for rows in [1, 2, 5, 16] {
            let x = values(rows * k, 5 + rows as u64);
            let got = q.times(&x, rows);
            for r in 0..rows {
                let xr = &x[r * k..(r + 1) * k];
                let alone = q.times(xr, 1);
                for j in 0..n {
                    let want: f32 = converted[j * k..(j + 1) * k]
                        .iter()
                        .zip(xr)
                        .map(|(w, x)| w * x)
                        .sum();
                    let g = got[r * n + j];
                    assert!(
                        (g - want).abs() < 1e-3,
                        "rows {rows}, [{r}, {j}]: {g} vs {want}"
                    );
                    assert_eq!(g.to_bits(), alone[j].to_bits(), "rows {rows}, [{r}, {j}]");
                    assert_eq!(g.to_bits(), q.dot_row(j, xr).to_bits(), "logit [{r}, {j}]");
                }
            }
        }
    }
}
