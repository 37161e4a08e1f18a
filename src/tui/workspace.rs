//! The data the TUI browses: every dataset of one IE INSTRUCTIONS root, loaded once, with the
//! per-split figures the Datasets screen shows. Pure: files in, plain values out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::data::dataset::{list_datasets, load_summarized, DatasetLocation};
use crate::data::TaskLabels;
use crate::ie::{Gold, Record, Split, TaskKind};

pub struct DatasetView {
    pub task: TaskKind,
    pub name: String,
    pub location: DatasetLocation,
    pub labels: Option<TaskLabels>,
    /// Records per split; `None` where the split file is absent.
    pub splits: [Option<Vec<Record>>; 3],
    pub warnings: Vec<String>,
    pub errors: Vec<String>,
    /// Label counts per split, most frequent first (counted once, at load).
    pub distribution: [Vec<(String, u64)>; 3],
}

impl DatasetView {
    pub fn records(&self, split: Split) -> &[Record] {
        self.splits[split as usize].as_deref().unwrap_or(&[])
    }

    /// Records over all splits.
    pub fn total(&self) -> usize {
        Split::ALL.iter().map(|s| self.records(*s).len()).sum()
    }

    /// `TASK/Name`.
    pub fn key(&self) -> String {
        crate::ie::dataset_key(self.task, &self.name)
    }

    /// The options a prompt lists, as names.
    pub fn label_names(&self) -> Vec<String> {
        match &self.labels {
            Some(TaskLabels::List(l)) => l.clone(),
            Some(TaskLabels::EventMap(m)) => m.keys().cloned().collect(),
            Some(TaskLabels::EventPair { types, .. }) => {
                types.split(',').map(|s| s.trim().to_string()).collect()
            }
            None => Vec::new(),
        }
    }
}

/// The labels a record's gold uses (entity, relation or event types), in record order.
pub fn record_labels(r: &Record) -> Vec<&str> {
    match &r.gold {
        Gold::Entities(e) => e.iter().map(|x| x.kind.as_str()).collect(),
        Gold::Relations(rs) => rs.iter().map(|x| x.kind.as_str()).collect(),
        Gold::Events(ev) => ev.iter().map(|x| x.kind.as_str()).collect(),
    }
}

/// Label counts over records, most frequent first (ties by name).
pub fn label_distribution(records: &[Record]) -> Vec<(String, u64)> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for r in records {
        for l in record_labels(r) {
            *counts.entry(l).or_default() += 1;
        }
    }
    let mut v: Vec<(String, u64)> = counts
        .into_iter()
        .map(|(k, n)| (k.to_string(), n))
        .collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

pub struct Workspace {
    pub root: PathBuf,
    pub datasets: Vec<DatasetView>,
    /// Datasets that could not be listed at all (the root's own problems).
    pub errors: Vec<String>,
}

impl Workspace {
    /// Every dataset under `root`; a bad file becomes an error line on its dataset, never a
    /// failure of the whole tree.
    pub fn load(root: &Path) -> Workspace {
        let locations = match list_datasets(root) {
            Ok(l) => l,
            Err(e) => {
                return Workspace {
                    root: root.to_path_buf(),
                    datasets: Vec::new(),
                    errors: vec![e.to_string()],
                }
            }
        };
        // Each file is read once, datasets in parallel: a release copy is 130 MB of JSON.
        use rayon::prelude::*;
        let datasets = locations
            .into_par_iter()
            .map(|loc| {
                let (summary, splits) = load_summarized(&loc, root);
                let labels = loc.task_labels().ok();
                let distribution = Split::ALL
                    .map(|s| label_distribution(splits[s as usize].as_deref().unwrap_or(&[])));
                DatasetView {
                    distribution,
                    task: loc.task,
                    name: loc.name.clone(),
                    labels,
                    splits,
                    warnings: summary.warnings.iter().map(ToString::to_string).collect(),
                    errors: summary.errors,
                    location: loc,
                }
            })
            .collect();
        Workspace {
            root: root.to_path_buf(),
            datasets,
            errors: Vec::new(),
        }
    }

