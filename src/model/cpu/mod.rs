//! CPU training and inference without candle's autograd: vectorised row kernels, `gemm`
//! products on slices, and T5's forward and backward passes written out.

pub mod amx;
pub mod backprop;
pub mod frozen_bf16;
pub mod generate;
pub(crate) mod kernels;
mod layout;
mod matmul;
mod ops;
pub mod quantized;
mod stack;
mod team;

pub use backprop::Backprop;
pub use layout::Layout;
pub mod decoder;
pub mod decoder_generate;
