use std::path::PathBuf;

use super::records::RunId;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database {} is in use by {holder}; wait for it to end, or pass another --db", path.display())]
    Locked { path: PathBuf, holder: String },
    #[error("database {} has schema version {found}, newer than this ie-bench understands ({supported}); use a newer ie-bench", path.display())]
    NewerSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("database {}: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("database {}: reading through the process that holds it failed: {message}", path.display())]
    HolderGone { path: PathBuf, message: String },
    #[error("{0}")]
    Refused(String),
    #[error("database {}: the process holding it accepted the request but did not answer within {waited} s (is it stopped? see the pid in {}/ie-bench.lock)", path.display(), path.display())]
    Unresponsive { path: PathBuf, waited: u64 },
    /// A file or socket beside the database that is not what ie-bench made, or another user's.
    #[error("{}: {message}", path.display())]
    Unsafe { path: PathBuf, message: String },
    #[error("no run with id {0} (see `ie-bench runs`)")]
    UnknownRun(RunId),
    #[error("database: {0}")]
    Sled(#[from] sled::Error),
}

pub type Result<T> = std::result::Result<T, StoreError>;
