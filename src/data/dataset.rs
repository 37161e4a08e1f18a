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
}

impl DatasetLocation {
    /// Resolves `<root>/<TASK>/<name>`; auxiliary tasks fall back to the main task directory,
    /// taking their labels from `labels_<task>.json` there when present (the release's layout
    /// for EET/EEA), else from its `labels.json`.
    pub fn locate(root: &Path, task: TaskKind, name: &str) -> Result<DatasetLocation, DataError> {
        let own = root.join(task.as_str()).join(name);
        if own.is_dir() {
            return Ok(DatasetLocation {
                task,
                name: name.to_string(),
                labels_path: own.join("labels.json"),
                data_dir: own,
                aliased: false,
            });
        }
        let main_dir = root.join(task.main_task().as_str()).join(name);
        if task.is_main() || !main_dir.is_dir() {
            let mut looked = vec![own];
            if !task.is_main() {
                looked.push(main_dir);
            }
            return Err(DataError::MissingDataset {
                root: root.to_path_buf(),
                task,
                name: name.to_string(),
                looked,
            });
        }
        let specific = main_dir.join(format!("labels_{}.json", task.as_str().to_lowercase()));
        let labels_path = if specific.is_file() {
            specific
        } else {
            main_dir.join("labels.json")
        };
        Ok(DatasetLocation {
            task,
            name: name.to_string(),
            data_dir: main_dir,
            labels_path,
            aliased: true,
        })
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
    summary
}
