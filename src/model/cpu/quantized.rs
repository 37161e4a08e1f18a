//! Int8 copies of a decoder's matrices for decoding (`--decode-weights q8`). A decoding step
//! multiplies a few rows by every weight, so it is bound by the bytes it streams: int8 blocks
//! of 32 with an f32 scale each (llama.cpp's Q8_0 layout, 1.125 bytes a weight) stream 3.6×
//! fewer than f32. Only decoding steps and the head use them; prefill and training keep f32.
//! With f32 weights, `HeadScreen` keeps an int8 copy of the head to find the f32 head's token.

use std::borrow::Cow;

use rayon::prelude::*;

use super::kernels::{self, Q8_BLOCK};
use super::matmul::{few_rows_times, x_times_wt};
use crate::model::decoder::config::DecoderConfig;
use crate::model::decoder::weights::{DecoderWeights, DOWN, GATE, K, O, Q, UP, V};

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
        if rows == 0 || cols == 0 || !cols.is_multiple_of(Q8_BLOCK) || rows * cols != w.len() {
            return None;
        }
        let mut q = vec![0i8; w.len()];
        let mut scales = vec![0f32; w.len() / Q8_BLOCK];
        // A few hundred blocks a task: quantizing a model is part of predicting's time.
        let per = 256 * Q8_BLOCK;
        let finite = q
            .par_chunks_mut(per)
            .zip(scales.par_chunks_mut(per / Q8_BLOCK))
            .zip(w.par_chunks(per))
            .map(|((q, s), w)| kernels::quantize_q8(w, q, s))
            .reduce(|| true, |a, b| a && b);
        if !finite {
            return None;
        }
        Some(Q8Matrix {
            rows,
            cols,
            q,
            scales,
        })
    }

    /// The width of a row (the products' input width).
    pub fn cols(&self) -> usize {
        self.cols
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

/// Finds the greedy token of an f32 head without streaming the f32 head: an int8 copy of it
/// (a quarter of the bytes) scores every token, each score within a bound of its f32 logit,
/// and only the tokens whose bound reaches the best lower bound are scored again in f32. The
/// f32 logits' argmax is always among them, so the answer is the f32 head's. Gemma 3's GGUF
/// head is itself Q8_0, so there the int8 scores differ from f32 by rounding alone; on its
/// steps a median of 2 tokens of 262,144 were scored again (81 at most in 2,048 steps).
pub struct HeadScreen {
    q: Q8Matrix,
    /// Per row, its largest block scale.
    largest_scale: Vec<f32>,
}

impl HeadScreen {
    /// A screen for `head` [rows, hidden]; `None` where `Q8Matrix::quantize` keeps f32.
    pub fn of(head: &[f32], rows: usize) -> Option<HeadScreen> {
        let q = Q8Matrix::quantize(head, rows)?;
        let largest_scale = q
            .scales
            .par_chunks(q.cols / Q8_BLOCK)
            .map(|s| s.iter().fold(0f32, |m, v| m.max(*v)))
            .collect();
        Some(HeadScreen { q, largest_scale })
    }

    /// For each row of `xn` [rows, hidden], the index of its largest logit under `head` (the
    /// f32 matrix this screen was made from), the first on ties, each candidate's logit
    /// computed as `kernels::dot` computes it.
    pub fn argmax(&self, head: &[f32], xn: &[f32]) -> Vec<u32> {
        let k = self.q.cols;
        let rows = xn.len() / k;
        let screened = self.q.times(xn, rows);
        // |int8 score − f32 logit| ≤ Σ_blocks (scale/2)·Σ|x| for the rounding to int8, plus
        // the float rounding of both sums (each under k·2⁻²⁴ of Σ|w·x| ≤ 127.5·scale·Σ|x|);
        // the rounding term is taken four times over, the largest scale for every block.
        let per_abs = 0.5 + 2.0 * 2.0 * 127.5 * k as f32 * f32::EPSILON;
        xn.chunks_exact(k)
            .zip(screened.chunks_exact(self.q.rows))
            .map(|(x, scores)| {
                let spread = per_abs * x.iter().map(|v| v.abs()).sum::<f32>();
                let floor = scores
                    .iter()
                    .zip(&self.largest_scale)
                    .map(|(s, m)| s - spread * m)
                    .fold(f32::NEG_INFINITY, f32::max);
                if !floor.is_finite() {
                    // A NaN or infinite input: score every row as the f32 head would.
                    return kernels::argmax(&x_times_wt(x, 1, head, self.q.rows)) as u32;
                }
                let mut best: Option<(f32, usize)> = None;
                for (j, (s, m)) in scores.iter().zip(&self.largest_scale).enumerate() {
                    if s + spread * m < floor {
                        continue;
                    }
                    let exact = kernels::dot(x, &head[j * k..(j + 1) * k]);
                    if best.is_none_or(|(b, _)| exact > b) {
                        best = Some((exact, j));
                    }
                }
                best.map_or(0, |(_, j)| j) as u32
            })
            .collect()
    }
}

/// The projections a decoding step multiplies one input by in one product: a layer's query,
/// key and value projections all take the attention input, its gate and up projections the
/// feed-forward input. Stacked, each group is one hand-off to the other cores instead of two
/// or three; each output is the same dot product either way.
pub const STACKS: [&[usize]; 4] = [&[Q, K, V], &[O], &[GATE, UP], &[DOWN]];

/// The projections and head a decoding step multiplies by, in int8.
pub struct Q8Decoder {
    /// Per layer, per group of `STACKS`: the group's projections stacked row-wise in int8
    /// (`None` when a row does not split into blocks).
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
                STACKS
                    .iter()
                    .map(|parts| {
                        let rows = parts.iter().map(|&p| out_dim(cfg, p)).sum();
                        let w: Cow<[f32]> = match parts {
                            [one] => Cow::Borrowed(&l[*one]),
                            _ => parts.iter().flat_map(|&p| l[p].iter().copied()).collect(),
                        };
                        Q8Matrix::quantize(&w, rows)
                    })
                    .collect()
            })
            .collect();
        Q8Decoder {
            layers,
            head: Q8Matrix::quantize(w.head(), cfg.vocab_size),
        }
    }

    /// The int8 copy of `parts` of `layer`, stacked in that order: one of `STACKS`.
    pub fn stack(&self, layer: usize, parts: &[usize]) -> Option<&Q8Matrix> {
        let group = STACKS.iter().position(|g| *g == parts)?;
        self.layers[layer][group].as_ref()
    }

    pub fn head(&self) -> Option<&Q8Matrix> {
        self.head.as_ref()
    }
}

