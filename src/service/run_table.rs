//! The run table both front ends show: each run's settings read out of its stored spec, the
//! orders over them, and a filter. `runs --wide --sort --filter` and the Runs screen use the
//! same functions, so a query or an order gives the same runs in both.

use serde_json::Value;
use std::cmp::Ordering;

use crate::store::{DatasetRef, RunId, RunManifest};

/// What the run table is ordered by; runs without the setting sort last, ties by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RunOrder {
    Id,
    Created,
    Kind,
    Status,
    Model,
    Lr,
    Steps,
    Batch,
    Seed,
}

impl RunOrder {
    pub const ALL: [RunOrder; 9] = [
        RunOrder::Id,
        RunOrder::Created,
        RunOrder::Kind,
        RunOrder::Status,
        RunOrder::Model,
        RunOrder::Lr,
        RunOrder::Steps,
        RunOrder::Batch,
        RunOrder::Seed,
    ];

    pub fn next(self) -> RunOrder {
        let i = RunOrder::ALL.iter().position(|o| *o == self).unwrap_or(0);
        RunOrder::ALL[(i + 1) % RunOrder::ALL.len()]
    }

    pub fn label(self) -> &'static str {
        match self {
            RunOrder::Id => "id",
            RunOrder::Created => "created",
            RunOrder::Kind => "kind",
            RunOrder::Status => "status",
            RunOrder::Model => "model",
            RunOrder::Lr => "lr",
            RunOrder::Steps => "steps",
            RunOrder::Batch => "batch",
            RunOrder::Seed => "seed",
        }
    }

    /// The settings key a numeric order reads.
    fn setting(self) -> Option<&'static str> {
        match self {
            RunOrder::Lr => Some("lr"),
            RunOrder::Steps => Some("max_steps"),
            RunOrder::Batch => Some("batch_size"),
            RunOrder::Seed => Some("seed"),
            _ => None,
        }
    }
}

/// The value of the first `key` anywhere in a stored spec (settings sit in nested groups).
fn setting<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m
            .get(key)
            .filter(|x| !x.is_null())
            .or_else(|| m.values().find_map(|x| setting(x, key))),
        _ => None,
    }
}

/// A run's settings as `runs --wide`, `runs --format json` and the Runs screen give them.
pub fn settings(m: &RunManifest) -> Value {
    let spec = serde_json::to_value(&m.spec).unwrap_or_default();
    let get = |k: &str| setting(&spec, k).cloned();
    let versions = |refs: &[DatasetRef]| -> Vec<String> {
        refs.iter()
            .map(|d| format!("{} v{}", d.name, d.version))
            .collect()
    };
    serde_json::json!({
        "config": get("config"),
        "lr": get("lr"),
        "max_steps": get("max_steps"),
        "batch_size": get("batch_size"),
        "seed": get("seed"),
        "data": versions(&m.datasets),
        "templates": versions(&m.templates),
    })
}

