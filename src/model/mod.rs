//! The model engine: T5-family checkpoints in Hugging Face layout, our own T5 on candle,
//! tokenization, and batched greedy generation.

pub mod config;
pub mod error;
pub mod params;
pub mod t5;

pub use config::T5Config;
pub use error::ModelError;
pub use params::Params;
pub use t5::T5;
