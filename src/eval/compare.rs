//! Two runs on the same examples: which examples one fixed, which it broke.

use indexmap::IndexMap;
use serde::Serialize;
use std::collections::HashMap;

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

/// One example as the two runs answered it, matched by (task, dataset, id); a side is `None`
/// when that run has no answer to it.
#[derive(Debug, Clone, Copy)]
pub struct Joined<'a> {
    pub id: &'a str,
    pub a: Option<Outcome>,
    pub b: Option<Outcome>,
}

/// Both runs' outcomes per example, per `TASK/dataset` in first-seen order (A's examples in
/// A's order, then those only B answered). Examples a mode does not score are left out.
pub fn join<'a>(
    a: &[Answer<'a>],
    b: &[Answer<'a>],
    mode: Mode,
) -> IndexMap<String, Vec<Joined<'a>>> {
    let score = |x: &Answer| score_instance(x.task, x.ground_truth, x.prediction, mode);
    let scored_b: Vec<Option<Outcome>> = b.iter().map(score).collect();
    // By key; a key B answered twice is its last answer, as a later line overrides.
    let at: HashMap<(TaskKind, &str, &str), usize> = b
        .iter()
        .enumerate()
        .map(|(i, x)| ((x.task, x.dataset, x.id), i))
        .collect();
    let mut taken = vec![false; b.len()];
    let mut out: IndexMap<String, Vec<Joined<'a>>> = IndexMap::new();
    for x in a {
        let list = out.entry(dataset_key(x.task, x.dataset)).or_default();
        let ob = at.get(&(x.task, x.dataset, x.id)).map(|&i| {
            taken[i] = true;
            scored_b[i]
        });
        let (oa, ob) = match (score(x), ob) {
            (None, _) | (_, Some(None)) => continue,
            (Some(oa), ob) => (oa, ob.flatten()),
        };
        list.push(Joined {
            id: x.id,
            a: Some(oa),
            b: ob,
        });
    }
    for (i, y) in b.iter().enumerate() {
        let last = at.get(&(y.task, y.dataset, y.id)) == Some(&i);
        if last && !taken[i] && scored_b[i].is_some() {
            out.entry(dataset_key(y.task, y.dataset))
                .or_default()
                .push(Joined {
                    id: y.id,
                    a: None,
                    b: scored_b[i],
                });
        }
    }
    out
}

impl Joined<'_> {
    /// What happened to this example between run A and run B.
    pub fn flip(&self) -> Flip {
        match (self.a.map(right), self.b.map(right)) {
            (Some(false), Some(true)) => Flip::Fixed,
            (Some(true), Some(false)) => Flip::Broken,
            (Some(true), Some(true)) => Flip::BothRight,
            (Some(false), Some(false)) => Flip::BothWrong,
            _ => Flip::Unmatched,
        }
    }
}

/// Whether an answer is entirely right: no spurious and no missing item (F1 metrics), or
/// correct (accuracy). `None` for tasks the mode does not score.
pub fn is_right(a: &Answer, mode: Mode) -> Option<bool> {
    score_instance(a.task, a.ground_truth, a.prediction, mode).map(right)
}

fn right(o: Outcome) -> bool {
    match o {
        Outcome::F1(c) => c.fp == 0 && c.fn_ == 0,
        Outcome::Accuracy(ok) => ok,
    }
}

/// Each example's flip, per `TASK/dataset` in first-seen order, with its id; examples are
/// matched by (task, dataset, id), and those a mode does not score are left out.
pub fn flips<'a>(
    a: &[Answer<'a>],
    b: &[Answer<'a>],
    mode: Mode,
) -> IndexMap<String, Vec<(Flip, &'a str)>> {
    join(a, b, mode)
        .into_iter()
        .map(|(k, list)| {
            let flips = list.into_iter().map(|j| (j.flip(), j.id)).collect();
            (k, flips)
        })
        .collect()
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
