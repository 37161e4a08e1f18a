//! nervaluate's four views of NER (Segura-Bedmar et al. 2013, SemEval-2013 task 9.1; the
//! `nervaluate` package): each predicted entity is correct, incorrect, partial or spurious,
//! each gold entity not matched is missed, and precision and recall follow from those.
//!
//! - `strict`: boundaries and type both exact.
//! - `exact`: boundaries exact, any type.
//! - `partial`: boundaries exact (correct) or overlapping (partial, worth half), any type.
//! - `type`: the type right and some overlap (nervaluate's `ent_type`).
//!
//! The matching follows nervaluate 1.2.1 step by step (predictions in order, each against the
//! gold entities not yet matched, its tie-breaking included), so the counts equal its own.
//! Entities are positioned by finding their text in the sentence (the first occurrence,
//! ignoring case and spacing, as the span check of `eval --errors` does) and measured in
//! whitespace tokens, nervaluate's units when it reads CoNLL; an entity whose text is not in
//! the sentence overlaps nothing (a gold one is missed, a predicted one spurious). Per-type
//! rows evaluate each type's entities alone, as nervaluate's `entities` results do.
//!
//! The same views extend to the other typed span tasks, our analogue where nervaluate has
//! none: event triggers (EET, typed by event type) and event arguments (EEA, typed by role)
//! are items of one span, read exactly as entities; a relation (RE) is an item of two spans,
//! its head and its tail, typed by the relation. An item's boundaries are all of its spans:
//! `exact` and `strict` need the head and the tail both exact, `partial` and `type` need each
//! to overlap its counterpart (a relation with only its head right is not a partial match).
use indexmap::IndexMap;
use serde::Serialize;
use std::collections::BTreeMap;

use super::extract::strict_items;
use super::verdict::{find_span, item_label, item_spans, sentence};
use super::PredictionLine;
use crate::ie::{dataset_key, Named, TaskKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    Strict,
    Exact,
    Partial,
    Type,
}

impl Named for Scheme {
    const ALL: &'static [Scheme] = &[Scheme::Strict, Scheme::Exact, Scheme::Partial, Scheme::Type];

    fn name(self) -> &'static str {
        match self {
            Scheme::Strict => "strict",
            Scheme::Exact => "exact",
            Scheme::Partial => "partial",
            Scheme::Type => "type",
        }
    }
}

/// The tasks the schemes read: typed items of one span (entities, triggers, arguments) or
/// of two (relations).
pub const TASKS: [TaskKind; 4] = [TaskKind::Ner, TaskKind::Re, TaskKind::Eet, TaskKind::Eea];

/// An item: its type and each of its spans' first and last token (inclusive: one span, or a
/// relation's head and tail); `None` when some span's text is not in the sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    pub label: String,
    pub at: Option<Vec<(usize, usize)>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SchemeCounts {
    pub correct: u64,
    pub incorrect: u64,
    pub partial: u64,
    pub missed: u64,
    pub spurious: u64,
}

/// Counts with the precision, recall and F1 they give under a scheme.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SchemeScore {
    #[serde(flatten)]
    pub counts: SchemeCounts,
    pub possible: u64,
    pub actual: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl SchemeCounts {
    fn add(&mut self, o: SchemeCounts) {
        self.correct += o.correct;
        self.incorrect += o.incorrect;
        self.partial += o.partial;
        self.missed += o.missed;
        self.spurious += o.spurious;
    }

    /// nervaluate's `compute_metrics`: partial matches are worth half under `partial` (and
    /// the same formula serves `type`, which has none).
    pub fn score(self, scheme: Scheme) -> SchemeScore {
        let actual = self.correct + self.incorrect + self.partial + self.spurious;
        let possible = self.correct + self.incorrect + self.partial + self.missed;
        let half = if matches!(scheme, Scheme::Partial | Scheme::Type) {
            0.5 * self.partial as f64
        } else {
            0.0
        };
        let ratio = |n: u64| {
            if n == 0 {
                0.0
            } else {
                (self.correct as f64 + half) / n as f64
            }
        };
        let (precision, recall) = (ratio(actual), ratio(possible));
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        SchemeScore {
            counts: self,
            possible,
            actual,
            precision,
            recall,
            f1,
        }
    }
}

/// Whether each span of `p` overlaps at least 1% of its counterpart in `t` (nervaluate's
/// default threshold).
fn overlaps(p: &Entity, t: &Entity) -> bool {
    let (Some(ps), Some(ts)) = (&p.at, &t.at) else {
        return false;
    };
    ps.len() == ts.len()
        && ps.iter().zip(ts).all(|(&(ps, pe), &(ts, te))| {
            if ps > te || pe < ts {
                return false;
            }
            let overlap = (pe.min(te) - ps.max(ts) + 1) as f64;
            overlap / (te - ts + 1) as f64 * 100.0 >= 1.0
        })
}

