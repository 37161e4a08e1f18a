//! Reading predictions files: the official `predict_eval_predictions.jsonl` (SPEC §4.1) and
//! ie-bench's own `prompts` lines with a `prediction` field added.

use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::path::Path;

use crate::data::error::strip_position;
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

/// A string field, borrowed from the line when it holds no escapes.
#[derive(Debug)]
pub(crate) struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(Visit)
    }
}

#[derive(Deserialize)]
struct RawInstance<'a> {
    id: Option<Value>,
    #[serde(borrow)]
    sentence: Option<Text<'a>>,
    #[serde(borrow)]
    instruction: Option<Text<'a>>,
    #[serde(borrow)]
    ground_truth: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawLine<'a> {
    #[serde(rename = "Task", borrow)]
    task: Option<Text<'a>>,
    #[serde(rename = "Dataset", borrow)]
    dataset: Option<Text<'a>>,
    #[serde(rename = "Instance", borrow)]
    instance: Option<RawInstance<'a>>,
    #[serde(rename = "Prediction", borrow)]
    official_prediction: Option<Text<'a>>,
    #[serde(borrow)]
    prediction: Option<Text<'a>>,
    id: Option<Value>,
    #[serde(borrow)]
    ground_truth: Option<Text<'a>>,
    #[serde(borrow)]
    source: Option<Text<'a>>,
    #[serde(borrow)]
    sentence: Option<Text<'a>>,
    #[serde(default)]
    truncated: bool,
}

/// One line's fields, borrowed from the line where they can be: what scoring needs without
/// copying the (long) instruction and sentence of every line.
pub struct LineRef<'a> {
    pub line: usize,
    pub task: TaskKind,
    pub dataset: Cow<'a, str>,
    pub id: String,
    pub ground_truth: Cow<'a, str>,
    pub prediction: Cow<'a, str>,
    pub instruction: Option<Cow<'a, str>>,
    pub sentence: Option<Cow<'a, str>>,
    pub truncated: bool,
}

impl LineRef<'_> {
    pub fn into_owned(self) -> PredictionLine {
        PredictionLine {
            line: self.line,
            task: self.task,
            dataset: self.dataset.into_owned(),
            id: self.id,
            ground_truth: self.ground_truth.into_owned(),
            prediction: self.prediction.into_owned(),
            instruction: self.instruction.map(Cow::into_owned),
            sentence: self.sentence.map(Cow::into_owned),
            truncated: self.truncated,
        }
    }
}

/// The longest line a predictions file may hold. Real lines are a few kilobytes; past this a
/// line is an error naming it, where reading it whole could take gigabytes.
pub const MAX_LINE: usize = 16 << 20;

/// Bytes of whole lines read and parsed at a time: memory stays near this, not the file's size.
const BLOCK: usize = 8 << 20;

/// Reads a predictions file a block of whole lines at a time and runs `work` on slices of each
/// block's non-empty `(line number, text)` pairs on every core; `each` receives the results in
/// file order. The first bad line, in file order, is the error. Returns the number of lines
/// handed to `work`.
pub fn stream<R: Send>(
    path: &Path,
    work: impl Fn(&[(usize, &str)]) -> Result<R, DataError> + Sync,
    each: impl FnMut(R) -> Result<(), DataError>,
) -> Result<usize, DataError> {
    stream_in_blocks(path, BLOCK, work, each)
}

fn stream_in_blocks<R: Send>(
    path: &Path,
    block_size: usize,
    work: impl Fn(&[(usize, &str)]) -> Result<R, DataError> + Sync,
    mut each: impl FnMut(R) -> Result<(), DataError>,
) -> Result<usize, DataError> {
    use rayon::prelude::*;
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    // A small file needs no 8 MB buffer (a growing file still reads to its end).
    let block_size = match file.metadata() {
        Ok(m) if m.is_file() => block_size.min(m.len() as usize + 1),
        _ => block_size,
    };
    let mut buf: Vec<u8> = Vec::with_capacity(block_size);
    // Lines and bytes of the blocks already handed on, so positions are the file's.
    let (mut lines_before, mut bytes_before, mut handed) = (0usize, 0usize, 0usize);
    let mut at_end = false;
    while !at_end {
        // Fill to the block size, or further while the block holds no whole line yet. What is
        // left from the block before has no newline, so only new bytes need looking at.
        let target = buf.len().max(block_size);
        let mut whole_line = false;
        while buf.len() < target || (!at_end && !whole_line && buf.len() <= MAX_LINE) {
            let start = buf.len();
            buf.resize(
                start + target.saturating_sub(start).max(block_size.min(1 << 16)),
                0,
            );
            let n = loop {
                match file.read(&mut buf[start..]) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    other => break other.map_err(|e| DataError::io(path, e))?,
                }
            };
            buf.truncate(start + n);
            whole_line = whole_line || buf[start..].contains(&b'\n');
            if n == 0 {
                at_end = true;
                break;
            }
        }
        let cut = if at_end {
            buf.len()
        } else {
            buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
        };
        let block = &buf[..cut];
        // A line longer than the cap, complete or not, is refused by number.
        if cut == 0 && buf.len() > MAX_LINE {
            return Err(too_long(path, lines_before + 1));
        }
        let text = std::str::from_utf8(block).map_err(|e| {
            let offset = e.valid_up_to();
            DataError::NotUtf8 {
                path: path.to_path_buf(),
                offset: bytes_before + offset,
                line: lines_before + 1 + block[..offset].iter().filter(|&&b| b == b'\n').count(),
            }
        })?;
        let mut numbered: Vec<(usize, &str)> = Vec::new();
        let mut count = 0;
        for (i, raw) in text.split('\n').enumerate() {
            count = i + 1;
            if raw.len() > MAX_LINE {
                return Err(too_long(path, lines_before + i + 1));
            }
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            if !raw.trim().is_empty() {
                numbered.push((lines_before + i + 1, raw));
            }
        }
        // `split` yields one piece after a final newline: it belongs to the next block.
        if text.ends_with('\n') {
            count -= 1;
        }
        lines_before += count;
        bytes_before += cut;
        handed += numbered.len();
        let per_task = (numbered.len() / (rayon::current_num_threads() * 8)).max(256);
        let results: Vec<Result<R, DataError>> = numbered.par_chunks(per_task).map(&work).collect();
        for r in results {
            each(r?)?;
        }
        buf.drain(..cut);
    }
    if bytes_before == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            expected: "JSON lines of predictions",
        });
    }
    if handed == 0 {
        return Err(DataError::Shape {
            path: path.to_path_buf(),
            message: "no predictions in file".into(),
        });
    }
    Ok(handed)
}

