//! Locating the default data: the checkout's `sample-data/`, or the copy embedded in the binary,
//! written out once to the user's cache directory.

use anyhow::{Context, Result};
use std::path::PathBuf;

include!(concat!(env!("OUT_DIR"), "/sample_files.rs"));

/// The `sample-data/` directory (holding `IE_INSTRUCTIONS/` and `configs/`).
pub fn sample_root() -> Result<PathBuf> {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-data");
    if source.join("IE_INSTRUCTIONS").is_dir() {
        return Ok(source);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("ie-bench")
        .join(format!("sample-data-{}", env!("CARGO_PKG_VERSION")));
    for (rel, bytes) in SAMPLE_FILES {
        let path = cache.join(rel);
        if std::fs::read(&path).ok().as_deref() == Some(*bytes) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(cache)
}

pub fn sample_data_dir() -> Result<PathBuf> {
    Ok(sample_root()?.join("IE_INSTRUCTIONS"))
}
