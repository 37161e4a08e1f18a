//! Task configs: `{train,dev,test}_tasks.json` naming which (task, dataset) pairs make up each
//! split and how to sample them (SPEC §1.4). The official supervised and zero-shot configs are
//! built in, since the data archive does not carry them.

use serde_json::Value;
use std::path::{Path, PathBuf};

use super::error::{json_error, DataError};
use super::labels::json_kind;
use crate::ie::{Split, TaskKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Despite the name, the official code keeps the *first* N records (SPEC §1.4).
    Random,
    Full,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigEntry {
    pub task: TaskKind,
    pub dataset: String,
    pub strategy: Strategy,
}

/// One split's entries in file order: tasks in key order, datasets in list order.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SplitConfig {
    pub entries: Vec<ConfigEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TaskConfig {
    /// Where it came from: a directory, or `builtin:<name>`.
    pub origin: String,
    pub train: SplitConfig,
    pub dev: SplitConfig,
    pub test: SplitConfig,
}

const BUILTIN: &[(&str, [&str; 3])] = &[
    (
        "supervised",
        [
            include_str!("builtin/supervised/train_tasks.json"),
            include_str!("builtin/supervised/dev_tasks.json"),
            include_str!("builtin/supervised/test_tasks.json"),
        ],
    ),
    (
        "zeroshot",
        [
            include_str!("builtin/zeroshot/train_tasks.json"),
            include_str!("builtin/zeroshot/dev_tasks.json"),
            include_str!("builtin/zeroshot/test_tasks.json"),
        ],
    ),
    // Not official: CoNLL 2003 NER alone, for the workbench's first run with a pretrained
    // decoder (a short fine-tune whose F1 means something).
    (
        "ner-demo",
        [
            include_str!("builtin/ner-demo/train_tasks.json"),
            include_str!("builtin/ner-demo/dev_tasks.json"),
            include_str!("builtin/ner-demo/test_tasks.json"),
        ],
    ),
];

pub const BUILTIN_NAMES: [&str; 3] = ["supervised", "zeroshot", "ner-demo"];

impl TaskConfig {
    pub fn split(&self, split: Split) -> &SplitConfig {
        match split {
            Split::Train => &self.train,
            Split::Dev => &self.dev,
            Split::Test => &self.test,
        }
    }

    /// The built-in config of that name: the official `supervised` (=
    /// `configs/multi_task_configs`) and `zeroshot` (= `configs/zeroshot_configs`), and
    /// `ner-demo` (CoNLL 2003 NER alone).
    pub fn builtin(name: &str) -> Option<TaskConfig> {
        let (_, files) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        let origin = format!("builtin:{name}");
        let parse = |i: usize, split: Split| {
            let path = PathBuf::from(format!("{origin}/{}_tasks.json", split.as_str()));
            parse_split(&path, files[i]).expect("built-in task configs are valid")
        };
        Some(TaskConfig {
            train: parse(0, Split::Train),
            dev: parse(1, Split::Dev),
            test: parse(2, Split::Test),
            origin,
        })
    }

    /// Reads `<dir>/{train,dev,test}_tasks.json`; all three must exist, as in the official code.
    pub fn read_dir(dir: &Path) -> Result<TaskConfig, DataError> {
        let read = |split: Split| -> Result<SplitConfig, DataError> {
            let path = dir.join(format!("{}_tasks.json", split.as_str()));
            if !path.is_file() {
                return Err(DataError::Config {
                    path,
                    message: "task config file not found (a config directory needs train_tasks.json, dev_tasks.json and test_tasks.json)".into(),
                });
            }
            let text = super::error::read_text(&path, "a JSON object {TASK: [datasets]}")?;
            parse_split(&path, &text)
        };
        Ok(TaskConfig {
            origin: dir.display().to_string(),
            train: read(Split::Train)?,
            dev: read(Split::Dev)?,
            test: read(Split::Test)?,
        })
    }
}

fn parse_split(path: &Path, text: &str) -> Result<SplitConfig, DataError> {
    let err = |message: String| DataError::Config {
        path: path.to_path_buf(),
        message,
    };
    let value: Value = serde_json::from_str(text).map_err(|e| json_error(path, &e))?;
    let Value::Object(tasks) = value else {
        return Err(err(format!(
            "expected an object {{TASK: [datasets]}}, found {}",
            json_kind(&value)
        )));
    };
    let mut entries = Vec::new();
    for (task_name, list) in tasks {
        let task: TaskKind = task_name.parse().map_err(|e| err(format!("{e}")))?;
        let Value::Array(list) = list else {
            return Err(err(format!(
                "{task_name}: expected an array of datasets, found {}",
                json_kind(&list)
            )));
        };
        for (i, item) in list.iter().enumerate() {
            let at = format!("{task_name}[{i}]");
            let Value::Object(obj) = item else {
                return Err(err(format!(
                    "{at}: expected an object, found {}",
                    json_kind(item)
                )));
            };
            let dataset = match obj.get("dataset name") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => {
                    return Err(err(format!(
                        "{at}: \"dataset name\" must be a string, found {}",
                        json_kind(other)
                    )))
                }
                None => return Err(err(format!("{at}: missing \"dataset name\""))),
            };
            // The name becomes a path under DATA/TASK/: it must not lead out of --data.
            if Path::new(&dataset).is_absolute()
                || dataset
                    .split(['/', '\\'])
                    .any(|part| part == ".." || part.is_empty())
                || dataset.contains('\0')
            {
                return Err(err(format!(
                    "{at}: dataset name {dataset:?} is not a directory name under {task_name}/ \
                     (absolute, empty, or with `..`); a task config may only name datasets inside --data"
                )));
            }
            // A missing key means "random" in the official builder.
            let strategy = match obj.get("sampling strategy") {
                None => Strategy::Random,
                Some(Value::String(s)) if s == "random" => Strategy::Random,
                Some(Value::String(s)) if s == "full" => Strategy::Full,
                Some(other) => {
                    return Err(err(format!(
                        "{at}: \"sampling strategy\" must be \"random\" or \"full\", found {other}"
                    )))
                }
            };
            entries.push(ConfigEntry {
                task,
                dataset,
                strategy,
            });
        }
    }
    Ok(SplitConfig { entries })
}

