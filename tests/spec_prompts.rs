//! Every worked example of SPEC §2.4, byte for byte, through the public rendering API.

#![allow(clippy::unwrap_used)] // a panic is how a test or bench reports failure

use ie_bench::data::TaskLabels;
use ie_bench::ie::{Argument, Entity, Event, Gold, Record, Relation, RelationArg, TaskKind};
use ie_bench::prompt::render::{prefix, RecordRef};
use ie_bench::prompt::{fill, render, InstructionBank, Substitution};
use indexmap::IndexMap;
use std::path::Path;

fn source_target(task: TaskKind, labels: &TaskLabels, record: &Record) -> (String, String, String) {
    let bank = InstructionBank::builtin();
    let instruction = &bank.instructions(task)[0];
    let r = render(
        task,
        labels,
        instruction,
        record,
        &RecordRef {
            path: Path::new("toy.json"),
            index: 0,
        },
    )
    .unwrap();
    (
        fill(&r.template, &record.sentence, Substitution::Compat),
        r.label,
        r.ground_truth,
    )
}

fn list(items: &[&str]) -> TaskLabels {
    TaskLabels::List(items.iter().map(std::string::ToString::to_string).collect())
}

fn ent(name: &str, kind: &str) -> Entity {
    Entity {
        name: name.into(),
        kind: kind.into(),
        pos: vec![],
    }
}

fn ner_record() -> Record {
    Record {
        sentence: "Marie Curie joined the University of Paris in 1906 .".into(),
        gold: Gold::Entities(vec![
            ent("Marie Curie", "person"),
            ent("University of Paris", "organization"),
        ]),
    }
}

fn arg(name: &str) -> RelationArg {
    RelationArg {
        name: name.into(),
        kind: String::new(),
        pos: vec![],
    }
}

fn re_record() -> Record {
    let r = |h: &str, t: &str, k: &str| Relation {
        head: arg(h),
        kind: k.into(),
        tail: arg(t),
    };
    Record {
        sentence: "Marie Curie worked for the University of Paris , which is located in France ."
            .into(),
        gold: Gold::Relations(vec![
            r("Marie Curie", "University of Paris", "work for"),
            r("University of Paris", "France", "located in"),
            r("Marie Curie", "France", "NA"),
        ]),
    }
}

fn event(trigger: &str, kind: &str, args: &[(&str, &str)]) -> Event {
    Event {
        trigger: trigger.into(),
        kind: kind.into(),
        pos: vec![],
        arguments: args
            .iter()
            .map(|(n, r)| Argument {
                name: (*n).into(),
                role: (*r).into(),
                pos: vec![],
            })
            .collect(),
    }
}

const NER_LABELS: &[&str] = &["person", "organization", "location"];
const RE_LABELS: &[&str] = &["work for", "located in", "live in"];

#[test]
fn ner() {
    let (s, t, g) = source_target(TaskKind::Ner, &list(NER_LABELS), &ner_record());
    assert_eq!(s, "Please list all entity words in the text that fit the category.Output format is \"type1: word1; type2: word2\". \nOption: person, organization, location \nText: Marie Curie joined the University of Paris in 1906 . \nAnswer:");
    assert_eq!(t, " person: Marie Curie; organization: University of Paris");
    assert_eq!(g, t);
    let empty = Record {
        sentence: "It rained all day .".into(),
        gold: Gold::Entities(vec![]),
    };
    assert_eq!(
        source_target(TaskKind::Ner, &list(NER_LABELS), &empty).1,
        " None"
    );
}

#[test]
fn re() {
    let (s, t, g) = source_target(TaskKind::Re, &list(RE_LABELS), &re_record());
    assert_eq!(s, "Given a phrase that describes the relationship between two words, extract the words and the lexical relationship between them. The output format should be \"relation1: word1, word2; relation2: word3, word4\". \nOption: work for, located in, live in \nText: Marie Curie worked for the University of Paris , which is located in France . \nAnswer:");
    assert_eq!(
        t,
        " work for: Marie Curie, University of Paris; located in: University of Paris, France"
    );
    assert_eq!(g, " work for: Marie Curie, University of Paris; located in: University of Paris, France; NA: Marie Curie, France");
}

#[test]
fn ee() {
    let labels = TaskLabels::EventPair {
        types: "attack, die".into(),
        roles: "attacker, target, victim, instrument, place".into(),
        derived: false,
    };
    let record = Record {
        sentence: "The rebels fired missiles and killed two soldiers .".into(),
        gold: Gold::Events(vec![
            event(
                "fired",
                "attack",
                &[("rebels", "attacker"), ("missiles", "instrument")],
            ),
            event("killed", "die", &[]),
        ]),
    };
    let (s, t, _) = source_target(TaskKind::Ee, &labels, &record);
    assert_eq!(s, "Locate the role in the text that participated in the event based on the event type and return it in the event list. \n Option: Event type: attack, die, Arguments type: attacker, target, victim, instrument, place. \nText: The rebels fired missiles and killed two soldiers . \nAnswer:");
    assert_eq!(
        t,
        " ( attack: fired,  rebels: attacker, missiles: instrument) , ( die: killed, None) "
    );
}

fn event_map() -> TaskLabels {
    let mut m = IndexMap::new();
    m.insert(
        "attack".to_string(),
        vec![
            "attacker".to_string(),
            "target".into(),
            "instrument".into(),
            "place".into(),
        ],
    );
    m.insert(
        "die".to_string(),
        vec!["victim".to_string(), "place".into()],
    );
    TaskLabels::EventMap(m)
}

