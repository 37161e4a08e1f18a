//! CPU training without candle's autograd: vectorised row kernels, `gemm` products on slices,
//! and T5's forward and backward passes written out (see `backprop`).

pub mod backprop;
pub mod kernels;
pub mod matmul;

pub use backprop::Backprop;
