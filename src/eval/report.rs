//! Per-dataset scores and the per-task unweighted average, as `calculate_f1.py` reports them
//! (SPEC §4.1 step 3).

use indexmap::IndexMap;
use serde_json::{json, Value};

use super::extract::{metric_kind, score_instance, MetricKind, Mode, Outcome};
use super::metrics::Counts;
use super::predictions::PredictionLine;
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

/// Totals per (task, dataset), in first-seen order, and the instances per unscored task.
pub fn accumulate(lines: &[PredictionLine], mode: Mode) -> (Groups, Vec<(TaskKind, u64)>) {
    // First-seen order matters: Python's stable sort keeps it for names equal but for case,
    // and the average is summed in it.
    let mut groups: IndexMap<(TaskKind, &str), GroupTotals> = IndexMap::new();
    let mut unscored: IndexMap<TaskKind, u64> = IndexMap::new();
    for l in lines {
        match score_instance(l.task, &l.ground_truth, &l.prediction, mode) {
            None => *unscored.entry(l.task).or_default() += 1,
            Some(outcome) => {
                let acc = groups.entry((l.task, l.dataset.as_str())).or_default();
                acc.n += 1;
                match outcome {
                    Outcome::F1(c) => acc.counts.add(c),
                    Outcome::Accuracy(ok) => acc.correct += ok as u64,
                }
            }
        }
    }
    let mut unscored: Vec<(TaskKind, u64)> = unscored.into_iter().collect();
    unscored.sort();
    let groups = groups
        .into_iter()
        .map(|((task, dataset), t)| (task, dataset.to_string(), t))
        .collect();
    (groups, unscored)
}

/// Scores every line, grouped by (task, dataset).
pub fn score(lines: &[PredictionLine], mode: Mode) -> Report {
    let (groups, unscored) = accumulate(lines, mode);
    Report::from_groups(mode, &groups, unscored)
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
