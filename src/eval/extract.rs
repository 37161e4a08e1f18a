//! Turning a gold string and a prediction into comparable items, per task and mode
//! (`compat`: SPEC §4.3 exactly; `strict`: SPEC §4.7).

use std::collections::BTreeSet;

use super::metrics::{f1_na_counts, multiset_counts, set_counts, Counts};
use super::normalize::normalize;
use crate::ie::TaskKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The official evaluator, quirks included.
    #[default]
    Compat,
    /// Corrected scoring: no `None` items, NA relations excluded, multiset matching, EET as F1.
    Strict,
}

impl crate::ie::Named for Mode {
    const ALL: &'static [Mode] = &[Mode::Compat, Mode::Strict];
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Compat => "compat",
            Mode::Strict => "strict",
        }
    }

    pub(crate) fn norm(self, s: &str) -> String {
        normalize(s, self == Mode::Compat)
    }
}

/// One instance's contribution to its dataset's metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    F1(Counts),
    Accuracy(bool),
}

/// Whether a task is scored with micro-F1 or accuracy in a mode; `None` if it is not scored.
pub fn metric_kind(task: TaskKind, mode: Mode) -> Option<MetricKind> {
    match (task, mode) {
        (TaskKind::Eet | TaskKind::Ee, Mode::Compat) => Some(MetricKind::Accuracy),
        (TaskKind::Es | TaskKind::Et | TaskKind::Ep | TaskKind::Epr, Mode::Compat) => None,
        _ => Some(MetricKind::F1),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    F1,
    Accuracy,
}

/// The whole string normalised, split on `;`, each piece normalised again.
pub fn items(s: &str, mode: Mode) -> Vec<String> {
    mode.norm(s).split(';').map(|x| mode.norm(x)).collect()
}

fn with_colon(v: Vec<String>) -> Vec<String> {
    v.into_iter().filter(|x| x.contains(':')).collect()
}

/// Scores one instance. `None` means the task has no scorer in this mode (the official
/// `calculate_f1` has none for ES/ET/EP/EPR).
pub fn score_instance(task: TaskKind, gold: &str, pred: &str, mode: Mode) -> Option<Outcome> {
    let set = |v: Vec<String>| v.into_iter().collect::<BTreeSet<_>>();
    let outcome = match (mode, task) {
        (Mode::Compat, TaskKind::Ner) => {
            Outcome::F1(set_counts(&set(items(gold, mode)), &set(items(pred, mode))))
        }
        (Mode::Compat, TaskKind::Re) => Outcome::F1(f1_na_counts(
            &set(with_colon(items(gold, mode))),
            &set(with_colon(items(pred, mode))),
        )),
        (Mode::Compat, TaskKind::Eea) => Outcome::F1(set_counts(
            &set(with_colon(items(gold, mode))),
            &set(with_colon(items(pred, mode))),
        )),
        (Mode::Compat, TaskKind::Eet) => Outcome::Accuracy(mode.norm(gold) == mode.norm(pred)),
        (Mode::Compat, TaskKind::Ee) => {
            Outcome::Accuracy(set(event_strings(gold, mode)) == set(event_strings(pred, mode)))
        }
        (Mode::Compat, _) => return None,
        (Mode::Strict, _) => {
            let (g, p) = (strict_items(task, gold), strict_items(task, pred));
            Outcome::F1(multiset_counts(&g, &p))
        }
    };
    Some(outcome)
}

/// Strict items: only well-formed ones (no `none`, no empty pieces), NA relations dropped.
pub fn strict_items(task: TaskKind, s: &str) -> Vec<String> {
    let mode = Mode::Strict;
    let not_none = |x: &String| !x.is_empty() && x != "none";
    match task {
        TaskKind::Ee => event_strings(s, mode)
            .into_iter()
            .filter(not_none)
            .collect(),
        TaskKind::Es => mode
            .norm(s)
            .split(',')
            .map(|x| mode.norm(x))
            .filter(not_none)
            .collect(),
        TaskKind::Ep => items(s, mode)
            .into_iter()
            .filter(|x| not_none(x) && x.contains(','))
            .collect(),
        TaskKind::Re | TaskKind::Epr => with_colon(items(s, mode))
            .into_iter()
            .filter(|x| !x.starts_with("na:"))
            .collect(),
        _ => with_colon(items(s, mode)),
    }
}

/// The event evaluator's canonical strings (SPEC §4.3, EE): top-level parenthesised groups,
/// one missing `(` at the start or `)` at the end tolerated, each normalised, `arguments:`
/// removed, split on top-level commas, sorted and rejoined.
pub fn event_strings(s: &str, mode: Mode) -> Vec<String> {
    let trimmed = s.trim_matches(super::normalize::is_py_space);
    let mut text = String::with_capacity(trimmed.len() + 2);
    if !trimmed.starts_with('(') {
        text.push('(');
    }
    text.push_str(trimmed);
    if !trimmed.ends_with(')') {
        text.push(')');
    }
    top_level_groups(&text)
        .into_iter()
        .map(|g| {
            let norm = mode.norm(g).replace("arguments:", "");
            let mut parts = split_top_level(&norm, ',');
            parts.sort_unstable();
            parts.join(",")
        })
        .collect()
}

fn top_level_groups(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' => {
                if depth == 0 {
                    start = i + 1;
                }
                depth += 1;
            }
            ')' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push(&s[start..i]);
                }
            }
            _ => {}
        }
    }
    out
}

