//! Reading split files (`train.json` etc.): a JSON array of records of one schema (SPEC §1.2).
//!
//! The typed serde path is fast; only when it fails do we walk the file as a JSON value to name
//! the record index and field at fault.

use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

use super::error::{json_error, read_text, DataError, Warning};
use super::labels::json_kind;
use crate::ie::{Entity, Event, Gold, Pos, Record, Relation, Schema};

#[derive(Deserialize)]
struct EntityRecord {
    sentence: String,
    entities: Vec<Entity>,
}

#[derive(Deserialize)]
struct RelationRecord {
    sentence: String,
    relations: Vec<Relation>,
}

#[derive(Deserialize)]
struct EventRecord {
    sentence: String,
    events: Vec<Event>,
}

/// EEA asks about one event per instance, so the release ships EEA copies with one event per
/// record. `one_event_per_record` makes that copy from any EE list: a record with k events
/// becomes k records (k = 0: none), in order. The second value is the index of the first
/// record that did not hold exactly one event and how many such records there were.
pub fn one_event_per_record(records: Vec<Record>) -> (Vec<Record>, Option<(usize, usize)>) {
    let mut out = Vec::with_capacity(records.len());
    let mut odd: Option<(usize, usize)> = None;
    for (i, Record { sentence, gold }) in records.into_iter().enumerate() {
        match gold {
            Gold::Events(events) if events.len() != 1 => {
                odd = Some(odd.map_or((i, 1), |(first, n)| (first, n + 1)));
                out.extend(events.into_iter().map(|event| Record {
                    sentence: sentence.clone(),
                    gold: Gold::Events(vec![event]),
                }));
            }
            gold => out.push(Record { sentence, gold }),
        }
    }
    (out, odd)
}

/// Reads one split file of the given schema.
pub fn read_records(path: &Path, schema: Schema) -> Result<Vec<Record>, DataError> {
    let text = read_text(path, "a JSON array of records")?;
    let typed = match schema {
        Schema::Entities => typed::<EntityRecord>(&text, |r| Record {
            sentence: r.sentence,
            gold: Gold::Entities(r.entities),
        }),
        Schema::Relations => typed::<RelationRecord>(&text, |r| Record {
            sentence: r.sentence,
            gold: Gold::Relations(r.relations),
        }),
        Schema::Events => typed::<EventRecord>(&text, |r| Record {
            sentence: r.sentence,
            gold: Gold::Events(r.events),
        }),
    };
    typed.map_err(|e| diagnose(path, &text, schema, &e))
}

fn typed<R: serde::de::DeserializeOwned>(
    text: &str,
    into: fn(R) -> Record,
) -> Result<Vec<Record>, serde_json::Error> {
    serde_json::from_str::<Vec<R>>(text).map(|v| v.into_iter().map(into).collect())
}

/// Turns a serde failure into the most precise error we can: syntax errors keep their line and
/// column, type errors get the record index and field path.
fn diagnose(path: &Path, text: &str, schema: Schema, err: &serde_json::Error) -> DataError {
    if err.is_syntax() || err.is_eof() {
        return json_error(path, err);
    }
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return json_error(path, &e),
    };
    let Value::Array(records) = value else {
        return DataError::Shape {
            path: path.to_path_buf(),
            message: format!(
                "expected a JSON array of records, found {}",
                json_kind(&value)
            ),
        };
    };
    for (index, rec) in records.iter().enumerate() {
        if let Err((field, message)) = check_record(rec, schema) {
            return DataError::field(path, index, field, message);
        }
    }
    json_error(path, err)
}

type FieldProblem = (String, String);
type Checker = fn(&Value, &str) -> Result<(), FieldProblem>;

fn check_record(rec: &Value, schema: Schema) -> Result<(), FieldProblem> {
    let Value::Object(obj) = rec else {
        return Err((
            String::new(),
            format!("record must be an object, found {}", json_kind(rec)),
        ));
    };
    need_str(obj.get("sentence"), "sentence")?;
    let (key, check): (&str, Checker) = match schema {
        Schema::Entities => ("entities", check_entity),
        Schema::Relations => ("relations", check_relation),
        Schema::Events => ("events", check_event),
    };
    let items = need_array(obj.get(key), key)?;
    for (i, item) in items.iter().enumerate() {
        check(item, &format!("{key}[{i}]"))?;
    }
    Ok(())
}

fn check_entity(v: &Value, at: &str) -> Result<(), FieldProblem> {
    let o = need_object(v, at)?;
    need_str(o.get("name"), &format!("{at}.name"))?;
    need_str(o.get("type"), &format!("{at}.type"))?;
    check_pos(o.get("pos"), &format!("{at}.pos"))
}