    pub fn total_records(&self) -> usize {
        self.datasets.iter().map(DatasetView::total).sum()
    }

    /// The first dataset of a task (or of its main task, whose data auxiliary tasks reuse).
    pub fn first_of(&self, task: TaskKind) -> Option<&DatasetView> {
        self.datasets
            .iter()
            .find(|d| d.task == task)
            .or_else(|| self.datasets.iter().find(|d| d.task == task.main_task()))
    }
}

/// The exact model input for one record with `instruction` (SPEC §2.2: rendered template,
/// then the sentence formatted in as the official collator does).
pub fn model_input(
    d: &DatasetView,
    instruction: &str,
    split: Split,
    index: usize,
) -> Result<String, crate::data::DataError> {
    let record = d.records(split).get(index).ok_or_else(|| {
        crate::data::DataError::field(d.location.split_path(split), index, "", "no such record")
    })?;
    let labels = d.labels.as_ref().ok_or_else(|| {
        crate::data::DataError::field(
            d.location.labels_path.clone(),
            0,
            "",
            "labels could not be read",
        )
    })?;
    input_of(
        d.task,
        labels,
        instruction,
        record,
        &d.location.split_path(split),
        index,
    )
}

fn input_of(
    task: TaskKind,
    labels: &TaskLabels,
    instruction: &str,
    record: &Record,
    path: &Path,
    index: usize,
) -> Result<String, crate::data::DataError> {
    use crate::prompt::render::{fill, render, RecordRef, Substitution};
    let r = render(
        task,
        labels,
        instruction,
        record,
        &RecordRef { path, index },
    )?;
    Ok(fill(&r.template, &record.sentence, Substitution::Compat))
}

/// An evenly spaced sample of a split, owned, so a worker thread can render and measure it.
pub struct Sample {
    task: TaskKind,
    labels: TaskLabels,
    instruction: String,
    path: PathBuf,
    records: Vec<(usize, Record)>,
    /// The split's size.
    pub of: usize,
}

impl Sample {
    pub fn of_split(d: &DatasetView, split: Split, instruction: &str) -> Option<Sample> {
        let n = d.records(split).len();
        let step = n.div_ceil(LENGTH_SAMPLE).max(1);
        if n == 0 {
            return None;
        }
        Some(Sample {
            task: d.task,
            labels: d.labels.clone()?,
            instruction: instruction.to_string(),
            path: d.location.split_path(split),
            records: d
                .records(split)
                .iter()
                .enumerate()
                .step_by(step)
                .map(|(i, r)| (i, r.clone()))
                .collect(),
            of: n,
        })
    }

    /// The sample's model inputs.
    pub fn inputs(&self) -> Option<Vec<String>> {
        self.records
            .iter()
            .map(|(i, r)| {
                input_of(
                    self.task,
                    &self.labels,
                    &self.instruction,
                    r,
                    &self.path,
                    *i,
                )
                .ok()
            })
            .collect()
    }
}

/// Prompt lengths in tokens for (a sample of) a split, against the model's maximum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lengths {
    pub measured: usize,
    pub of: usize,
    pub mean: f64,
    pub max: usize,
    pub over: usize,
    pub limit: usize,
}

/// At most this many records are tokenized per split, evenly spaced.
pub const LENGTH_SAMPLE: usize = 500;

/// Token counts of `texts` against `limit`; `of` is the split's size.
pub fn lengths(
    texts: &[String],
    of: usize,
    tok: &crate::model::TextTokenizer,
    limit: usize,
) -> Option<Lengths> {
    let lens = texts
        .iter()
        .map(|t| tok.encode(t).map(|ids| ids.len()))
        .collect::<Result<Vec<usize>, _>>()
        .ok()?;
    Some(Lengths {
        measured: lens.len(),
        of,
        mean: lens.iter().sum::<usize>() as f64 / lens.len().max(1) as f64,
        max: lens.iter().copied().max().unwrap_or(0),
        over: lens.iter().filter(|l| **l > limit).count(),
        limit,
    })
}
