//! Generating a split's predictions, and scoring predictions into stored score rows (both
//! modes, so a table in either can be rebuilt without re-scoring).

use crate::eval::report::accumulate;
use crate::eval::{Mode, PredictionLine};
use crate::ie::{dataset_key, dataset_of_key, Named, Split};
use crate::model::backbone::Backbone;
use crate::model::predict::PredictOptions;
use crate::prompt::PromptInstance;
use crate::store::{StoredPrediction, StoredScore};

use super::{Recorder, Result};

/// Greedy predictions for `instances`, as scorer input.
pub fn generate(
    loaded: &Backbone,
    instances: &[PromptInstance],
    opts: &PredictOptions,
    rec: &mut Recorder,
) -> Result<Vec<PredictionLine>> {
    let total = instances.len();
    let gens =
        loaded.predict_instances(instances, opts, |done| rec.progress(done, total, "predict"))?;
    Ok(instances
        .iter()
        .zip(gens)
        .enumerate()
        .map(|(i, (inst, g))| PredictionLine {
            line: i + 1,
            task: inst.task,
            dataset: inst.dataset.clone(),
            id: inst.id.clone(),
            ground_truth: inst.ground_truth.clone(),
            prediction: g.text,
            // The template (options included, sentence as `{0}`), as the official file has it.
            instruction: Some(inst.instruction.clone()),
            sentence: Some(inst.sentence.clone()),
            truncated: g.hit_limit,
        })
        .collect())
}

/// Stores predictions per dataset, keyed by their position within the dataset.
pub fn store_predictions(rec: &mut Recorder, lines: &[PredictionLine]) -> Result<()> {
    let mut by_dataset: indexmap::IndexMap<String, Vec<(u64, StoredPrediction)>> =
        indexmap::IndexMap::new();
    for l in lines {
        let key = dataset_key(l.task, &l.dataset);
        let rows = by_dataset.entry(key).or_default();
        let index = rows.len() as u64;
        rows.push((
            index,
            StoredPrediction {
                task: l.task,
                id: l.id.clone(),
                ground_truth: l.ground_truth.clone(),
                prediction: l.prediction.clone(),
                truncated: l.truncated,
                sentence: l.sentence.clone(),
                instruction: l.instruction.clone(),
            },
        ));
    }
    for (dataset, rows) in by_dataset {
        rec.predictions(dataset, &rows)?;
    }
    Ok(())
}

/// Scores `lines` in both modes and stores the rows for `split` at `step`.
pub fn store_scores(
    rec: &mut Recorder,
    lines: &[PredictionLine],
    split: Split,
    step: u64,
    gold_version: u64,
) -> Result<()> {
    let mut rows = Vec::new();
    for &mode in Mode::ALL {
        let (groups, _) = accumulate(lines, mode);
        for (task, dataset, t) in groups {
            rows.push(StoredScore {
                task,
                dataset,
                mode,
                split,
                step,
                gold_version,
                counts: Some(t.counts),
                correct: t.correct,
                n: t.n,
            });
        }
    }
    rec.scores(&rows, split, step)?;
    Ok(())
}

/// Stored predictions as prediction lines, with the gold corrections in force applied; the
/// flag says whether a line's gold was corrected.
pub fn corrected_lines(
    predictions: &[(String, u64, StoredPrediction)],
    corrections: &std::collections::HashMap<(String, String), String>,
) -> Vec<(PredictionLine, bool)> {
    predictions
        .iter()
        .enumerate()
        .map(|(i, (key, _, p))| {
            let task = p.task;
            let corrected = corrections.get(&(key.clone(), p.id.clone()));
            (
                PredictionLine {
                    line: i + 1,
                    task,
                    dataset: dataset_of_key(key).to_string(),
                    id: p.id.clone(),
                    ground_truth: corrected.unwrap_or(&p.ground_truth).clone(),
                    prediction: p.prediction.clone(),
                    instruction: p.instruction.clone(),
                    sentence: p.sentence.clone(),
                    truncated: p.truncated,
                },
                corrected.is_some(),
            )
        })
        .collect()
}

/// Re-scores stored predictions against the gold corrections in force and stores the rows
/// under that gold version, beside the earlier ones. Returns how many predictions changed gold.
pub fn rescore(
    rec: &mut Recorder,
    predictions: &[(String, u64, StoredPrediction)],
    state: &crate::store::gold::GoldState,
    step: u64,
) -> Result<usize> {
    let lines = corrected_lines(predictions, &state.corrections());
    let changed = lines.iter().filter(|l| l.1).count();
    let lines: Vec<PredictionLine> = lines.into_iter().map(|l| l.0).collect();
    store_scores(rec, &lines, Split::Test, step, state.version)?;
    Ok(changed)
}

/// An `eval` or `zero-shot` run: a model's predictions for a split, stored with their scores.
pub struct EvalJob {
    pub model: String,
    pub instances: Vec<PromptInstance>,
    pub predict: PredictOptions,
    pub device: candle_core::Device,
}

pub fn run_eval(job: EvalJob, cancel: &super::CancelToken, rec: &mut Recorder) -> Result<()> {
    let result = (|| -> Result<bool> {
        rec.started(0, std::process::id(), None)?;
        let loaded = Backbone::load(&job.model, &job.device)?;
        if cancel.is_cancelled() {
            return Ok(false);
        }
        let lines = generate(&loaded, &job.instances, &job.predict, rec)?;
        if cancel.is_cancelled() {
            return Ok(false);
        }
        store_predictions(rec, &lines)?;
        store_scores(rec, &lines, Split::Test, 0, 0)?;
        Ok(true)
    })();
    use crate::store::RunStatus;
    match result {
        Ok(true) => rec.finish(RunStatus::Finished, None),
        Ok(false) => rec.finish(RunStatus::Cancelled, None),
        Err(e) => {
            rec.finish(RunStatus::Failed, Some(e.to_string()))?;
            Err(e)
        }
    }
}