fn check_relation(v: &Value, at: &str) -> Result<(), FieldProblem> {
    let o = need_object(v, at)?;
    need_str(o.get("type"), &format!("{at}.type"))?;
    for side in ["head", "tail"] {
        let arg_at = format!("{at}.{side}");
        let a = need_object(o.get(side).unwrap_or(&Value::Null), &arg_at)?;
        need_str(a.get("name"), &format!("{arg_at}.name"))?;
        if let Some(t) = a.get("type") {
            need_str(Some(t), &format!("{arg_at}.type"))?;
        }
        check_pos(a.get("pos"), &format!("{arg_at}.pos"))?;
    }
    Ok(())
}

fn check_event(v: &Value, at: &str) -> Result<(), FieldProblem> {
    let o = need_object(v, at)?;
    need_str(o.get("trigger"), &format!("{at}.trigger"))?;
    need_str(o.get("type"), &format!("{at}.type"))?;
    check_pos(o.get("pos"), &format!("{at}.pos"))?;
    if let Some(args) = o.get("arguments") {
        for (i, a) in need_array(Some(args), &format!("{at}.arguments"))?
            .iter()
            .enumerate()
        {
            let arg_at = format!("{at}.arguments[{i}]");
            let ao = need_object(a, &arg_at)?;
            need_str(ao.get("name"), &format!("{arg_at}.name"))?;
            need_str(ao.get("role"), &format!("{arg_at}.role"))?;
            check_pos(ao.get("pos"), &format!("{arg_at}.pos"))?;
        }
    }
    Ok(())
}

fn need_object<'a>(
    v: &'a Value,
    at: &str,
) -> Result<&'a serde_json::Map<String, Value>, FieldProblem> {
    match v {
        Value::Object(o) => Ok(o),
        Value::Null => Err((at.to_string(), "missing".to_string())),
        other => Err((
            at.to_string(),
            format!("expected an object, found {}", json_kind(other)),
        )),
    }
}

fn need_str(v: Option<&Value>, at: &str) -> Result<(), FieldProblem> {
    match v {
        Some(Value::String(_)) => Ok(()),
        None => Err((at.to_string(), "missing".to_string())),
        Some(other) => Err((
            at.to_string(),
            format!("expected a string, found {}", json_kind(other)),
        )),
    }
}

fn need_array<'a>(v: Option<&'a Value>, at: &str) -> Result<&'a Vec<Value>, FieldProblem> {
    match v {
        Some(Value::Array(a)) => Ok(a),
        None => Err((at.to_string(), "missing".to_string())),
        Some(other) => Err((
            at.to_string(),
            format!("expected an array, found {}", json_kind(other)),
        )),
    }
}

fn check_pos(v: Option<&Value>, at: &str) -> Result<(), FieldProblem> {
    let Some(v) = v else { return Ok(()) };
    let items = need_array(Some(v), at)?;
    for (i, x) in items.iter().enumerate() {
        if x.as_u64().is_none() {
            return Err((
                format!("{at}[{i}]"),
                format!("expected a non-negative integer, found {}", json_kind(x)),
            ));
        }
    }
    Ok(())
}

/// Checks every `pos` against its sentence: out-of-range or mismatching offsets are warnings,
/// because the official release has them (SPEC §1.2) and no official code reads `pos`.
pub fn check_offsets(path: &Path, records: &[Record]) -> Vec<Warning> {
    let mut out = Vec::new();
    for (index, rec) in records.iter().enumerate() {
        let text = CharText::new(&rec.sentence);
        let mut check = |field: String, name: &str, pos: &Pos| {
            if let Some(message) = text.mismatch(name, pos) {
                out.push(Warning {
                    path: path.to_path_buf(),
                    index: Some(index),
                    field,
                    message,
                });
            }
        };
        match &rec.gold {
            Gold::Entities(es) => {
                for (i, e) in es.iter().enumerate() {
                    check(format!("entities[{i}].pos"), &e.name, &e.pos);
                }
            }
            Gold::Relations(rs) => {
                for (i, r) in rs.iter().enumerate() {
                    check(
                        format!("relations[{i}].head.pos"),
                        &r.head.name,
                        &r.head.pos,
                    );
                    check(
                        format!("relations[{i}].tail.pos"),
                        &r.tail.name,
                        &r.tail.pos,
                    );
                }
            }
            Gold::Events(evs) => {
                for (i, e) in evs.iter().enumerate() {
                    check(format!("events[{i}].pos"), &e.trigger, &e.pos);
                    for (j, a) in e.arguments.iter().enumerate() {
                        check(format!("events[{i}].arguments[{j}].pos"), &a.name, &a.pos);
                    }
                }
            }
        }
    }
    out
}

