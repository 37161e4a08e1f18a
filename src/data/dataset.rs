//! Finding datasets in an IE INSTRUCTIONS tree (SPEC §1.1), including auxiliary tasks whose
//! directories are absent and resolve to the main task's copy.

use serde::Serialize;
use std::path::{Path, PathBuf};

use super::error::{DataError, Warning};
use super::labels::{Labels, TaskLabels};
use super::records::{check_offsets, read_records};
use crate::ie::{Record, Split, TaskKind};

/// Where one (task, dataset) pair lives on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatasetLocation {
    pub task: TaskKind,
    pub name: String,
    /// The directory holding the split files (the main task's for an aliased auxiliary task).
    pub data_dir: PathBuf,
    pub labels_path: PathBuf,
    /// True when an auxiliary task reuses the main task's directory.
    pub aliased: bool,
    /// Set when the config named `<base>_sample_<N>` and only `<base>` exists: the base's dev
    /// and test are used unchanged and its train split is resampled to N (SPEC §1.4).
    pub resample_train: Option<usize>,
}

impl DatasetLocation {
    /// Resolves `<root>/<TASK>/<name>`; auxiliary tasks fall back to the main task directory,
    /// taking their labels from `labels_<task>.json` there when present (the release's layout
    /// for EET/EEA), else from its `labels.json`.
    pub fn locate(root: &Path, task: TaskKind, name: &str) -> Result<DatasetLocation, DataError> {
        let base = super::config::base_dataset_name(name);
        let resample = (base != name)
            .then(|| name[base.len() + "_sample_".len()..].parse::<usize>().ok())
            .flatten();
        // In order: the task's own directory, the main task's (auxiliary tasks), then the same
        // two for the base of a `_sample_N` name the data does not ship.
        let mut tries = vec![(task, name, None)];
        if !task.is_main() {
            tries.push((task.main_task(), name, None));
        }
        if let Some(n) = resample {
            tries.push((task, base, Some(n)));
            if !task.is_main() {
                tries.push((task.main_task(), base, Some(n)));
            }
        }
        let mut looked = Vec::new();
        for (dir_task, dir_name, resample_train) in tries {
            let dir = root.join(dir_task.as_str()).join(dir_name);
            if !dir.is_dir() {
                looked.push(dir);
                continue;
            }
            let aliased = dir_task != task;
            let specific = dir.join(format!("labels_{}.json", task.as_str().to_lowercase()));
            let labels_path = if aliased && specific.is_file() {
                specific
            } else {
                dir.join("labels.json")
            };
            return Ok(DatasetLocation {
                task,
                name: name.to_string(),
                data_dir: dir,
                labels_path,
                aliased,
                resample_train,
            });
        }
        Err(DataError::MissingDataset {
            root: root.to_path_buf(),
            task,
            name: name.to_string(),
            looked,
        })
    }

    /// The directory name actually read, when it is not the name asked for.
    pub fn fallback_note(&self) -> Option<String> {
        let n = self.resample_train?;
        let dir = self.data_dir.file_name()?.to_string_lossy();
        Some(format!(
            "{}/{}: not in the data; using {} (dev and test unchanged, train resampled to {n} records as SPEC §1.4 describes)",
            self.task, self.name, dir
        ))
    }

    pub fn split_path(&self, split: Split) -> PathBuf {
        self.data_dir.join(split.file_name())
    }

    pub fn has_split(&self, split: Split) -> bool {
        self.split_path(split).is_file()
    }

    pub fn read_labels(&self) -> Result<Labels, DataError> {
        if !self.labels_path.is_file() {
            return Err(DataError::MissingLabels {
                dir: self
                    .labels_path
                    .parent()
                    .unwrap_or(Path::new("."))
                    .to_path_buf(),
            });
        }
        Labels::read(&self.labels_path)
    }

    pub fn task_labels(&self) -> Result<TaskLabels, DataError> {
        self.read_labels()?.for_task(self.task, &self.labels_path)
    }

    /// Reads a split; an absent file is `MissingSplit`, which callers may tolerate.
    pub fn read_split(&self, split: Split) -> Result<Vec<Record>, DataError> {
        let path = self.split_path(split);
        if !path.is_file() {
            return Err(DataError::MissingSplit { path, split });
        }
        read_records(&path, self.task.schema())
    }
}

