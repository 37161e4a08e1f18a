//! AdamW as torch implements it, updating parameters in place from raw slices.

use super::*;

/// AdamW as torch implements it, updating parameters in place from raw slices.
pub struct AdamW {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Completed updates.
    pub t: u64,
    pub m: BTreeMap<String, Vec<f32>>,
    pub v: BTreeMap<String, Vec<f32>>,
}

impl AdamW {
    pub fn new() -> Self {
        AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            t: 0,
            m: BTreeMap::new(),
            v: BTreeMap::new(),
        }
    }

    /// One update of every parameter with its gradient times `grad_scale` (the clipping
    /// factor, folded in here rather than spent on a pass of its own).
    pub fn step(
        &mut self,
        params: &Params,
        grads: &[(&str, &[f32])],
        lr: f64,
        grad_scale: f32,
    ) -> Result<()> {
        let coef = self.advance(lr, grad_scale);
        for &(name, g) in grads {
            let var = params.vars.get(name).ok_or_else(|| {
                ModelError::NotFound(format!("gradient for `{name}`, which the model lacks"))
            })?;
            let (m, v) = self.moments(name, g.len());
            let t = var.as_tensor();
            if t.device().is_cpu() && t.dtype() == DType::F32 {
                // In place on the parameter's own storage: no copies out and back.
                t.inplace_op1(&InPlaceAdam {
                    coef,
                    g,
                    moments: std::cell::RefCell::new((m, v)),
                })?;
            } else {
                let mut p: Vec<f32> = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?;
                coef.update(&mut p, m, v, g);
                var.set(&Tensor::from_vec(p, t.shape(), t.device())?.to_dtype(t.dtype())?)?;
            }
        }
        Ok(())
    }
}

impl AdamW {
    /// The first and second moments of parameter `name` (of `n` values), zero at first.
    fn moments(&mut self, name: &str, n: usize) -> (&mut Vec<f32>, &mut Vec<f32>) {
        let m = self
            .m
            .entry(name.to_string())
            .or_insert_with(|| vec![0.0; n]);
        let v = self
            .v
            .entry(name.to_string())
            .or_insert_with(|| vec![0.0; n]);
        (m, v)
    }

    /// Counts an update and returns its scalars.
    fn advance(&mut self, lr: f64, grad_scale: f32) -> AdamCoef {
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t as i32);
        AdamCoef {
            b1: self.beta1 as f32,
            b2: self.beta2 as f32,
            bc2_sqrt: (1.0 - self.beta2.powi(self.t as i32)).sqrt() as f32,
            step_size: (lr / bc1) as f32,
            eps: self.eps as f32,
            decay: (1.0 - lr * self.weight_decay) as f32,
            grad_scale,
        }
    }

    /// One update of parameters held as plain f32 vectors: (name, parameter, gradient).
    pub fn step_slices<'a>(
        &mut self,
        params: impl IntoIterator<Item = (&'a str, &'a mut [f32], &'a [f32])>,
        lr: f64,
        grad_scale: f32,
    ) {
        let coef = self.advance(lr, grad_scale);
        for (name, p, g) in params {
            let (m, v) = self.moments(name, g.len());
            coef.update(p, m, v, g);
        }
    }
}

/// The scalars of one AdamW update (torch semantics).
#[derive(Clone, Copy)]
struct AdamCoef {
    b1: f32,
    b2: f32,
    bc2_sqrt: f32,
    step_size: f32,
    eps: f32,
    decay: f32,
    grad_scale: f32,
}

/// Below this many elements a parameter is updated on one thread; above it, on every core.
pub(super) const PARALLEL_MIN: usize = 1 << 16;

impl AdamCoef {
    fn update_serial(&self, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
        for (((p, m), v), &g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
            let g = g * self.grad_scale;
            *m = self.b1 * *m + (1.0 - self.b1) * g;
            *v = self.b2 * *v + (1.0 - self.b2) * g * g;
            let denom = (v.sqrt() / self.bc2_sqrt) + self.eps;
            *p = *p * self.decay - self.step_size * *m / denom;
        }
    }

    fn update(&self, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
        let threads = rayon::current_num_threads().max(1);
        if p.len() < PARALLEL_MIN || threads == 1 {
            return self.update_serial(p, m, v, g);
        }
        let chunk = p.len().div_ceil(threads);
        std::thread::scope(|s| {
            for (((p, m), v), g) in p
                .chunks_mut(chunk)
                .zip(m.chunks_mut(chunk))
                .zip(v.chunks_mut(chunk))
                .zip(g.chunks(chunk))
            {
                s.spawn(move || self.update_serial(p, m, v, g));
            }
        });
    }
}

/// AdamW applied to a parameter's CPU storage through candle's in-place op hook.
struct InPlaceAdam<'a> {
    coef: AdamCoef,
    g: &'a [f32],
    moments: std::cell::RefCell<(&'a mut Vec<f32>, &'a mut Vec<f32>)>,
}

impl candle_core::InplaceOp1 for InPlaceAdam<'_> {
    fn name(&self) -> &'static str {
        "adamw"
    }

    fn cpu_fwd(
        &self,
        storage: &mut candle_core::CpuStorage,
        layout: &candle_core::Layout,
    ) -> candle_core::Result<()> {
        let candle_core::CpuStorage::F32(data) = storage else {
            candle_core::bail!("adamw: parameters must be f32 on the CPU")
        };
        let n = self.g.len();
        if !layout.is_contiguous() || layout.shape().elem_count() != n {
            candle_core::bail!(
                "adamw: a parameter is not a contiguous tensor of its gradient's size"
            )
        }
        let p = &mut data[layout.start_offset()..layout.start_offset() + n];
        let mut moments = self.moments.borrow_mut();
        let (m, v) = &mut *moments;
        self.coef.update(p, m, v, self.g);
        Ok(())
    }
}

impl Default for AdamW {
    fn default() -> Self {
        Self::new()
    }
}
