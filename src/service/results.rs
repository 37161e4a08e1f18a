//! Reading a run's stored results: its score tables as stored, its answers for comparing
//! runs, and re-scoring it against the gold corrections in force. Both front ends read
//! through these.

use crate::eval::compare::{join, Flip, Flips};
use crate::eval::report::GroupTotals;
use crate::eval::significance::{paired_bootstrap, Difference};
use crate::eval::{Mode, Report};
use crate::ie::{dataset_of_key, Split, TaskKind};
use crate::jobs::evaluate::rescore;
use crate::jobs::{Recorder, Rescored, Result};
use crate::store::{StoredPrediction, StoredScore};

/// Stored predictions with each corrected example's gold replaced by its correction in force,
/// so that comparisons judge against the gold the re-scored tables and Inspect use.
pub fn with_gold_in_force(
    mut predictions: Vec<(String, u64, StoredPrediction)>,
    corrections: &std::collections::HashMap<(String, String), String>,
) -> Vec<(String, u64, StoredPrediction)> {
    if !corrections.is_empty() {
        for (key, _, p) in &mut predictions {
            if let Some(gold) = corrections.get(&(key.clone(), p.id.clone())) {
                p.ground_truth.clone_from(gold);
            }
        }
    }
    predictions
}

/// Stored predictions as the answers `eval::compare` matches.
pub fn answers(rows: &[(String, u64, StoredPrediction)]) -> Vec<crate::eval::compare::Answer<'_>> {
    rows.iter()
        .map(|(key, _, p)| crate::eval::compare::Answer {
            task: p.task,
            dataset: dataset_of_key(key),
            id: &p.id,
            ground_truth: &p.ground_truth,
            prediction: &p.prediction,
        })
        .collect()
}

/// One dataset of a comparison of two runs: each example's flip with its id, their counts,
/// and the paired-bootstrap difference of the scores.
#[derive(Debug, Clone)]
pub struct DatasetComparison {
    /// `TASK/dataset`.
    pub dataset: String,
    pub flips: Flips,
    pub examples: Vec<(Flip, String)>,
    pub difference: Option<Difference>,
}

/// Run B's stored predictions against run A's, per dataset (see `eval::compare` and
/// `eval::significance`); `resamples` and `seed` drive the bootstrap.
pub fn compare_runs(
    a: &[(String, u64, StoredPrediction)],
    b: &[(String, u64, StoredPrediction)],
    mode: Mode,
    resamples: usize,
    seed: u64,
) -> Vec<DatasetComparison> {
    join(&answers(a), &answers(b), mode)
        .into_iter()
        .map(|(dataset, joined)| {
            let mut flips = Flips::default();
            let examples = joined
                .iter()
                .map(|j| {
                    let flip = j.flip();
                    flips.add(flip);
                    (flip, j.id.to_string())
                })
                .collect();
            DatasetComparison {
                difference: paired_bootstrap(&joined, resamples, seed),
                dataset,
                flips,
                examples,
            }
        })
        .collect()
}

/// A run as one side of an N-run comparison: its stored score rows and predictions.
pub struct Side {
    pub run: crate::store::RunId,
    pub scores: Vec<StoredScore>,
    pub predictions: Vec<(String, u64, StoredPrediction)>,
}

/// One dataset of an N-run comparison: each run's score (its stored test table, else its
/// newest dev one; `None` where it has no such dataset) and its flips against the baseline
/// (`None` for the baseline itself and where the two share no example).
#[derive(Debug, Clone, PartialEq)]
pub struct ManyRow {
    /// `TASK/dataset`.
    pub dataset: String,
    pub scores: Vec<Option<f64>>,
    pub flips: Vec<Option<Flips>>,
}

impl ManyRow {
    /// The columns holding the best score (ties are all best); none when no run has one.
    pub fn best(&self) -> Vec<usize> {
        let top = self
            .scores
            .iter()
            .flatten()
            .copied()
            .fold(f64::NAN, f64::max);
        (0..self.scores.len())
            .filter(|i| self.scores[*i] == Some(top))
            .collect()
    }
}

