//! Per-dataset scores and the per-task unweighted average, as `calculate_f1.py` reports them
//! (SPEC §4.1 step 3).

use indexmap::IndexMap;
use serde_json::{json, Value};

use super::extract::{metric_kind, score_instance, MetricKind, Mode, Outcome};
use super::metrics::Counts;
use super::predictions::PredictionLine;
use super::verdict::{verdict, Verdict};
use crate::ie::TaskKind;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct DatasetScore {
    /// A fraction in [0, 1], like the official TSV.
    pub score: f64,
    /// TP/FP/FN for F1 metrics; `None` for accuracy.
    pub counts: Option<Counts>,
    /// Number of instances.
    pub n: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TaskReport {
    pub metric: MetricKind,
    /// Sorted by dataset name, case-insensitively.
    pub datasets: Vec<(String, DatasetScore)>,
    /// Unweighted mean over the datasets present.
    pub average: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    pub mode: Mode,
    pub tasks: IndexMap<TaskKind, TaskReport>,
    /// Predictions of tasks the mode does not score, per task.
    pub unscored: Vec<(TaskKind, u64)>,
}

/// The totals of one (task, dataset) group, from which its score is computed; what a store
/// keeps so tables can be rebuilt exactly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupTotals {
    /// TP/FP/FN for F1 metrics.
    pub counts: Counts,
    /// Correct answers, for accuracy metrics.
    pub correct: u64,
    pub n: u64,
}

/// Totals per (task, dataset name).
pub type Groups = Vec<(TaskKind, String, GroupTotals)>;

/// Totals per (task, dataset) in first-seen order, and instances per unscored task, built a
/// line at a time; two built over consecutive parts of a file merge into the whole's.
#[derive(Debug, Default)]
pub struct Totals {
    // First-seen order matters: Python's stable sort keeps it for names equal but for case,
    // and the average is summed in it.
    groups: IndexMap<(TaskKind, String), GroupTotals>,
    unscored: IndexMap<TaskKind, u64>,
}

impl GroupTotals {
    fn add(&mut self, o: &GroupTotals) {
        self.counts.add(o.counts);
        self.correct += o.correct;
        self.n += o.n;
    }
}

impl Totals {
    pub fn add(&mut self, task: TaskKind, dataset: &str, gold: &str, pred: &str, mode: Mode) {
        match score_instance(task, gold, pred, mode) {
            None => *self.unscored.entry(task).or_default() += 1,
            Some(outcome) => {
                // Found by reference first: a dataset name is copied once, not once a line.
                let acc = match self.groups.get_index_of(&Lookup(task, dataset)) {
                    Some(i) => &mut self.groups[i],
                    None => self.groups.entry((task, dataset.to_string())).or_default(),
                };
                acc.n += 1;
                match outcome {
                    Outcome::F1(c) => acc.counts.add(c),
                    Outcome::Accuracy(ok) => acc.correct += ok as u64,
                }
            }
        }
    }

    /// Adds the totals of the lines that came after this one's.
    pub fn merge(&mut self, later: Totals) {
        for (key, t) in later.groups {
            self.groups.entry(key).or_default().add(&t);
        }
        for (task, n) in later.unscored {
            *self.unscored.entry(task).or_default() += n;
        }
    }

    pub fn finish(self) -> (Groups, Vec<(TaskKind, u64)>) {
        let mut unscored: Vec<(TaskKind, u64)> = self.unscored.into_iter().collect();
        unscored.sort();
        let groups = self
            .groups
            .into_iter()
            .map(|((task, dataset), t)| (task, dataset, t))
            .collect();
        (groups, unscored)
    }
}

/// A `(TaskKind, String)` key looked up without building one: it hashes as the tuple does.
#[derive(Hash)]
struct Lookup<'a>(TaskKind, &'a str);

impl indexmap::Equivalent<(TaskKind, String)> for Lookup<'_> {
    fn equivalent(&self, key: &(TaskKind, String)) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

/// Totals per (task, dataset), in first-seen order, and the instances per unscored task.
pub fn accumulate(lines: &[PredictionLine], mode: Mode) -> (Groups, Vec<(TaskKind, u64)>) {
    let mut totals = Totals::default();
    for l in lines {
        totals.add(l.task, &l.dataset, &l.ground_truth, &l.prediction, mode);
    }
    totals.finish()
}

/// Scores every line, grouped by (task, dataset).
pub fn score(lines: &[PredictionLine], mode: Mode) -> Report {
    let (groups, unscored) = accumulate(lines, mode);
    Report::from_groups(mode, &groups, unscored)
}

