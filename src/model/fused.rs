//! Fused CPU kernels, each with its own backward pass, for the row-wise operations of T5:
//! RMS normalisation, the last-dimension softmax and the gated gelu_new of Flan's feed-forward.
//!
//! Composed from candle's elementary ops, an RMS norm is seven graph nodes, a softmax five and
//! gelu's backward a dozen temporaries; in the backward pass each node also allocates a zeroed
//! gradient and adds into it. One node per operation, one pass over memory each way, is what
//! brings the training step down (see the README's benchmark section). Only f32 on the CPU is
//! handled here; `t5.rs` keeps the composed ops for other devices and dtypes. The row math
//! itself is `cpu::kernels`', which the hand-written training pass shares.

use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor,
};
use rayon::prelude::*;

use super::cpu::{kernels, matmul};

/// Rows smaller than this many elements in all are not worth a second thread.
const PARALLEL_MIN: usize = 1 << 14;

/// The contiguous f32 slice behind a storage and layout.
fn slice<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = s else {
        bail!("{op}: f32 only")
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => bail!("{op}: the input must be contiguous"),
    }
}

/// Applies `f` to each row of `cols` elements of the inputs, writing the output row.
fn rows<const N: usize>(
    inputs: [&[f32]; N],
    cols: usize,
    f: impl Fn([&[f32]; N], &mut [f32]) + Sync,
) -> Vec<f32> {
    let len = inputs[0].len();
    let mut out = vec![0f32; len];
    let row = |(i, o): (usize, &mut [f32])| {
        f(inputs.map(|x| &x[i * cols..(i + 1) * cols]), o);
    };
    if len < PARALLEL_MIN {
        out.chunks_mut(cols).enumerate().for_each(row);
    } else {
        out.par_chunks_mut(cols).enumerate().for_each(row);
    }
    out
}

fn last_dim(l: &Layout) -> Result<usize> {
    Ok(l.dims().last().copied().unwrap_or(1).max(1))
}

fn contiguous(x: &Tensor) -> Result<Tensor> {
    x.contiguous()
}

/// `x / sqrt(mean(x²) + eps)` over the last dimension (T5's layer norm without its weight).
pub fn rms_normalize(x: &Tensor, eps: f64) -> Result<Tensor> {
    contiguous(x)?.apply_op1(RmsNormalize { eps: eps as f32 })
}

/// Softmax over the last dimension.
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    contiguous(x)?.apply_op1(Softmax)
}

/// `gelu_new(a) * b`, the gated activation of T5 v1.1.
pub fn gated_gelu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    contiguous(a)?.apply_op2(&contiguous(b)?, GatedGelu)
}

/// `x·wᵀ` for a 2-D `x` of a few rows (one decoding step) and a weight `w` [out, in], on every
/// core (see `cpu::matmul::x_times_wt`).
pub fn linear_few_rows(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    contiguous(x)?.apply_op2(&contiguous(w)?, LinearFewRows)
}

struct LinearFewRows;

impl CustomOp2 for LinearFewRows {
    fn name(&self) -> &'static str {
        "linear-few-rows"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w) = (slice(s1, l1, self.name())?, slice(s2, l2, self.name())?);
        let (&[rows, k], &[n, k2]) = (l1.dims(), l2.dims()) else {
            bail!("linear-few-rows: expects 2-D operands")
        };
        if k != k2 {
            bail!("linear-few-rows: inner dimensions {k} and {k2} differ")
        }
        let out = matmul::x_times_wt(x, rows, w, n);
        Ok((CpuStorage::F32(out), Shape::from((rows, n))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(g.matmul(w)?), Some(g.t()?.matmul(x)?)))
    }
}

struct RmsNormalize {
    eps: f32,
}

impl CustomOp1 for RmsNormalize {
    fn name(&self) -> &'static str {
        "rms-normalize"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l, self.name())?;
        let cols = last_dim(l)?;
        let out = rows([x], cols, |[x], o| {
            kernels::rms_norm_rows(x, None, self.eps, cols, o, &mut [])
        });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(x.apply_op2_no_bwd(
            &contiguous(g)?,
            &RmsNormalizeGrad { eps: self.eps },
        )?))
    }
}

/// dx = r·(g − n·mean(g⊙n)) with n = x·r, r = 1/rms(x).
struct RmsNormalizeGrad {
    eps: f32,
}

impl CustomOp2 for RmsNormalizeGrad {
    fn name(&self) -> &'static str {
        "rms-normalize-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, g) = (slice(s1, l1, self.name())?, slice(s2, l2, self.name())?);
        let cols = last_dim(l1)?;
        let out = rows([x, g], cols, |[x, g], o| {
            let r = 1.0 / (kernels::dot(x, x) / cols as f32 + self.eps).sqrt();
            kernels::rms_norm_backward_rows(x, None, &[r], g, cols, o, false)
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "softmax-last"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l, self.name())?;
        let cols = last_dim(l)?;
        let out = rows([x], cols, |[x], o| {
            o.copy_from_slice(x);
            kernels::softmax_rows(o, cols)
        });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(y.apply_op2_no_bwd(&contiguous(g)?, &SoftmaxGrad)?))
    }
}

