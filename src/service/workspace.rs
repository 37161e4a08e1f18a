//! What both front ends need to know about the user's workspace: where the data is, which
//! task config and instruction bank a name or a flag means.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

use crate::data::{config::BUILTIN_NAMES, TaskConfig};
use crate::prompt::InstructionBank;

/// `--data`, defaulting to the sample data.
pub fn data_dir(data: Option<PathBuf>) -> Result<PathBuf> {
    match data {
        Some(d) => Ok(d),
        None => super::sample::sample_data_dir(),
    }
}

/// `--config NAME|DIR`: a directory; or a name, looked up first in the data's own
/// `../configs/NAME` (the sample data ships one) and then among the built-in official configs;
/// `builtin:NAME` forces the official one.
pub fn task_config(spec: &str, data: &Path) -> Result<TaskConfig> {
    let as_dir = Path::new(spec);
    if as_dir.is_dir() {
        return TaskConfig::read_dir(as_dir).context("reading task config");
    }
    let (forced, name) = match spec.strip_prefix("builtin:") {
        Some(n) => (true, n),
        None => (false, spec),
    };
    if !forced {
        if let Some(local) = data.parent().map(|p| p.join("configs").join(name)) {
            if local.is_dir() {
                return TaskConfig::read_dir(&local).context("reading task config");
            }
        }
    }
    TaskConfig::builtin(name).with_context(|| {
        format!(
            "--config {spec:?} is neither a directory nor a known config (built in: {})",
            BUILTIN_NAMES.join(", ")
        )
    })
}

/// `--instructions FILE`, defaulting to the data's `../configs/instruction_config.json`, else the
/// official bank: where it comes from and its JSON text.
pub fn instruction_bank_source(file: Option<&Path>, data: &Path) -> Result<(PathBuf, String)> {
    let local = data
        .parent()
        .map(|p| p.join("configs").join("instruction_config.json"))
        .filter(|p| p.is_file());
    match file.map(Path::to_path_buf).or(local) {
        Some(f) => {
            let text = crate::data::error::read_text(
                &f,
                "a JSON object {TASK: [{instruction_type, instruction}]}",
            )
            .context("reading instruction bank")?;
            Ok((f, text))
        }
        None => Ok((
            PathBuf::from("builtin:instruction_config.json"),
            InstructionBank::builtin_text().to_string(),
        )),
    }
}

pub fn instruction_bank(file: Option<&Path>, data: &Path) -> Result<InstructionBank> {
    let (origin, text) = instruction_bank_source(file, data)?;
    InstructionBank::from_text(&origin, &text).context("reading instruction bank")
}