fn same_bounds(p: &Entity, t: &Entity) -> bool {
    p.at.is_some() && p.at == t.at
}

fn distance(p: &Entity, t: &Entity) -> usize {
    match (&p.at, &t.at) {
        (Some(ps), Some(ts)) => ps
            .iter()
            .zip(ts)
            .map(|(&(ps, pe), &(ts, te))| ps.abs_diff(ts) + pe.abs_diff(te))
            .sum(),
        _ => usize::MAX,
    }
}

/// One sentence's counts under `scheme`.
pub fn evaluate(scheme: Scheme, gold: &[Entity], pred: &[Entity]) -> SchemeCounts {
    let mut c = SchemeCounts::default();
    let mut matched = vec![false; gold.len()];
    for p in pred {
        let mut found = None;
        let mut near = None;
        let mut best: Option<usize> = None;
        for (ti, t) in gold.iter().enumerate() {
            if matched[ti] {
                continue;
            }
            match scheme {
                Scheme::Strict | Scheme::Exact => {
                    let exact =
                        same_bounds(p, t) && (scheme == Scheme::Exact || p.label == t.label);
                    if exact {
                        found = Some(ti);
                        break;
                    }
                    if near.is_none() && overlaps(p, t) {
                        near = Some(ti);
                    }
                }
                Scheme::Partial => {
                    if overlaps(p, t) {
                        if same_bounds(p, t) {
                            found = Some(ti);
                            break;
                        }
                        if near.is_none() {
                            near = Some(ti);
                        }
                    }
                }
                Scheme::Type => {
                    if overlaps(p, t) {
                        if p.label == t.label {
                            let d = distance(p, t);
                            if best.is_none_or(|b| d < b) {
                                found = Some(ti);
                                best = Some(d);
                            }
                        } else if near.is_none() {
                            near = Some(ti);
                        }
                    }
                }
            }
        }
        match (found, near) {
            (Some(ti), _) => {
                c.correct += 1;
                matched[ti] = true;
            }
            (None, Some(ti)) => {
                if scheme == Scheme::Partial {
                    c.partial += 1;
                } else {
                    c.incorrect += 1;
                }
                matched[ti] = true;
            }
            (None, None) => c.spurious += 1,
        }
    }
    c.missed = matched.iter().filter(|m| !**m).count() as u64;
    c
}

/// The typed items of an answer (strict items: typed, well formed), positioned in
/// `sentence`.
fn entities(task: TaskKind, answer: &str, sentence: Option<&str>) -> Vec<Entity> {
    // Token index of each char: counts of whitespace-separated tokens started so far.
    let token_of: Vec<usize> = sentence.map_or_else(Vec::new, |s| {
        let mut n = 0usize;
        let mut prev_space = true;
        s.chars()
            .map(|ch| {
                let space = ch.is_whitespace();
                if !space && prev_space {
                    n += 1;
                }
                prev_space = space;
                n.saturating_sub(1)
            })
            .collect()
    });
    let pieces = if task == TaskKind::Re { 2 } else { 1 };
    strict_items(task, answer)
        .iter()
        .filter_map(|item| {
            let label = item_label(task, item)?;
            let spans = item_spans(task, item);
            let at = match sentence {
                Some(s) if spans.len() == pieces => spans
                    .iter()
                    .map(|span| find_span(s, span).map(|(a, b)| (token_of[a], token_of[b - 1])))
                    .collect::<Option<Vec<_>>>(),
                _ => None,
            };
            Some(Entity { label, at })
        })
        .collect()
}

/// One dataset's counts: overall and per type, under every scheme.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatasetSchemes {
    pub overall: BTreeMap<Scheme, SchemeCounts>,
    pub labels: BTreeMap<String, BTreeMap<Scheme, SchemeCounts>>,
}

/// Every scheme's counts per dataset (`TASK/dataset`) of the tasks in [`TASKS`], in
/// first-seen order; lines of other tasks are left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schemes(pub IndexMap<String, DatasetSchemes>);

