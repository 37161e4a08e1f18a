//! Two runs on the same examples: which examples one fixed, which it broke.

use indexmap::IndexMap;
use serde::Serialize;

use super::extract::{score_instance, Mode, Outcome};
use crate::ie::{dataset_key, TaskKind};

/// One example's prediction, as a run stored it.
pub struct Answer<'a> {
    pub task: TaskKind,
    pub dataset: &'a str,
    pub id: &'a str,
    pub ground_truth: &'a str,
    pub prediction: &'a str,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Flips {
    /// Wrong in A, right in B.
    pub fixed: u64,
    /// Right in A, wrong in B.
    pub broken: u64,
    pub both_right: u64,
    pub both_wrong: u64,
    /// Examples only one of the runs answered.
    pub unmatched: u64,
}

/// Whether an answer is entirely right: no spurious and no missing item (F1 metrics), or
/// correct (accuracy). `None` for tasks the mode does not score.
pub fn is_right(a: &Answer, mode: Mode) -> Option<bool> {
    Some(
        match score_instance(a.task, a.ground_truth, a.prediction, mode)? {
            Outcome::F1(c) => c.fp == 0 && c.fn_ == 0,
            Outcome::Accuracy(ok) => ok,
        },
    )
}

/// Flip counts per `TASK/dataset`, in first-seen order; examples are matched by (task,
/// dataset, id).
pub fn compare(a: &[Answer], b: &[Answer], mode: Mode) -> IndexMap<String, Flips> {
    let key = |x: &Answer| (x.task, x.dataset.to_string(), x.id.to_string());
    let mut in_b: std::collections::HashMap<(TaskKind, String, String), Option<bool>> =
        b.iter().map(|x| (key(x), is_right(x, mode))).collect();
    let mut out: IndexMap<String, Flips> = IndexMap::new();
    for x in a {
        let name = dataset_key(x.task, x.dataset);
        let flips = out.entry(name).or_default();
        match (is_right(x, mode), in_b.remove(&key(x))) {
            (Some(ra), Some(Some(rb))) => match (ra, rb) {
                (false, true) => flips.fixed += 1,
                (true, false) => flips.broken += 1,
                (true, true) => flips.both_right += 1,
                (false, false) => flips.both_wrong += 1,
            },
            (None, _) | (_, Some(None)) => {}
            (Some(_), None) => flips.unmatched += 1,
        }
    }
    for ((task, dataset, _), right) in in_b {
        if right.is_some() {
            out.entry(dataset_key(task, &dataset))
                .or_default()
                .unmatched += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ans<'a>(id: &'a str, gold: &'a str, pred: &'a str) -> Answer<'a> {
        Answer {
            task: TaskKind::Ner,
            dataset: "d",
            id,
            ground_truth: gold,
            prediction: pred,
        }
    }

    #[test]
    fn counts_each_kind_of_flip() {
        let g = " person: Ann";
        let a = [
            ans("0", g, " person: Ann"),
            ans("1", g, " person: Bob"),
            ans("2", g, " person: Ann"),
            ans("3", g, " None"),
            ans("4", g, " None"),
        ];
        let b = [
            ans("1", g, " person: Ann"),
            ans("0", g, " person: Ann"),
            ans("2", g, " person: Ann; person: Bob"),
            ans("3", g, " location: Ann"),
            ans("5", g, " person: Ann"),
        ];
        let flips = compare(&a, &b, Mode::Strict);
        assert_eq!(
            flips["NER/d"],
            Flips {
                fixed: 1,
                broken: 1,
                both_right: 1,
                both_wrong: 1,
                unmatched: 2
            }
        );
    }
}
