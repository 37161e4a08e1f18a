//! Per-example verdicts: which predicted and gold items match, and what kind of error each
//! unmatched one is. Diagnostics only; scores come from `report`.

use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::extract::{item_lists, items, strict_items, Mode};
use super::predictions::PredictionLine;
use crate::ie::TaskKind;

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
    let text = instruction?;
    let start = text.find("Option:")? + "Option:".len();
    let line = text[start..].split('\n').next()?;
    Some(line.split(',').map(|o| mode.norm(o)).collect())
}

/// The sentence: given, or read back from an ie-bench source (`Text: ... \n`).
fn sentence(line: &PredictionLine) -> Option<String> {
    if let Some(s) = &line.sentence {
        return Some(s.clone());
    }
    let text = line.instruction.as_deref()?;
    let start = text.find("\nText: ")? + "\nText: ".len();
    let end = text[start..].find(" \n").map_or(text.len(), |e| start + e);
    Some(text[start..end].to_string())
}

/// Words that make two spans overlap when they share one: longer than two characters.
fn overlap_words(s: &str) -> impl Iterator<Item = &str> {
    s.split([' ', ',']).filter(|w| w.chars().count() > 2)
}

/// Which non-empty `needles` occur in each of `haystacks`: the needle indices per haystack,
/// ascending. One automaton over the needles keeps this linear in the text plus the matches,
/// where a `contains` per pair made verdicts quadratic on long lines.
fn occurrences(needles: &[&str], haystacks: &[&str]) -> Vec<Vec<usize>> {
    let plain = |hay: &str| -> Vec<usize> {
        (0..needles.len())
            .filter(|&n| !needles[n].is_empty() && hay.contains(needles[n]))
            .collect()
    };
    // Small inputs (almost every line) are cheaper without building an automaton.
    if needles.len().saturating_mul(haystacks.len()) <= 256 {
        return haystacks.iter().map(|h| plain(h)).collect();
    }
    let mut distinct: Vec<&str> = needles.iter().copied().filter(|n| !n.is_empty()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let Ok(ac) = aho_corasick::AhoCorasick::new(&distinct) else {
        // Too many patterns for an automaton: the plain search is still right.
        return haystacks.iter().map(|h| plain(h)).collect();
    };
    let mut owners: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in needles.iter().enumerate() {
        owners.entry(n).or_default().push(i);
    }
    haystacks
        .iter()
        .map(|hay| {
            let mut found: Vec<usize> = ac
                .find_overlapping_iter(*hay)
                .map(|m| m.pattern().as_usize())
                .collect();
            found.sort_unstable();
            found.dedup();
            let mut hits: Vec<usize> = found
                .into_iter()
                .flat_map(|d| owners[distinct[d]].iter().copied())
                .collect();
            hits.sort_unstable();
            hits
        })
        .collect()
}

/// Gold indices in ascending order with a cursor past the ones already matched: matching only
/// ever uses items up, so each list is walked once over a whole verdict.
struct Candidates {
    golds: Vec<usize>,
    next: usize,
}

impl Candidates {
    /// The first unmatched gold in the list that `fits`.
    fn first(&mut self, used: &[bool], fits: impl Fn(usize) -> bool) -> Option<usize> {
        while self.next < self.golds.len() && used[self.golds[self.next]] {
            self.next += 1;
        }
        self.golds[self.next..]
            .iter()
            .copied()
            .find(|&g| !used[g] && fits(g))
    }
}

/// Pairs each unmatched prediction, in order, with the first unmatched gold item it was
/// trying to be: the same span under another label (`WrongType`, if the label is an option),
/// or the same label over an overlapping span (`WrongBoundary`). Spans overlap when one
/// contains the other or they share a word of three or more characters. Indexed by span, by
/// (label, word) and by containment, so a line with thousands of items stays fast.
fn near_misses(
    gold: &[Item],
    pred: &[Item],
    gold_used: &mut [bool],
    pred_used: &mut [bool],
    in_options: impl Fn(&Option<String>) -> bool,
) -> Vec<(usize, usize, ErrorKind)> {
    let mut by_span: HashMap<&str, Candidates> = HashMap::new();
    let mut by_word: HashMap<(Option<&str>, &str), Candidates> = HashMap::new();
    for (g, item) in gold.iter().enumerate() {
        let list = |map_entry: &mut Candidates| map_entry.golds.push(g);
        let new = || Candidates {
            golds: Vec::new(),
            next: 0,
        };
        list(by_span.entry(item.span.as_str()).or_insert_with(new));
        let mut words: Vec<&str> = overlap_words(&item.span).collect();
        words.sort_unstable();
        words.dedup();
        for w in words {
            list(
                by_word
                    .entry((item.label.as_deref(), w))
                    .or_insert_with(new),
            );
        }
    }
    let open: Vec<usize> = (0..pred.len()).filter(|&p| !pred_used[p]).collect();
    let gold_spans: Vec<&str> = gold.iter().map(|g| g.span.as_str()).collect();
    let pred_spans: Vec<&str> = open.iter().map(|&p| pred[p].span.as_str()).collect();
    // containing[k]: golds contained in open prediction k's span, or containing it.
    let mut containing = occurrences(&gold_spans, &pred_spans);
    for (g, preds) in occurrences(&pred_spans, &gold_spans)
        .into_iter()
        .enumerate()
    {
        for k in preds {
            containing[k].push(g);
        }
    }
    let mut out = Vec::new();
    for (k, &pi) in open.iter().enumerate() {
        let p = &pred[pi];
        let wrong_type = |g: usize| {
            p.label.is_some()
                && gold[g].span == p.span
                && gold[g].label != p.label
                && in_options(&p.label)
        };
        let wrong_boundary =
            |g: usize| gold[g].label == p.label && !gold[g].span.is_empty() && !p.span.is_empty();
        let mut best: Option<usize> = None;
        let mut consider = |g: Option<usize>| {
            if let Some(g) = g {
                best = Some(best.map_or(g, |b| b.min(g)));
            }
        };
        if let Some(c) = by_span.get_mut(p.span.as_str()) {
            consider(c.first(gold_used, wrong_type));
        }
        if !p.span.is_empty() {
            for w in overlap_words(&p.span) {
                if let Some(c) = by_word.get_mut(&(p.label.as_deref(), w)) {
                    consider(c.first(gold_used, wrong_boundary));
                }
            }
        }
        consider(
            containing[k]
                .iter()
                .copied()
                .filter(|&g| !gold_used[g] && (wrong_type(g) || wrong_boundary(g)))
                .min(),
        );
        if let Some(g) = best {
            let kind = if wrong_type(g) {
                ErrorKind::WrongType
            } else {
                ErrorKind::WrongBoundary
            };
            gold_used[g] = true;
            pred_used[pi] = true;
            out.push((g, pi, kind));
        }
    }
    out
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

/// Counts of every error kind per (task, dataset).
pub type Summary = BTreeMap<(TaskKind, String), BTreeMap<ErrorKind, u64>>;

/// Counts of every kind per (task, dataset), for the `--errors` table.
pub fn summarize(verdicts: &[Verdict]) -> Summary {
    let mut out = Summary::new();
    for v in verdicts {
        tally(&mut out, v);
    }
    out
}

/// Adds one verdict's kinds to a summary.
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

    /// The pairing as first written: every unmatched prediction against every gold item.
    fn near_misses_quadratic(
        gold: &[Item],
        pred: &[Item],
        gold_used: &mut [bool],
        pred_used: &mut [bool],
        in_options: impl Fn(&Option<String>) -> bool,
    ) -> Vec<(usize, usize, ErrorKind)> {
        fn overlaps(a: &str, b: &str) -> bool {
            if a.is_empty() || b.is_empty() {
                return false;
            }
            if a.contains(b) || b.contains(a) {
                return true;
            }
            let wb: Vec<&str> = overlap_words(b).collect();
            overlap_words(a).any(|w| wb.contains(&w))
        }
        let mut out = Vec::new();
        for (pi, p) in pred.iter().enumerate() {
            if pred_used[pi] {
                continue;
            }
            let pair = (0..gold.len()).filter(|&g| !gold_used[g]).find_map(|g| {
                let gi = &gold[g];
                if p.label.is_some()
                    && gi.span == p.span
                    && gi.label != p.label
                    && in_options(&p.label)
                {
                    Some((g, ErrorKind::WrongType))
                } else if gi.label == p.label && overlaps(&gi.span, &p.span) {
                    Some((g, ErrorKind::WrongBoundary))
                } else {
                    None
                }
            });
            if let Some((g, kind)) = pair {
                gold_used[g] = true;
                pred_used[pi] = true;
                out.push((g, pi, kind));
            }
        }
        out
    }

    #[test]
    fn indexed_pairing_equals_the_quadratic_one() {
        let mut seed = 7u64;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n
        };
        let words = [
            "ann",
            "bob",
            "new",
            "york",
            "x",
            "ann bob",
            "ork",
            "",
            "new york city",
        ];
        let labels = ["person", "location", "org"];
        for round in 0..3000 {
            let item = |next: &mut dyn FnMut(usize) -> usize| {
                let span = (0..1 + next(3))
                    .map(|_| words[next(words.len())])
                    .collect::<Vec<_>>()
                    .join(if next(4) == 0 { "," } else { " " });
                let text = if next(10) == 0 {
                    span.clone()
                } else {
                    format!("{}: {span}", labels[next(labels.len())])
                };
                split_item(TaskKind::Ner, &text)
            };
            let gold: Vec<Item> = (0..next(8)).map(|_| item(&mut next)).collect();
            let pred: Vec<Item> = (0..next(8)).map(|_| item(&mut next)).collect();
            // Some are already matched exactly, as the exact phase leaves them.
            let mut used_g: Vec<bool> = (0..gold.len()).map(|_| next(5) == 0).collect();
            let mut used_p: Vec<bool> = (0..pred.len()).map(|_| next(5) == 0).collect();
            let (mut g2, mut p2) = (used_g.clone(), used_p.clone());
            let opts = |l: &Option<String>| l.as_deref() != Some("org");
            let fast = near_misses(&gold, &pred, &mut used_g, &mut used_p, opts);
            let slow = near_misses_quadratic(&gold, &pred, &mut g2, &mut p2, opts);
            assert_eq!(fast, slow, "round {round}");
        }
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
