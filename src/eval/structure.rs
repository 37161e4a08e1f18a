//! A target string as the structure it linearises, and back: the items of an answer with their
//! label and spans (an entity, trigger or argument has one span, a relation its head and its
//! tail), read from the raw text with its case and spelling kept. Gold corrections edit this
//! structure (relabel, delete, add an item from spans of the sentence) and store the text it
//! gives, so a structural edit goes into the same gold log as a typed one.

use super::verdict::{find_span, item_label, item_spans};
use crate::ie::TaskKind;

/// One item of a target: its label and its spans, in order, and the text it was read from
/// (kept while it is not edited, so the items an edit does not touch are written back byte
/// for byte, quirks of the data included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub label: String,
    pub spans: Vec<String>,
    pub raw: Option<String>,
}

impl Part {
    /// A new item (or an edited one): written from its label and spans.
    pub fn new(label: impl Into<String>, spans: Vec<String>) -> Part {
        Part {
            label: label.into(),
            spans,
            raw: None,
        }
    }
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

/// The items of `target` (" None" and an empty target have none), split where the prompt
/// builder joins them (`; `). A relation's head and tail are split at the first comma that
/// leaves both in `sentence` (heads like `high-density , low-power array` hold commas), else
/// at the first comma. A piece that is not a well-formed item keeps what it has.
pub fn parts(task: TaskKind, target: &str, sentence: Option<&str>) -> Vec<Part> {
    let body = target.strip_prefix(' ').unwrap_or(target);
    if body.trim().is_empty() || body.trim().eq_ignore_ascii_case("none") {
        return Vec::new();
    }
    body.split("; ")
        .map(|piece| {
            let mut spans = item_spans(task, piece);
            if spans_per_item(task) == 2 {
                if let (Some(s), Some((_, args))) = (sentence, piece.split_once(':')) {
                    if let Some(split) = split_in(args, s) {
                        spans = split;
                    }
                }
            }
            Part {
                label: item_label(task, piece).unwrap_or_default(),
                spans,
                raw: Some(piece.to_string()),
            }
        })
        .collect()
}

/// `args` (`head, tail`) split at the first comma that leaves both pieces in `sentence`.
fn split_in(args: &str, sentence: &str) -> Option<Vec<String>> {
    args.match_indices(',').find_map(|(i, _)| {
        let (head, tail) = (args[..i].trim(), args[i + 1..].trim());
        let found = |x: &str| !x.is_empty() && find_span(sentence, x).is_some();
        (found(head) && found(tail)).then(|| vec![head.to_string(), tail.to_string()])
    })
}

/// The target `parts` linearise to, as the prompt builder writes it: a leading space, items
/// joined by `; `, " None" for none; `label: span`, `relation: head, tail`, and EEA's
/// `argument: role`. An item not edited since it was read is written as it was.
pub fn target(task: TaskKind, parts: &[Part]) -> String {
    if parts.is_empty() {
        return " None".to_string();
    }
    let items: Vec<String> = parts
        .iter()
        .map(|p| {
            if let Some(raw) = &p.raw {
                return raw.clone();
            }
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
            // The data's own quirks survive an edit of another item.
            (
                TaskKind::Re,
                " NA: , Basel; employee of: ; Punja, r Amarinder Sing",
            ),
        ] {
            assert_eq!(target(task, &parts(task, t, None)), t, "{task}");
        }
        let rel = parts(TaskKind::Re, " work for: John Smith, IBM", None);
        assert_eq!(rel[0].label, "work for");
        assert_eq!(rel[0].spans, ["John Smith", "IBM"]);
        // EEA names the argument first.
        let arg = &parts(TaskKind::Eea, " the rebels: attacker", None)[0];
        assert_eq!(
            (arg.label.as_str(), arg.spans[0].as_str()),
            ("attacker", "the rebels")
        );
        assert!(parts(TaskKind::Ner, "", None).is_empty());
        // Edited items are written from their parts.
        let mut items = parts(TaskKind::Eea, " the rebels: attacker", None);
        items.push(Part::new("place", vec!["Kabul".into()]));
        items[0] = Part::new("attacker", vec!["The rebels".into()]);
        assert_eq!(
            target(TaskKind::Eea, &items),
            " The rebels: attacker; Kabul: place"
        );
    }

    /// A head with a comma in it: the sentence says where the head ends.
    #[test]
    fn the_sentence_splits_a_relation_whose_head_has_a_comma() {
        let s = "A high-density , low-power analog array is part of the digital architecture .";
        let t = " part of: high-density , low-power analog array, digital architecture";
        let rel = &parts(TaskKind::Re, t, Some(s))[0];
        assert_eq!(
            rel.spans,
            [
                "high-density , low-power analog array",
                "digital architecture"
            ]
        );
        assert_eq!(target(TaskKind::Re, &parts(TaskKind::Re, t, Some(s))), t);
        // Without the sentence, the first comma.
        assert_eq!(parts(TaskKind::Re, t, None)[0].spans[0], "high-density");
    }
}
