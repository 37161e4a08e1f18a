//! Is run B really better than run A on a dataset? A paired bootstrap over examples.
//!
//! The examples both runs answered are resampled with replacement, the same draw for both
//! runs (paired), and the dataset's score (micro-F1 over the summed counts, or accuracy, as
//! the report computes it) is recomputed for each run on each resample. The interval is the
//! 95% percentile interval of the resampled differences B - A. The p-value is the two-sided
//! one that inverts that interval: twice the smaller share of resamples on either side of 0
//! (a difference of exactly 0 counts on both), with one added to the count and to the number
//! of resamples so that it is never 0, capped at 1. So a difference is significant at 0.05
//! when its 95% interval leaves out 0 (up to that +1), and the table never shows an interval
//! that excludes 0 beside "n.s." (Efron & Tibshirani 1993, "An Introduction to the
//! Bootstrap", ch. 13 and 16; Koehn 2004, "Statistical Significance Tests for Machine
//! Translation Evaluation"; Berg-Kirkpatrick, Burkett & Klein 2012, "An Empirical
//! Investigation of Statistical Significance in NLP"). Seeded: the same runs, resamples and
//! seed give the same numbers.

use serde::Serialize;

use super::compare::Joined;
use super::extract::Outcome;
use super::metrics::Counts;
use crate::pyrandom::PyRandom;

/// The defaults `runs compare` and the Compare screen use.
pub const RESAMPLES: usize = 1000;
pub const SEED: u64 = 0;
/// Differences with a p-value at or above this are marked "not significant".
pub const ALPHA: f64 = 0.05;

/// One dataset's difference between two runs, over the examples both answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// Examples both runs answered (the ones resampled).
    pub n: usize,
    /// Each run's score on those examples, as fractions.
    pub a: f64,
    pub b: f64,
    /// `b - a`.
    pub delta: f64,
    /// The 95% percentile interval of the resampled differences.
    pub low: f64,
    pub high: f64,
    pub p: f64,
    pub significant: bool,
}

impl Difference {
    /// The difference, its interval and its p-value as shown in tables, in percentage points:
    /// `+10.00`, `[+6.50, +14.50]`, `0.001`; a p-value at or above `ALPHA` reads `0.31 n.s.`.
    pub fn words(&self) -> (String, String, String) {
        let pp = |x: f64| format!("{:+.2}", x * 100.0);
        let p = if self.significant {
            format!("{:.3}", self.p)
        } else {
            format!("{:.2} n.s.", self.p)
        };
        (
            pp(self.delta),
            format!("[{}, {}]", pp(self.low), pp(self.high)),
            p,
        )
    }

    /// One table cell: the difference and its interval, `n.s.` when not significant
    /// (`+10.00 [+6.50, +14.50]`, `+2.00 [-1.50, +5.00] n.s.`).
    pub fn cell(&self) -> String {
        let (delta, interval, _) = self.words();
        let mark = if self.significant { "" } else { " n.s." };
        format!("{delta} {interval}{mark}")
    }
}

/// One example's contribution, per run, in a form cheap to sum.
#[derive(Clone, Copy)]
struct Pair {
    a: [u32; 3],
    b: [u32; 3],
}

fn parts(o: Outcome) -> [u32; 3] {
    match o {
        // tp, fp, fn (saturated: an example's counts are small).
        Outcome::F1(c) => [c.tp, c.fp, c.fn_].map(|x| x.min(u64::from(u32::MAX)) as u32),
        // right, total, unused.
        Outcome::Accuracy(ok) => [u32::from(ok), 1, 0],
    }
}

fn score(f1: bool, sum: [u64; 3]) -> f64 {
    if f1 {
        Counts {
            tp: sum[0],
            fp: sum[1],
            fn_: sum[2],
        }
        .f1()
    } else if sum[1] == 0 {
        0.0
    } else {
        sum[0] as f64 / sum[1] as f64
    }
}

