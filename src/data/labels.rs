//! `labels.json` in its three shapes (SPEC §1.3), kept in file order.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;
use std::path::Path;

use super::error::{json_error, read_text, DataError};
use crate::ie::TaskKind;

/// A label file as written on disk. Order is the file's order: prompts join labels in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Labels {
    /// NER/RE label lists, and the official EE `[types, roles]` pair.
    List(Vec<String>),
    /// `{event type: [roles]}`: EET/EEA label maps (and EE in some converted copies).
    Map(IndexMap<String, Vec<String>>),
}

impl Labels {
    pub fn read(path: &Path) -> Result<Labels, DataError> {
        let text = read_text(
            path,
            "a JSON array of labels or an object {event type: [roles]}",
        )?;
        let value: Value = serde_json::from_str(&text).map_err(|e| json_error(path, &e))?;
        Labels::from_value(path, value)
    }

    pub fn from_value(path: &Path, value: Value) -> Result<Labels, DataError> {
        let shape = |message: String| DataError::Shape {
            path: path.to_path_buf(),
            message,
        };
        // Every element a string; `what(i)` names element i in the message.
        let strings = |items: Vec<Value>, what: &dyn Fn(usize) -> String| {
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s),
                    other => Err(shape(format!(
                        "{} must be a string, found {}",
                        what(i),
                        json_kind(&other)
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()
        };
        match value {
            Value::Array(items) => strings(items, &|i| format!("label {i}")).map(Labels::List),
            Value::Object(map) => {
                let mut out = IndexMap::with_capacity(map.len());
                for (key, roles) in map {
                    let Value::Array(roles) = roles else {
                        return Err(shape(format!(
                            "roles of event type {key:?} must be an array of strings, found {}",
                            json_kind(&roles)
                        )));
                    };
                    let roles = strings(roles, &|i| format!("role {i} of event type {key:?}"))?;
                    out.insert(key, roles);
                }
                Ok(Labels::Map(out))
            }
            other => Err(shape(format!(
                "expected an array of labels or an object {{event type: [roles]}}, found {}",
                json_kind(&other)
            ))),
        }
    }

    /// Number of labels as the paper counts them: event types for maps and the EE pair.
    pub fn count(&self, task: TaskKind) -> usize {
        match (self, task.main_task()) {
            (Labels::Map(m), _) => m.len(),
            (Labels::List(l), TaskKind::Ee) if l.len() == 2 => split_commas(&l[0]).len(),
            (Labels::List(l), _) => l.len(),
        }
    }

    /// The option list a task's prompt needs, or an error saying which shape it needed.
    pub fn for_task(&self, task: TaskKind, path: &Path) -> Result<TaskLabels, DataError> {
        let wrong = |needed: &str| DataError::Shape {
            path: path.to_path_buf(),
            message: format!("task {task} needs {needed}"),
        };
        match (task, self) {
            (TaskKind::Ee, Labels::List(l)) if l.len() == 2 => Ok(TaskLabels::EventPair {
                types: l[0].clone(),
                roles: l[1].clone(),
                derived: false,
            }),
            (TaskKind::Ee, Labels::List(_)) => Err(wrong(
                "two strings [\"<event types>\", \"<roles>\"] or an object {event type: [roles]}",
            )),
            // Converted copies ship only the map; derive the official pair from it.
            (TaskKind::Ee, Labels::Map(m)) => {
                let mut roles: Vec<&str> = m.values().flatten().map(String::as_str).collect();
                roles.sort_unstable();
                roles.dedup();
                Ok(TaskLabels::EventPair {
                    types: m.keys().cloned().collect::<Vec<_>>().join(", "),
                    roles: roles.join(", "),
                    derived: true,
                })
            }
            (TaskKind::Eet | TaskKind::Eea, Labels::Map(m)) => Ok(TaskLabels::EventMap(m.clone())),
            (TaskKind::Eet | TaskKind::Eea, Labels::List(_)) => Err(wrong(
                "an object {event type: [roles]} (labels.json in the EET/EEA directory, or labels_eet.json / labels_eea.json beside the EE labels)",
            )),
            (_, Labels::List(l)) => Ok(TaskLabels::List(l.clone())),
            (_, Labels::Map(_)) => Err(wrong("an array of label strings")),
        }
    }
}

/// Labels resolved for one task, ready for prompt rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskLabels {
    List(Vec<String>),
    EventPair {
        types: String,
        roles: String,
        /// True when derived from a `{type: [roles]}` map rather than read verbatim.
        derived: bool,
    },
    EventMap(IndexMap<String, Vec<String>>),
}

fn split_commas(s: &str) -> Vec<&str> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .collect()
}

pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p() -> &'static Path {
        Path::new("labels.json")
    }

    #[test]
    fn list_keeps_file_order() {
        let l = Labels::from_value(p(), json!(["location", "else", "organization"])).unwrap();
        assert_eq!(
            l.for_task(TaskKind::Ner, p()).unwrap(),
            TaskLabels::List(vec![
                "location".into(),
                "else".into(),
                "organization".into()
            ])
        );
    }

    #[test]
    fn map_keeps_key_order_and_feeds_eet() {
        let l =
            Labels::from_value(p(), json!({"die": ["victim"], "attack": ["attacker"]})).unwrap();
        let TaskLabels::EventMap(m) = l.for_task(TaskKind::Eet, p()).unwrap() else {
            panic!()
        };
        assert_eq!(m.keys().collect::<Vec<_>>(), ["die", "attack"]);
        assert_eq!(l.count(TaskKind::Eet), 2);
    }

    #[test]
    fn ee_pair_is_verbatim_and_map_is_derived() {
        let pair = Labels::from_value(p(), json!(["attack, die", "attacker, victim"])).unwrap();
        assert_eq!(
            pair.for_task(TaskKind::Ee, p()).unwrap(),
            TaskLabels::EventPair {
                types: "attack, die".into(),
                roles: "attacker, victim".into(),
                derived: false
            }
        );
        assert_eq!(pair.count(TaskKind::Ee), 2);
        let map = Labels::from_value(p(), json!({"b": ["y", "x"], "a": ["x"]})).unwrap();
        assert_eq!(
            map.for_task(TaskKind::Ee, p()).unwrap(),
            TaskLabels::EventPair {
                types: "b, a".into(),
                roles: "x, y".into(),
                derived: true
            }
        );
    }

    #[test]
    fn wrong_shapes_name_the_problem() {
        let err = Labels::from_value(p(), json!(["a", 3]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("label 1 must be a string, found a number"),
            "{err}"
        );
        let pair = Labels::from_value(p(), json!(["a", "b"])).unwrap();
        let err = pair.for_task(TaskKind::Eea, p()).unwrap_err().to_string();
        assert!(err.contains("task EEA needs an object"), "{err}");
        let err = Labels::from_value(p(), json!("x")).unwrap_err().to_string();
        assert!(err.contains("found a string"), "{err}");
    }
}
