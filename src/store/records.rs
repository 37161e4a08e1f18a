//! What the store keeps, one type per tree. Values are JSON, so `sled` dumps stay readable; the
//! schema version in `meta` covers their shape.

use serde::{Deserialize, Serialize};

use crate::eval::metrics::Counts;

pub type RunId = u64;

pub use crate::spec::RunKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    Queued,
    Running,
    Finished,
    Failed,
    Cancelled,
    /// Was running when its process died; `runs resume` continues it.
    Interrupted,
    /// Stopped by `--stop-on-nan` at a loss that was NaN or infinite.
    Diverged,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Diverged => "diverged",
        }
    }

    pub fn is_over(self) -> bool {
        matches!(
            self,
            RunStatus::Finished | RunStatus::Failed | RunStatus::Cancelled | RunStatus::Diverged
        )
    }
}

/// A dataset as imported: which version of its files a run used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetRef {
    /// `TASK/Name`, e.g. `NER/CoNLL 2003`.
    pub name: String,
    pub version: u32,
}

/// The command words a schema-1 manifest kept, if any.
pub fn legacy_words(m: &RunManifest) -> Option<Vec<String>> {
    argv_words(&m.settings)
}

/// The words of a schema-1 `settings` object (`{"argv": [...]}`).
pub(crate) fn argv_words(settings: &serde_json::Value) -> Option<Vec<String>> {
    let words = settings.get("argv")?.as_array()?;
    Some(
        words
            .iter()
            .filter_map(|w| w.as_str().map(str::to_string))
            .collect(),
    )
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    pub kind: RunKind,
    pub status: RunStatus,
    /// Seconds since the Unix epoch.
    pub created: u64,
    #[serde(default)]
    pub finished: Option<u64>,
    /// Model directory or repo id the run starts from.
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub datasets: Vec<DatasetRef>,
    /// Every setting needed to run it again or resume it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<crate::spec::RunSpec>,
    /// Schema 1 kept a run's command words here (`{"argv": [...]}`); the migration to schema 2
    /// moves them into `spec`, leaving them only where they no longer parse.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub settings: serde_json::Value,
    /// Where its checkpoints and outputs go.
    #[serde(default)]
    pub out_dir: Option<String>,
    /// Its newest checkpoint, and the step it holds.
    #[serde(default)]
    pub checkpoint: Option<(u64, String)>,
    /// Process id of an external trainer, so a cancel can reach it.
    #[serde(default)]
    pub pid: Option<u32>,
    /// The process group of an external trainer. Unlike `pid` it outlives an interruption, so
    /// a resume can see that the trainer of a holder that died still runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trainer_group: Option<u32>,
    #[serde(default)]
    pub error: Option<String>,
    /// Gold-edit sequence number the stored scores were computed against.
    #[serde(default)]
    pub gold_version: u64,
    /// Why the newest re-scoring against corrected gold failed; cleared when one succeeds.
    /// The run itself is unchanged (its released-gold scores stand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescore_error: Option<String>,
    /// The user's labels for the run (`runs tag`), sorted, each once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The user's free-text note on the run (`runs note`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The instruction-bank versions its prompts used (`instructions/FILE` and version).
    #[serde(default)]
    pub templates: Vec<DatasetRef>,
}

