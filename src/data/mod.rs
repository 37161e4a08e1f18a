//! Reading and validating IE INSTRUCTIONS directories and task configs, sampling, and the
//! catalog of the paper's datasets. Pure: files in, plain values out.

pub mod catalog;
pub mod config;
pub mod dataset;
pub mod error;
pub mod labels;
pub mod records;
pub mod sampling;

pub use config::{base_dataset_name, ConfigEntry, SplitConfig, Strategy, TaskConfig};
pub use dataset::{list_datasets, summarize, DatasetLocation, DatasetSummary};
pub use error::{DataError, Warning};
pub use labels::{Labels, TaskLabels};
pub use records::{check_offsets, read_records};