#[test]
fn eet() {
    let record = Record {
        sentence: "The rebels fired missiles at the village .".into(),
        gold: Gold::Events(vec![event("fired", "attack", &[])]),
    };
    let (s, t, _) = source_target(TaskKind::Eet, &event_map(), &record);
    assert_eq!(s, "Please tell me event type and its trigger word from given type options. Output format is \"type: trigger\".  Option: attack, die \nText: The rebels fired missiles at the village . \nAnswer:");
    assert_eq!(t, " attack: fired");
}

#[test]
fn eea() {
    let record = Record {
        sentence: "The rebels fired missiles at the village .".into(),
        gold: Gold::Events(vec![event(
            "fired",
            "attack",
            &[
                ("rebels", "attacker"),
                ("missiles", "instrument"),
                ("village", "target"),
            ],
        )]),
    };
    let (s, t, _) = source_target(TaskKind::Eea, &event_map(), &record);
    assert_eq!(s, "Given event type and trigger, please tell me the arguments of all the listed option. Output format is \"name1: role1; name2: role2\". \nEvent type: attack \n  Option: attacker, target, instrument, place \nText: The rebels fired missiles at the village . \nAnswer:");
    assert_eq!(
        t,
        " rebels: attacker; missiles: instrument; village: target"
    );
}

#[test]
fn es() {
    let (s, t, _) = source_target(TaskKind::Es, &list(NER_LABELS), &ner_record());
    assert_eq!(s, "Please list all entity words in the text that fit the category. Output format is \"word1, word2\". \nOption: person, organization, location \nText: Marie Curie joined the University of Paris in 1906 . \nAnswer:");
    assert_eq!(t, " Marie Curie, University of Paris");
}

#[test]
fn et() {
    let (s, t, _) = source_target(TaskKind::Et, &list(NER_LABELS), &ner_record());
    assert_eq!(s, "Given options, please tell me the categories of all the listed entity words.Output format is \"type1: word1; type2: word2\". \nOption: person, organization, location \nText: Marie Curie joined the University of Paris in 1906 . \n Entities: Marie Curie, University of Paris \nAnswer:");
    assert_eq!(t, " person: Marie Curie; organization: University of Paris");
    let empty = Record {
        sentence: "It rained all day .".into(),
        gold: Gold::Entities(vec![]),
    };
    let (s, t, _) = source_target(TaskKind::Et, &list(NER_LABELS), &empty);
    assert!(
        s.ends_with("\nText: It rained all day . \n Entities:  \nAnswer:"),
        "{s:?}"
    );
    assert_eq!(t, " None");
}

#[test]
fn ep() {
    let (s, t, g) = source_target(TaskKind::Ep, &list(RE_LABELS), &re_record());
    assert_eq!(s, "Please list all entity pairs containing a certain relationship in the given options.Output format is \"word1, word2; word3, word4\". \nOption: work for, located in, live in \nText: Marie Curie worked for the University of Paris , which is located in France . \nAnswer:");
    assert_eq!(
        t,
        " Marie Curie, University of Paris; University of Paris, France"
    );
    assert_eq!(g, t);
}

#[test]
fn epr() {
    let (s, t, g) = source_target(TaskKind::Epr, &list(RE_LABELS), &re_record());
    assert_eq!(s, "Given options, please tell me the relationships of all the listed entity pairs.Output format is \"relation1: word1, word2; relation2: word3, word4\". \nOption: work for, located in, live in \nText: Marie Curie worked for the University of Paris , which is located in France . \n Entity Pairs:  Marie Curie, University of Paris; University of Paris, France \nAnswer:");
    assert_eq!(
        t,
        " work for: Marie Curie, University of Paris; located in: University of Paris, France"
    );
    assert_eq!(g, " work for: Marie Curie, University of Paris; located in: University of Paris, France; NA: Marie Curie, France");
}

#[test]
fn prefixes() {
    let p = prefix(TaskKind::Ner, "CoNLL 2003_sample_15000", true, true);
    let (s, _, _) = source_target(TaskKind::Ner, &list(NER_LABELS), &ner_record());
    assert!(format!("{p}{s}")
        .starts_with("Task:NER\nDataset:CoNLL 2003_sample_15000\nPlease list all "));
}

#[test]
fn apostrophes_in_ee_triggers_and_types_are_substituted_but_not_in_eea() {
    let record = Record {
        sentence: "They didn't attack .".into(),
        gold: Gold::Events(vec![event(
            "didn't attack",
            "attack",
            &[("They", "attacker")],
        )]),
    };
    let (_, t, _) = source_target(TaskKind::Eet, &event_map(), &record);
    assert_eq!(t, " attack: didn#$%#t attack");
    let record = Record {
        sentence: "O'Neil's men fired .".into(),
        gold: Gold::Events(vec![event(
            "fired",
            "attack",
            &[("O'Neil's men", "attacker")],
        )]),
    };
    assert_eq!(
        source_target(TaskKind::Eea, &event_map(), &record).1,
        " O'Neil's men: attacker"
    );
}

#[test]
fn brace_in_template_keeps_the_raw_template_in_compat() {
    let record = Record {
        sentence: "The {6}-gingerol dose .".into(),
        gold: Gold::Entities(vec![ent("{6}-gingerol", "chemical")]),
    };
    let (s, _, _) = source_target(TaskKind::Et, &list(&["chemical"]), &record);
    assert!(
        s.contains("\nText: {0} \n Entities: {6}-gingerol \nAnswer:"),
        "{s:?}"
    );
    // The same sentence is harmless where the template itself has no brace.
    let (s, _, _) = source_target(TaskKind::Ner, &list(&["chemical"]), &record);
    assert!(
        s.contains("\nText: The {6}-gingerol dose . \nAnswer:"),
        "{s:?}"
    );
}