impl Schemes {
    pub fn add(&mut self, line: &PredictionLine) {
        if !TASKS.contains(&line.task) {
            return;
        }
        let s = sentence(line);
        let gold = entities(line.task, &line.ground_truth, s.as_deref());
        let pred = entities(line.task, &line.prediction, s.as_deref());
        let d = self
            .0
            .entry(dataset_key(line.task, &line.dataset))
            .or_default();
        let mut types: Vec<&str> = gold.iter().chain(&pred).map(|e| e.label.as_str()).collect();
        types.sort_unstable();
        types.dedup();
        for &scheme in Scheme::ALL {
            d.overall
                .entry(scheme)
                .or_default()
                .add(evaluate(scheme, &gold, &pred));
            for t in &types {
                let only = |es: &[Entity]| -> Vec<Entity> {
                    es.iter().filter(|e| e.label == *t).cloned().collect()
                };
                d.labels
                    .entry(t.to_string())
                    .or_default()
                    .entry(scheme)
                    .or_default()
                    .add(evaluate(scheme, &only(&gold), &only(&pred)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(label: &str, a: usize, b: usize) -> Entity {
        Entity {
            label: label.into(),
            at: Some(vec![(a, b)]),
        }
    }

    /// A relation between the tokens `head` and `tail`.
    fn r(label: &str, head: (usize, usize), tail: (usize, usize)) -> Entity {
        Entity {
            label: label.into(),
            at: Some(vec![head, tail]),
        }
    }

    /// Relations: both arguments are the boundaries.
    #[test]
    fn relations_match_on_both_arguments() {
        let g = [r("work for", (0, 1), (5, 5))];
        let c = |s, p: &[Entity]| evaluate(s, &g, p);
        assert_eq!(
            c(Scheme::Strict, &[r("work for", (0, 1), (5, 5))]).correct,
            1
        );
        // Another relation between the same arguments: right under exact and partial only.
        let other = [r("located in", (0, 1), (5, 5))];
        assert_eq!(c(Scheme::Strict, &other).incorrect, 1);
        assert_eq!(c(Scheme::Exact, &other).correct, 1);
        assert_eq!(c(Scheme::Partial, &other).correct, 1);
        assert_eq!(c(Scheme::Type, &other).incorrect, 1);
        // The head cut short: partial, and right for `type`.
        let short = [r("work for", (1, 1), (5, 5))];
        assert_eq!(c(Scheme::Partial, &short).partial, 1);
        assert_eq!(c(Scheme::Type, &short).correct, 1);
        assert_eq!(c(Scheme::Exact, &short).incorrect, 1);
        // The tail elsewhere: the arguments do not both overlap, so nothing matches.
        let elsewhere = c(Scheme::Partial, &[r("work for", (0, 1), (7, 7))]);
        assert_eq!((elsewhere.spurious, elsewhere.missed), (1, 1));
    }

    /// Items are read from answers and found in the sentence: RE heads and tails, EEA roles.
    #[test]
    fn answers_give_positioned_items() {
        let sentence = Some("John Smith works for IBM in Rome .");
        let rel = entities(TaskKind::Re, " work for: John Smith, IBM", sentence);
        assert_eq!(rel, [r("work for", (0, 1), (4, 4))]);
        // EEA writes the argument first: "argument: role".
        let arg = entities(TaskKind::Eea, " IBM: employer", sentence);
        assert_eq!(arg, [e("employer", 4, 4)]);
        // A tail not in the sentence leaves the relation unpositioned.
        let lost = entities(TaskKind::Re, " work for: John Smith, Apple", sentence);
        assert_eq!(lost[0].at, None);
        assert!(
            entities(TaskKind::Es, " IBM", sentence).is_empty(),
            "untyped: no items"
        );
    }

    /// The five cases of the nervaluate README, one sentence each.
    #[test]
    fn the_readme_cases() {
        let g = [e("PER", 2, 3)];
        let c = |s, p: &[Entity]| evaluate(s, &g, p);
        // Exact match.
        assert_eq!(c(Scheme::Strict, &[e("PER", 2, 3)]).correct, 1);
        // Wrong type, same bounds: incorrect (strict), correct (exact), correct (partial).
        assert_eq!(c(Scheme::Strict, &[e("LOC", 2, 3)]).incorrect, 1);
        assert_eq!(c(Scheme::Exact, &[e("LOC", 2, 3)]).correct, 1);
        assert_eq!(c(Scheme::Partial, &[e("LOC", 2, 3)]).correct, 1);
        assert_eq!(c(Scheme::Type, &[e("LOC", 2, 3)]).incorrect, 1);
        // Right type, overlapping bounds.
        assert_eq!(c(Scheme::Strict, &[e("PER", 3, 3)]).incorrect, 1);
        assert_eq!(c(Scheme::Partial, &[e("PER", 3, 3)]).partial, 1);
        assert_eq!(c(Scheme::Type, &[e("PER", 3, 3)]).correct, 1);
        // Nothing overlapping: spurious and missed.
        let far = c(Scheme::Strict, &[e("PER", 7, 8)]);
        assert_eq!((far.spurious, far.missed), (1, 1));
        let s = c(Scheme::Partial, &[e("PER", 3, 3)]).score(Scheme::Partial);
        assert!((s.precision - 0.5).abs() < 1e-12 && (s.recall - 0.5).abs() < 1e-12);
    }
}
