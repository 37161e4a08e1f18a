//! What the targets share: splitting one input into files, and a scratch directory per process.
#![allow(dead_code)] // each target uses its own subset

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The input's parts, separated by NUL bytes (`parts(b"a\0b", 3)` is `[a, b, ""]`).
pub fn parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |&b| b == 0).collect();
    out.resize(n, &[]);
    out
}

/// A directory of this process's, emptied of nothing: each target writes the same names.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
        .path()
}

pub fn write(path: PathBuf, bytes: &[u8]) -> PathBuf {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("scratch directories");
    }
    std::fs::write(&path, bytes).expect("scratch files");
    path
}
