//! Precision, recall and F1 per label, per dataset: the seqeval classification report, over
//! the items the verdicts match (the same judge as `eval --errors`, so a label's counts add
//! up to what the error table shows).
//!
//! An item's label is its type: the entity type (NER), the relation (RE), the event type
//! (EET) or the role (EEA). An exactly matched item is a true positive of its label; a gold
//! item left unmatched (missing, or paired with a prediction of another type or boundary) a
//! false negative of its label; a predicted item left unmatched a false positive of its own.
//! Averages as seqeval gives them: micro (over the summed counts), macro (the plain mean of
//! the labels' scores) and weighted (the mean weighted by each label's support, its gold
//! items).

use indexmap::IndexMap;
use serde::Serialize;
use std::collections::BTreeMap;

use super::metrics::Counts;
use super::verdict::{item_label, ErrorKind, Verdict};
use crate::ie::dataset_key;

/// Items with no label (ES, EP, EE spans) are counted under this name.
pub const UNLABELLED: &str = "(no label)";

/// Per `TASK/dataset` in first-seen order, per label in name order, its counts.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ByLabel(pub IndexMap<String, BTreeMap<String, Counts>>);

/// One row of a per-label table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelScore {
    pub precision: f64,
    pub recall: f64,
    #[serde(rename = "f1-score")]
    pub f1: f64,
    pub support: u64,
}

impl LabelScore {
    fn of(c: Counts) -> LabelScore {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        LabelScore {
            precision: ratio(c.tp, c.tp + c.fp),
            recall: ratio(c.tp, c.tp + c.fn_),
            f1: c.f1(),
            support: c.tp + c.fn_,
        }
    }
}

impl ByLabel {
    /// Counts one example's items.
    pub fn add(&mut self, v: &Verdict) {
        let labels = self.0.entry(dataset_key(v.task, &v.dataset)).or_default();
        let label = |text: &Option<String>| {
            text.as_deref()
                .map(|t| item_label(v.task, t).unwrap_or_else(|| UNLABELLED.to_string()))
        };
        for item in &v.items {
            // Text that is no item (`person` without its colon, cut off by the length limit)
            // is reported by the verdict but scored by neither mode as an item of a label.
            if item.kind == ErrorKind::Unparsable {
                continue;
            }
            if item.kind == ErrorKind::Correct {
                if let Some(l) = label(&item.gold) {
                    labels.entry(l).or_default().tp += 1;
                }
                continue;
            }
            if let Some(l) = label(&item.gold) {
                labels.entry(l).or_default().fn_ += 1;
            }
            if let Some(l) = label(&item.pred) {
                labels.entry(l).or_default().fp += 1;
            }
        }
    }

    /// One dataset's table: each label's row, then `micro avg`, `macro avg` and `weighted
    /// avg`, as seqeval's `classification_report` names them.
    pub fn table(labels: &BTreeMap<String, Counts>) -> Vec<(String, LabelScore)> {
        let mut rows: Vec<(String, LabelScore)> = labels
            .iter()
            .map(|(l, c)| (l.clone(), LabelScore::of(*c)))
            .collect();
        let mut micro = Counts::default();
        for c in labels.values() {
            micro.add(*c);
        }
        let support: u64 = rows.iter().map(|(_, s)| s.support).sum();
        let n = rows.len().max(1) as f64;
        let mean = |f: fn(&LabelScore) -> f64| rows.iter().map(|(_, s)| f(s)).sum::<f64>() / n;
        let weighted = |f: fn(&LabelScore) -> f64| {
            if support == 0 {
                0.0
            } else {
                rows.iter()
                    .map(|(_, s)| f(s) * s.support as f64)
                    .sum::<f64>()
                    / support as f64
            }
        };
        let macro_avg = LabelScore {
            precision: mean(|s| s.precision),
            recall: mean(|s| s.recall),
            f1: mean(|s| s.f1),
            support,
        };
        let weighted_avg = LabelScore {
            precision: weighted(|s| s.precision),
            recall: weighted(|s| s.recall),
            f1: weighted(|s| s.f1),
            support,
        };
        rows.push(("micro avg".into(), LabelScore::of(micro)));
        rows.push(("macro avg".into(), macro_avg));
        rows.push(("weighted avg".into(), weighted_avg));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{verdict, Mode, PredictionLine};
    use crate::ie::TaskKind;

    fn line(gold: &str, pred: &str) -> PredictionLine {
        PredictionLine {
            line: 1,
            task: TaskKind::Ner,
            dataset: "d".into(),
            id: "0".into(),
            ground_truth: gold.into(),
            prediction: pred.into(),
            instruction: None,
            sentence: None,
            truncated: false,
        }
    }

    #[test]
    fn each_item_counts_for_its_own_label() {
        let mut b = ByLabel::default();
        for (g, p) in [
            ("person: ann; location: rome", "person: ann; person: rome"),
            ("person: bob", "person: bo"),
            ("location: oslo", "location: oslo; org: acme"),
        ] {
            b.add(&verdict(&line(g, p), Mode::Strict));
        }
        let labels = &b.0["NER/d"];
        let c = |tp, fp, fn_| Counts { tp, fp, fn_ };
        assert_eq!(labels["person"], c(1, 2, 1));
        assert_eq!(labels["location"], c(1, 0, 1));
        assert_eq!(labels["org"], c(0, 1, 0));
        let table = ByLabel::table(labels);
        let names: Vec<&str> = table.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "location",
                "org",
                "person",
                "micro avg",
                "macro avg",
                "weighted avg"
            ]
        );
        // Micro: tp 2, fp 3, fn 2.
        let micro = &table[3].1;
        assert!((micro.precision - 0.4).abs() < 1e-12 && (micro.recall - 0.5).abs() < 1e-12);
        assert_eq!(micro.support, 4);
    }

    /// A prediction cut off mid-item (`person` with no colon) is no item of any label: strict
    /// scoring drops it, so the micro average stays the dataset's strict F1.
    #[test]
    fn text_that_is_no_item_counts_for_no_label() {
        let (g, p) = (
            "person: ann; location: rome",
            "person: ann; location: oslo; person",
        );
        let mut b = ByLabel::default();
        b.add(&verdict(&line(g, p), Mode::Strict));
        let labels = &b.0["NER/d"];
        assert!(!labels.contains_key(UNLABELLED), "{labels:?}");
        let mut micro = Counts::default();
        for c in labels.values() {
            micro.add(*c);
        }
        let Some(crate::eval::Outcome::F1(scored)) =
            crate::eval::score_instance(TaskKind::Ner, g, p, Mode::Strict)
        else {
            panic!("strict NER is scored with F1")
        };
        assert_eq!(micro, scored);
    }
}