/// Several runs side by side, per dataset, against `sides[baseline]`.
pub fn compare_many(sides: &[Side], baseline: usize, mode: Mode) -> Vec<ManyRow> {
    let mut rows: std::collections::BTreeMap<String, ManyRow> = Default::default();
    let n = sides.len();
    fn row<'r>(
        rows: &'r mut std::collections::BTreeMap<String, ManyRow>,
        dataset: &str,
        n: usize,
    ) -> &'r mut ManyRow {
        rows.entry(dataset.to_string()).or_insert_with(|| ManyRow {
            dataset: dataset.to_string(),
            scores: vec![None; n],
            flips: vec![None; n],
        })
    }
    for (i, side) in sides.iter().enumerate() {
        let table = stored_report(&side.scores, Split::Test, mode, None)
            .or_else(|| stored_report(&side.scores, Split::Dev, mode, None));
        for (task, t) in table.iter().flat_map(|t| &t.report.tasks) {
            for (name, d) in &t.datasets {
                row(&mut rows, &crate::ie::dataset_key(*task, name), n).scores[i] = Some(d.score);
            }
        }
    }
    let base = answers(&sides[baseline].predictions);
    for (i, side) in sides.iter().enumerate() {
        if i == baseline {
            continue;
        }
        for (dataset, joined) in join(&base, &answers(&side.predictions), mode) {
            let mut flips = Flips::default();
            for j in &joined {
                flips.add(j.flip());
            }
            if flips.unmatched < joined.len() as u64 {
                row(&mut rows, &dataset, n).flips[i] = Some(flips);
            }
        }
    }
    rows.into_values().collect()
}

/// Re-scores a stored run's predictions against the gold in force, at the step of its
/// released-gold test table; the score rows are stored and told, then the outcome.
pub fn rescore_run(rec: &mut Recorder) -> Result<Rescored> {
    let (store, id) = (rec.store, rec.run);
    let predictions = store.predictions(id, None)?;
    let state = store.gold_state()?;
    let step =
        stored_report(&store.scores(id)?, Split::Test, Mode::Compat, Some(0)).map_or(0, |t| t.step);
    let changed = rescore(rec, &predictions, &state, step)?;
    let r = Rescored {
        gold_version: state.version,
        changed,
        predictions: predictions.len(),
    };
    rec.rescored(Ok(r.clone()))?;
    Ok(r)
}

/// [`rescore_run`] here and now, telling no one (the command line's `runs rescore`).
pub fn rescore_now(store: &crate::store::Store, id: crate::store::RunId) -> Result<Rescored> {
    let mut quiet = |_: &crate::jobs::JobEvent| {};
    rescore_run(&mut Recorder {
        store,
        run: id,
        listener: &mut quiet,
    })
}

/// A score table rebuilt from stored rows, with what it was measured at.
pub struct StoredTable {
    pub gold_version: u64,
    pub step: u64,
    pub report: Report,
}

/// The table of a run's stored rows for one split and mode, at the newest step, against gold
/// version `gold` (the newest present when `None`). `None` when there are no such rows.
pub fn stored_report(
    rows: &[StoredScore],
    split: Split,
    mode: Mode,
    gold: Option<u64>,
) -> Option<StoredTable> {
    let rows: Vec<&StoredScore> = rows
        .iter()
        .filter(|r| r.split == split && r.mode == mode)
        .filter(|r| gold.is_none_or(|g| r.gold_version == g))
        .collect();
    let latest = rows.iter().map(|r| (r.gold_version, r.step)).max()?;
    let groups: Vec<(TaskKind, String, GroupTotals)> = rows
        .iter()
        .filter(|r| (r.gold_version, r.step) == latest)
        .map(|r| {
            (
                r.task,
                r.dataset.clone(),
                GroupTotals {
                    counts: r.counts.unwrap_or_default(),
                    correct: r.correct,
                    n: r.n,
                },
            )
        })
        .collect();
    Some(StoredTable {
        gold_version: latest.0,
        step: latest.1,
        report: Report::from_groups(mode, &groups, Vec::new()),
    })
}
