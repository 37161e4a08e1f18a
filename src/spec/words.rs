//! A spec spelled as the words after `ie-bench run`: its stored form walked against the
//! defaults of its kind, one flag per setting that differs. Walking the serde form keeps this
//! in step with every field without listing them; the round-trip test holds it to clap.

use serde_json::{Map, Value};

use super::RunSpec;

/// What a run of each kind cannot leave out, as flags or positional words.
const REQUIRED: &[&str] = &["model", "predictions"];

pub fn to_words(spec: &RunSpec) -> Vec<String> {
    let (name, settings) = kind_and_settings(spec);
    let base = {
        // The same kind with everything else at its default.
        let minimal: &[&str] = match spec {
            RunSpec::Train(_) => &["train", "--model", "-"],
            RunSpec::Eval(_) => &["eval", "--model", "-"],
            RunSpec::ZeroShot(_) => &["zero-shot", "--model", "-"],
            RunSpec::External(_) => &["external", "--predictions", "-", "--", "-"],
            RunSpec::Ingest(_) => &["ingest", "-"],
        };
        let words: Vec<String> = minimal
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        let base = RunSpec::from_words(&words).expect("a minimal spec parses");
        kind_and_settings(&base).1
    };
    let mut w = vec![name];
    match spec {
        RunSpec::Ingest(a) => {
            let path = a.predictions.display().to_string();
            // A file named like a flag follows `--`, as it must on the command line.
            if path.starts_with('-') {
                w.push("--".to_string());
            }
            w.push(path);
        }
        RunSpec::External(a) => {
            flags(&settings, &base, &["command"], &mut w);
            w.push("--".to_string());
            w.extend(a.command.iter().cloned());
        }
        _ => flags(&settings, &base, &[], &mut w),
    }
    w
}

fn kind_and_settings(spec: &RunSpec) -> (String, Map<String, Value>) {
    match serde_json::to_value(spec).expect("specs serialise") {
        Value::Object(m) => {
            let (name, settings) = m.into_iter().next().expect("one variant");
            match settings {
                Value::Object(s) => (name, s),
                other => unreachable!("a spec's settings are an object, not {other}"),
            }
        }
        other => unreachable!("a spec serialises as an object, not {other}"),
    }
}

/// Appends `--key value` for each setting of `value` that differs from `base` (nested groups
/// are the command line's flattened ones), required settings first.
fn flags(
    value: &Map<String, Value>,
    base: &Map<String, Value>,
    skip: &[&str],
    w: &mut Vec<String>,
) {
    let mut keys: Vec<&String> = value
        .keys()
        .filter(|k| !skip.contains(&k.as_str()))
        .collect();
    keys.sort_by_key(|k| !REQUIRED.contains(&k.as_str()));
    for key in keys {
        let v = &value[key];
        let b = base.get(key).unwrap_or(&Value::Null);
        if let Value::Object(group) = v {
            let empty = Map::new();
            flags(group, b.as_object().unwrap_or(&empty), &[], w);
            continue;
        }
        if v == b && !REQUIRED.contains(&key.as_str()) {
            continue;
        }
        let flag = format!("--{}", key.replace('_', "-"));
        let value = match v {
            Value::Null | Value::Bool(false) => continue,
            Value::Bool(true) => {
                w.push(flag);
                continue;
            }
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(","),
            Value::Object(_) => unreachable!("groups are walked above"),
        };
        // A value that looks like a flag must be joined to its own (`--data=-x`).
        if value.starts_with('-') {
            w.push(format!("{flag}={value}"));
        } else {
            w.extend([flag, value]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    /// Every setting of every kind, changed one at a time from its default, comes back the
    /// same through `to_words` and clap.
    #[test]
    fn every_setting_round_trips_through_the_command_line() {
        let minimal = [
            "train --model m",
            "eval --model m",
            "zero-shot --model m",
            "external --predictions p.jsonl -- python train.py --lr 1",
            "ingest preds.jsonl",
            "ingest -- -odd.jsonl",
            "train --model=-m --data=-d --lr=-0.5",
        ];
        let mut checked = 0;
        for m in minimal {
            let spec = RunSpec::from_words(&words(m)).unwrap();
            assert_eq!(RunSpec::from_words(&spec.to_words()).unwrap(), spec, "{m}");
            let value = serde_json::to_value(&spec).unwrap();
            for path in leaves(&value, Vec::new()) {
                let mut changed = value.clone();
                let leaf = path.iter().fold(&mut changed, |v, k| &mut v[k.as_str()]);
                *leaf = match &*leaf {
                    Value::Bool(b) => Value::Bool(!b),
                    Value::Number(n) if n.is_f64() => (n.as_f64().unwrap() / 2.0 + 0.25).into(),
                    Value::Number(n) => (n.as_u64().unwrap() + 3).into(),
                    Value::Null => "some/path".into(),
                    Value::String(s) => match s.as_str() {
                        // Choices: another listed name.
                        "single" => "multiple".into(),
                        "compat" => "literal".into(),
                        "data" => "sentence".into(),
                        "constant" => "linear".into(),
                        "test" => "dev".into(),
                        "f32" if path.last().is_some_and(|k| k == "frozen_weights") => {
                            "bf16".into()
                        }
                        "f32" => "q8".into(),
                        _ => format!("{s}-x").into(),
                    },
                    // Lists: other names of what they list.
                    Value::Array(_) if path.last().is_some_and(|k| k == "task") => {
                        Value::Array(vec!["NER".into(), "EEA".into()])
                    }
                    Value::Array(_) => Value::Array(vec!["q_proj".into(), "v_proj".into()]),
                    Value::Object(_) => unreachable!(),
                };
                // `--skip-missing` and `--require-all` exclude each other.
                if path.last().is_some_and(|k| k == "skip_missing") {
                    changed[path[0].as_str()]["prompts"]["require_all"] = false.into();
                }
                let mut parsed = serde_json::from_value::<RunSpec>(changed.clone());
                if parsed.is_err() && leaf_is(&changed, &path, "some/path") {
                    // An optional number rather than a path.
                    let leaf = path.iter().fold(&mut changed, |v, k| &mut v[k.as_str()]);
                    *leaf = 7.into();
                    parsed = serde_json::from_value::<RunSpec>(changed.clone());
                }
                let spec = parsed.unwrap_or_else(|e| panic!("{path:?}: {e}"));
                let back = RunSpec::from_words(&spec.to_words())
                    .unwrap_or_else(|e| panic!("{:?}: {e}", spec.to_words()));
                assert_eq!(back, spec, "{path:?}: {:?}", spec.to_words());
                checked += 1;
            }
        }
        assert!(checked > 60, "{checked} settings");
    }

    fn leaf_is(v: &Value, path: &[String], want: &str) -> bool {
        path.iter().fold(v, |v, k| &v[k.as_str()]) == want
    }

    fn leaves(v: &Value, at: Vec<String>) -> Vec<Vec<String>> {
        match v {
            Value::Object(m) => m
                .iter()
                .flat_map(|(k, v)| {
                    let mut p = at.clone();
                    p.push(k.clone());
                    leaves(v, p)
                })
                .collect(),
            _ => vec![at],
        }
    }

    #[test]
    fn defaults_are_left_out() {
        let spec = RunSpec::from_words(&words(
            "train --model m --config ner-demo --max-steps 60 --lr 1e-4 --constrain --batch-size 8",
        ))
        .unwrap();
        assert_eq!(
            spec.to_words().join(" "),
            "train --model m --config ner-demo --lr 0.0001 --max-steps 60 --constrain"
        );
    }
}
