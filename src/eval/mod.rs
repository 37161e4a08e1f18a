//! Scoring generated text against gold strings: the official evaluator (`compat`), a corrected
//! `strict` mode, and per-example verdicts with an error taxonomy.

pub mod by_label;
pub mod compare;
pub mod extract;
pub mod metrics;
pub mod normalize;
pub mod predictions;
pub mod report;
pub mod schemes;
pub mod significance;
pub mod structure;
pub mod verdict;

pub use extract::{score_instance, Mode, Outcome};
pub use metrics::Counts;
pub use predictions::{read_predictions, PredictionLine};
pub use report::{score, score_file, DatasetScore, Report, TaskReport};
pub use verdict::{verdict, ErrorKind, Verdict};