fn split_top_level(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            c if c == sep && depth <= 0 => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f1(task: TaskKind, gold: &str, pred: &str) -> (u64, u64, u64) {
        match score_instance(task, gold, pred, Mode::Compat).unwrap() {
            Outcome::F1(c) => (c.tp, c.fn_, c.fp),
            Outcome::Accuracy(_) => panic!("accuracy"),
        }
    }

    fn acc(task: TaskKind, gold: &str, pred: &str) -> bool {
        match score_instance(task, gold, pred, Mode::Compat).unwrap() {
            Outcome::Accuracy(a) => a,
            Outcome::F1(_) => panic!("f1"),
        }
    }

    // SPEC §4.8 golden vectors: gold -> prediction -> (TP, FN, FP).
    #[test]
    fn ner_golden_vectors() {
        use TaskKind::Ner;
        assert_eq!(f1(Ner, " None", "None"), (1, 0, 0));
        assert_eq!(f1(Ner, " None", ""), (0, 1, 1));
        assert_eq!(f1(Ner, " None", "person: John"), (0, 1, 1));
        let g = " person: John Smith; location: New York";
        assert_eq!(
            f1(Ner, g, "person: john  smith; location : New York"),
            (2, 0, 0)
        );
        assert_eq!(f1(Ner, g, ""), (0, 2, 1));
        assert_eq!(
            f1(
                Ner,
                " person: John Smith; person: John Smith",
                "person: John Smith"
            ),
            (1, 0, 0)
        );
        assert_eq!(
            f1(Ner, " person: John Smith", "person: John Smith;"),
            (1, 0, 1)
        );
        assert_eq!(
            f1(
                Ner,
                " person: John Smith",
                "Person:John Smith; garbage text"
            ),
            (1, 0, 1)
        );
        assert_eq!(f1(Ner, " person: A, B", "person: A,B"), (1, 0, 0));
    }

    #[test]
    fn re_golden_vectors() {
        use TaskKind::Re;
        assert_eq!(
            f1(Re, " work for: John, Acme", "work for: Acme, John"),
            (0, 1, 1)
        );
        assert_eq!(f1(Re, " None", "None"), (0, 0, 0));
        assert_eq!(f1(Re, " None", "work for: a, b"), (0, 0, 1));
        assert_eq!(
            f1(
                Re,
                " work for: John, Acme; NA: John, Paris",
                "work for: John, Acme"
            ),
            (1, 1, 0)
        );
        assert_eq!(
            f1(
                Re,
                " work for: John, Acme",
                "work for: John, Acme; NA: John, Paris"
            ),
            (1, 0, 1)
        );
    }

    #[test]
    fn eet_eea_ee_golden_vectors() {
        assert!(acc(TaskKind::Eet, " attack: fired", "Attack : Fired"));
        assert!(!acc(
            TaskKind::Eet,
            " attack: fired",
            "attack: fired; attack: fired"
        ));
        assert!(!acc(
            TaskKind::Eet,
            " attack: fired; die: killed",
            "die: killed; attack: fired"
        ));
        assert!(acc(TaskKind::Eet, " None", "None"));
        use TaskKind::Eea;
        assert_eq!(
            f1(
                Eea,
                " missiles: instrument; village: target",
                "village: target; missiles: instrument"
            ),
            (2, 0, 0)
        );
        assert_eq!(
            f1(
                Eea,
                " U.S.: attacker; missiles: instrument",
                "u.s. : attacker"
            ),
            (1, 1, 0)
        );
        assert_eq!(f1(Eea, " a: b", "a: b; c"), (1, 0, 0));
        assert_eq!(f1(Eea, " None", ""), (0, 0, 0));
        assert!(acc(
            TaskKind::Ee,
            " ( attack: fired,  missiles: instrument, village: target) ",
            " ( attack: fired, village: target, missiles: instrument) "
        ));
    }

    #[test]
    fn ee_tolerates_one_missing_paren_and_compares_sets() {
        let gold =
            " ( attack: fired,  rebels: attacker, missiles: instrument) , ( die: killed, None) ";
        assert!(acc(
            TaskKind::Ee,
            gold,
            "( die: killed, None) , ( attack: fired, missiles: instrument, rebels: attacker"
        ));
        assert!(acc(
            TaskKind::Ee,
            gold,
            "attack: fired, rebels: attacker, missiles: instrument) , ( die: killed, None)"
        ));
        assert!(!acc(TaskKind::Ee, gold, "( die: killed, None)"));
        assert_eq!(
            event_strings(" ( a: b, arguments: c: d) ", Mode::Compat),
            vec!["a:b,c:d"]
        );
    }

    #[test]
    fn aux_tasks_have_no_compat_scorer_but_strict_scores_them() {
        assert_eq!(score_instance(TaskKind::Es, " a", "a", Mode::Compat), None);
        assert_eq!(
            score_instance(
                TaskKind::Es,
                " Marie Curie, Paris",
                "paris, marie curie",
                Mode::Strict
            ),
            Some(Outcome::F1(Counts {
                tp: 2,
                fp: 0,
                fn_: 0
            }))
        );
    }

    #[test]
    fn strict_drops_none_and_na_and_counts_duplicates() {
        let s = |t, g, p| score_instance(t, g, p, Mode::Strict).unwrap();
        assert_eq!(
            s(TaskKind::Ner, " None", "None"),
            Outcome::F1(Counts::default())
        );
        assert_eq!(
            s(TaskKind::Ner, " None", ""),
            Outcome::F1(Counts::default())
        );
        assert_eq!(
            s(
                TaskKind::Re,
                " work for: John, Acme; NA: John, Paris",
                "work for: John, Acme"
            ),
            Outcome::F1(Counts {
                tp: 1,
                fp: 0,
                fn_: 0
            })
        );
        assert_eq!(
            s(TaskKind::Ner, " person: A; person: A", "person: A"),
            Outcome::F1(Counts {
                tp: 1,
                fp: 0,
                fn_: 1
            })
        );
        assert_eq!(
            s(
                TaskKind::Eet,
                " attack: fired; die: killed",
                "die: killed; attack: fired"
            ),
            Outcome::F1(Counts {
                tp: 2,
                fp: 0,
                fn_: 0
            })
        );
    }
}
