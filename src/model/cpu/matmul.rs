//! Matrix products on row-major f32 slices through the `gemm` crate (the one candle uses), with
//! the three shapes a linear layer's forward and backward passes need and accumulation into
//! the destination, so gradients add up without a zeroed temporary and a second pass.

use gemm::Parallelism;
use rayon::prelude::*;

use std::sync::Mutex;

use super::kernels;
use super::team::Team;

/// A strided view of a matrix: element (r, c) sits at `data[r * rs + c * cs]`.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> View<'a> {
    /// A row-major matrix.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert!(data.len() >= rows * cols, "matrix view out of bounds");
        View {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose, without moving data.
    pub fn t(self) -> Self {
        View {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    /// Columns `start..start + cols` (one attention head of a [rows, heads·d] matrix).
    pub fn columns(self, start: usize, cols: usize) -> Self {
        assert!(start + cols <= self.cols);
        View {
            data: &self.data[start * self.cs..],
            cols,
            ..self
        }
    }

    /// Rows `start..start + rows`.
    pub fn rows(self, start: usize, rows: usize) -> Self {
        assert!(start + rows <= self.rows);
        View {
            data: &self.data[start * self.rs..],
            rows,
            ..self
        }
    }

    fn last(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            0
        } else {
            (self.rows - 1) * self.rs + (self.cols - 1) * self.cs + 1
        }
    }
}

/// The destination of a product: a row-major block with row stride `rs`.
pub struct Out<'a> {
    pub data: &'a mut [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
}

impl<'a> Out<'a> {
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        Out {
            data,
            rows,
            cols,
            rs: cols,
        }
    }
}

/// Whether a product runs on the rayon pool or on the calling thread (the attention products
/// are small and already run one per thread).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    All,
    One,
}