/// dx = y⊙(g − Σ g⊙y).
struct SoftmaxGrad;

impl CustomOp2 for SoftmaxGrad {
    fn name(&self) -> &'static str {
        "softmax-last-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (y, g) = (slice(s1, l1, self.name())?, slice(s2, l2, self.name())?);
        let cols = last_dim(l1)?;
        let out = rows([y, g], cols, |[y, g], o| {
            o.copy_from_slice(g);
            kernels::softmax_backward_rows(y, o, cols)
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

struct GatedGelu;

impl CustomOp2 for GatedGelu {
    fn name(&self) -> &'static str {
        "gated-gelu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (a, b) = (slice(s1, l1, self.name())?, slice(s2, l2, self.name())?);
        if l1.shape() != l2.shape() {
            bail!(
                "gated-gelu: shapes {:?} and {:?} differ",
                l1.shape(),
                l2.shape()
            )
        }
        let out = rows([a, b], last_dim(l1)?, |[a, b], o| {
            kernels::gated_gelu(a, b, o)
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = contiguous(g)?;
        Ok((
            Some(a.apply_op3_no_bwd(b, &g, &GatedGeluGrad { wrt_a: true })?),
            Some(a.apply_op3_no_bwd(b, &g, &GatedGeluGrad { wrt_a: false })?),
        ))
    }
}

/// d/da = g⊙b⊙gelu'(a); d/db = g⊙gelu(a).
struct GatedGeluGrad {
    wrt_a: bool,
}

impl CustomOp3 for GatedGeluGrad {
    fn name(&self) -> &'static str {
        "gated-gelu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let name = self.name();
        let (a, b, g) = (
            slice(s1, l1, name)?,
            slice(s2, l2, name)?,
            slice(s3, l3, name)?,
        );
        let out = rows([a, b, g], last_dim(l1)?, |[a, b, g], o| {
            if self.wrt_a {
                kernels::gated_gelu_backward(a, b, g, o, &mut [])
            } else {
                kernels::gated_gelu_backward(a, b, g, &mut [], o)
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var, D};

    fn input(shape: (usize, usize, usize), seed: u64) -> Var {
        let mut rng = super::super::params::SplitMix(seed);
        let n = shape.0 * shape.1 * shape.2;
        let data: Vec<f32> = (0..n).map(|_| 2.0 * rng.normal() as f32).collect();
        Var::from_tensor(&Tensor::from_vec(data, shape, &Device::Cpu).unwrap()).unwrap()
    }

    fn close(a: &Tensor, b: &Tensor, tol: f32) {
        let (a, b): (Vec<f32>, Vec<f32>) = (
            a.flatten_all().unwrap().to_vec1().unwrap(),
            b.flatten_all().unwrap().to_vec1().unwrap(),
        );
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(worst < tol, "differs by {worst}");
    }

    /// Each fused op against the same function composed of candle's differentiable ops: values
    /// and gradients, at a size that runs on several threads and at one that does not.
    #[test]
    fn fused_ops_match_composed_ones_forward_and_backward() {
        for shape in [(2, 3, 5), (4, 64, 96)] {
            let (x, y) = (input(shape, 1), input(shape, 2));
            let weight = input(shape, 3).as_tensor().detach();
            let eps = 1e-6;
            let composed_norm = |x: &Tensor| {
                let var = x.sqr()?.mean_keepdim(D::Minus1)?;
                x.broadcast_div(&(var + eps)?.sqrt()?)
            };
            let gelu_ref = |a: &Tensor, b: &Tensor| a.gelu()? * b;
            let (xt, yt) = (x.as_tensor(), y.as_tensor());
            let cases = [
                ("rms", rms_normalize(&x, eps), composed_norm(xt)),
                (
                    "softmax",
                    softmax_last(&x),
                    candle_nn::ops::softmax(xt, D::Minus1),
                ),
                ("gelu", gated_gelu(&x, &y), gelu_ref(xt, yt)),
            ];
            for (name, fused, composed) in cases {
                let (fused, composed) = (fused.unwrap(), composed.unwrap());
                close(&fused, &composed, 1e-5);
                // A weighted sum, so every output element gets a different upstream gradient.
                let grads = |t: &Tensor| {
                    (t * &weight)
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .backward()
                        .unwrap()
                };
                let (gf, gc) = (grads(&fused), grads(&composed));
                for v in [&x, &y] {
                    match (gf.get(v.as_tensor()), gc.get(v.as_tensor())) {
                        (Some(a), Some(b)) => close(a, b, 1e-4),
                        (None, None) => {}
                        _ => panic!("{name}: a gradient is missing on one side"),
                    }
                }
                assert!(gf.get(x.as_tensor()).is_some(), "{name}: no gradient for x");
            }
        }
    }
}