/// A setting as a table cell: `-` when the run has none, lists joined by commas.
pub fn shown(v: &Value) -> String {
    match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(xs) => xs
            .iter()
            .filter_map(|x| x.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// Orders `runs` by `order`, ascending (ties by id).
pub fn sort(runs: &mut [(RunId, RunManifest)], order: RunOrder) {
    let keyed: std::collections::HashMap<RunId, Option<f64>> = runs
        .iter()
        .map(|(id, m)| {
            let n = order.setting().and_then(|k| settings(m)[k].as_f64());
            (*id, n)
        })
        .collect();
    runs.sort_by(|(ia, ma), (ib, mb)| {
        match order {
            RunOrder::Id => Ordering::Equal,
            RunOrder::Created => ma.created.cmp(&mb.created),
            RunOrder::Kind => ma.kind.as_str().cmp(mb.kind.as_str()),
            RunOrder::Status => ma.status.as_str().cmp(mb.status.as_str()),
            RunOrder::Model => ma.model.cmp(&mb.model),
            RunOrder::Lr | RunOrder::Steps | RunOrder::Batch | RunOrder::Seed => {
                match (keyed[ia], keyed[ib]) {
                    (Some(x), Some(y)) => x.total_cmp(&y),
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => Ordering::Equal,
                }
            }
        }
        .then(ia.cmp(ib))
    });
}

/// Whether run `id` matches `query`: every whitespace-separated term must. `#tag` is a tag;
/// `key=value` a field or setting (`kind=train`, `status=finished`, `lr=0.0001`, `seed=42`,
/// `config=zeroshot`; numbers compare as numbers); any other term is a case-insensitive
/// substring of the id, kind, status, model, tags, note or data and bank versions.
pub fn matches(id: RunId, m: &RunManifest, query: &str) -> bool {
    let settings = settings(m);
    query.split_whitespace().all(|term| {
        if let Some(tag) = term.strip_prefix('#') {
            return m.tags.iter().any(|t| t == tag);
        }
        if let Some((key, want)) = term.split_once('=') {
            let have = match key {
                "id" => id.to_string(),
                "kind" => m.kind.as_str().to_string(),
                "status" => m.status.as_str().to_string(),
                "model" => m.model.clone().unwrap_or_default(),
                "note" => m.note.clone().unwrap_or_default(),
                "steps" => shown(&settings["max_steps"]),
                "batch" => shown(&settings["batch_size"]),
                k => shown(&settings[k]),
            };
            return match (have.parse::<f64>(), want.parse::<f64>()) {
                (Ok(x), Ok(y)) => x == y,
                _ => have.eq_ignore_ascii_case(want),
            };
        }
        let term = term.to_lowercase();
        let fields = [
            id.to_string(),
            m.kind.as_str().to_string(),
            m.status.as_str().to_string(),
            m.model.clone().unwrap_or_default(),
            m.note.clone().unwrap_or_default(),
            m.tags.join(" "),
            shown(&settings["data"]),
            shown(&settings["templates"]),
        ];
        fields.iter().any(|f| f.to_lowercase().contains(&term))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::RunSpec;
    use crate::store::{RunKind, RunStatus};

    fn run(words: &str, status: RunStatus, tags: &[&str]) -> RunManifest {
        let words: Vec<String> = words.split(' ').map(String::from).collect();
        let spec = RunSpec::from_words(&words).unwrap();
        let mut m = RunManifest::new(spec.kind(), 0);
        m.model = spec.model();
        m.spec = Some(spec);
        m.status = status;
        m.tags = tags.iter().map(std::string::ToString::to_string).collect();
        m
    }

    fn table() -> Vec<(RunId, RunManifest)> {
        vec![
            (
                1,
                run(
                    "train --model m --lr 0.001 --seed 7",
                    RunStatus::Finished,
                    &["sweep"],
                ),
            ),
            (
                2,
                run(
                    "train --model m --lr 0.0001",
                    RunStatus::Failed,
                    &["sweep", "best"],
                ),
            ),
            (
                3,
                run("eval --model other --split dev", RunStatus::Finished, &[]),
            ),
        ]
    }

    fn ids(runs: &[(RunId, RunManifest)]) -> Vec<RunId> {
        runs.iter().map(|r| r.0).collect()
    }

    #[test]
    fn numeric_orders_put_runs_without_the_setting_last() {
        let mut runs = table();
        sort(&mut runs, RunOrder::Lr);
        assert_eq!(ids(&runs), [2, 1, 3]);
        sort(&mut runs, RunOrder::Seed);
        // Run 2 has the default seed (42), run 1 seed 7; an eval run has a seed too.
        assert_eq!(ids(&runs), [1, 2, 3]);
        sort(&mut runs, RunOrder::Id);
        assert_eq!(ids(&runs), [1, 2, 3]);
        assert_eq!(RunOrder::Seed.next(), RunOrder::Id);
    }

    #[test]
    fn a_query_needs_every_term() {
        let runs = table();
        let hits = |q: &str| -> Vec<RunId> {
            runs.iter()
                .filter(|(id, m)| matches(*id, m, q))
                .map(|r| r.0)
                .collect()
        };
        assert_eq!(hits(""), [1, 2, 3]);
        assert_eq!(hits("#sweep"), [1, 2]);
        assert_eq!(hits("#sweep #best"), [2]);
        assert_eq!(hits("#swe"), Vec::<RunId>::new(), "a tag matches whole");
        assert_eq!(hits("lr=1e-4"), [2], "numbers compare as numbers");
        assert_eq!(hits("status=finished"), [1, 3]);
        assert_eq!(hits("kind=eval"), [3]);
        assert_eq!(hits("OTHER"), [3], "substrings ignore case");
        assert_eq!(hits("train failed"), [2]);
        assert_eq!(runs[2].1.kind, RunKind::Eval);
    }
}
