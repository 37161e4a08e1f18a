//! Reading predictions files: the official `predict_eval_predictions.jsonl` (SPEC §4.1) and
//! ie-bench's own `prompts` lines with a `prediction` field added.

use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

use crate::data::error::{read_text, strip_position};
use crate::data::labels::json_kind;
use crate::data::DataError;
use crate::ie::TaskKind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredictionLine {
    /// 1-based line number in the file.
    pub line: usize,
    pub task: TaskKind,
    pub dataset: String,
    pub id: String,
    pub ground_truth: String,
    pub prediction: String,
    /// The model input or instruction template, when the file has it (for option checks).
    pub instruction: Option<String>,
    pub sentence: Option<String>,
    /// Set by a generator that stopped at its token limit.
    pub truncated: bool,
}

#[derive(Deserialize)]
struct RawInstance {
    id: Option<Value>,
    sentence: Option<String>,
    instruction: Option<String>,
    ground_truth: Option<String>,
}

#[derive(Deserialize)]
struct RawLine {
    #[serde(rename = "Task")]
    task: Option<String>,
    #[serde(rename = "Dataset")]
    dataset: Option<String>,
    #[serde(rename = "Instance")]
    instance: Option<RawInstance>,
    #[serde(rename = "Prediction")]
    official_prediction: Option<String>,
    prediction: Option<String>,
    id: Option<Value>,
    ground_truth: Option<String>,
    source: Option<String>,
    sentence: Option<String>,
    #[serde(default)]
    truncated: bool,
}

pub fn read_predictions(path: &Path) -> Result<Vec<PredictionLine>, DataError> {
    let text = read_text(path, "JSON lines of predictions")?;
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        out.push(parse_line(path, line, raw)?);
    }
    if out.is_empty() {
        return Err(DataError::Shape {
            path: path.to_path_buf(),
            message: "no predictions in file".into(),
        });
    }
    Ok(out)
}

fn parse_line(path: &Path, line: usize, raw: &str) -> Result<PredictionLine, DataError> {
    let err = |field: &str, message: String| DataError::Line {
        path: path.to_path_buf(),
        line,
        field: field.to_string(),
        message,
    };
    // A required field that came back `None` is either absent or null; say which.
    let missing = |field: &str, hint: &str| {
        let pointer = format!("/{}", field.replace('.', "/"));
        let is_null = serde_json::from_str::<Value>(raw)
            .ok()
            .is_some_and(|v| v.pointer(&pointer).is_some_and(Value::is_null));
        if is_null {
            err(field, "expected a string, found null".into())
        } else {
            err(field, format!("missing{hint}"))
        }
    };
    let parsed: RawLine = match serde_json::from_str(raw) {
        Ok(p) => p,
        Err(e) => return Err(diagnose(raw, &e, &err)),
    };
    let task_name = parsed.task.ok_or_else(|| missing("Task", ""))?;
    let task: TaskKind = task_name.parse().map_err(|e| err("Task", format!("{e}")))?;
    let dataset = parsed.dataset.ok_or_else(|| missing("Dataset", ""))?;
    let prediction = parsed
        .official_prediction
        .or(parsed.prediction)
        .ok_or_else(|| missing("Prediction", " (expected \"Prediction\" or \"prediction\")"))?;
    let (id, ground_truth, instruction, sentence) = match parsed.instance {
        Some(inst) => (
            inst.id,
            inst.ground_truth
                .ok_or_else(|| missing("Instance.ground_truth", ""))?,
            inst.instruction,
            inst.sentence,
        ),
        None => (
            parsed.id,
            parsed.ground_truth.ok_or_else(|| {
                missing(
                    "ground_truth",
                    " (expected Instance.ground_truth or ground_truth)",
                )
            })?,
            parsed.source,
            parsed.sentence,
        ),
    };
    let id = match id {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n.to_string(),
        None => (line - 1).to_string(),
        Some(other) => {
            return Err(err(
                "id",
                format!("expected a string or number, found {}", json_kind(&other)),
            ))
        }
    };
    Ok(PredictionLine {
        line,
        task,
        dataset,
        id,
        ground_truth,
        prediction,
        instruction,
        sentence,
        truncated: parsed.truncated,
    })
}

