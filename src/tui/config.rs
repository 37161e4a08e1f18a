//! Where the TUI's user files live, and the TOML layering both the keymap and the theme use:
//! built-in defaults first, then the user's file over them, key by key.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    Toml { path: String, message: String },
    #[error("{path}: {key}: {message}")]
    Entry {
        path: String,
        key: String,
        message: String,
    },
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// `$XDG_CONFIG_HOME/ie-bench`, else `~/.config/ie-bench`.
pub fn config_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("ie-bench");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".config").join("ie-bench")
}

pub fn parse(path: &str, text: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>().map_err(|e| ConfigError::Toml {
        path: path.to_string(),
        message: e.to_string().trim().replace('\n', " "),
    })
}

/// Reads an optional user file: `None` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<toml::Table>, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&path.display().to_string(), &text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// `over` laid on `base`: tables merge recursively, any other value replaces.
pub fn layer(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => layer(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}