impl RunManifest {
    /// A run of `kind`, queued, created at `created` (Unix seconds), with nothing else set.
    pub fn new(kind: RunKind, created: u64) -> RunManifest {
        RunManifest {
            kind,
            status: RunStatus::Queued,
            created,
            finished: None,
            model: None,
            datasets: Vec::new(),
            spec: None,
            settings: serde_json::Value::Null,
            out_dir: None,
            checkpoint: None,
            pid: None,
            trainer_group: None,
            error: None,
            gold_version: 0,
            rescore_error: None,
            tags: Vec::new(),
            note: None,
            templates: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    pub step: u64,
    #[serde(with = "non_finite")]
    pub loss: f64,
    #[serde(default, with = "non_finite::option")]
    pub lr: Option<f64>,
    #[serde(default, with = "non_finite::option")]
    pub tokens_per_s: Option<f64>,
    #[serde(default, with = "non_finite::option")]
    pub epoch: Option<f64>,
}

/// JSON has no NaN or infinity, and serde_json writes them as `null`, which then fails to read
/// back as a number: a diverged run's loss made the whole run unreadable. Non-finite values are
/// stored as the strings `"NaN"`, `"inf"` and `"-inf"`; a `null` already stored reads as NaN.
pub mod non_finite {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Number(f64),
        Text(String),
        Null(()),
    }

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        match *v {
            v if v.is_finite() => s.serialize_f64(v),
            v if v.is_nan() => s.serialize_str("NaN"),
            v if v > 0.0 => s.serialize_str("inf"),
            _ => s.serialize_str("-inf"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        value(Stored::deserialize(d)?).map_err(serde::de::Error::custom)
    }

    fn value(stored: Stored) -> Result<f64, String> {
        match stored {
            Stored::Number(v) => Ok(v),
            Stored::Null(()) => Ok(f64::NAN),
            Stored::Text(t) => match t.as_str() {
                "NaN" | "nan" => Ok(f64::NAN),
                "inf" | "Infinity" => Ok(f64::INFINITY),
                "-inf" | "-Infinity" => Ok(f64::NEG_INFINITY),
                other => Err(format!(
                    "expected a number, \"NaN\", \"inf\" or \"-inf\", found \"{other}\""
                )),
            },
        }
    }

    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(v) => super::serialize(v, s),
                None => s.serialize_none(),
            }
        }

        /// `null` is no value here: an absent learning rate stays absent.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
            match super::Stored::deserialize(d)? {
                super::Stored::Null(()) => Ok(None),
                other => super::value(other)
                    .map(Some)
                    .map_err(serde::de::Error::custom),
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPrediction {
    /// Stored as its name (`"NER"`, ...); a record naming no task is a decode error that
    /// names its key, not a row silently left out.
    pub task: crate::ie::TaskKind,
    pub id: String,
    pub ground_truth: String,
    pub prediction: String,
    #[serde(default)]
    pub truncated: bool,
    /// The sentence and the instruction (with its options), so errors are judged as
    /// `eval --errors` judges them and the sentence can be shown; absent in runs stored before
    /// they were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
}

/// One (task, dataset) row of a score table, with the counts it came from so tables are
/// recomputed exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredScore {
    pub task: crate::ie::TaskKind,
    pub dataset: String,
    pub mode: crate::eval::Mode,
    /// `dev` (during training) or `test`.
    pub split: crate::ie::Split,
    /// Training step it was measured at (the final table uses the run's last step).
    pub step: u64,
    /// The gold-edit sequence number it was scored against.
    pub gold_version: u64,
    pub counts: Option<Counts>,
    pub correct: u64,
    pub n: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_points_survive_a_round_trip_exactly() {
        // Found by the store_records fuzz target: without serde_json's float_roundtrip the
        // value read back from what was written differed in its last bit.
        for text in [
            r#"{"step": 0, "loss": 11111111113333333333330}"#,
            "[0, 11111111113333333333330]",
            r#"{"step": 1, "loss": "NaN", "lr": "inf", "epoch": "-inf"}"#,
            r#"{"step": 2, "loss": null, "lr": null}"#,
            r#"{"step": 3, "loss": 0.30000000000000004, "tokens_per_s": 1e-300}"#,
        ] {
            let p: MetricPoint = serde_json::from_str(text).unwrap();
            let back: MetricPoint =
                serde_json::from_slice(&serde_json::to_vec(&p).unwrap()).unwrap();
            let bits = |p: &MetricPoint| {
                [Some(p.loss), p.lr, p.tokens_per_s, p.epoch].map(|v| v.map(f64::to_bits))
            };
            assert_eq!(bits(&p), bits(&back), "{text}");
        }
        let p: MetricPoint = serde_json::from_str(r#"{"step": 2, "loss": null}"#).unwrap();
        assert!(p.loss.is_nan());
        let e = serde_json::from_str::<MetricPoint>(r#"{"step": 2, "loss": "lots"}"#);
        assert!(e.unwrap_err().to_string().contains("\"lots\""));
    }
}
