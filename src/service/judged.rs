//! A run's examples judged as `eval --errors` judges them (the same verdicts, so the counts
//! agree), with what error analysis filters on computed once: error kinds as bits, labels,
//! and label pairs as indices for the confusion matrix, which is built here too. The
//! workbench's Inspect screen shows these; nothing here draws.

use std::collections::{BTreeMap, BTreeSet};

use super::reads::Reads;
use crate::eval::verdict::{item_label, tally, verdict, ErrorKind, Summary, Verdict};
use crate::eval::{Mode, PredictionLine};
use crate::jobs::evaluate::corrected_lines;
use crate::store::RunId;

/// The empty side of a confusion cell: nothing predicted, or nothing in the gold.
pub const NOTHING: &str = "∅";
/// Predicted labels outside the dataset's gold labels, pooled.
pub const OTHER: &str = "other";

#[derive(Debug, Clone)]
pub struct Example {
    /// `TASK/dataset`.
    pub key: String,
    pub id: String,
    pub gold: String,
    /// The gold the run was scored against first (before any correction).
    pub released_gold: String,
    pub prediction: String,
    /// The sentence and the instruction (with the options), when the run stored them (runs
    /// from before they were kept have none).
    pub sentence: Option<String>,
    pub instruction: Option<String>,
    pub corrected: bool,
    pub verdict: Verdict,
    /// (gold label, predicted label) pairs of its items, `∅` for a missing side.
    pub pairs: Vec<(String, String)>,
    /// Its error categories as bits, and its labels: computed once, so filters over a large
    /// run stay within a frame.
    pub kind_mask: u16,
    pub labels: Vec<String>,
    /// `pairs` as indices into the run's label list (`NONE_ID` for `∅`).
    pub pair_ids: Vec<(u32, u32)>,
}

pub const NONE_ID: u32 = u32::MAX;

/// A run's examples judged, with the datasets and labels they use.
pub struct Loaded {
    pub examples: Vec<Example>,
    pub datasets: Vec<String>,
    pub labels: Vec<String>,
    pub summary: Summary,
}

/// Run `id`'s stored predictions judged against the gold in force.
pub fn load(reads: &Reads, id: RunId) -> Result<Loaded, crate::store::StoreError> {
    let predictions = reads.predictions(id)?;
    let gold = reads.gold_state()?;
    let lines = corrected_lines(&predictions, &gold.corrections())
        .into_iter()
        .map(|(line, corrected)| {
            let released = predictions[line.line - 1].2.ground_truth.clone();
            (line, corrected, released)
        });
    Ok(judge(lines, Mode::Compat))
}

/// Judges prediction lines in `mode`: each with whether its gold is a correction, and the
/// gold it was released with.
pub fn judge(
    lines: impl IntoIterator<Item = (PredictionLine, bool, String)>,
    mode: Mode,
) -> Loaded {
    let mut summary = Summary::new();
    let mut examples: Vec<Example> = lines
        .into_iter()
        .map(|(line, corrected, released_gold)| {
            // The same judge as `eval --errors`, on the same fields, so the counts agree.
            let v = verdict(&line, mode);
            tally(&mut summary, &v);
            let pairs = pairs(&v);
            Example {
                pair_ids: Vec::new(),
                kind_mask: kind_mask(&v),
                labels: example_labels(&pairs),
                key: crate::ie::dataset_key(line.task, &line.dataset),
                id: line.id.clone(),
                gold: line.ground_truth.clone(),
                released_gold,
                prediction: line.prediction.clone(),
                sentence: line.sentence.clone(),
                instruction: line.instruction.clone(),
                corrected,
                pairs,
                verdict: v,
            }
        })
        .collect();
    let datasets: Vec<String> = examples
        .iter()
        .map(|e| e.key.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let labels: Vec<String> = examples
        .iter()
        .flat_map(|e| e.labels.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let ids: std::collections::HashMap<&str, u32> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i as u32))
        .collect();
    for e in &mut examples {
        let id = |l: &str| ids.get(l).copied().unwrap_or(NONE_ID);
        e.pair_ids = e.pairs.iter().map(|(g, p)| (id(g), id(p))).collect();
    }
    Loaded {
        examples,
        datasets,
        labels,
        summary,
    }
}

impl Example {
    /// Judges it again against `gold` (a correction, or the released gold again after an
    /// undo), with the sentence and options it was judged with first.
    pub fn judge_again(&mut self, gold: String, corrected: bool) {
        let line = PredictionLine {
            line: 0,
            task: self.verdict.task,
            dataset: crate::ie::dataset_of_key(&self.key).to_string(),
            id: self.id.clone(),
            ground_truth: gold.clone(),
            prediction: self.prediction.clone(),
            instruction: self.instruction.clone(),
            sentence: self.sentence.clone(),
            truncated: false,
        };
        self.gold = gold;
        self.corrected = corrected;
        self.verdict = verdict(&line, Mode::Compat);
        self.pairs = pairs(&self.verdict);
        self.kind_mask = kind_mask(&self.verdict);
        self.labels = example_labels(&self.pairs);
    }

    /// The categories of its errors (item kinds and whole-output flags), without `correct`.
    pub fn kinds(&self) -> BTreeSet<ErrorKind> {
        ErrorKind::ALL
            .into_iter()
            .filter(|k| self.has(*k))
            .collect()
    }

