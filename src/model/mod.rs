//! The model engine: T5-family checkpoints in Hugging Face layout, our own T5 on candle,
//! tokenization, and batched greedy generation.

pub mod backbone;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod cpu;
pub mod decoder;
pub mod error;
pub mod fit;
pub mod hub;
pub mod params;
pub mod predict;
pub mod t5;
pub mod t5_bias;
pub mod tokenize;
pub mod train;

pub use checkpoint::{load, Loaded};
pub use config::T5Config;
pub use error::ModelError;
pub use params::{HeadInit, Params};
pub use t5::T5;
pub use tokenize::TextTokenizer;
