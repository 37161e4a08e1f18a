//! Instruction templates and the text-to-text view of IE: rendering sources and targets for the
//! nine tasks, and materialising whole splits of a task config.

pub mod answer_grammar;
pub mod build;
pub mod instructions;
pub mod parse_target;
pub mod render;
pub mod target_order;

pub use answer_grammar::{answer_options, AnswerGrammar, Cursor};
pub use build::{build_split, BuildOptions, BuildOutput, PromptInstance, AUX_PROB};
pub use instructions::{InstructionBank, InstructionStrategy};
pub use render::{fill, python_format, render, Rendered, Substitution};
pub use target_order::TargetOrder;