/// The paired bootstrap of one dataset's joined examples (see the module text); `None` when
/// no example was answered by both runs.
pub fn paired_bootstrap(examples: &[Joined], resamples: usize, seed: u64) -> Option<Difference> {
    let pairs: Vec<Pair> = examples
        .iter()
        .filter_map(|j| {
            Some(Pair {
                a: parts(j.a?),
                b: parts(j.b?),
            })
        })
        .collect();
    let f1 = matches!(examples.iter().find_map(|j| j.a), Some(Outcome::F1(_)));
    let n = pairs.len();
    if n == 0 {
        return None;
    }
    let scores_of = |pick: &mut dyn FnMut() -> usize| {
        let (mut sa, mut sb) = ([0u64; 3], [0u64; 3]);
        for _ in 0..n {
            let p = pairs[pick()];
            for k in 0..3 {
                sa[k] += u64::from(p.a[k]);
                sb[k] += u64::from(p.b[k]);
            }
        }
        (score(f1, sa), score(f1, sb))
    };
    let mut next = 0;
    let (a, b) = scores_of(&mut || {
        next += 1;
        next - 1
    });
    let delta = b - a;
    let mut rng = PyRandom::new(seed);
    let mut deltas: Vec<f64> = (0..resamples.max(1))
        .map(|_| {
            let (ra, rb) = scores_of(&mut || rng.randbelow(n));
            rb - ra
        })
        .collect();
    let below = deltas.iter().filter(|d| **d <= 0.0).count();
    let above = deltas.iter().filter(|d| **d >= 0.0).count();
    let p = (2.0 * (below.min(above) + 1) as f64 / (deltas.len() + 1) as f64).min(1.0);
    deltas.sort_by(f64::total_cmp);
    let at = |q: f64| deltas[((q * deltas.len() as f64) as usize).min(deltas.len() - 1)];
    Some(Difference {
        n,
        a,
        b,
        delta,
        low: at(0.025),
        high: at(0.975),
        p,
        significant: p < ALPHA,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::compare::{join, Answer};
    use crate::eval::Mode;
    use crate::ie::TaskKind;

    /// `n` NER answers to gold "person: a<i>", right where `right(i)`.
    fn run(n: usize, right: impl Fn(usize) -> bool) -> Vec<(String, String, String)> {
        (0..n)
            .map(|i| {
                let gold = format!("person: a{i}");
                let pred = if right(i) {
                    gold.clone()
                } else {
                    format!("location: a{i}")
                };
                (i.to_string(), gold, pred)
            })
            .collect()
    }

    fn answers(rows: &[(String, String, String)]) -> Vec<Answer<'_>> {
        rows.iter()
            .map(|(id, g, p)| Answer {
                task: TaskKind::Ner,
                dataset: "d",
                id,
                ground_truth: g,
                prediction: p,
            })
            .collect()
    }

    fn difference(
        a: &[(String, String, String)],
        b: &[(String, String, String)],
        seed: u64,
    ) -> Difference {
        let joined = join(&answers(a), &answers(b), Mode::Strict);
        paired_bootstrap(&joined["NER/d"], RESAMPLES, seed).unwrap()
    }

    #[test]
    fn identical_runs_differ_by_nothing() {
        let a = run(200, |i| i % 3 != 0);
        let d = difference(&a, &a.clone(), SEED);
        assert_eq!((d.delta, d.low, d.high), (0.0, 0.0, 0.0));
        assert!(d.low <= 0.0 && 0.0 <= d.high);
        assert_eq!(d.p, 1.0);
        assert!(!d.significant);
    }

    #[test]
    fn a_strictly_better_run_is_significant() {
        // B gets right every example A gets right, and 20 more of 200.
        let a = run(200, |i| i % 2 == 0);
        let b = run(200, |i| i % 2 == 0 || i % 5 == 1);
        let d = difference(&a, &b, SEED);
        assert!((d.delta - 0.1).abs() < 1e-9, "{d:?}");
        assert!(d.low > 0.0, "{d:?}");
        assert!(d.p < 0.01 && d.significant, "{d:?}");
    }

    #[test]
    fn a_small_difference_on_few_examples_is_not_significant() {
        let a = run(30, |i| i % 2 == 0);
        let b = run(30, |i| i % 2 == 0 || i == 1);
        let d = difference(&a, &b, SEED);
        assert!(d.delta > 0.0);
        assert!(d.low <= 0.0, "{d:?}");
        assert!(!d.significant, "{d:?}");
    }

    #[test]
    fn the_same_seed_gives_the_same_numbers() {
        let a = run(100, |i| i % 2 == 0);
        let b = run(100, |i| i % 3 == 0);
        assert_eq!(difference(&a, &b, 7), difference(&a, &b, 7));
        assert_ne!(difference(&a, &b, 7), difference(&a, &b, 8));
    }

    /// The observed scores are the report's scores on the same examples.
    #[test]
    fn the_observed_scores_are_the_reports() {
        let a = run(50, |i| i % 2 == 0);
        let b = run(50, |i| i % 5 != 0);
        let d = difference(&a, &b, SEED);
        assert!(
            (d.a - 0.5).abs() < 1e-12 && (d.b - 0.8).abs() < 1e-12,
            "{d:?}"
        );
    }
}