    pub fn has(&self, k: ErrorKind) -> bool {
        self.kind_mask & bit(k) != 0
    }

    /// The first of its error categories, in `ErrorKind` order.
    pub fn first_kind(&self) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| self.has(*k))
    }
}

pub fn bit(k: ErrorKind) -> u16 {
    1 << (k as u16)
}

pub fn kind_mask(v: &Verdict) -> u16 {
    v.items
        .iter()
        .map(|i| i.kind)
        .chain(v.flags.iter().copied())
        .filter(|k| *k != ErrorKind::Correct)
        .fold(0, |m, k| m | bit(k))
}

/// The labels its items use, either side.
pub fn example_labels(pairs: &[(String, String)]) -> Vec<String> {
    let set: BTreeSet<&str> = pairs
        .iter()
        .flat_map(|(g, p)| [g.as_str(), p.as_str()])
        .filter(|l| *l != NOTHING)
        .collect();
    set.into_iter().map(str::to_string).collect()
}

pub fn pairs(v: &Verdict) -> Vec<(String, String)> {
    let label = |t: &Option<String>| {
        t.as_deref()
            .and_then(|x| item_label(v.task, x))
            .unwrap_or_else(|| NOTHING.to_string())
    };
    v.items
        .iter()
        .filter(|i| {
            matches!(
                i.kind,
                ErrorKind::Correct
                    | ErrorKind::WrongType
                    | ErrorKind::Missing
                    | ErrorKind::Spurious
                    | ErrorKind::WrongBoundary
            )
        })
        .map(|i| (label(&i.gold), label(&i.pred)))
        .collect()
}

/// A confusion matrix over some examples: its labels (the gold labels present, then `other`
/// for predicted labels the gold never uses, then `∅`) and the example indices behind each
/// (gold, predicted) cell.
pub struct Confusion {
    pub labels: Vec<String>,
    pub cells: BTreeMap<(usize, usize), Vec<usize>>,
}

/// The confusion matrix of `examples[i]` for each `i` in `in_view`; `labels` is the label list
/// their `pair_ids` index.
pub fn confusion(examples: &[Example], labels: &[String], in_view: &[usize]) -> Confusion {
    let mut is_gold = vec![false; labels.len()];
    for &i in in_view {
        for &(g, _) in &examples[i].pair_ids {
            if g != NONE_ID {
                is_gold[g as usize] = true;
            }
        }
    }
    let mut shown: Vec<String> = Vec::new();
    let mut at = vec![0usize; labels.len()];
    for (id, l) in labels.iter().enumerate() {
        if is_gold[id] {
            at[id] = shown.len();
            shown.push(l.clone());
        }
    }
    let (other, nothing) = (shown.len(), shown.len() + 1);
    for (id, g) in is_gold.iter().enumerate() {
        if !g {
            at[id] = other;
        }
    }
    shown.push(OTHER.to_string());
    shown.push(NOTHING.to_string());
    let n = shown.len();
    let pos = |id: u32| {
        if id == NONE_ID {
            nothing
        } else {
            at[id as usize]
        }
    };
    let mut dense: Vec<Vec<usize>> = vec![Vec::new(); n * n];
    for &i in in_view {
        for &(g, p) in &examples[i].pair_ids {
            let list = &mut dense[pos(g) * n + pos(p)];
            if list.last() != Some(&i) {
                list.push(i);
            }
        }
    }
    let cells = dense
        .into_iter()
        .enumerate()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| ((k / n, k % n), v))
        .collect();
    Confusion {
        labels: shown,
        cells,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ie::TaskKind;

    fn example(gold: &str, prediction: &str) -> Example {
        let line = PredictionLine {
            line: 1,
            task: TaskKind::Ner,
            dataset: "d".into(),
            id: "0".into(),
            ground_truth: gold.into(),
            prediction: prediction.into(),
            instruction: Some("X \nOption: person, location \nText: {0} \nAnswer:".into()),
            sentence: Some("John Smith lives in New York .".into()),
            truncated: false,
        };
        let v = verdict(&line, Mode::Compat);
        let pairs = pairs(&v);
        Example {
            key: "NER/d".into(),
            id: "0".into(),
            gold: gold.into(),
            released_gold: gold.into(),
            prediction: prediction.into(),
            sentence: line.sentence,
            instruction: line.instruction,
            corrected: false,
            kind_mask: kind_mask(&v),
            labels: example_labels(&pairs),
            pair_ids: Vec::new(),
            pairs,
            verdict: v,
        }
    }

    /// A corrected example is judged with its sentence and options, as it was first: the
    /// checks that need them (a label among the options, a span in the sentence) still run.
    #[test]
    fn judging_again_keeps_the_sentence_and_option_checks() {
        let mut e = example("person: John Smith", "city: New York");
        assert!(e.has(ErrorKind::LabelNotInOptions), "{:?}", e.kinds());
        e.judge_again("person: John Smith; location: New York".into(), true);
        assert!(e.corrected);
        assert!(
            e.has(ErrorKind::LabelNotInOptions),
            "the option check ran again: {:?}",
            e.kinds()
        );
        // Undone: the released gold again.
        e.judge_again(e.released_gold.clone(), false);
        assert!(!e.corrected && e.has(ErrorKind::Missing), "{:?}", e.kinds());
        assert_eq!(e.labels, ["person"]);
    }
}
