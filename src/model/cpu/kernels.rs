//! Row kernels on f32 slices: RMS normalisation, softmax, gelu_new and their derivatives, with
//! exp and tanh written so that they vectorise.
//!
//! Each public kernel is compiled twice, for the baseline x86-64 instruction set and for
//! AVX2 + FMA, and picks one at run time: the release binary stays portable, and the machines
//! we train on (any x86 server since 2013) get eight lanes and fused multiply-adds. libm's
//! scalar `tanhf` alone was 12% of a Flan training step before this.

/// Multiply-add as one instruction where the CPU has FMA, and as two otherwise (libm's `fmaf`
/// emulation would be far slower than either).
pub trait MulAdd {
    /// Set only where the body runs compiled for AVX-512 (`simd_fn!`'s widest tier), so a
    /// kernel may use its intrinsics there.
    const AVX512: bool = false;
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

pub struct Fused;
pub struct Plain;
/// `Fused`, in a body compiled for AVX-512.
pub struct Wide;

impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

impl MulAdd for Wide {
    const AVX512: bool = true;
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

impl MulAdd for Plain {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) fn has_avx2_fma() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

#[cfg(target_arch = "x86_64")]
pub(super) fn has_avx512() -> bool {
    has_avx2_fma()
        && std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
}

/// Defines `pub fn NAME(ARGS) -> R` whose body, generic over `M: MulAdd`, runs compiled for
/// AVX-512 when the CPU has it, for AVX2 + FMA when it has those, and for the baseline
/// otherwise. The bodies keep their sums in fixed lanes, so the wider vectors give the same
/// bits as AVX2's; the int8 products, which ran at 24-27 GB/s of int8 weights with AVX2 in
/// cache or not, gained a few per cent (25.7-29 GB/s).
macro_rules! simd_fn {
    ($(#[$meta:meta])* pub fn $name:ident<$m:ident>($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        pub fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::extra_unused_type_parameters)]
            fn body<$m: $crate::model::cpu::kernels::MulAdd>($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl")]
                unsafe fn wide($($arg: $ty),*) $(-> $ret)? {
                    body::<$crate::model::cpu::kernels::Wide>($($arg),*)
                }
                if $crate::model::cpu::kernels::has_avx512() {
                    // SAFETY: the CPU has the features `wide` was compiled for.
                    return unsafe { wide($($arg),*) };
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn fast($($arg: $ty),*) $(-> $ret)? {
                    body::<$crate::model::cpu::kernels::Fused>($($arg),*)
                }
                if $crate::model::cpu::kernels::has_avx2_fma() {
                    // SAFETY: the CPU has the features `fast` was compiled for.
                    return unsafe { fast($($arg),*) };
                }
            }
            body::<$crate::model::cpu::kernels::Plain>($($arg),*)
        }
    };
}

const LANES: usize = 16;

/// Σ aᵢbᵢ in sixteen interleaved partial sums, which vectorise (a running sum cannot, since
/// float addition does not reassociate).
#[inline(always)]
pub fn dot_body<M: MulAdd>(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] = M::mul_add(x[i], y[i], acc[i]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[inline(always)]
fn sum_body(a: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let c = a.chunks_exact(LANES);
    let tail: f32 = c.remainder().iter().sum();
    for x in c {
        for i in 0..LANES {
            acc[i] += x[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[inline(always)]
fn max_body(a: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let c = a.chunks_exact(LANES);
    let tail = c
        .remainder()
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    for x in c {
        for i in 0..LANES {
            acc[i] = if x[i] > acc[i] { x[i] } else { acc[i] };
        }
    }
    acc.iter().copied().fold(tail, f32::max)
}

/// Below this, exp underflows to zero in f32 (and masked logits of -1e9 land here).
const EXP_MIN: f32 = -87.336_54;
const EXP_MAX: f32 = 88.0;
/// 1.5·2²³: adding and subtracting it rounds to the nearest integer, and the integer sits in
/// the low mantissa bits, all without a conversion instruction.
const ROUNDER: f32 = 12_582_912.0;

/// eˣ to a few ulp for x in [-87.3, 88], 0 below and e⁸⁸ above (Cephes' `expf`: x = n·ln2 + r,
/// a degree-6 polynomial in r, and 2ⁿ built in the exponent bits), branch-free so that loops
/// over it vectorise.
#[inline(always)]
pub fn exp<M: MulAdd>(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let xc = x.clamp(EXP_MIN, EXP_MAX);
    let t = M::mul_add(xc, LOG2E, ROUNDER);
    let n = t - ROUNDER;
    let ni = (t.to_bits() as i32).wrapping_sub(ROUNDER.to_bits() as i32);
    let r = M::mul_add(n, -LN2_HI, xc);
    let r = M::mul_add(n, -LN2_LO, r);
    let mut p = 1.987_569_1e-4;
    p = M::mul_add(p, r, 1.398_199_9e-3);
    p = M::mul_add(p, r, 8.333_452e-3);
    p = M::mul_add(p, r, 4.166_579_6e-2);
    p = M::mul_add(p, r, 1.666_666_5e-1);
    p = M::mul_add(p, r, 0.5);
    let y = M::mul_add(p, r * r, r) + 1.0;
    let scale = f32::from_bits((ni.wrapping_add(127) << 23) as u32);
    if x < EXP_MIN {
        0.0
    } else {
        y * scale
    }
}

/// tanh(x) = (e²ˣ − 1)/(e²ˣ + 1); beyond |x| = 9 it is ±1 in f32.
#[inline(always)]
pub fn tanh<M: MulAdd>(x: f32) -> f32 {
    let e = exp::<M>(2.0 * x.clamp(-9.0, 9.0));
    (e - 1.0) / (e + 1.0)
}

const SQRT_TWO_OVER_PI: f32 = 0.797_884_6;
const GELU_C: f32 = 0.044_715;

/// gelu_new (the tanh approximation, T5 v1.1's activation) and its derivative.
#[inline(always)]
pub fn gelu<M: MulAdd>(x: f32) -> (f32, f32) {
    let x2 = x * x;
    let inner = SQRT_TWO_OVER_PI * x * M::mul_add(GELU_C, x2, 1.0);
    let t = tanh::<M>(inner);
    let d_inner = SQRT_TWO_OVER_PI * M::mul_add(3.0 * GELU_C, x2, 1.0);
    let half = 0.5 * (1.0 + t);
    (x * half, M::mul_add(0.5 * x * (1.0 - t * t), d_inner, half))
}

simd_fn! {
    /// T5's layer norm, `out = w⊙x/rms(x)` per row of `cols`, with each row's 1/rms written
    /// into `inv_rms` for the backward pass.
    pub fn rms_norm_rows<M>(x: &[f32], w: &[f32], eps: f32, cols: usize, out: &mut [f32], inv_rms: &mut [f32]) {
        for ((xr, or), r_out) in x.chunks_exact(cols).zip(out.chunks_exact_mut(cols)).zip(inv_rms) {
            let r = 1.0 / (dot_body::<M>(xr, xr) / cols as f32 + eps).sqrt();
            *r_out = r;
            or.iter_mut().zip(xr).zip(w).for_each(|((o, x), w)| *o = x * r * w);
        }
    }
}

simd_fn! {
    /// The input gradient of `rms_norm_rows`: with g = dy⊙w, dx = r·g − x·r³·mean(g⊙x);
    /// written into `dx`, or added to it with `accumulate`.
    pub fn rms_norm_backward_rows<M>(x: &[f32], w: &[f32], inv_rms: &[f32], dy: &[f32], cols: usize, dx: &mut [f32], accumulate: bool) {
        for (((xr, dyr), dxr), &r) in x.chunks_exact(cols).zip(dy.chunks_exact(cols)).zip(dx.chunks_exact_mut(cols)).zip(inv_rms) {
            let mut acc = [0f32; LANES];
            let (cx, cg, cw) = (xr.chunks_exact(LANES), dyr.chunks_exact(LANES), w.chunks_exact(LANES));
            let mut gx: f32 = cx.remainder().iter().zip(cg.remainder()).zip(cw.remainder()).map(|((x, g), w)| x * g * w).sum();
            for ((x, g), w) in cx.zip(cg).zip(cw) {
                for i in 0..LANES {
                    acc[i] = M::mul_add(x[i], g[i] * w[i], acc[i]);
                }
            }
            gx += acc.iter().sum::<f32>();
            let k = r * r * r * gx / cols as f32;
            let rows = dxr.iter_mut().zip(xr).zip(dyr).zip(w);
            if accumulate {
                rows.for_each(|(((d, x), g), w)| *d += M::mul_add(r * g, *w, -k * x));
            } else {
                rows.for_each(|(((d, x), g), w)| *d = M::mul_add(r * g, *w, -k * x));
            }
        }
    }
}

simd_fn! {
    /// The weight gradient of `rms_norm_rows`: dw += Σ_rows dy⊙x·r.
    pub fn rms_norm_weight_grad<M>(x: &[f32], inv_rms: &[f32], dy: &[f32], cols: usize, dw: &mut [f32]) {
        for ((xr, dyr), &r) in x.chunks_exact(cols).zip(dy.chunks_exact(cols)).zip(inv_rms) {
            dw.iter_mut().zip(xr).zip(dyr).for_each(|((d, x), g)| *d = M::mul_add(g * x, r, *d));
        }
    }
}

simd_fn! {
    /// Softmax of each row of `cols`, in place.
    pub fn softmax_rows<M>(x: &mut [f32], cols: usize) {
        for row in x.chunks_exact_mut(cols) {
            let max = max_body(row);
            row.iter_mut().for_each(|v| *v = exp::<M>(*v - max));
            let inv = 1.0 / sum_body(row);
            row.iter_mut().for_each(|v| *v *= inv);
        }
    }
}

simd_fn! {
    /// The softmax gradient in place: with y the softmax and g the upstream gradient in `g`,
    /// g ← y⊙(g − Σ g⊙y), per row of `cols`.
    pub fn softmax_backward_rows<M>(y: &[f32], g: &mut [f32], cols: usize) {
        for (yr, gr) in y.chunks_exact(cols).zip(g.chunks_exact_mut(cols)) {
            let s = dot_body::<M>(yr, gr);
            gr.iter_mut().zip(yr).for_each(|(g, y)| *g = y * (*g - s));
        }
    }
}

simd_fn! {
    /// The cross-entropy of one row of logits against `target` (logsumexp − logit), returned;
    /// the row is replaced by the gradient of `scale` times it, scale·(softmax − one-hot).
    pub fn cross_entropy_row<M>(row: &mut [f32], target: usize, scale: f32) -> f64 {
        let picked = row[target];
        let max = max_body(row);
        row.iter_mut().for_each(|v| *v = exp::<M>(*v - max));
        let total = sum_body(row);
        let k = scale / total;
        row.iter_mut().for_each(|v| *v *= k);
        row[target] -= scale;
        (max as f64 + (total as f64).ln()) - picked as f64
    }
}

simd_fn! {
    /// out = gelu_new(a)⊙b.
    pub fn gated_gelu<M>(a: &[f32], b: &[f32], out: &mut [f32]) {
        for ((o, a), b) in out.iter_mut().zip(a).zip(b) {
            *o = gelu::<M>(*a).0 * b;
        }
    }
}

simd_fn! {
    /// The gradients of `gated_gelu`: da = g⊙b⊙gelu'(a), db = g⊙gelu(a). Either output may be
    /// empty, and is then skipped.
    pub fn gated_gelu_backward<M>(a: &[f32], b: &[f32], g: &[f32], da: &mut [f32], db: &mut [f32]) {
        if db.is_empty() {
            for (((d, a), b), g) in da.iter_mut().zip(a).zip(b).zip(g) {
                *d = g * b * gelu::<M>(*a).1;
            }
        } else if da.is_empty() {
            for (((d, a), _), g) in db.iter_mut().zip(a).zip(b).zip(g) {
                *d = g * gelu::<M>(*a).0;
            }
        } else {
            for ((((da, db), a), b), g) in da.iter_mut().zip(db.iter_mut()).zip(a).zip(b).zip(g) {
                let (value, slope) = gelu::<M>(*a);
                *da = g * b * slope;
                *db = g * value;
            }
        }
    }
}

/// SiLU, x·σ(x), and its derivative σ(x)·(1 + x·(1 − σ(x))).
#[inline(always)]
pub fn silu<M: MulAdd>(x: f32) -> (f32, f32) {
    let sig = 1.0 / (1.0 + exp::<M>(-x));
    (x * sig, sig * M::mul_add(x, 1.0 - sig, 1.0))
}

simd_fn! {
    /// out = silu(a)⊙b (Llama's gated MLP).
    pub fn gated_silu<M>(a: &[f32], b: &[f32], out: &mut [f32]) {
        for ((o, a), b) in out.iter_mut().zip(a).zip(b) {
            *o = silu::<M>(*a).0 * b;
        }
    }
}

simd_fn! {
    /// The gradients of `gated_silu`: da = g⊙b⊙silu'(a), db = g⊙silu(a).
    pub fn gated_silu_backward<M>(a: &[f32], b: &[f32], g: &[f32], da: &mut [f32], db: &mut [f32]) {
        for ((((da, db), a), b), g) in da.iter_mut().zip(db.iter_mut()).zip(a).zip(b).zip(g) {
            let (value, slope) = silu::<M>(*a);
            *da = g * b * slope;
            *db = g * value;
        }
    }
}

/// `dot_body` of each row in `a` with each row in `b` (all of one length), computed together
/// with one AVX-512 register per sum: A·B independent chains of multiply-adds where one dot
/// alone is a single chain that waits on each multiply-add's latency, and each row of `a`
/// loaded once for all of `b`. Each sum is `dot_body`'s to the bit: the same sixteen lanes,
/// each a chain of fused multiply-adds in the same order, summed the same way. (The same
/// grid in portable code kept its sums in memory: 45 GFLOP/s on one core for four by four
/// rows against 62-83 with this.)
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dot_grid<const A: usize, const B: usize>(
    a: [&[f32]; A],
    b: [&[f32]; B],
) -> [[f32; B]; A] {
    use std::arch::x86_64::{_mm512_fmadd_ps, _mm512_loadu_ps, _mm512_setzero_ps};
    let k = a[0].len();
    assert!(
        a.iter().chain(&b).all(|r| r.len() == k),
        "rows of one length"
    );
    let full = k / LANES;
    let mut acc = [[_mm512_setzero_ps(); B]; A];
    for c in 0..full {
        // SAFETY: chunk `c` < `full` lies inside every row (all `k` long, asserted above).
        let y: [_; B] =
            std::array::from_fn(|j| unsafe { _mm512_loadu_ps(b[j].as_ptr().add(c * LANES)) });
        for i in 0..A {
            // SAFETY: as above.
            let x = unsafe { _mm512_loadu_ps(a[i].as_ptr().add(c * LANES)) };
            for j in 0..B {
                // x·y + acc, rounded once: each lane is `f32::mul_add`'s.
                acc[i][j] = _mm512_fmadd_ps(x, y[j], acc[i][j]);
            }
        }
    }
    std::array::from_fn(|i| {
        std::array::from_fn(|j| {
            let tail: f32 = a[i][full * LANES..]
                .iter()
                .zip(&b[j][full * LANES..])
                .map(|(x, y)| x * y)
                .sum();
            lane_sum(acc[i][j]) + tail
        })
    })
}

/// The sixteen lanes of `v` summed in order, as `dot_body` sums its lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn lane_sum(v: std::arch::x86_64::__m512) -> f32 {
    let mut lanes = [0f32; LANES];
    // SAFETY: `lanes` holds exactly one register's sixteen floats.
    unsafe { std::arch::x86_64::_mm512_storeu_ps(lanes.as_mut_ptr(), v) };
    lanes.iter().sum()
}

/// Fills `o`, the [4, rows] products of four weight rows, four input rows at a time through
/// `grid4(r)` (rows r..r + 4) and the rest one at a time through `grid1(r)`.
#[inline(always)]
fn fill_four(
    rows: usize,
    o: &mut [f32],
    grid4: impl Fn(usize) -> [[f32; 4]; 4],
    grid1: impl Fn(usize) -> [[f32; 1]; 4],
) {
    let mut r = 0;
    while r + 4 <= rows {
        for (a, d) in grid4(r).iter().enumerate() {
            o[a * rows + r..a * rows + r + 4].copy_from_slice(d);
        }
        r += 4;
    }
    for r in r..rows {
        for (a, d) in grid1(r).iter().enumerate() {
            o[a * rows + r] = d[0];
        }
    }
}

/// `q8_dot_body` of each weight row in `a` (int8 values already converted to f32, block
/// scales in `scales`) with each input row in `b`, as `dot_grid` does for f32 weights: one
/// AVX-512 register per sum, each sum `q8_dot_body`'s to the bit (the same products, fused
/// the same way, in the same order).
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::needless_range_loop)] // a block's index places its values and picks its scale
unsafe fn q8_dot_grid<const A: usize, const B: usize>(
    a: [&[f32]; A],
    scales: [&[f32]; A],
    b: [&[f32]; B],
) -> [[f32; B]; A] {
    use std::arch::x86_64::{
        _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_mul_ps, _mm512_set1_ps, _mm512_setzero_ps,
    };
    let k = a[0].len();
    let blocks = k / Q8_BLOCK;
    assert!(
        k.is_multiple_of(Q8_BLOCK)
            && a.iter().chain(&b).all(|r| r.len() == k)
            && scales.iter().all(|s| s.len() == blocks),
        "whole blocks, rows of one length, a scale per block"
    );
    let mut total = [[_mm512_setzero_ps(); B]; A];
    for blk in 0..blocks {
        let at = blk * Q8_BLOCK;
        // SAFETY: block `blk` < `blocks` lies inside every row (asserted above).
        let load = |r: &[f32], off: usize| unsafe { _mm512_loadu_ps(r.as_ptr().add(at + off)) };
        let y0: [_; B] = std::array::from_fn(|j| load(b[j], 0));
        let y1: [_; B] = std::array::from_fn(|j| load(b[j], LANES));
        for i in 0..A {
            let (w0, w1) = (load(a[i], 0), load(a[i], LANES));
            let s = _mm512_set1_ps(scales[i][blk]);
            for j in 0..B {
                let acc = _mm512_fmadd_ps(w1, y1[j], _mm512_mul_ps(w0, y0[j]));
                total[i][j] = _mm512_fmadd_ps(acc, s, total[i][j]);
            }
        }
    }
    std::array::from_fn(|i| std::array::from_fn(|j| lane_sum(total[i][j])))
}

simd_fn! {
    /// Products of a few rows `x` [rows, k] with a block of weight rows `w` [n, k]:
    /// `out[j·rows + r] = w[j]·x[r]`. Each weight row is read from memory once and used for
    /// every input row while it is in L1, which is what decoding a handful of tokens needs:
    /// it streams the weights, and memory bandwidth is the limit. With AVX-512 the dots run
    /// four weight rows by four input rows at a time (`dot_grid`), which also makes this the
    /// faster product for a prompt's few dozen rows (see `matmul::few_rows`); on AVX2 the
    /// same grid ran at half the speed of one dot at a time (its sums do not fit the
    /// registers), so the other tiers keep that.
    pub fn weight_rows_times<M>(w: &[f32], x: &[f32], k: usize, out: &mut [f32]) {
        let rows = x.len() / k;
        let xs: Vec<&[f32]> = x.chunks_exact(k).collect();
        let ws: Vec<&[f32]> = w.chunks_exact(k).collect();
        let mut whole = 0;
        #[cfg(target_arch = "x86_64")]
        if M::AVX512 {
            whole = ws.len() / 4 * 4;
            for (g, four) in ws[..whole].chunks_exact(4).enumerate() {
                let four = [four[0], four[1], four[2], four[3]];
                fill_four(
                    rows,
                    &mut out[4 * g * rows..4 * (g + 1) * rows],
                    // SAFETY: `M::AVX512` is set only in bodies that run on a CPU with
                    // AVX-512 (`simd_fn!`'s widest tier).
                    |r| unsafe { dot_grid(four, [xs[r], xs[r + 1], xs[r + 2], xs[r + 3]]) },
                    // SAFETY: as above.
                    |r| unsafe { dot_grid(four, [xs[r]]) },
                );
            }
        }
        for (wr, o) in ws[whole..].iter().zip(out[whole * rows..].chunks_exact_mut(rows)) {
            for (o, xr) in o.iter_mut().zip(&xs) {
                *o = dot_body::<M>(wr, xr);
            }
        }
    }
}

/// How far ahead of the weights being multiplied `prefetch_ahead` asks for them.
const PREFETCH_BYTES: usize = 2048;

/// Asks the CPU to fetch `q[at..at + len]`, shifted `PREFETCH_BYTES` ahead, into cache.
/// Streaming int8 weights row by row, the hardware prefetcher alone left each core waiting on
/// memory at half the bandwidth f32 weights reach (9 GB/s against 18 with this, on 2 cores,
/// the 262,144 × 640 head).
#[inline(always)]
fn prefetch_ahead(q: &[i8], at: usize, len: usize) {
    #[cfg(target_arch = "x86_64")]
    for i in (at + PREFETCH_BYTES..(at + PREFETCH_BYTES + len).min(q.len())).step_by(64) {
        // SAFETY: `i` < `q.len()`, so the address is inside `q`; a prefetch reads nothing
        // into the program either way.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                q.as_ptr().add(i),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (q, at, len);
}

/// The index of the largest value, the first one on ties (as torch's argmax); 0 when the
/// first value is NaN (nothing compares above it).
pub fn argmax(row: &[f32]) -> usize {
    if row.first().is_none_or(|v| v.is_nan()) {
        return 0;
    }
    // The largest value in sixteen lanes, then its first position: two passes that
    // vectorise, where one pass keeping the position did not (a 262,144-token row each step).
    let mut lanes = [f32::NEG_INFINITY; 16];
    let chunks = row.chunks_exact(16);
    let tail = chunks.remainder();
    for c in chunks {
        for (m, v) in lanes.iter_mut().zip(c) {
            *m = if *v > *m { *v } else { *m };
        }
    }
    let largest = lanes
        .iter()
        .chain(tail)
        .fold(row[0], |m, &v| if v > m { v } else { m });
    row.iter().position(|&v| v == largest).unwrap_or(0)
}

/// Weights per scale in `Q8Matrix` (llama.cpp's Q8_0 block).
pub const Q8_BLOCK: usize = 32;

simd_fn! {
    /// `w` (whole blocks of `Q8_BLOCK`) as int8 blocks `q`, each scaled by its `scales` entry,
    /// the block's largest magnitude over 127; false when a weight is not finite. One pass,
    /// the largest magnitude taken on the bits (which order as the values do, and put inf and
    /// NaN above every finite value), so that it vectorises.
    pub fn quantize_q8<M>(w: &[f32], q: &mut [i8], scales: &mut [f32]) -> bool {
        let mut finite = true;
        let blocks = w.chunks_exact(Q8_BLOCK).zip(q.chunks_exact_mut(Q8_BLOCK));
        for ((wb, qb), s) in blocks.zip(scales.iter_mut()) {
            let bits = wb.iter().fold(0u32, |m, v| m.max(v.to_bits() & 0x7fff_ffff));
            finite &= bits < f32::INFINITY.to_bits();
            *s = f32::from_bits(bits) / 127.0;
            if *s > 0.0 && finite {
                // `as` saturates, so a quotient a rounding above 127 still lands on 127.
                for (q, v) in qb.iter_mut().zip(wb) {
                    *q = (v / *s).round_ties_even() as i8;
                }
            } else {
                qb.fill(0);
            }
        }
        finite
    }
}

/// Σ_b s_b·Σ_{i∈b} qᵢxᵢ over blocks b of `Q8_BLOCK` weights with scales s_b; `q` is the int8
/// weights themselves or a row of them already converted to f32 (the same sums in the same
/// order either way, so an answer does not depend on how many rows a step decodes). Each
/// block's products gather in sixteen lanes that are then scaled into the total, so the only
/// chain a block waits on is one multiply-add.
#[inline(always)]
fn q8_dot_body<M: MulAdd, T: Copy + Into<f32>>(q: &[T], scales: &[f32], x: &[f32]) -> f32 {
    let mut total = [0f32; LANES];
    for ((qb, xb), &s) in q
        .chunks_exact(Q8_BLOCK)
        .zip(x.chunks_exact(Q8_BLOCK))
        .zip(scales)
    {
        let (q0, q1) = qb.split_at(LANES);
        let (x0, x1) = xb.split_at(LANES);
        let mut acc = [0f32; LANES];
        for i in 0..LANES {
            acc[i] = q0[i].into() * x0[i];
        }
        for i in 0..LANES {
            acc[i] = M::mul_add(q1[i].into(), x1[i], acc[i]);
        }
        for i in 0..LANES {
            total[i] = M::mul_add(acc[i], s, total[i]);
        }
    }
    total.iter().sum()
}

simd_fn! {
    /// `weight_rows_times` for int8 weight rows `q` [n, k] with one scale per block of
    /// `Q8_BLOCK` (`scales` [n, k / Q8_BLOCK]): a quarter of the bytes to stream. One input
    /// row converts each weight as it multiplies it; several convert each weight row once
    /// and reuse it, so the conversion is not paid per input row.
    pub fn q8_rows_times<M>(q: &[i8], scales: &[f32], x: &[f32], k: usize, out: &mut [f32]) {
        let rows = x.len() / k;
        let blocks = k / Q8_BLOCK;
        let weight_rows = q.chunks_exact(k).zip(scales.chunks_exact(blocks));
        if rows == 1 {
            for (j, ((qr, sr), o)) in weight_rows.zip(out.iter_mut()).enumerate() {
                prefetch_ahead(q, j * k, k);
                *o = q8_dot_body::<M, i8>(qr, sr, x);
            }
            return;
        }
        let mut whole = 0;
        #[cfg(target_arch = "x86_64")]
        if M::AVX512 {
            // Four weight rows by four input rows at a time, as `weight_rows_times`.
            let xs: Vec<&[f32]> = x.chunks_exact(k).collect();
            whole = out.len() / rows / 4 * 4;
            let mut four = vec![0f32; 4 * k];
            for g in 0..whole / 4 {
                for (w, &v) in four.iter_mut().zip(&q[4 * g * k..4 * (g + 1) * k]) {
                    *w = v.into();
                }
                let w4: [&[f32]; 4] = std::array::from_fn(|a| &four[a * k..(a + 1) * k]);
                let s4: [&[f32]; 4] = std::array::from_fn(|a| &scales[(4 * g + a) * blocks..(4 * g + a + 1) * blocks]);
                fill_four(
                    rows,
                    &mut out[4 * g * rows..4 * (g + 1) * rows],
                    // SAFETY: as in `weight_rows_times`.
                    |r| unsafe { q8_dot_grid(w4, s4, [xs[r], xs[r + 1], xs[r + 2], xs[r + 3]]) },
                    // SAFETY: as above.
                    |r| unsafe { q8_dot_grid(w4, s4, [xs[r]]) },
                );
            }
        }
        let mut row = vec![0f32; k];
        for ((qr, sr), o) in weight_rows.skip(whole).zip(out[whole * rows..].chunks_exact_mut(rows)) {
            for (w, &v) in row.iter_mut().zip(qr) {
                *w = v.into();
            }
            for (o, xr) in o.iter_mut().zip(x.chunks_exact(k)) {
                *o = q8_dot_body::<M, f32>(&row, sr, xr);
            }
        }
    }
}

simd_fn! {
    /// a·b.
    pub fn dot<M>(a: &[f32], b: &[f32]) -> f32 {
        dot_body::<M>(a, b)
    }
}

simd_fn! {
    /// `y += a·x`.
    pub fn axpy<M>(y: &mut [f32], a: f32, x: &[f32]) {
        y.iter_mut().zip(x).for_each(|(y, x)| *y = M::mul_add(a, *x, *y));
    }
}

simd_fn! {
    /// `y += x`.
    pub fn add_assign<M>(y: &mut [f32], x: &[f32]) {
        y.iter_mut().zip(x).for_each(|(y, x)| *y += x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values in [-0.5, 0.5) from a linear congruential generator.
    fn uniform(mut seed: u64) -> impl FnMut() -> f32 {
        move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        }
    }

    fn ulps(a: f32, b: f32) -> f32 {
        (a - b).abs() / (a.abs().max(b.abs()) * f32::EPSILON).max(f32::MIN_POSITIVE)
    }

    /// The blocked products give every dot exactly as `dot` alone does: decoding in a batch,
    /// or a prompt's rows together, changes no bit of any answer.
    #[test]
    fn weight_rows_times_gives_each_dot_to_the_bit() {
        let mut next = uniform(7);
        for k in [5, 33, 640] {
            for n in [1, 2, 3, 5, 8] {
                for rows in [1, 2, 3, 4, 5, 7, 8, 9] {
                    let w: Vec<f32> = (0..n * k).map(|_| next()).collect();
                    let x: Vec<f32> = (0..rows * k).map(|_| next()).collect();
                    let mut out = vec![f32::NAN; n * rows];
                    weight_rows_times(&w, &x, k, &mut out);
                    for j in 0..n {
                        for r in 0..rows {
                            let want = dot(&w[j * k..(j + 1) * k], &x[r * k..(r + 1) * k]);
                            assert_eq!(
                                out[j * rows + r].to_bits(),
                                want.to_bits(),
                                "k {k}, n {n}, rows {rows}: weight row {j}, input row {r}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// Int8 products of several input rows give each row's product alone to the bit, so an
    /// answer does not depend on how many sequences a step decodes.
    #[test]
    fn q8_rows_times_gives_each_rows_product_alone_to_the_bit() {
        let mut next = uniform(11);
        for k in [32, 640] {
            for n in [1, 3, 4, 5, 9] {
                let w: Vec<f32> = (0..n * k).map(|_| next()).collect();
                let mut q = vec![0i8; n * k];
                let mut scales = vec![0f32; n * k / Q8_BLOCK];
                assert!(quantize_q8(&w, &mut q, &mut scales));
                for rows in [2, 3, 4, 5, 8, 9] {
                    let x: Vec<f32> = (0..rows * k).map(|_| next()).collect();
                    let mut out = vec![f32::NAN; n * rows];
                    q8_rows_times(&q, &scales, &x, k, &mut out);
                    for r in 0..rows {
                        let mut alone = vec![f32::NAN; n];
                        q8_rows_times(&q, &scales, &x[r * k..(r + 1) * k], k, &mut alone);
                        for j in 0..n {
                            assert_eq!(
                                out[j * rows + r].to_bits(),
                                alone[j].to_bits(),
                                "k {k}, n {n}, rows {rows}: weight row {j}, input row {r}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn exp_and_tanh_are_close_to_libm_on_both_paths() {
        // The whole range where eˣ is a normal f32 (above 88 it saturates at e⁸⁸).
        let xs: Vec<f32> = (-1940..=1955).map(|i| i as f32 * 0.045).collect();
        for &x in &xs {
            for (got, name) in [(exp::<Fused>(x), "fused"), (exp::<Plain>(x), "plain")] {
                let want = x.exp();
                assert!(ulps(got, want) < 4.0, "exp({x}) {name}: {got} vs {want}");
            }
            let (t, want) = (tanh::<Fused>(x), x.tanh());
            assert!((t - want).abs() < 2e-7, "tanh({x}): {t} vs {want}");
        }
        assert_eq!(exp::<Fused>(-1e9), 0.0);
        assert_eq!(exp::<Plain>(-100.0), 0.0);
        assert!(exp::<Fused>(1e9).is_finite());
    }

    #[test]
    fn gelu_slope_is_the_derivative() {
        for i in -80..=80 {
            let x = i as f32 * 0.1;
            let h = 1e-2f64;
            let f = |x: f64| 0.5 * x * (1.0 + (0.7978845608 * (x + 0.044715 * x * x * x)).tanh());
            let want = (f(x as f64 + h) - f(x as f64 - h)) / (2.0 * h);
            let (value, slope) = gelu::<Fused>(x);
            assert!((value as f64 - f(x as f64)).abs() < 1e-5, "gelu({x})");
            assert!(
                (slope as f64 - want).abs() < 1e-3,
                "gelu'({x}): {slope} vs {want}"
            );
        }
    }

    #[test]
    fn silu_slope_is_the_derivative() {
        for i in -120..=120 {
            let x = i as f32 * 0.1;
            let h = 1e-3f64;
            let f = |x: f64| x / (1.0 + (-x).exp());
            let want = (f(x as f64 + h) - f(x as f64 - h)) / (2.0 * h);
            let (value, slope) = silu::<Fused>(x);
            assert!((value as f64 - f(x as f64)).abs() < 1e-5, "silu({x})");
            assert!(
                (slope as f64 - want).abs() < 1e-4,
                "silu'({x}): {slope} vs {want}"
            );
        }
        assert!(silu::<Plain>(-200.0).0.abs() < 1e-30);
        assert_eq!(silu::<Plain>(200.0).0, 200.0);
    }

    #[test]
    fn softmax_rows_sum_to_one_and_masked_entries_are_zero() {
        let mut x = vec![1.0, 2.0, -1e9, 0.5, 3.0, 3.0, 3.0, -1e9];
        softmax_rows(&mut x, 4);
        for row in x.chunks(4) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        assert_eq!(x[2], 0.0);
        assert_eq!(x[7], 0.0);
        let e: Vec<f32> = [1.0f32, 2.0, 0.5].iter().map(|v| v.exp()).collect();
        let total: f32 = e.iter().sum();
        assert!((x[0] - e[0] / total).abs() < 1e-7);
    }
}

#[cfg(test)]
mod grad_tests {
    use super::*;

    /// Finite differences in f64 of L = Σ dy⊙rms_norm(x)·w.
    #[test]
    fn rms_norm_backward_matches_finite_differences() {
        let cols = 37;
        let x: Vec<f32> = (0..2 * cols)
            .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let w: Vec<f32> = (0..cols).map(|i| 0.5 + (i % 5) as f32 * 0.3).collect();
        let dy: Vec<f32> = (0..2 * cols)
            .map(|i| ((i * 31) % 17) as f32 / 8.0 - 1.0)
            .collect();
        let loss = |x: &[f64]| -> f64 {
            x.chunks(cols)
                .zip(dy.chunks(cols))
                .map(|(xr, g)| {
                    let r =
                        1.0 / (xr.iter().map(|v| v * v).sum::<f64>() / cols as f64 + 1e-6).sqrt();
                    xr.iter()
                        .zip(g)
                        .zip(&w)
                        .map(|((x, g), w)| x * r * *w as f64 * *g as f64)
                        .sum::<f64>()
                })
                .sum()
        };
        let mut out = vec![0f32; x.len()];
        let mut inv = vec![0f32; 2];
        rms_norm_rows(&x, &w, 1e-6, cols, &mut out, &mut inv);
        let mut dx = vec![0f32; x.len()];
        rms_norm_backward_rows(&x, &w, &inv, &dy, cols, &mut dx, false);
        let x64: Vec<f64> = x.iter().map(|v| *v as f64).collect();
        for i in 0..x.len() {
            let (mut a, mut b) = (x64.clone(), x64.clone());
            a[i] += 1e-5;
            b[i] -= 1e-5;
            let fd = (loss(&a) - loss(&b)) / 2e-5;
            assert!(
                (fd - dx[i] as f64).abs() < 1e-4,
                "dx[{i}]: {} vs {fd}",
                dx[i]
            );
        }
    }
}