/// Names the field behind a serde failure; syntax errors keep their column.
fn diagnose(
    raw: &str,
    e: &serde_json::Error,
    err: &dyn Fn(&str, String) -> DataError,
) -> DataError {
    let Ok(value) = serde_json::from_str::<Value>(raw) else {
        return err(
            "",
            format!(
                "invalid JSON at column {}: {}",
                e.column(),
                strip_position(&e.to_string())
            ),
        );
    };
    let Value::Object(obj) = &value else {
        return err(
            "",
            format!("expected a JSON object, found {}", json_kind(&value)),
        );
    };
    let strings = [
        "Task",
        "Dataset",
        "Prediction",
        "prediction",
        "ground_truth",
        "source",
        "sentence",
    ];
    for key in strings {
        if let Some(v) = obj.get(key) {
            if !v.is_string() {
                return err(key, format!("expected a string, found {}", json_kind(v)));
            }
        }
    }
    if let Some(inst) = obj.get("Instance") {
        let Value::Object(inst) = inst else {
            return err(
                "Instance",
                format!("expected an object, found {}", json_kind(inst)),
            );
        };
        for key in ["sentence", "instruction", "ground_truth", "label"] {
            if let Some(v) = inst.get(key) {
                if !v.is_string() {
                    return err(
                        &format!("Instance.{key}"),
                        format!("expected a string, found {}", json_kind(v)),
                    );
                }
            }
        }
    }
    if let Some(v) = obj.get("truncated") {
        if !v.is_boolean() {
            return err(
                "truncated",
                format!("expected a boolean, found {}", json_kind(v)),
            );
        }
    }
    err("", strip_position(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(content: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content).unwrap();
        f
    }

    #[test]
    fn reads_official_and_own_formats() {
        let f = file(concat!(
            r#"{"Task": "NER", "Dataset": "CoNLL 2003", "Instance": {"id": "0", "sentence": "s", "label": " a: b", "instruction": "i", "ground_truth": " a: b"}, "Prediction": "a: b"}"#,
            "\n\n",
            r#"{"Task": "RE", "Dataset": "conll04", "id": 3, "source": "src", "target": " x", "ground_truth": " x", "prediction": "y", "truncated": true}"#,
            "\n"
        ).as_bytes());
        let lines = read_predictions(f.path()).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].ground_truth, " a: b");
        assert_eq!(lines[1].line, 3);
        assert_eq!(lines[1].id, "3");
        assert!(lines[1].truncated);
        assert_eq!(lines[1].instruction.as_deref(), Some("src"));
    }

    #[test]
    fn errors_name_line_and_field() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"Task": "NER", "Dataset": "d", "Instance": {"ground_truth": "x"}}"#,
                "line 1: field `Prediction`: missing",
            ),
            (
                r#"{"Task": "NER", "Dataset": "d", "Instance": {"ground_truth": "x"}, "Prediction": 5}"#,
                "line 1: field `Prediction`: expected a string, found a number",
            ),
            (
                r#"{"Task": "XX", "Dataset": "d", "Instance": {"ground_truth": "x"}, "Prediction": ""}"#,
                "line 1: field `Task`: unknown task",
            ),
            (
                r#"{"Task": "NER", "Dataset": "d", "Instance": {"ground_truth": "x"}, "Predic"#,
                "line 1: field ``: invalid JSON",
            ),
            (
                r#"{"Task": "NER", "Dataset": "d", "Instance": {"ground_truth": null}, "Prediction": ""}"#,
                "field `Instance.ground_truth`: expected a string, found null",
            ),
            (r#"[1]"#, "expected a JSON object, found an array"),
        ];
        for (content, want) in cases {
            let f = file(content.as_bytes());
            let e = read_predictions(f.path()).unwrap_err().to_string();
            assert!(e.contains(want), "{e} !~ {want}");
        }
        let f = file(b"");
        assert!(matches!(
            read_predictions(f.path()),
            Err(DataError::Empty { .. })
        ));
        let f = file(b"{\"Task\": \"NER\"}\n\xff\n");
        assert!(matches!(
            read_predictions(f.path()),
            Err(DataError::NotUtf8 { line: 2, .. })
        ));
    }
}

/// One line of the official `predict_eval_predictions.jsonl`, as ie-bench writes it; `truncated`
/// is ie-bench's addition (generation hit its token limit), which the official scorer ignores.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OfficialLine<'a> {
    #[serde(rename = "Task")]
    pub task: TaskKind,
    #[serde(rename = "Dataset")]
    pub dataset: &'a str,
    #[serde(rename = "Instance")]
    pub instance: OfficialInstance<'a>,
    #[serde(rename = "Prediction")]
    pub prediction: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct OfficialInstance<'a> {
    pub id: &'a str,
    pub sentence: &'a str,
    pub label: &'a str,
    pub instruction: &'a str,
    pub ground_truth: &'a str,
}
