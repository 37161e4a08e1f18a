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