/// The output size of projection `p` (its rows).
pub fn out_dim(cfg: &DecoderConfig, p: usize) -> usize {
    match p {
        Q => cfg.q_dim(),
        K | V => cfg.kv_dim(),
        O | DOWN => cfg.hidden,
        GATE | UP => cfg.intermediate,
        _ => unreachable!("part {p} is not a projection"),
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

    /// The f32 head's greedy token, every row scored.
    fn full_argmax(head: &[f32], x: &[f32], k: usize) -> u32 {
        let logits: Vec<f32> = head.chunks_exact(k).map(|r| kernels::dot(x, r)).collect();
        kernels::argmax(&logits) as u32
    }

    #[test]
    fn the_screen_finds_the_f32_heads_token_where_int8_alone_would_not() {
        let (n, k) = (3000, 64);
        let mut head = values(n * k, 7);
        // Input one-hot at weight 1, so a logit is the row's weight 1. Row 5 leads in f32
        // with 0.5115 against row 9's 0.5110, but their blocks' largest weights (2 and 1) make
        // int8 round row 5 down to 32·2/127 and row 9 up to 65/127: int8 alone picks row 9.
        for r in 0..n {
            head[r * k + 1] = head[r * k + 1].min(0.4);
        }
        for (r, largest, w) in [(5, 2.0, 0.5115), (9, 1.0, 0.5110)] {
            head[r * k] = largest;
            head[r * k + 1] = w;
        }
        let mut x = vec![0f32; k];
        x[1] = 1.0;
        let screen = HeadScreen::of(&head, n).unwrap();
        let int8 = screen.q.times(&x, 1);
        assert_eq!(
            kernels::argmax(&int8),
            9,
            "int8 alone orders the two the other way"
        );
        assert_eq!(full_argmax(&head, &x, k), 5);
        assert_eq!(screen.argmax(&head, &x), vec![5]);
        // Random inputs, two rows at a time; a tie at the top (a zero input) goes to the first
        // row; a NaN input gets what the f32 head gives it.
        for seed in 0..20 {
            let xs = values(2 * k, 100 + seed);
            let want: Vec<u32> = xs.chunks(k).map(|x| full_argmax(&head, x, k)).collect();
            assert_eq!(screen.argmax(&head, &xs), want, "seed {seed}");
        }
        assert_eq!(screen.argmax(&head, &vec![0.0; k]), vec![0]);
        x[3] = f32::NAN;
        assert_eq!(screen.argmax(&head, &x), vec![full_argmax(&head, &x, k)]);
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
