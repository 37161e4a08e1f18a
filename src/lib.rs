//! ie-bench: InstructUIE (Wang et al. 2023) as a library. The pure core (`ie`, `data`,
//! `prompt`, `eval`, `export`, `text`) knows nothing of terminals, async runtimes or databases.

pub mod cli;
pub mod data;
pub mod eval;
pub mod export;
pub mod ie;
pub mod jobs;
pub mod model;
pub mod program;
pub mod prompt;
pub mod pyrandom;
pub mod service;
pub mod spec;
pub mod store;
pub mod text;
pub mod tui;
