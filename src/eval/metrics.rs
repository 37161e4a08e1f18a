//! Counting: micro-F1 over TP/FP/FN, accuracy, and the official RE evaluator's NA rule.

use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub tp: u64,
    pub fp: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
}

impl Counts {
    pub fn add(&mut self, o: Counts) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
    }

    /// Micro-F1 with the official zero conventions (SPEC §4.3).
    pub fn f1(&self) -> f64 {
        let (tp, fp, fn_) = (self.tp as f64, self.fp as f64, self.fn_ as f64);
        let p = if tp + fp == 0.0 { 0.0 } else { tp / (tp + fp) };
        let r = if tp + fn_ == 0.0 {
            0.0
        } else {
            tp / (tp + fn_)
        };
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

/// Set comparison: duplicates collapse (the official evaluator's semantics).
pub fn set_counts(gold: &BTreeSet<String>, pred: &BTreeSet<String>) -> Counts {
    let tp = gold.intersection(pred).count() as u64;
    Counts {
        tp,
        fp: pred.len() as u64 - tp,
        fn_: gold.len() as u64 - tp,
    }
}

/// Multiset comparison: each gold occurrence can be matched once (strict mode).
pub fn multiset_counts(gold: &[String], pred: &[String]) -> Counts {
    let mut bag: BTreeMap<&str, i64> = BTreeMap::new();
    for g in gold {
        *bag.entry(g).or_default() += 1;
    }
    let mut tp = 0u64;
    for p in pred {
        if let Some(n) = bag.get_mut(p.as_str()) {
            if *n > 0 {
                *n -= 1;
                tp += 1;
            }
        }
    }
    Counts {
        tp,
        fp: pred.len() as u64 - tp,
        fn_: gold.len() as u64 - tp,
    }
}

const NA_MARK: &str = ",na,";

/// The official `MetricF1NA` update on normalised items (SPEC §4.3). Gold items containing
/// `,na,` earn a TP unless a prediction names the same pair with another relation; predicted
/// `,na,` items cost an FP only when they contradict a non-NA gold item. The item is escaped and
/// each `,na,` becomes a capture; Python's `re.match` anchors at the start only, as `^` does.
pub fn f1_na_counts(gold: &BTreeSet<String>, pred: &BTreeSet<String>) -> Counts {
    let mut c = Counts::default();
    let contradicted = |pattern: Option<Regex>, others: &BTreeSet<String>| {
        let Some(re) = pattern else { return false };
        others.iter().any(|o| {
            re.captures(o)
                .and_then(|m| m.get(1))
                .is_some_and(|g| g.as_str() != "na")
        })
    };
    let na_pattern = |item: &str| {
        let escaped: Vec<String> = item.split(NA_MARK).map(regex::escape).collect();
        Regex::new(&format!("^(?:{})", escaped.join(",(.+),"))).ok()
    };
    for truth in gold {
        if truth.contains(NA_MARK) {
            if !contradicted(na_pattern(truth), pred) {
                c.tp += 1;
            }
        } else if pred.contains(truth) {
            c.tp += 1;
        } else {
            c.fn_ += 1;
        }
    }
    for p in pred {
        if p.contains(NA_MARK) {
            if contradicted(na_pattern(p), gold) {
                c.fp += 1;
            }
        } else if !gold.contains(p) {
            c.fp += 1;
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(std::string::ToString::to_string).collect()
    }

    fn tfp(c: Counts) -> (u64, u64, u64) {
        (c.tp, c.fn_, c.fp)
    }

    #[test]
    fn na_rule_golden_vectors() {
        // SPEC §4.3: (gold, pred) -> (TP, FN, FP)
        assert_eq!(
            tfp(f1_na_counts(&set(&["x,na,y"]), &set(&["x,works,y"]))),
            (0, 0, 1)
        );
        assert_eq!(tfp(f1_na_counts(&set(&["x,na,y"]), &set(&[]))), (1, 0, 0));
        assert_eq!(tfp(f1_na_counts(&set(&[]), &set(&["x,na,y"]))), (0, 0, 0));
        assert_eq!(
            tfp(f1_na_counts(&set(&["x,works,y"]), &set(&["x,na,y"]))),
            (0, 1, 1)
        );
    }

    #[test]
    fn f1_zero_conventions() {
        assert_eq!(Counts::default().f1(), 0.0);
        assert_eq!(
            Counts {
                tp: 1,
                fp: 1,
                fn_: 1
            }
            .f1(),
            0.5
        );
    }

    #[test]
    fn multiset_counts_duplicates() {
        let g = vec!["a".to_string(), "a".to_string()];
        let p = vec!["a".to_string(), "a".to_string(), "a".to_string()];
        assert_eq!(tfp(multiset_counts(&g, &p)), (2, 0, 1));
    }
}
