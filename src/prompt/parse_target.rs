//! The way back from a target string to a record: a corrected gold (` person: Ann; location:
//! Rome`) becomes the entities or relations of its sentence again, with offsets found in the
//! sentence, so corrections can be written out in IE INSTRUCTIONS format.

use crate::eval::verdict::find_span;
use crate::ie::{Entity, Gold, Record, Relation, RelationArg, TaskKind};

/// The record whose target for `task` is `target`: the sentence kept, the gold replaced.
/// Only NER and RE targets can be read back (the other tasks' targets lose what their records
/// hold: offsets of arguments, entity types of relation heads).
pub fn record_from_target(task: TaskKind, sentence: &str, target: &str) -> Result<Record, String> {
    let items: Vec<&str> = target
        .split(';')
        .map(str::trim)
        .filter(|i| !i.is_empty() && !i.eq_ignore_ascii_case("none"))
        .collect();
    // The span as the sentence writes it, and where: Python code-point offsets.
    let locate = |span: &str| -> Result<(String, Vec<usize>), String> {
        let (a, b) = find_span(sentence, span)
            .ok_or_else(|| format!("{span:?} is not in the sentence {sentence:?}"))?;
        Ok((sentence.chars().skip(a).take(b - a).collect(), vec![a, b]))
    };
    let split = |item: &str| -> Result<(String, String), String> {
        item.split_once(':')
            .map(|(l, s)| (l.trim().to_string(), s.trim().to_string()))
            .ok_or_else(|| format!("{item:?} is not `label: span`"))
    };
    let gold = match task {
        TaskKind::Ner => Gold::Entities(
            items
                .iter()
                .map(|item| {
                    let (kind, span) = split(item)?;
                    let (name, pos) = locate(&span)?;
                    Ok(Entity { name, kind, pos })
                })
                .collect::<Result<_, String>>()?,
        ),
        TaskKind::Re => {
            let relations: Vec<Relation> = items
                .iter()
                .map(|item| {
                    let (kind, pair) = split(item)?;
                    let (head, tail) = pair
                        .split_once(',')
                        .ok_or_else(|| format!("{item:?} is not `relation: head, tail`"))?;
                    let arg = |s: &str| -> Result<RelationArg, String> {
                        let (name, pos) = locate(s.trim())?;
                        Ok(RelationArg {
                            name,
                            kind: String::new(),
                            pos,
                        })
                    };
                    Ok(Relation {
                        head: arg(head)?,
                        kind,
                        tail: arg(tail)?,
                    })
                })
                .collect::<Result<_, String>>()?;
            if relations.is_empty() {
                return Err(
                    "an RE record needs at least one relation (`NA: head, tail` for none); the official loader rejects it otherwise"
                        .into(),
                );
            }
            Gold::Relations(relations)
        }
        other => {
            return Err(format!(
                "corrections of {other} examples cannot be written back as records yet (only NER and RE targets say everything their records hold)"
            ))
        }
    };
    Ok(Record {
        sentence: sentence.to_string(),
        gold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_read_back_into_records_with_offsets() {
        let s = "Ann met Bob in Rome .";
        let r = record_from_target(TaskKind::Ner, s, " person: Ann; location: rome").unwrap();
        let Gold::Entities(e) = r.gold else { panic!() };
        assert_eq!(e[1].name, "Rome");
        assert_eq!(e[1].pos, [15, 19]);
        let r = record_from_target(TaskKind::Re, s, " meet: Ann, Bob").unwrap();
        let Gold::Relations(rel) = r.gold else {
            panic!()
        };
        assert_eq!(
            (rel[0].head.pos.clone(), rel[0].tail.name.as_str()),
            (vec![0, 3], "Bob")
        );
        assert!(record_from_target(TaskKind::Ner, s, " person: Zoe").is_err());
        assert!(record_from_target(TaskKind::Re, s, " None").is_err());
        assert!(record_from_target(TaskKind::Eea, s, " x: y").is_err());
    }
}