/// Strips the `_sample_N` suffix of an offline-resampled directory name (SPEC §1.4).
pub fn base_dataset_name(name: &str) -> &str {
    match name.rfind("_sample_") {
        Some(i) if name[i + 8..].chars().all(|c| c.is_ascii_digit()) && name.len() > i + 8 => {
            &name[..i]
        }
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_names_cannot_leave_the_data_directory() {
        for name in ["../../etc", "/etc/passwd", "NER/../..", "a//b", ""] {
            let text = serde_json::json!({"NER": [{"dataset name": name}]}).to_string();
            let e = parse_split(Path::new("c/test_tasks.json"), &text)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("may only name datasets inside --data"),
                "{name}: {e}"
            );
        }
        let text = r#"{"NER": [{"dataset name": "CoNLL 2003"}]}"#;
        assert!(parse_split(Path::new("c/test_tasks.json"), text).is_ok());
    }

    #[test]
    fn builtin_supervised_matches_spec_counts() {
        let c = TaskConfig::builtin("supervised").unwrap();
        let count = |s: &SplitConfig, t: TaskKind| s.entries.iter().filter(|e| e.task == t).count();
        assert_eq!(count(&c.train, TaskKind::Ner), 21);
        assert_eq!(count(&c.train, TaskKind::Re), 8);
        assert_eq!(count(&c.train, TaskKind::Ee), 4);
        assert_eq!(count(&c.test, TaskKind::Ner), 21);
        assert_eq!(count(&c.test, TaskKind::Ee), 0);
        assert_eq!(count(&c.test, TaskKind::Eet), 3);
        assert!(c.test.entries.iter().all(|e| e.strategy == Strategy::Full));
        let ace = &c.train.entries[0];
        assert_eq!(
            (ace.dataset.as_str(), ace.strategy),
            ("ACE 2004_sample_15000", Strategy::Full)
        );
    }

    #[test]
    fn builtin_zeroshot_holds_out_the_test_sets() {
        let c = TaskConfig::builtin("zeroshot").unwrap();
        assert_eq!(c.test.entries.len(), 20);
        assert_eq!(c.train.entries.len(), 18 * 3 + 6 * 3);
        for e in &c.test.entries {
            assert!(
                !c.train.entries.iter().any(|t| t.dataset == e.dataset),
                "{}",
                e.dataset
            );
        }
    }

    #[test]
    fn bad_configs_name_the_entry() {
        let p = Path::new("x/train_tasks.json");
        let e = parse_split(
            p,
            r#"{"NER": [{"dataset name": "a", "sampling strategy": "rand"}]}"#,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("NER[0]: \"sampling strategy\" must be"),
            "{e}"
        );
        let e = parse_split(p, r#"{"XX": []}"#).unwrap_err();
        assert!(e.to_string().contains("unknown task \"XX\""), "{e}");
        let ok = parse_split(p, r#"{"RE": [{"dataset name": "a"}]}"#).unwrap();
        assert_eq!(ok.entries[0].strategy, Strategy::Random);
    }

    #[test]
    fn sample_suffix_is_stripped() {
        assert_eq!(base_dataset_name("CoNLL 2003_sample_15000"), "CoNLL 2003");
        assert_eq!(base_dataset_name("conll04"), "conll04");
        assert_eq!(base_dataset_name("x_sample_"), "x_sample_");
    }
}