/// Python-style code-point indexing over a sentence, cheap for the common ASCII case.
pub struct CharText<'a> {
    text: &'a str,
    /// Byte offset of each char, plus the end; empty when the text is ASCII.
    starts: Vec<usize>,
}

impl<'a> CharText<'a> {
    pub fn new(text: &'a str) -> Self {
        let starts = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices()
                .map(|(b, _)| b)
                .chain(std::iter::once(text.len()))
                .collect()
        };
        CharText { text, starts }
    }

    fn char_len(&self) -> usize {
        if self.starts.is_empty() {
            self.text.len()
        } else {
            self.starts.len() - 1
        }
    }

    fn slice(&self, s: usize, e: usize) -> &'a str {
        if self.starts.is_empty() {
            &self.text[s..e]
        } else {
            &self.text[self.starts[s]..self.starts[e]]
        }
    }

    /// Where `name` first occurs, in code points; `None` for an empty or absent name.
    pub fn find(&self, name: &str) -> Option<usize> {
        let b = self.text.find(name).filter(|_| !name.is_empty())?;
        Some(if self.starts.is_empty() {
            b
        } else {
            self.starts.partition_point(|&c| c < b)
        })
    }

    /// Why `pos` does not hold `name` in this text; `None` when it does, or when it is empty.
    pub fn mismatch(&self, name: &str, pos: &Pos) -> Option<String> {
        match pos.as_slice() {
            [] => None,
            [s, e] => {
                let len = self.char_len();
                if s > e || *e > len {
                    Some(format!(
                        "pos [{s}, {e}] is out of range for a sentence of {len} characters"
                    ))
                } else if self.slice(*s, *e) != name {
                    Some(format!(
                        "pos [{s}, {e}] covers {:?}, not {name:?}",
                        self.slice(*s, *e)
                    ))
                } else {
                    None
                }
            }
            other => Some(format!(
                "pos must be [] or [start, end], found {} numbers",
                other.len()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(content: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content).unwrap();
        f
    }

    #[test]
    fn reads_entities_with_empty_pos_and_extra_fields() {
        let f = write(
            br#"[{"sentence":"a b","entities":[{"name":"a","type":"x","pos":[]}],"extra":1}]"#,
        );
        let recs = read_records(f.path(), Schema::Entities).unwrap();
        assert_eq!(recs.len(), 1);
    }

    #[test]
    fn type_error_names_record_and_field() {
        let f = write(br#"[{"sentence":"ok","entities":[]},{"sentence":"x","entities":[{"name":"a","type":5}]}]"#);
        let err = read_records(f.path(), Schema::Entities)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("record 1: field `entities[0].type`: expected a string, found a number"),
            "{err}"
        );
    }

    #[test]
    fn missing_schema_key_is_named() {
        let f = write(br#"[{"sentence":"x","entities":[]}]"#);
        let err = read_records(f.path(), Schema::Relations)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("record 0: field `relations`: missing"),
            "{err}"
        );
    }

    #[test]
    fn truncated_json_has_line_and_column() {
        let f = write(b"[{\"sentence\": \"x\",\n \"entities\": [");
        let err = read_records(f.path(), Schema::Entities).unwrap_err();
        assert!(matches!(err, DataError::Json { line: 2, .. }), "{err}");
    }

    #[test]
    fn empty_and_non_utf8_files_are_errors() {
        let f = write(b"");
        assert!(matches!(
            read_records(f.path(), Schema::Entities),
            Err(DataError::Empty { .. })
        ));
        let f = write(b"[{\"sentence\": \"caf\xe9\", \"entities\": []}]");
        let err = read_records(f.path(), Schema::Entities).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::NotUtf8 {
                    offset: 18,
                    line: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn negative_pos_is_a_field_error() {
        let f = write(br#"[{"sentence":"x","entities":[{"name":"x","type":"t","pos":[-1,1]}]}]"#);
        let err = read_records(f.path(), Schema::Entities)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("field `entities[0].pos[0]`: expected a non-negative integer"),
            "{err}"
        );
    }

    #[test]
    fn offsets_are_code_points_and_mismatches_warn() {
        let f = write("[{\"sentence\":\"Zoë met Ann\",\"entities\":[{\"name\":\"Ann\",\"type\":\"p\",\"pos\":[8,11]},{\"name\":\"Zoë\",\"type\":\"p\",\"pos\":[0,2]},{\"name\":\"x\",\"type\":\"p\",\"pos\":[9,40]}]}]".as_bytes());
        let recs = read_records(f.path(), Schema::Entities).unwrap();
        let w = check_offsets(f.path(), &recs);
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(w[0].field, "entities[1].pos");
        assert!(w[0].message.contains("covers \"Zo\""));
        assert!(w[1].message.contains("out of range"));
    }
}
