//! The way back from a target string to a record: a corrected gold (` person: Ann; location:
//! Rome`) becomes the entities, relations or events of its sentence again, with offsets found
//! in the sentence, so corrections can be written out in IE INSTRUCTIONS format.

use crate::eval::verdict::find_span;
use crate::ie::{Argument, Entity, Event, Gold, Record, Relation, RelationArg, TaskKind};

/// `old` with its gold for `task` replaced by what `target` says: the sentence kept, offsets
/// found in it. NER and RE targets say everything their records hold; an EE-family record is
/// shared by EET and EEA, so an EET target replaces its events' types and triggers (an event
/// whose type and trigger stay keeps its arguments) and an EEA target the arguments of its
/// one event (type and trigger kept).
pub fn record_from_target(task: TaskKind, old: &Record, target: &str) -> Result<Record, String> {
    let sentence = old.sentence.as_str();
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
        TaskKind::Eet | TaskKind::Eea => {
            let Gold::Events(events) = &old.gold else {
                return Err(format!("a {task} record holds events"));
            };
            Gold::Events(events_from_target(task, events, &items, locate)?)
        }
        other => {
            return Err(format!(
                "corrections of {other} examples cannot be written back as records (their targets do not say what the records hold)"
            ))
        }
    };
    Ok(Record {
        sentence: sentence.to_string(),
        gold,
    })
}

/// The events an EET or EEA target gives a record that held `events`.
fn events_from_target(
    task: TaskKind,
    events: &[Event],
    items: &[&str],
    locate: impl Fn(&str) -> Result<(String, Vec<usize>), String>,
) -> Result<Vec<Event>, String> {
    // The EET loader writes apostrophes in types and triggers as a placeholder.
    let unquote = |s: &str| s.replace(super::render::SINGLE_QUOTE_SUBSTITUTE, "'");
    if task == TaskKind::Eea {
        let [event] = events else {
            return Err(format!(
                "an EEA record has exactly one event (the official loader's rule); this one has {}",
                events.len()
            ));
        };
        let arguments = items
            .iter()
            .map(|item| {
                let (name, role) = item
                    .rsplit_once(':')
                    .ok_or_else(|| format!("{item:?} is not `argument: role`"))?;
                let (name, pos) = locate(name.trim())?;
                Ok(Argument {
                    name,
                    role: role.trim().to_string(),
                    pos,
                })
            })
            .collect::<Result<_, String>>()?;
        return Ok(vec![Event {
            arguments,
            ..event.clone()
        }]);
    }
    items
        .iter()
        .map(|item| {
            let (kind, trigger) = item
                .split_once(':')
                .ok_or_else(|| format!("{item:?} is not `type: trigger`"))?;
            let (kind, trigger) = (unquote(kind.trim()), unquote(trigger.trim()));
            let (trigger, pos) = locate(&trigger)?;
            let same = events
                .iter()
                .find(|e| e.kind == kind && e.trigger.trim().eq_ignore_ascii_case(trigger.trim()));
            Ok(Event {
                trigger,
                kind,
                pos,
                arguments: same.map(|e| e.arguments.clone()).unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(sentence: &str) -> Record {
        Record {
            sentence: sentence.to_string(),
            gold: Gold::Entities(Vec::new()),
        }
    }

    #[test]
    fn event_targets_replace_what_they_say() {
        let attack = Event {
            trigger: "bombed".into(),
            kind: "attack".into(),
            pos: vec![10, 16],
            arguments: vec![Argument {
                name: "Militants".into(),
                role: "attacker".into(),
                pos: vec![0, 9],
            }],
        };
        let old = Record {
            sentence: "Militants bombed a bridge in Aleppo .".into(),
            gold: Gold::Events(vec![attack.clone()]),
        };
        // EEA: the arguments change, the event stays.
        let r =
            record_from_target(TaskKind::Eea, &old, " Militants: attacker; Aleppo: place").unwrap();
        let Gold::Events(e) = &r.gold else { panic!() };
        assert_eq!(
            (e[0].kind.as_str(), e[0].trigger.as_str()),
            ("attack", "bombed")
        );
        assert_eq!(e[0].arguments[1].pos, [29, 35]);
        // EET: a kept event keeps its arguments; a new one has none.
        let r =
            record_from_target(TaskKind::Eet, &old, " attack: bombed; transport: bridge").unwrap();
        let Gold::Events(e) = &r.gold else { panic!() };
        assert_eq!(e[0].arguments, attack.arguments);
        assert!(e[1].arguments.is_empty() && e[1].pos == [19, 25]);
        assert!(record_from_target(TaskKind::Eea, &old, " Damascus: place").is_err());
    }

    #[test]
    fn targets_read_back_into_records_with_offsets() {
        let s = &plain("Ann met Bob in Rome .");
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
        assert!(record_from_target(TaskKind::Es, s, " Ann").is_err());
    }
}