/// Scores a predictions file without holding it: blocks of lines are parsed and scored on
/// every core, and only the totals are kept, so memory stays flat however large the file.
/// With `verdicts`, each block's per-example verdicts are judged too and handed to it in file
/// order. Errors are those of [`super::read_predictions`], for the same first bad line.
pub fn score_file(
    path: &std::path::Path,
    mode: Mode,
    mut verdicts: Option<&mut dyn FnMut(Vec<Verdict>) -> Result<(), crate::data::DataError>>,
) -> Result<Report, crate::data::DataError> {
    let judge = verdicts.is_some();
    let mut totals = Totals::default();
    super::predictions::stream(
        path,
        |lines| {
            let mut part = Totals::default();
            let mut judged = Vec::new();
            for &(n, raw) in lines {
                let l = super::predictions::parse_line(path, n, raw)?;
                part.add(l.task, &l.dataset, &l.ground_truth, &l.prediction, mode);
                if judge {
                    judged.push(verdict(&l.into_owned(), mode));
                }
            }
            Ok((part, judged))
        },
        |(part, judged)| {
            totals.merge(part);
            match verdicts.as_mut() {
                Some(each) => each(judged),
                None => Ok(()),
            }
        },
    )?;
    let (groups, unscored) = totals.finish();
    Ok(Report::from_groups(mode, &groups, unscored))
}

impl Report {
    /// The report of groups already totalled (by `accumulate`, or read back from a store).
    pub fn from_groups(
        mode: Mode,
        groups: &[(TaskKind, String, GroupTotals)],
        unscored: Vec<(TaskKind, u64)>,
    ) -> Report {
        let mut tasks: IndexMap<TaskKind, TaskReport> = IndexMap::new();
        for (task, dataset, acc) in groups {
            let metric = metric_kind(*task, mode).expect("scored tasks have a metric");
            let ds = match metric {
                MetricKind::F1 => DatasetScore {
                    score: acc.counts.f1(),
                    counts: Some(acc.counts),
                    n: acc.n,
                },
                MetricKind::Accuracy => DatasetScore {
                    score: if acc.n == 0 {
                        0.0
                    } else {
                        acc.correct as f64 / acc.n as f64
                    },
                    counts: None,
                    n: acc.n,
                },
            };
            tasks
                .entry(*task)
                .or_insert_with(|| TaskReport {
                    metric,
                    datasets: Vec::new(),
                    average: 0.0,
                })
                .datasets
                .push((dataset.clone(), ds));
        }
        for t in tasks.values_mut() {
            t.average =
                t.datasets.iter().map(|(_, d)| d.score).sum::<f64>() / t.datasets.len() as f64;
            t.datasets
                .sort_by_cached_key(|(name, _)| name.to_lowercase());
        }
        tasks.sort_keys();
        Report {
            mode,
            tasks,
            unscored,
        }
    }
}

/// A zero-shot fold group (FewRel or Wiki-ZSL) reported as the mean of its folds (SPEC §5.3).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FoldMean {
    /// `fewrel` or `wiki`.
    pub group: &'static str,
    pub mean: f64,
    pub folds: usize,
}

impl TaskReport {
    /// The fold means of every fold group present.
    pub fn fold_means(&self) -> Vec<FoldMean> {
        ["fewrel", "wiki"]
            .into_iter()
            .filter_map(|group| {
                let folds: Vec<f64> = self
                    .datasets
                    .iter()
                    .filter(|(n, _)| crate::data::catalog::fold_group(n) == Some(group))
                    .map(|(_, d)| d.score)
                    .collect();
                (!folds.is_empty()).then(|| FoldMean {
                    group,
                    mean: folds.iter().sum::<f64>() / folds.len() as f64,
                    folds: folds.len(),
                })
            })
            .collect()
    }
}

impl Report {
    /// The stable JSON shape other tools consume:
    /// `{"mode", "tasks": {TASK: {"datasets": {NAME: {"score","tp","fp","fn","n"}}, "average"}}}`.
    pub fn to_json(&self) -> Value {
        let mut tasks = serde_json::Map::new();
        for (task, t) in &self.tasks {
            let mut datasets = serde_json::Map::new();
            for (name, d) in &t.datasets {
                let (tp, fp, fn_) = match d.counts {
                    Some(c) => (json!(c.tp), json!(c.fp), json!(c.fn_)),
                    None => (Value::Null, Value::Null, Value::Null),
                };
                datasets.insert(
                    name.clone(),
                    json!({"score": d.score, "tp": tp, "fp": fp, "fn": fn_, "n": d.n}),
                );
            }
            tasks.insert(
                task.to_string(),
                json!({"datasets": datasets, "average": t.average}),
            );
        }
        json!({"mode": self.mode.as_str(), "tasks": tasks})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(dataset: &str, gold: &str, pred: &str) -> PredictionLine {
        PredictionLine {
            line: 1,
            task: TaskKind::Re,
            dataset: dataset.to_string(),
            id: "0".to_string(),
            ground_truth: gold.to_string(),
            prediction: pred.to_string(),
            instruction: None,
            sentence: None,
            truncated: false,
        }
    }

    #[test]
    fn zero_shot_folds_are_averaged_per_group() {
        let g = " founded by: Ann, Acme";
        let lines = [
            line("fewrel_0", g, g),
            line("fewrel_1", g, " founded by: Bob, Acme"),
            line("wiki_3", g, g),
            line("conll04", g, g),
        ];
        let report = score(&lines, Mode::Strict);
        let folds = report.tasks[&TaskKind::Re].fold_means();
        assert_eq!(
            folds,
            vec![
                FoldMean {
                    group: "fewrel",
                    mean: 0.5,
                    folds: 2
                },
                FoldMean {
                    group: "wiki",
                    mean: 1.0,
                    folds: 1
                }
            ]
        );
    }
}
