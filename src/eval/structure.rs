//! A target string as the structure it linearises, and back: the items of an answer with their
//! label and spans (an entity, trigger or argument has one span, a relation its head and its
//! tail), read from the raw text with its case and spelling kept. Gold corrections edit this
//! structure (relabel, delete, add an item from spans of the sentence) and store the text it
//! gives, so a structural edit goes into the same gold log as a typed one.

use super::verdict::{item_label, item_spans};
use crate::ie::TaskKind;

/// One item of a target: its label and its spans, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub label: String,
    pub spans: Vec<String>,
}

/// Whether `task`'s targets are typed items this module reads and writes (the others, span
/// lists and EE's nested events, are edited as text).
pub fn editable(task: TaskKind) -> bool {
    matches!(
        task,
        TaskKind::Ner | TaskKind::Et | TaskKind::Re | TaskKind::Epr | TaskKind::Eet | TaskKind::Eea
    )
}

/// How many spans an item of `task` has.
pub fn spans_per_item(task: TaskKind) -> usize {
    if matches!(task, TaskKind::Re | TaskKind::Epr) {
        2
    } else {
        1
    }
}

/// The items of `target` (" None" and an empty target have none). A piece that is not a
/// well-formed item of the task (no label, the wrong number of spans) is kept with what it
/// has, so the text it came from is not lost by an edit of another item.
pub fn parts(task: TaskKind, target: &str) -> Vec<Part> {
    let body = target.trim();
    if body.is_empty() || body.eq_ignore_ascii_case("none") {
        return Vec::new();
    }
    body.split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|piece| Part {
            label: item_label(task, piece).unwrap_or_default(),
            spans: item_spans(task, piece),
        })
        .collect()
}

/// The target `parts` linearise to, as the prompt builder writes it: a leading space, items
/// joined by `; `, " None" for none; `label: span`, `relation: head, tail`, and EEA's
/// `argument: role`.
pub fn target(task: TaskKind, parts: &[Part]) -> String {
    if parts.is_empty() {
        return " None".to_string();
    }
    let items: Vec<String> = parts
        .iter()
        .map(|p| {
            let spans = p.spans.join(", ");
            if task == TaskKind::Eea {
                format!("{spans}: {}", p.label)
            } else {
                format!("{}: {spans}", p.label)
            }
        })
        .collect();
    format!(" {}", items.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_read_and_write_back_unchanged() {
        for (task, t) in [
            (
                TaskKind::Ner,
                " person: Serena Williams; location: Melbourne",
            ),
            (
                TaskKind::Re,
                " work for: John Smith, IBM; located in: IBM, New York",
            ),
            (TaskKind::Eet, " attack: fired"),
            (TaskKind::Eea, " the rebels: attacker; Kabul: place"),
            (TaskKind::Ner, " None"),
        ] {
            assert_eq!(target(task, &parts(task, t)), t, "{task}");
        }
        let rel = parts(TaskKind::Re, " work for: John Smith, IBM");
        assert_eq!(
            rel,
            [Part {
                label: "work for".into(),
                spans: vec!["John Smith".into(), "IBM".into()],
            }]
        );
        // EEA names the argument first.
        let arg = &parts(TaskKind::Eea, " the rebels: attacker")[0];
        assert_eq!(
            (arg.label.as_str(), arg.spans[0].as_str()),
            ("attacker", "the rebels")
        );
        assert!(parts(TaskKind::Ner, "").is_empty());
    }
}
