//! Turning a gold string and a prediction into comparable items, per task and mode
//! (`compat`: SPEC §4.3 exactly; `strict`: SPEC §4.7).

use std::collections::BTreeSet;

use super::metrics::{f1_na_counts, multiset_counts, set_counts, Counts};
use super::normalize::normalize;
use crate::ie::TaskKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
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

/// The items each side contributes before comparison, per task and mode; `None` where the
/// mode does not score the task. Compat EET compares whole strings: one item each.
pub fn item_lists(
    task: TaskKind,
    gold: &str,
    pred: &str,
    mode: Mode,
) -> Option<(Vec<String>, Vec<String>)> {
    let lists = match (mode, task) {
        (Mode::Compat, TaskKind::Ner) => (items(gold, mode), items(pred, mode)),
        (Mode::Compat, TaskKind::Re) => {
            (with_colon(items(gold, mode)), with_colon(items(pred, mode)))
        }
        // The official EEA scorer splits the *raw* gold on `;` and keeps pieces with a colon
        // before normalising (once); the prediction is normalised first (twice), as elsewhere.
        (Mode::Compat, TaskKind::Eea) => (
            gold.split(';')
                .filter(|x| x.contains(':'))
                .map(|x| mode.norm(x))
                .collect(),
            with_colon(items(pred, mode)),
        ),
        (Mode::Compat, TaskKind::Ee) => (event_strings(gold, mode), event_strings(pred, mode)),
        (Mode::Compat, TaskKind::Eet) => (vec![mode.norm(gold)], vec![mode.norm(pred)]),
        (Mode::Compat, _) => return None,
        (Mode::Strict, _) => (strict_items(task, gold), strict_items(task, pred)),
    };
    Some(lists)
}

/// Scores one instance. `None` means the task has no scorer in this mode (the official
/// `calculate_f1` has none for ES/ET/EP/EPR).
pub fn score_instance(task: TaskKind, gold: &str, pred: &str, mode: Mode) -> Option<Outcome> {
    let (g, p) = item_lists(task, gold, pred, mode)?;
    let set = |v: Vec<String>| v.into_iter().collect::<BTreeSet<_>>();
    let outcome = match (mode, task) {
        (Mode::Compat, TaskKind::Re) => Outcome::F1(f1_na_counts(&set(g), &set(p))),
        (Mode::Compat, TaskKind::Ee | TaskKind::Eet) => Outcome::Accuracy(set(g) == set(p)),
        (Mode::Compat, _) => Outcome::F1(set_counts(&set(g), &set(p))),
        (Mode::Strict, _) => Outcome::F1(multiset_counts(&g, &p)),
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

/// The event evaluator's canonical strings (SPEC §4.3, EE): the top-level parenthesised groups
/// of the raw text, each normalised, `arguments:` removed, split on top-level commas, sorted and
/// rejoined with `,`.
pub fn event_strings(s: &str, mode: Mode) -> Vec<String> {
    resolve_brackets(s)
        .into_iter()
        .map(|g| {
            let norm = mode.norm(g).replace("arguments:", "");
            let mut parts = resolve_commas(&norm);
            parts.sort_unstable();
            parts.join(",")
        })
        .collect()
}

/// Contents of top-level bracket pairs, empty pairs skipped. Tolerates one missing `(` before
/// the first `)` (the text before it counts as a group) and one missing `)` at the end, as the
/// official `_resolve_brackets` does; text outside brackets is dropped, so `None` has no group.
fn resolve_brackets(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut level = 0usize;
    let mut last_open: Option<usize> = None;
    for (i, c) in s.char_indices() {
        match c {
            '(' => {
                if level == 0 {
                    last_open = Some(i);
                }
                level += 1;
            }
            ')' => {
                if last_open.is_none() && out.is_empty() && i != 0 {
                    out.push(&s[..i]);
                }
                if let (1, Some(open)) = (level, last_open) {
                    if open + 1 != i {
                        out.push(&s[open + 1..i]);
                    }
                }
                level = level.saturating_sub(1);
            }
            _ => {}
        }
    }
    if let (1, Some(open)) = (level, last_open) {
        if open + 1 != s.len() {
            out.push(&s[open + 1..]);
        }
    }
    out
}

/// Splits on commas outside brackets, as the official `_resolve_comma`: a comma directly after
/// the previous split point does not split (and does not move it), so `a,,b` gives `a` and `,b`.
fn resolve_commas(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut level = 0i64;
    // Byte index just after the last splitting comma (commas are one byte, like the brackets).
    let mut start = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' => level += 1,
            ')' => level -= 1,
            ',' if level == 0 && start != i => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start != s.len() {
        out.push(&s[start..]);
    }
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
        ); // Text outside brackets is no event: `None` and the empty prediction agree.
        assert!(acc(TaskKind::Ee, " None", "None"));
        assert!(acc(TaskKind::Ee, " None", ""));
        assert!(!acc(TaskKind::Ee, " None", "(attack: fired)"));
    }

    #[test]
    fn bracket_and_comma_resolution_follow_the_official_helpers() {
        // Inputs of the official docstrings; for the commas the code (what runs) gives `,d`
        // where its docstring says `d`.
        assert_eq!(resolve_brackets("a(b)(c(d))("), vec!["b", "c(d)"]);
        assert_eq!(resolve_commas("a,(b,c),,d,"), vec!["a", "(b,c)", ",d"]);
        assert_eq!(resolve_commas(",a,b"), vec![",a", "b"]);
        assert_eq!(resolve_brackets("x) (y"), vec!["x", "y"]);
        assert_eq!(resolve_brackets("()"), Vec::<&str>::new());
        assert_eq!(resolve_brackets("(é, b"), vec!["é, b"]);
    }

    #[test]
    fn eea_gold_is_split_before_normalising() {
        // A doubled `;` in the raw gold leaves an empty piece: no colon, dropped.
        assert_eq!(f1(TaskKind::Eea, " a: b;; c: d", "a: b; c: d"), (2, 0, 0));
        assert_eq!(f1(TaskKind::Eea, " A : B; junk", "a:b"), (1, 0, 0));
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
