//! Domain types shared by every layer: task kinds, gold structures, splits.
//!
//! The record structs mirror the IE INSTRUCTIONS on-disk schemas (SPEC §1.2) field for field, so
//! serde reads the official files unchanged.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The nine InstructUIE tasks: three main tasks and their auxiliary tasks (SPEC §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TaskKind {
    #[serde(rename = "NER")]
    Ner,
    #[serde(rename = "RE")]
    Re,
    #[serde(rename = "EE")]
    Ee,
    #[serde(rename = "ES")]
    Es,
    #[serde(rename = "ET")]
    Et,
    #[serde(rename = "EP")]
    Ep,
    #[serde(rename = "EPR")]
    Epr,
    #[serde(rename = "EET")]
    Eet,
    #[serde(rename = "EEA")]
    Eea,
}

/// Which of the three record schemas a task reads (SPEC §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Schema {
    Entities,
    Relations,
    Events,
}

impl TaskKind {
    pub const ALL: [TaskKind; 9] = [
        TaskKind::Ner,
        TaskKind::Re,
        TaskKind::Ee,
        TaskKind::Es,
        TaskKind::Et,
        TaskKind::Ep,
        TaskKind::Epr,
        TaskKind::Eet,
        TaskKind::Eea,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Ner => "NER",
            TaskKind::Re => "RE",
            TaskKind::Ee => "EE",
            TaskKind::Es => "ES",
            TaskKind::Et => "ET",
            TaskKind::Ep => "EP",
            TaskKind::Epr => "EPR",
            TaskKind::Eet => "EET",
            TaskKind::Eea => "EEA",
        }
    }

    /// The main task whose directory an auxiliary task's data is copied from (SPEC §1.1).
    pub fn main_task(self) -> TaskKind {
        match self {
            TaskKind::Ner | TaskKind::Es | TaskKind::Et => TaskKind::Ner,
            TaskKind::Re | TaskKind::Ep | TaskKind::Epr => TaskKind::Re,
            TaskKind::Ee | TaskKind::Eet | TaskKind::Eea => TaskKind::Ee,
        }
    }

    pub fn is_main(self) -> bool {
        self.main_task() == self
    }

    pub fn schema(self) -> Schema {
        match self.main_task() {
            TaskKind::Ner => Schema::Entities,
            TaskKind::Re => Schema::Relations,
            _ => Schema::Events,
        }
    }

    /// ES/ET/EP/EPR are thinned with probability `aux_prob`; EET/EEA are not (SPEC §3.2).
    pub fn is_subsampled_aux(self) -> bool {
        matches!(
            self,
            TaskKind::Es | TaskKind::Et | TaskKind::Ep | TaskKind::Epr
        )
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown task {0:?} (expected one of NER, RE, EE, ES, ET, EP, EPR, EET, EEA)")]
pub struct UnknownTask(pub String);

impl FromStr for TaskKind {
    type Err = UnknownTask;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskKind::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownTask(s.to_string()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Dev,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Dev, Split::Test];

    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Dev => "dev",
            Split::Test => "test",
        }
    }

    pub fn file_name(self) -> &'static str {
        match self {
            Split::Train => "train.json",
            Split::Dev => "dev.json",
            Split::Test => "test.json",
        }
    }
}

impl Named for Split {
    const ALL: &'static [Self] = &Split::ALL;
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "train" => Ok(Split::Train),
            "dev" => Ok(Split::Dev),
            "test" => Ok(Split::Test),
            _ => Err(format!("unknown split {s:?} (expected train, dev or test)")),
        }
    }
}

/// A character span `[start, end)` in Python code-point offsets; the official data may leave it empty.
pub type Pos = Vec<usize>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationArg {
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relation {
    pub head: RelationArg,
    #[serde(rename = "type")]
    pub kind: String,
    pub tail: RelationArg,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Argument {
    pub name: String,
    pub role: String,
    #[serde(default)]
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub trigger: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub pos: Pos,
    #[serde(default)]
    pub arguments: Vec<Argument>,
}

/// One gold record of any schema; the task directory decides which one a file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub sentence: String,
    #[serde(flatten)]
    pub gold: Gold,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gold {
    Entities(Vec<Entity>),
    Relations(Vec<Relation>),
    Events(Vec<Event>),
}

impl Gold {
    pub fn schema(&self) -> Schema {
        match self {
            Gold::Entities(_) => Schema::Entities,
            Gold::Relations(_) => Schema::Relations,
            Gold::Events(_) => Schema::Events,
        }
    }
}

/// A closed set of named options, so front ends (CLI flags, config files) can offer and parse
/// them without the core depending on any of those front ends.
pub trait Named: Sized + Copy + 'static {
    const ALL: &'static [Self];
    fn name(self) -> &'static str;
    fn from_name(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.name() == s)
    }
}

/// `TASK/Name`: how stored runs and the database name a dataset, since one name recurs across
/// tasks (an EE dataset and its EET/EEA copies).
pub fn dataset_key(task: TaskKind, dataset: &str) -> String {
    format!("{task}/{dataset}")
}

/// The task and name of a `TASK/Name` key; `None` when it has no known task part.
pub fn parse_dataset_key(key: &str) -> Option<(TaskKind, &str)> {
    let (task, name) = key.split_once('/')?;
    Some((task.parse().ok()?, name))
}

/// The dataset name of a `TASK/Name` key (the whole key when it has no task part).
pub fn dataset_of_key(key: &str) -> &str {
    key.split_once('/').map_or(key, |(_, name)| name)
}

/// The official data marks "no type" / "no relation" with `NA` or an empty string (SPEC §1.2).
pub fn is_na(label: &str) -> bool {
    label == "NA" || label.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_names_round_trip() {
        for t in TaskKind::ALL {
            assert_eq!(t.as_str().parse::<TaskKind>().unwrap(), t);
        }
        assert!("ner".parse::<TaskKind>().is_err());
    }

    #[test]
    fn aux_tasks_map_to_their_main_task() {
        assert_eq!(TaskKind::Es.main_task(), TaskKind::Ner);
        assert_eq!(TaskKind::Epr.main_task(), TaskKind::Re);
        assert_eq!(TaskKind::Eea.main_task(), TaskKind::Ee);
        assert!(TaskKind::Et.is_subsampled_aux());
        assert!(!TaskKind::Eet.is_subsampled_aux());
    }
}
