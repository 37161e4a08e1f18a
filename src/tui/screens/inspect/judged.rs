//! A run's examples judged as `eval --errors` judges them (the same verdicts, so the counts
//! agree), with what the filters need computed once: error kinds as bits, labels, and label
//! pairs as indices for the confusion matrix.

use super::*;

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
    pub(super) kind_mask: u16,
    pub(super) labels: Vec<String>,
    /// `pairs` as indices into the run's label list (`NONE_ID` for `∅`).
    pub(super) pair_ids: Vec<(u32, u32)>,
}

pub(super) const NONE_ID: u32 = u32::MAX;

/// A run's examples judged, with the datasets and labels they use.
pub struct Loaded {
    pub(super) examples: Vec<Example>,
    pub(super) datasets: Vec<String>,
    pub(super) labels: Vec<String>,
    pub(super) summary: Summary,
}

pub(super) fn load(
    reads: &crate::service::reads::Reads,
    id: RunId,
) -> Result<Loaded, crate::store::StoreError> {
    let predictions = reads.predictions(id)?;
    let gold = reads.gold_state()?;
    let mut summary = Summary::new();
    let mut examples: Vec<Example> = corrected_lines(&predictions, &gold.corrections())
        .into_iter()
        .map(|(line, corrected)| {
            // The same judge as `eval --errors`, on the same fields, so the counts agree.
            let v = verdict(&line, Mode::Compat);
            tally(&mut summary, &v);
            let pairs = pairs(&v);
            Example {
                pair_ids: Vec::new(),
                kind_mask: kind_mask(&v),
                labels: example_labels(&pairs),
                key: crate::ie::dataset_key(line.task, &line.dataset),
                id: line.id.clone(),
                gold: line.ground_truth.clone(),
                released_gold: predictions[line.line - 1].2.ground_truth.clone(),
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
    Ok(Loaded {
        examples,
        datasets,
        labels,
        summary,
    })
}

impl Example {
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

pub(super) fn bit(k: ErrorKind) -> u16 {
    1 << (k as u16)
}

pub(super) fn kind_mask(v: &Verdict) -> u16 {
    v.items
        .iter()
        .map(|i| i.kind)
        .chain(v.flags.iter().copied())
        .filter(|k| *k != ErrorKind::Correct)
        .fold(0, |m, k| m | bit(k))
}

/// The labels its items use, either side.
pub(super) fn example_labels(pairs: &[(String, String)]) -> Vec<String> {
    let set: BTreeSet<&str> = pairs
        .iter()
        .flat_map(|(g, p)| [g.as_str(), p.as_str()])
        .filter(|l| *l != NOTHING)
        .collect();
    set.into_iter().map(str::to_string).collect()
}

pub(super) fn pairs(v: &Verdict) -> Vec<(String, String)> {
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