/// `out = alpha·a·b`, or `out += alpha·a·b` with `accumulate`.
pub fn matmul(out: Out, a: View, b: View, alpha: f32, accumulate: bool, threads: Threads) {
    assert_eq!(a.cols, b.rows, "inner dimensions differ");
    assert_eq!((out.rows, out.cols), (a.rows, b.cols), "output shape");
    assert!(a.last() <= a.data.len() && b.last() <= b.data.len());
    assert!(out.rows == 0 || (out.rows - 1) * out.rs + out.cols <= out.data.len());
    if out.rows == 0 || out.cols == 0 {
        return;
    }
    if a.cols == 0 {
        if !accumulate {
            for r in 0..out.rows {
                out.data[r * out.rs..r * out.rs + out.cols].fill(0.0);
            }
        }
        return;
    }
    let parallelism = match threads {
        Threads::All => match rayon::current_num_threads() {
            0 | 1 => Parallelism::None,
            n => Parallelism::Rayon(n),
        },
        Threads::One => Parallelism::None,
    };
    // SAFETY: the asserts above keep every element the strides reach inside its slice, and
    // `out` is borrowed mutably, so it overlaps neither input.
    unsafe {
        gemm::gemm(
            out.rows,
            out.cols,
            a.cols,
            out.data.as_mut_ptr(),
            1,
            out.rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            alpha,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Whether `x_times_wt` is the faster product for `rows` input rows and a weight of `weights`
/// elements; otherwise `gemm`, whose blocking pays off once each weight is reused often
/// enough. Up to 16 rows always. With AVX-512's blocked dots (`weight_rows_times`), also up to
/// 64 rows of a weight the size of a layer's projections: one Gemma 3 270M layer's seven
/// products (at most 2048 × 640) took 1.5 / 2.7-2.9 / 4.7-5.1 ms at 16 / 32 / 64 rows, where
/// `gemm` took about 5 ms from 17 rows up and 6.0-6.8 at 64 (2 cores); after its shared
/// beginning, a prompt at batch 1 has 5-60 rows. The 262,144 × 640 head, which training
/// multiplies by its few dozen target rows, goes the other way: `gemm` 95 ms against 122 at 32
/// rows, 128 against 222 at 64.
pub fn few_rows(rows: usize, weights: usize) -> bool {
    if rows <= 16 {
        return true;
    }
    #[cfg(target_arch = "x86_64")]
    if rows <= 64 && weights <= LAYER_SIZED && kernels::has_avx512() {
        return true;
    }
    false
}

/// The most weight elements `few_rows` sends up to 64 rows to the few-row kernel with: above
/// Gemma 3 270M's largest projection (1.3 million), far below its head (168 million).
const LAYER_SIZED: usize = 1 << 22;

/// `x·wᵀ` for a few rows of `x` [rows, k] and a weight `w` [n, k], on every core: each thread
/// streams its share of the weight rows once (see `kernels::weight_rows_times`). `gemm` runs
/// such a product on one thread, at one core's memory bandwidth; this one reaches the
/// machine's.
pub fn x_times_wt(x: &[f32], rows: usize, w: &[f32], n: usize) -> Vec<f32> {
    let k = w.len() / n.max(1);
    assert_eq!(x.len(), rows * k, "x is not [rows, k]");
    few_rows_times(rows, n, k, |first, out| {
        let count = out.len() / rows.max(1);
        kernels::weight_rows_times(&w[first * k..(first + count) * k], x, k, out);
    })
}

/// The [rows, n] product of a few input rows with n weight rows of width k, split over the
/// cores by weight rows: `part(first, out)` fills `out[j·rows + r]` for weight rows
/// `first..first + out.len() / rows`. It runs on the process's `Team` (one share per thread,
/// the threads kept awake between a decoding step's products), or on rayon when another
/// thread holds the team.
pub(super) fn few_rows_times(
    rows: usize,
    n: usize,
    k: usize,
    part: impl Fn(usize, &mut [f32]) + Sync,
) -> Vec<f32> {
    let mut by_weight_row = vec![0f32; n * rows];
    if rows == 0 {
        return by_weight_row;
    }
    // On the team, one contiguous share per thread; on rayon (when the team is in use by
    // another thread), a few tasks per thread.
    let team = Team::global();
    let per = n.div_ceil(team.threads()).max(1);
    let shares: Vec<Mutex<(usize, &mut [f32])>> = by_weight_row
        .chunks_mut(per * rows)
        .enumerate()
        .map(|(i, out)| Mutex::new((i * per, out)))
        .collect();
    let on_team = team.run(shares.len(), &|i| {
        let mut share = shares[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (first, out) = &mut *share;
        part(*first, out);
    });
    drop(shares);
    if on_team.is_none() {
        let threads = rayon::current_num_threads();
        let per = n.div_ceil(threads * 4).max((1 << 14) / k.max(1)).max(1);
        by_weight_row
            .par_chunks_mut(per * rows)
            .enumerate()
            .for_each(|(task, out)| part(task * per, out));
    }
    if rows == 1 {
        return by_weight_row;
    }
    let mut out = vec![0f32; rows * n];
    for (j, col) in by_weight_row.chunks_exact(rows).enumerate() {
        for (r, v) in col.iter().enumerate() {
            out[r * n + j] = *v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: View, b: View) -> Vec<f32> {
        let mut out = vec![0f32; a.rows * b.cols];
        for r in 0..a.rows {
            for c in 0..b.cols {
                out[r * b.cols + c] = (0..a.cols)
                    .map(|k| a.data[r * a.rs + k * a.cs] * b.data[k * b.rs + c * b.cs])
                    .sum();
            }
        }
        out
    }

    #[test]
    fn few_row_products_match_gemm() {
        for (rows, n, k) in [(1, 1000, 64), (3, 37, 5), (8, 4096, 512), (16, 300, 33)] {
            let x: Vec<f32> = (0..rows * k)
                .map(|i| ((i * 13) % 29) as f32 / 7.0 - 2.0)
                .collect();
            let w: Vec<f32> = (0..n * k)
                .map(|i| ((i * 17) % 31) as f32 / 9.0 - 1.5)
                .collect();
            let mut want = vec![0f32; rows * n];
            matmul(
                Out::new(&mut want, rows, n),
                View::new(&x, rows, k),
                View::new(&w, n, k).t(),
                1.0,
                false,
                Threads::One,
            );
            let got = x_times_wt(&x, rows, &w, n);
            let worst = got
                .iter()
                .zip(&want)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(worst < 1e-3, "{rows}x{k} by {n}: differs by {worst}");
        }
    }

    #[test]
    fn products_of_transposed_and_sliced_views_match_the_naive_loop() {
        let a: Vec<f32> = (0..6 * 10).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
        let b: Vec<f32> = (0..10 * 8).map(|i| ((i * 5) % 11) as f32 - 5.0).collect();
        let av = View::new(&a, 6, 10);
        let bv = View::new(&b, 8, 10).t(); // [10, 8] as the transpose of a row-major [8, 10]
        let mut out = vec![1f32; 6 * 8];
        matmul(Out::new(&mut out, 6, 8), av, bv, 1.0, false, Threads::All);
        assert_eq!(out, naive(av, bv));
        // Accumulating with a scale, into a block of a wider matrix, from column slices.
        let mut wide = vec![0f32; 6 * 12];
        let (ac, bc) = (av.columns(2, 4), View::new(&b, 10, 8).rows(3, 4));
        matmul(
            Out {
                data: &mut wide[4..],
                rows: 6,
                cols: 8,
                rs: 12,
            },
            ac,
            bc,
            0.5,
            true,
            Threads::One,
        );
        let want = naive(ac, bc);
        for r in 0..6 {
            for c in 0..8 {
                assert_eq!(wide[r * 12 + 4 + c], 0.5 * want[r * 8 + c]);
            }
        }
    }

    #[test]
    fn every_small_shape_and_layout_matches_the_naive_loop() {
        let mut seed = 1u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) % 1000) as f32 / 500.0 - 1.0
        };
        for m in [1, 2, 3, 4, 5, 7, 8, 9, 16, 17] {
            for n in [1, 2, 3, 4, 8, 9, 13] {
                for k in [1, 2, 3, 4, 8, 9, 27] {
                    for ta in [false, true] {
                        for tb in [false, true] {
                            let a: Vec<f32> = (0..m * k * 3).map(|_| next()).collect();
                            let b: Vec<f32> = (0..k * n * 3).map(|_| next()).collect();
                            // A column slice of a 3x wider matrix, maybe transposed.
                            let av = if ta {
                                View::new(&a, k, 3 * m).columns(m, m).t()
                            } else {
                                View::new(&a, m, 3 * k).columns(k, k)
                            };
                            let bv = if tb {
                                View::new(&b, n, 3 * k).columns(2 * k, k).t()
                            } else {
                                View::new(&b, k, 3 * n).columns(n, n)
                            };
                            let mut out = vec![0.5f32; m * n];
                            matmul(Out::new(&mut out, m, n), av, bv, 1.0, true, Threads::One);
                            for (got, want) in out.iter().zip(naive(av, bv)) {
                                let want = 0.5 + want;
                                assert!(
                                    (got - want).abs() < 1e-4,
                                    "m {m} n {n} k {k} ta {ta} tb {tb}: {got} vs {want}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
