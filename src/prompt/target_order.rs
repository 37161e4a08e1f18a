//! The order of the structures in a training target. The official builder lists them in the
//! data's order, which is not the sentence's: in the release's CoNLL 2003 train split, 1,463 of
//! the 6,136 sentences with two or more entities list them left to right. A decoder that writes
//! the answer left to right then has to guess which structure comes next. `Sentence` sorts
//! them by where they occur in the sentence. Only the training target changes: the evaluation
//! reference keeps the data's order, so no score moves (EET's scoring reads order).

use crate::data::records::CharText;
use crate::ie::{Gold, Named, Pos, Record};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetOrder {
    /// As the data lists them (the official builder).
    #[default]
    Data,
    /// By their first character in the sentence; structures not found keep the data's order,
    /// after the others.
    Sentence,
}

impl Named for TargetOrder {
    const ALL: &'static [Self] = &[TargetOrder::Data, TargetOrder::Sentence];
    fn name(self) -> &'static str {
        match self {
            TargetOrder::Data => "data",
            TargetOrder::Sentence => "sentence",
        }
    }
}

impl TargetOrder {
    /// The record whose structures the training target lists, in this order.
    pub fn arrange(self, record: &Record) -> std::borrow::Cow<'_, Record> {
        match self {
            TargetOrder::Data => std::borrow::Cow::Borrowed(record),
            TargetOrder::Sentence => std::borrow::Cow::Owned(in_sentence_order(record)),
        }
    }
}

/// Where `name` starts in the sentence, in code points (the unit of `pos`): at `pos` when the
/// span there is `name` (SPEC §1: `pos` is wrong in some datasets and empty in others), else
/// at its first occurrence. `usize::MAX` when the sentence does not hold it, so it sorts last.
fn start(text: &CharText, name: &str, pos: &Pos) -> usize {
    match pos[..] {
        [s, _] if text.mismatch(name, pos).is_none() => s,
        _ => text.find(name).unwrap_or(usize::MAX),
    }
}

/// The record with its entities, relations (by head, then tail), events (by trigger) and each
/// event's arguments sorted by where they start in the sentence. The sort is stable, so ties
/// (the same span twice) keep the data's order.
pub fn in_sentence_order(record: &Record) -> Record {
    let s = &CharText::new(&record.sentence);
    let gold = match &record.gold {
        Gold::Entities(es) => {
            let mut es = es.clone();
            es.sort_by_cached_key(|e| start(s, &e.name, &e.pos));
            Gold::Entities(es)
        }
        Gold::Relations(rs) => {
            let mut rs = rs.clone();
            rs.sort_by_cached_key(|r| {
                (
                    start(s, &r.head.name, &r.head.pos),
                    start(s, &r.tail.name, &r.tail.pos),
                )
            });
            Gold::Relations(rs)
        }
        Gold::Events(evs) => {
            let mut evs = evs.clone();
            for ev in &mut evs {
                ev.arguments
                    .sort_by_cached_key(|a| start(s, &a.name, &a.pos));
            }
            evs.sort_by_cached_key(|ev| start(s, &ev.trigger, &ev.pos));
            Gold::Events(evs)
        }
    };
    Record {
        sentence: record.sentence.clone(),
        gold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ie::{Argument, Entity, Event, Relation, RelationArg};

    fn entity(name: &str, kind: &str, pos: Vec<usize>) -> Entity {
        Entity {
            name: name.into(),
            kind: kind.into(),
            pos,
        }
    }

    fn names(r: &Record) -> Vec<String> {
        match &r.gold {
            Gold::Entities(es) => es
                .iter()
                .map(|e| format!("{}:{}", e.kind, e.name))
                .collect(),
            Gold::Relations(rs) => rs
                .iter()
                .map(|r| format!("{}:{},{}", r.kind, r.head.name, r.tail.name))
                .collect(),
            Gold::Events(evs) => evs
                .iter()
                .map(|e| {
                    let args: Vec<&str> = e.arguments.iter().map(|a| a.name.as_str()).collect();
                    format!("{}:{}[{}]", e.kind, e.trigger, args.join(","))
                })
                .collect(),
        }
    }

    #[test]
    fn entities_follow_the_sentence_by_pos_then_by_search() {
        // "é" is two bytes: `pos` counts code points, as the release does.
        let r = Record {
            sentence: "Café Rio fans met Rio in Paris and Rio .".into(),
            gold: Gold::Entities(vec![
                entity("Paris", "location", vec![25, 30]),
                // The second "Rio", placed by its pos rather than by the first occurrence.
                entity("Rio", "person", vec![18, 21]),
                entity("Café Rio", "organization", vec![0, 8]),
                // A wrong pos falls back to the first occurrence (SciERC's offsets are off).
                entity("fans", "person", vec![0, 3]),
                // Not in the sentence: last, in data order.
                entity("Lyon", "location", vec![]),
                entity("Nice", "location", vec![]),
                // No pos: the first occurrence.
                entity("Rio", "location", vec![]),
            ]),
        };
        assert_eq!(
            names(&in_sentence_order(&r)),
            [
                "organization:Café Rio",
                "location:Rio",
                "person:fans",
                "person:Rio",
                "location:Paris",
                "location:Lyon",
                "location:Nice",
            ]
        );
        assert_eq!(
            TargetOrder::Data.arrange(&r).as_ref(),
            &r,
            "the data's order is the record as it is"
        );
    }

    #[test]
    fn relations_sort_by_head_then_tail_and_events_by_trigger_and_argument() {
        let arg = |name: &str| RelationArg {
            name: name.into(),
            kind: String::new(),
            pos: vec![],
        };
        let rel = |kind: &str, h: &str, t: &str| Relation {
            head: arg(h),
            kind: kind.into(),
            tail: arg(t),
        };
        let r = Record {
            sentence: "Ann of Acme met Bob of Bolt in Oslo .".into(),
            gold: Gold::Relations(vec![
                rel("work for", "Bob", "Bolt"),
                rel("live in", "Ann", "Oslo"),
                rel("work for", "Ann", "Acme"),
            ]),
        };
        assert_eq!(
            names(&in_sentence_order(&r)),
            ["work for:Ann,Acme", "live in:Ann,Oslo", "work for:Bob,Bolt"]
        );
        let a = |name: &str| Argument {
            name: name.into(),
            role: "r".into(),
            pos: vec![],
        };
        let r = Record {
            sentence: "Troops attacked the town ; rebels fled the city .".into(),
            gold: Gold::Events(vec![
                Event {
                    trigger: "fled".into(),
                    kind: "move".into(),
                    pos: vec![],
                    arguments: vec![a("city"), a("rebels")],
                },
                Event {
                    trigger: "attacked".into(),
                    kind: "attack".into(),
                    pos: vec![],
                    arguments: vec![a("town"), a("Troops")],
                },
            ]),
        };
        assert_eq!(
            names(&in_sentence_order(&r)),
            ["attack:attacked[Troops,town]", "move:fled[rebels,city]"]
        );
    }
}
