//! The engine both front ends stand on. `cli` and `tui` call this module and never each other:
//! it holds the database ([`holder`]: the job queue and the socket other processes reach),
//! stores, queues, resumes and cancels runs from their [`crate::spec::RunSpec`]s ([`runs`]),
//! builds prompts and models from the workspace's data ([`prompts`], [`models`],
//! [`workspace`], [`sample`]), and carries the short database writes (`gold`, `import`) to
//! wherever the database is held ([`through`]).

pub mod curves;
pub mod gold;
pub mod holder;
pub mod import;
pub mod judged;
pub mod models;
pub mod prompts;
pub mod reads;
pub mod results;
pub mod run_table;
pub mod runs;
pub mod sample;
pub mod socket;
pub mod tags;
pub mod through;
pub mod workspace;