fn too_long(path: &Path, line: usize) -> DataError {
    DataError::Line {
        path: path.to_path_buf(),
        line,
        field: String::new(),
        message: format!(
            "the line is longer than {} MiB; a predictions line holds one instance",
            MAX_LINE >> 20
        ),
    }
}

pub fn read_predictions(path: &Path) -> Result<Vec<PredictionLine>, DataError> {
    let mut out = Vec::new();
    stream(
        path,
        |lines| {
            lines
                .iter()
                .map(|&(n, raw)| parse_line(path, n, raw).map(LineRef::into_owned))
                .collect::<Result<Vec<_>, _>>()
        },
        |parsed| {
            out.extend(parsed);
            Ok(())
        },
    )?;
    Ok(out)
}

pub fn parse_line<'a>(path: &Path, line: usize, raw: &'a str) -> Result<LineRef<'a>, DataError> {
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
    let parsed: RawLine<'a> = match serde_json::from_str(raw) {
        Ok(p) => p,
        Err(e) => return Err(diagnose(raw, &e, &err)),
    };
    let task_name = parsed.task.ok_or_else(|| missing("Task", ""))?;
    let task: TaskKind = task_name
        .0
        .parse()
        .map_err(|e| err("Task", format!("{e}")))?;
    let dataset = parsed.dataset.ok_or_else(|| missing("Dataset", ""))?.0;
    let prediction = parsed
        .official_prediction
        .or(parsed.prediction)
        .ok_or_else(|| missing("Prediction", " (expected \"Prediction\" or \"prediction\")"))?
        .0;
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
    Ok(LineRef {
        line,
        task,
        dataset,
        id,
        ground_truth: ground_truth.0,
        prediction,
        instruction: instruction.map(|t| t.0),
        sentence: sentence.map(|t| t.0),
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
    fn lines_are_numbered_alike_across_any_block_boundary() {
        let mut text = String::new();
        let mut want = Vec::new();
        for i in 0..60 {
            let line = match i % 5 {
                0 => String::new(),
                1 => "   ".to_string(),
                _ => format!("{{\"n\": {i}, \"pad\": \"{}\"}}", "x".repeat(i * 7 % 90)),
            };
            if !line.trim().is_empty() {
                want.push((i + 1, line.clone()));
            }
            text.push_str(&line);
            text.push_str(if i % 7 == 0 { "\r\n" } else { "\n" });
        }
        text.push_str("last without newline");
        want.push((61, "last without newline".to_string()));
        let f = file(text.as_bytes());
        for block in [1, 7, 64, 100, 1 << 20] {
            let mut got = Vec::new();
            let n = stream_in_blocks(
                f.path(),
                block,
                |lines| {
                    Ok(lines
                        .iter()
                        .map(|(n, l)| (*n, l.to_string()))
                        .collect::<Vec<_>>())
                },
                |part| {
                    got.extend(part);
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(n, want.len());
            assert_eq!(got, want, "block {block}");
        }
        // A bad byte is found on its line whatever the block.
        let f = file(b"{}\n{}\n\xff\n");
        for block in [1, 3, 1 << 20] {
            let e = stream_in_blocks(f.path(), block, |_| Ok(()), |()| Ok(())).unwrap_err();
            assert!(
                matches!(
                    e,
                    DataError::NotUtf8 {
                        line: 3,
                        offset: 6,
                        ..
                    }
                ),
                "{e}"
            );
        }
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
