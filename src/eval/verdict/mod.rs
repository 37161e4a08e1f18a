//! Per-example verdicts: which predicted and gold items match, and what kind of error each
//! unmatched one is. Diagnostics only; scores come from `report`.

use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

mod pairing;

use super::extract::{item_lists, items, strict_items, Mode};
use super::predictions::PredictionLine;
use crate::ie::TaskKind;
use pairing::{near_misses, occurrences};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Correct,
    /// Same span, other label.
    WrongType,
    /// Same label, overlapping but different span text.
    WrongBoundary,
    /// A gold item nothing predicted.
    Missing,
    /// A predicted item with no gold counterpart (label in options, span in text).
    Spurious,
    LabelNotInOptions,
    SpanNotInText,
    /// Text that is not an item of the task's output format.
    Unparsable,
    Repetition,
    Empty,
    Truncated,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::Correct,
        ErrorKind::WrongType,
        ErrorKind::WrongBoundary,
        ErrorKind::Missing,
        ErrorKind::Spurious,
        ErrorKind::LabelNotInOptions,
        ErrorKind::SpanNotInText,
        ErrorKind::Unparsable,
        ErrorKind::Repetition,
        ErrorKind::Empty,
        ErrorKind::Truncated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Correct => "correct",
            ErrorKind::WrongType => "wrong_type",
            ErrorKind::WrongBoundary => "wrong_boundary",
            ErrorKind::Missing => "missing",
            ErrorKind::Spurious => "spurious",
            ErrorKind::LabelNotInOptions => "label_not_in_options",
            ErrorKind::SpanNotInText => "span_not_in_text",
            ErrorKind::Unparsable => "unparsable",
            ErrorKind::Repetition => "repetition",
            ErrorKind::Empty => "empty",
            ErrorKind::Truncated => "truncated",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemVerdict {
    pub kind: ErrorKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gold: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pred: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    #[serde(rename = "Task")]
    pub task: TaskKind,
    #[serde(rename = "Dataset")]
    pub dataset: String,
    pub id: String,
    pub line: usize,
    /// Every item matched and nothing is flagged.
    pub correct: bool,
    pub items: Vec<ItemVerdict>,
    /// Whole-output problems: empty, unparsable, repetition, truncated.
    pub flags: Vec<ErrorKind>,
}

/// A parsed item: label and span for typed items, span only for ES/EP/EE.
struct Item {
    text: String,
    label: Option<String>,
    span: String,
}

fn split_item(task: TaskKind, text: &str) -> Item {
    let parts = match task {
        // EEA writes the argument first: "name: role".
        TaskKind::Eea => text.rsplit_once(':').map(|(s, l)| (l, s)),
        TaskKind::Es | TaskKind::Ep | TaskKind::Ee => None,
        _ => text.split_once(':'),
    };
    match parts {
        Some((label, span)) => Item {
            text: text.to_string(),
            label: Some(label.to_string()),
            span: span.to_string(),
        },
        None => Item {
            text: text.to_string(),
            label: None,
            span: text.to_string(),
        },
    }
}

/// The label of an item (entity, relation or event type, or EEA role); `None` for span-only
/// tasks and items without one.
pub fn item_label(task: TaskKind, text: &str) -> Option<String> {
    split_item(task, text).label.map(|l| l.trim().to_string())
}