/// Which of a config split's datasets the data holds: found as named, served by the base of a
/// `_sample_N` name, or missing (no directory, or no file for the split).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SplitResolution {
    pub found: Vec<String>,
    /// (name in the config, directory used).
    pub from_base: Vec<(String, String)>,
    pub missing: Vec<String>,
}

impl SplitResolution {
    pub fn of(root: &Path, entries: &[super::ConfigEntry], split: Split) -> SplitResolution {
        let mut r = SplitResolution::default();
        for e in entries {
            let key = crate::ie::dataset_key(e.task, &e.dataset);
            match DatasetLocation::locate(root, e.task, &e.dataset) {
                Ok(loc) if !loc.has_split(split) => r.missing.push(key),
                Ok(loc) if loc.resample_train.is_some() => {
                    let dir = loc
                        .data_dir
                        .file_name()
                        .map_or(String::new(), |n| n.to_string_lossy().into_owned());
                    r.from_base.push((key, dir));
                }
                Ok(_) => r.found.push(key),
                Err(_) => r.missing.push(key),
            }
        }
        r
    }
}

/// What `ie-bench datasets` reports for one dataset directory.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetSummary {
    pub task: TaskKind,
    pub name: String,
    pub dir: PathBuf,
    pub label_count: Option<usize>,
    /// Record counts per split in train/dev/test order; `None` when the file is absent.
    pub splits: [Option<usize>; 3],
    /// Auxiliary tasks this directory can serve without a copy of its own.
    pub aux: Vec<TaskKind>,
    pub warnings: Vec<Warning>,
    pub errors: Vec<String>,
}

impl DatasetSummary {
    pub fn split(&self, split: Split) -> Option<usize> {
        self.splits[split as usize]
    }
}

/// The datasets physically present under a root, in task then case-insensitive name order.
pub fn list_datasets(root: &Path) -> Result<Vec<DatasetLocation>, DataError> {
    if !root.is_dir() {
        return Err(DataError::io(
            root,
            std::io::Error::new(std::io::ErrorKind::NotFound, "data directory not found"),
        ));
    }
    let mut out = Vec::new();
    for task in TaskKind::ALL {
        let task_dir = root.join(task.as_str());
        let Ok(entries) = std::fs::read_dir(&task_dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort_by_key(|n| n.to_lowercase());
        for name in names {
            out.push(DatasetLocation::locate(root, task, &name)?);
        }
    }
    Ok(out)
}

/// Loads every split of a dataset to count records and collect problems; never fails as a
/// whole, so one bad file does not hide the rest of the tree.
pub fn summarize(loc: &DatasetLocation, root: &Path) -> DatasetSummary {
    load_summarized(loc, root).0
}

/// `summarize`, keeping the records it read (`None` where a split is absent or unreadable).
pub fn load_summarized(
    loc: &DatasetLocation,
    root: &Path,
) -> (DatasetSummary, [Option<Vec<Record>>; 3]) {
    let mut kept: [Option<Vec<Record>>; 3] = [None, None, None];
    let mut summary = DatasetSummary {
        task: loc.task,
        name: loc.name.clone(),
        dir: loc.data_dir.clone(),
        label_count: None,
        splits: [None; 3],
        aux: Vec::new(),
        warnings: Vec::new(),
        errors: Vec::new(),
    };
    let labels = loc
        .read_labels()
        .and_then(|l| l.for_task(loc.task, &loc.labels_path).map(|_| l));
    match labels {
        Ok(l) => summary.label_count = Some(l.count(loc.task)),
        Err(e) => summary.errors.push(e.to_string()),
    }
    for split in Split::ALL {
        match loc.read_split(split) {
            Ok(records) => {
                summary.splits[split as usize] = Some(records.len());
                summary
                    .warnings
                    .extend(check_offsets(&loc.split_path(split), &records));
                kept[split as usize] = Some(records);
            }
            Err(DataError::MissingSplit { .. }) => {}
            Err(e) => summary.errors.push(e.to_string()),
        }
    }
    if loc.task.is_main() {
        for aux in TaskKind::ALL
            .into_iter()
            .filter(|t| !t.is_main() && t.main_task() == loc.task)
        {
            if let Ok(a) = DatasetLocation::locate(root, aux, &loc.name) {
                if a.aliased && a.task_labels().is_ok() {
                    summary.aux.push(aux);
                }
            }
        }
    }
    (summary, kept)
}
