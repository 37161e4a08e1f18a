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

/// What happened to one example between run A and run B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flip {
    Fixed,
    Broken,
    BothRight,
    BothWrong,
    /// Only one of the runs answered it.
    Unmatched,
}

impl Flips {
    pub fn add(&mut self, f: Flip) {
        match f {
            Flip::Fixed => self.fixed += 1,
            Flip::Broken => self.broken += 1,
            Flip::BothRight => self.both_right += 1,
            Flip::BothWrong => self.both_wrong += 1,
            Flip::Unmatched => self.unmatched += 1,
        }
    }

    pub fn get(&self, f: Flip) -> u64 {
        match f {
            Flip::Fixed => self.fixed,
            Flip::Broken => self.broken,
            Flip::BothRight => self.both_right,
            Flip::BothWrong => self.both_wrong,
            Flip::Unmatched => self.unmatched,
        }
    }
}

/// Each example's flip, per `TASK/dataset` in first-seen order, with its id; examples are
/// matched by (task, dataset, id), and those a mode does not score are left out.
pub fn flips<'a>(
    a: &[Answer<'a>],
    b: &[Answer<'a>],
    mode: Mode,
) -> IndexMap<String, Vec<(Flip, &'a str)>> {
    let key = |x: &Answer| (x.task, x.dataset.to_string(), x.id.to_string());
    let mut in_b: IndexMap<(TaskKind, String, String), (Option<bool>, &'a str)> = b
        .iter()
        .map(|x| (key(x), (is_right(x, mode), x.id)))
        .collect();
    let mut out: IndexMap<String, Vec<(Flip, &'a str)>> = IndexMap::new();
    for x in a {
        let list = out.entry(dataset_key(x.task, x.dataset)).or_default();
        let flip = match (is_right(x, mode), in_b.shift_remove(&key(x)).map(|r| r.0)) {
            (Some(ra), Some(Some(rb))) => match (ra, rb) {
                (false, true) => Flip::Fixed,
                (true, false) => Flip::Broken,
                (true, true) => Flip::BothRight,
                (false, false) => Flip::BothWrong,
            },
            (None, _) | (_, Some(None)) => continue,
            (Some(_), None) => Flip::Unmatched,
        };
        list.push((flip, x.id));
    }
    for ((task, dataset, _), (right, id)) in in_b {
        if right.is_some() {
            out.entry(dataset_key(task, &dataset))
                .or_default()
                .push((Flip::Unmatched, id));
        }
    }
    out
}

/// Flip counts per `TASK/dataset`, in first-seen order.
pub fn compare(a: &[Answer], b: &[Answer], mode: Mode) -> IndexMap<String, Flips> {
    flips(a, b, mode)
        .into_iter()
        .map(|(k, list)| {
            let mut f = Flips::default();
            for (flip, _) in list {
                f.add(flip);
            }
            (k, f)
        })
        .collect()
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