/// The text pieces of an item that should occur in the sentence: the span, or for relations
/// the head and the tail (split at the first comma, as the span check does).
pub fn item_spans(task: TaskKind, text: &str) -> Vec<String> {
    let span = split_item(task, text).span;
    let pieces: Vec<&str> = if matches!(task, TaskKind::Re | TaskKind::Epr | TaskKind::Ep) {
        span.splitn(2, ',').collect()
    } else {
        vec![span.as_str()]
    };
    pieces
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Where `piece` first occurs in `sentence`, as a char range, ignoring case and whitespace
/// (items are normalised, so their spacing around punctuation may differ from the text).
pub fn find_span(sentence: &str, piece: &str) -> Option<(usize, usize)> {
    let squeeze = |s: &str| -> Vec<(usize, char)> {
        s.chars()
            .enumerate()
            .filter(|(_, c)| !c.is_whitespace())
            .map(|(i, c)| (i, c.to_lowercase().next().unwrap_or(c)))
            .collect()
    };
    let hay = squeeze(sentence);
    let needle: Vec<char> = squeeze(piece).into_iter().map(|(_, c)| c).collect();
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    (0..=hay.len() - needle.len())
        .find(|&i| {
            hay[i..i + needle.len()]
                .iter()
                .map(|x| x.1)
                .eq(needle.iter().copied())
        })
        .map(|i| (hay[i].0, hay[i + needle.len() - 1].0 + 1))
}

fn needs_colon(task: TaskKind) -> bool {
    !matches!(task, TaskKind::Es | TaskKind::Ep | TaskKind::Ee)
}

/// The items a mode scores, so verdicts agree with the scores; compat EET, scored as one
/// whole string, is itemised here so its errors can be named. `none` and empty items are
/// matched by the scorer but are no structure to show.
fn scored_items(task: TaskKind, gold: &str, pred: &str, mode: Mode) -> (Vec<String>, Vec<String>) {
    let (mut g, mut p) = match (mode, task) {
        (Mode::Compat, TaskKind::Eet) => (strict_items(task, gold), strict_items(task, pred)),
        _ => item_lists(task, gold, pred, mode)
            .unwrap_or_else(|| (strict_items(task, gold), strict_items(task, pred))),
    };
    // Pieces without a colon where the format needs one are reported as unparsable instead.
    for v in [&mut g, &mut p] {
        v.retain(|x| !x.is_empty() && x != "none" && (!needs_colon(task) || x.contains(':')));
        // Compat compares sets: a repeated item is one item (the repetition flag reports it).
        if mode == Mode::Compat {
            let mut seen = std::collections::HashSet::new();
            v.retain(|x| seen.insert(x.clone()));
        }
    }
    (g, p)
}

/// Option labels from the model input (`Option: a, b, c \n`), normalised; `None` where the
/// prompt has none or the task's options are not item labels (EE).
fn options(instruction: Option<&str>, task: TaskKind, mode: Mode) -> Option<Vec<String>> {
    if matches!(task, TaskKind::Ee | TaskKind::Es | TaskKind::Ep) {
        return None;
    }
    let line = option_line(instruction?)?;
    Some(line.split(',').map(|o| mode.norm(o)).collect())
}

/// The options of a model input as written: the rest of its `Option:` line.
pub fn option_line(instruction: &str) -> Option<&str> {
    let start = instruction.find("Option:")? + "Option:".len();
    instruction[start..].split('\n').next()
}

/// The sentence: given, or read back from an ie-bench source (`Text: ... \n`).
pub(crate) fn sentence(line: &PredictionLine) -> Option<String> {
    if let Some(s) = &line.sentence {
        return Some(s.clone());
    }
    let text = line.instruction.as_deref()?;
    let start = text.find("\nText: ")? + "\nText: ".len();
    let end = text[start..].find(" \n").map_or(text.len(), |e| start + e);
    Some(text[start..end].to_string())
}

/// A run of 5+ word characters repeated three times in a row, the official repetition audit.
fn has_repeated_run(text: &str) -> bool {
    let chars: Vec<char> = text.chars().take(512).collect();
    let n = chars.len();
    let word = |c: &char| c.is_alphanumeric() || *c == '_';
    for i in 0..n {
        let max_len = (n - i) / 3;
        for len in 5..=max_len {
            let unit = &chars[i..i + len];
            if !unit.iter().all(word) {
                break;
            }
            if chars[i + len..i + 2 * len] == *unit && chars[i + 2 * len..i + 3 * len] == *unit {
                return true;
            }
        }
    }
    false
}

pub fn verdict(line: &PredictionLine, mode: Mode) -> Verdict {
    let task = line.task;
    let (gold_items, pred_items) = scored_items(task, &line.ground_truth, &line.prediction, mode);
    let gold: Vec<Item> = gold_items.iter().map(|t| split_item(task, t)).collect();
    let mut flags = Vec::new();
    let trimmed = line.prediction.trim();
    if trimmed.is_empty() {
        flags.push(ErrorKind::Empty);
    }
    // Raw pieces of the prediction, to find text that is not an item at all.
    let raw_pieces: Vec<String> = if task == TaskKind::Ee {
        Vec::new()
    } else {
        items(&line.prediction, mode)
            .into_iter()
            .filter(|x| !x.is_empty())
            .collect()
    };
    let none_like = |x: &str| matches!(x, "none" | "na" | "no relation" | "[]");
    let malformed: Vec<&String> = raw_pieces
        .iter()
        .filter(|x| !none_like(x) && needs_colon(task) && !x.contains(':'))
        .collect();
    let pred: Vec<Item> = pred_items.iter().map(|t| split_item(task, t)).collect();

    let mut out = Vec::new();
    let mut gold_used = vec![false; gold.len()];
    let mut pred_used = vec![false; pred.len()];
    // Exact matches first, each gold occurrence once.
    let mut by_text: HashMap<&str, VecDeque<usize>> = HashMap::new();
    for (g, item) in gold.iter().enumerate() {
        by_text.entry(item.text.as_str()).or_default().push_back(g);
    }
    for (pi, p) in pred.iter().enumerate() {
        if let Some(gi) = by_text
            .get_mut(p.text.as_str())
            .and_then(VecDeque::pop_front)
        {
            gold_used[gi] = true;
            pred_used[pi] = true;
            out.push(ItemVerdict {
                kind: ErrorKind::Correct,
                gold: Some(gold[gi].text.clone()),
                pred: Some(p.text.clone()),
            });
        }
    }
    let opts = options(line.instruction.as_deref(), task, mode);
    let option_set: Option<HashSet<&str>> = opts
        .as_ref()
        .map(|o| o.iter().map(String::as_str).collect());
    let in_options = |label: &Option<String>| match (&option_set, label) {
        (Some(o), Some(l)) => o.contains(l.as_str()),
        _ => true,
    };
    // Near misses pair a prediction with the gold item it was trying to be; a label outside
    // the options is reported as such rather than as a wrong type.
    for (g, pi, kind) in near_misses(&gold, &pred, &mut gold_used, &mut pred_used, in_options) {
        out.push(ItemVerdict {
            kind,
            gold: Some(gold[g].text.clone()),
            pred: Some(pred[pi].text.clone()),
        });
    }
    let sent = sentence(line).map(|s| mode.norm(&s));
    let spurious: Vec<&Item> = pred
        .iter()
        .zip(&pred_used)
        .filter(|(_, used)| !**used)
        .map(|(p, _)| p)
        .collect();
    // The pieces of each spurious item that must occur in the sentence, searched in one pass.
    let pieces: Vec<Vec<&str>> = spurious
        .iter()
        .map(|p| {
            if matches!(task, TaskKind::Re | TaskKind::Epr | TaskKind::Ep) {
                p.span.splitn(2, ',').collect()
            } else {
                vec![p.span.as_str()]
            }
        })
        .collect();
    let flat: Vec<&str> = pieces.iter().flatten().copied().collect();
    let in_text: Option<HashSet<usize>> = match &sent {
        Some(s) if task != TaskKind::Ee => Some(
            occurrences(&flat, &[s.as_str()])
                .remove(0)
                .into_iter()
                .collect(),
        ),
        _ => None,
    };
    let mut flat_index = 0;
    for (p, parts) in spurious.iter().zip(&pieces) {
        let label_ok = in_options(&p.label);
        let first = flat_index;
        flat_index += parts.len();
        // An empty piece is in any sentence, as `str::contains` has it.
        let span_ok = in_text.as_ref().is_none_or(|found| {
            (first..flat_index).all(|i| flat[i].is_empty() || found.contains(&i))
        });
        let kind = if !label_ok {
            ErrorKind::LabelNotInOptions
        } else if !span_ok {
            ErrorKind::SpanNotInText
        } else {
            ErrorKind::Spurious
        };
        out.push(ItemVerdict {
            kind,
            gold: None,
            pred: Some(p.text.clone()),
        });
    }
    for item in gold
        .iter()
        .zip(&gold_used)
        .filter(|(_, used)| !**used)
        .map(|(g, _)| g)
    {
        out.push(ItemVerdict {
            kind: ErrorKind::Missing,
            gold: Some(item.text.clone()),
            pred: None,
        });
    }
    for m in &malformed {
        out.push(ItemVerdict {
            kind: ErrorKind::Unparsable,
            gold: None,
            pred: Some((*m).clone()),
        });
    }
    if !trimmed.is_empty() && pred.is_empty() && !malformed.is_empty() {
        flags.push(ErrorKind::Unparsable);
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &raw_pieces {
        *seen.entry(p).or_default() += 1;
    }
    if seen.values().any(|&n| n >= 3) || has_repeated_run(&line.prediction) {
        flags.push(ErrorKind::Repetition);
    }
    // Generation that hit its token limit ends mid-item: without a separator, or with a label
    // that is only the beginning of an option.
    let cut_label = pred.last().and_then(|p| p.label.as_ref()).is_some_and(|l| {
        opts.as_ref()
            .is_some_and(|o| !o.contains(l) && o.iter().any(|x| x.starts_with(l.as_str())))
    });
    let cut_mid_item = cut_label
        || (raw_pieces.len() > 1 && raw_pieces.last().is_some_and(|l| malformed.contains(&l)));
    let open_paren = task == TaskKind::Ee
        && line.prediction.matches('(').count() > line.prediction.matches(')').count();
    if line.truncated || cut_mid_item || open_paren {
        flags.push(ErrorKind::Truncated);
    }
    let correct = flags.is_empty() && out.iter().all(|i| i.kind == ErrorKind::Correct);
    Verdict {
        task,
        dataset: line.dataset.clone(),
        id: line.id.clone(),
        line: line.line,
        correct,
        items: out,
        flags,
    }
}

/// Why `gold` is not a well-formed target for its example: items that do not parse, labels
/// outside the options of `instruction`, spans not in `sentence`, judged by the same code as
/// predictions. Empty when it is fine (or nothing is known to check it against).
pub fn gold_problems(
    task: TaskKind,
    gold: &str,
    sentence: Option<&str>,
    instruction: Option<&str>,
) -> Vec<String> {
    let line = PredictionLine {
        line: 1,
        task,
        dataset: String::new(),
        id: String::new(),
        ground_truth: String::new(),
        prediction: gold.to_string(),
        instruction: instruction.map(str::to_string),
        sentence: sentence.map(str::to_string),
        truncated: false,
    };
    // Strict mode keeps labels as written (compat renames `location` to `located`), and each
    // problem is quoted as the user wrote it where a piece of `gold` normalises to it.
    let mode = Mode::Strict;
    let v = verdict(&line, mode);
    let written = |item: &str| {
        gold.split(';')
            .map(str::trim)
            .find(|raw| mode.norm(raw) == item)
            .unwrap_or(item)
            .to_string()
    };
    let mut out: Vec<String> = v
        .items
        .iter()
        .filter_map(|i| {
            let what = match i.kind {
                ErrorKind::LabelNotInOptions => "its label is not one of the options",
                ErrorKind::SpanNotInText => "its span is not in the sentence",
                ErrorKind::Unparsable => {
                    "it is not an item of the task's format (`label: span`, items separated by `; `)"
                }
                _ => return None,
            };
            Some(format!("{:?}: {what}", written(i.pred.as_deref().unwrap_or_default())))
        })
        .collect();
    out.dedup();
    out
}

/// Counts of every error kind per (task, dataset).
pub type Summary = BTreeMap<(TaskKind, String), BTreeMap<ErrorKind, u64>>;

/// Adds one verdict's kinds to a summary (the `--errors` table).
pub fn tally(summary: &mut Summary, v: &Verdict) {
    let e = summary.entry((v.task, v.dataset.clone())).or_default();
    for i in &v.items {
        *e.entry(i.kind).or_default() += 1;
    }
    for f in &v.flags {
        *e.entry(*f).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(task: TaskKind, gold: &str, pred: &str) -> PredictionLine {
        PredictionLine {
            line: 1,
            task,
            dataset: "d".into(),
            id: "0".into(),
            ground_truth: gold.into(),
            prediction: pred.into(),
            instruction: Some(
                "X \nOption: person, location, organization \nText: {0} \nAnswer:".into(),
            ),
            sentence: Some("John Smith lives in New York .".into()),
            truncated: false,
        }
    }

    #[test]
    fn spans_are_found_whatever_their_case_and_spacing() {
        let s = "John Smith ( IBM ) lives in New York .";
        assert_eq!(find_span(s, "new york"), Some((28, 36)));
        assert_eq!(find_span(s, "(ibm)"), Some((11, 18)));
        assert_eq!(find_span(s, "Paris"), None);
        assert_eq!(
            item_spans(TaskKind::Re, "work for: john smith, ibm"),
            ["john smith", "ibm"]
        );
        assert_eq!(item_spans(TaskKind::Ner, "person: ann"), ["ann"]);
    }

    fn kinds(v: &Verdict) -> Vec<ErrorKind> {
        let mut k: Vec<ErrorKind> = v
            .items
            .iter()
            .map(|i| i.kind)
            .chain(v.flags.iter().copied())
            .collect();
        k.sort();
        k
    }

    #[test]
    fn taxonomy_of_ner_errors() {
        use ErrorKind::*;
        let g = " person: John Smith; location: New York";
        let v = |p| verdict(&line(TaskKind::Ner, g, p), Mode::Compat);
        assert!(v("person: John Smith; location: New York").correct);
        assert_eq!(
            kinds(&v("location: John Smith; location: New York")),
            [Correct, WrongType]
        );
        assert_eq!(
            kinds(&v("person: John; location: New York")),
            [Correct, WrongBoundary]
        );
        assert_eq!(kinds(&v("person: John Smith")), [Correct, Missing]);
        assert_eq!(
            kinds(&v("person: John Smith; location: New York; person: Ann")),
            [Correct, Correct, SpanNotInText]
        );
        assert_eq!(
            kinds(&v("person: John Smith; location: New York; city: lives")),
            [Correct, Correct, LabelNotInOptions]
        );
        assert_eq!(
            kinds(&v(
                "person: John Smith; location: New York; organization: lives"
            )),
            [Correct, Correct, Spurious]
        );
        assert_eq!(kinds(&v("")), [Missing, Missing, Empty]);
        assert_eq!(
            kinds(&v("I cannot tell")),
            [Missing, Missing, Unparsable, Unparsable]
        );
        assert_eq!(
            kinds(&v("person: John Smith; location: New York; person")),
            [Correct, Correct, Unparsable, Truncated]
        );
        let rep =
            v("person: John Smith; person: John Smith; person: John Smith; location: New York");
        assert!(kinds(&rep).contains(&Repetition));
        assert!(!v("None").correct);
        assert_eq!(
            kinds(&v("person: John Smith; city: New York")),
            [Correct, Missing, LabelNotInOptions]
        );
        assert_eq!(
            kinds(&v("person: John Smith; location: New York; organiz: Acme")),
            [Correct, Correct, LabelNotInOptions, Truncated]
        );
        let none = verdict(&line(TaskKind::Ner, " None", "None"), Mode::Compat);
        assert!(none.correct && none.items.is_empty());
    }

    #[test]
    fn eea_reads_argument_then_role() {
        let mut l = line(TaskKind::Eea, " John Smith: attacker", "John Smith: victim");
        l.instruction =
            Some("Event type: attack \n  Option: attacker, victim \nText: {0} \nAnswer:".into());
        assert_eq!(kinds(&verdict(&l, Mode::Compat)), [ErrorKind::WrongType]);
    }

    #[test]
    fn a_line_with_thousands_of_items_is_judged_in_linear_time() {
        // 20,000 distinct words each side (about 500 kB): the quadratic pairing took seconds.
        let gold: Vec<String> = (0..20_000).map(|i| format!("person: w{i}x")).collect();
        let pred: Vec<String> = (0..20_000).map(|i| format!("person: v{i}y")).collect();
        let mut l = line(TaskKind::Ner, &gold.join("; "), &pred.join("; "));
        l.sentence = Some(gold.join(" "));
        let v = verdict(&l, Mode::Strict);
        assert_eq!(v.items.len(), 40_000);
    }

    #[test]
    fn repeated_run_detector() {
        assert!(has_repeated_run("abcdeabcdeabcde"));
        assert!(!has_repeated_run("abcdeabcde"));
        assert!(!has_repeated_run("abc abc abc "));
    }
}
