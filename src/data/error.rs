//! Typed errors and warnings of the data layer. Every message names the file and, where one
//! applies, the record index and field, so a user can open the file and fix it.

use std::fmt;
use std::path::PathBuf;

use crate::ie::{Split, TaskKind};

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: file is empty (0 bytes); expected {expected}", path.display())]
    Empty {
        path: PathBuf,
        expected: &'static str,
    },
    #[error("{}: not valid UTF-8 (first bad byte at offset {offset}, line {line})", path.display())]
    NotUtf8 {
        path: PathBuf,
        offset: usize,
        line: usize,
    },
    #[error("{}:{line}:{column}: invalid JSON: {message}", path.display())]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}: record {index}: field `{field}`: {message}", path.display())]
    Field {
        path: PathBuf,
        index: usize,
        field: String,
        message: String,
    },
    #[error("{}: line {line}: field `{field}`: {message}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        field: String,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    Shape { path: PathBuf, message: String },
    #[error("{}: dataset directory has no labels.json", dir.display())]
    MissingLabels { dir: PathBuf },
    #[error("dataset {task}/{name} not found under {} (looked for {})", root.display(), looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    MissingDataset {
        root: PathBuf,
        task: TaskKind,
        name: String,
        looked: Vec<PathBuf>,
    },
    #[error("{}: {split} split is absent, but the task config needs it", path.display())]
    MissingSplit { path: PathBuf, split: Split },
    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn field(
        path: impl Into<PathBuf>,
        index: usize,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        DataError::Field {
            path: path.into(),
            index,
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A problem worth reporting that does not stop loading; the official data has many of these
/// (SciERC offsets, PHEE triggers), and the official code never reads `pos`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    pub path: PathBuf,
    pub index: Option<usize>,
    pub field: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(i) = self.index {
            write!(f, ": record {i}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": field `{}`", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Reads a whole file as UTF-8 text, with the errors the rest of the crate expects.
pub(crate) fn read_text(
    path: &std::path::Path,
    expected: &'static str,
) -> Result<String, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if bytes.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            expected,
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        DataError::NotUtf8 {
            path: path.to_path_buf(),
            offset,
            line,
        }
    })
}

pub(crate) fn json_error(path: &std::path::Path, e: &serde_json::Error) -> DataError {
    DataError::Json {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: strip_position(&e.to_string()),
    }
}

/// serde_json appends " at line L column C"; we print the position ourselves.
pub(crate) fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}
