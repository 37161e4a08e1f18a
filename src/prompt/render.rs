//! Source and target strings for the nine tasks, byte-identical to the official builder and
//! collator (SPEC §2.2–2.4).

use std::path::Path;

use crate::data::{DataError, TaskLabels};
use crate::ie::{is_na, Gold, Record, TaskKind};

/// The EE and EET loaders replace apostrophes in triggers and event types with this literal
/// (SPEC §1.2); evaluation never reverses it.
pub const SINGLE_QUOTE_SUBSTITUTE: &str = "#$%#";

/// The placeholder the collator formats the sentence into.
pub const PLACEHOLDER: &str = "{0}";

/// One record rendered for one task: the template still holds `{0}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub template: String,
    /// The training target (`label` in the official code).
    pub label: String,
    /// The evaluation reference (`ground_truth`).
    pub ground_truth: String,
}

/// How the sentence is put into the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Substitution {
    /// Python `str.format`, keeping the unformatted template when it fails (SPEC §2.2 step 2).
    #[default]
    Compat,
    /// Replace the first `{0}` literally; braces elsewhere are kept as they are.
    Literal,
}

impl crate::ie::Named for Substitution {
    const ALL: &'static [Self] = &[Substitution::Compat, Substitution::Literal];
    fn name(self) -> &'static str {
        match self {
            Substitution::Compat => "compat",
            Substitution::Literal => "literal",
        }
    }
}

/// Where a record came from, for error messages.
pub struct RecordRef<'a> {
    pub path: &'a Path,
    pub index: usize,
}

fn joined(items: impl IntoIterator<Item = String>, sep: &str) -> Option<String> {
    let v: Vec<String> = items.into_iter().collect();
    (!v.is_empty()).then(|| v.join(sep))
}

/// Targets always start with one space; an empty structure is " None".
fn target(body: Option<String>) -> String {
    format!(" {}", body.as_deref().unwrap_or("None"))
}

fn option_list(labels: &TaskLabels, task: TaskKind, at: &RecordRef) -> Result<String, DataError> {
    match labels {
        TaskLabels::List(l) => Ok(l.join(", ")),
        _ => Err(DataError::field(
            at.path,
            at.index,
            "",
            format!("task {task} needs a list of labels"),
        )),
    }
}

/// Renders one record for one task with the given instruction.
pub fn render(
    task: TaskKind,
    labels: &TaskLabels,
    instruction: &str,
    record: &Record,
    at: &RecordRef,
) -> Result<Rendered, DataError> {
    let wrong_schema = || {
        DataError::field(
            at.path,
            at.index,
            "",
            format!("task {task} needs records with {:?}", task.schema()),
        )
    };
    let text = format!("\nText: {PLACEHOLDER} \n");
    match (&record.gold, task) {
        (Gold::Entities(ents), TaskKind::Ner | TaskKind::Es | TaskKind::Et) => {
            let options = option_list(labels, task, at)?;
            let typed = || ents.iter().filter(|e| !is_na(&e.kind));
            let (template, label) = match task {
                TaskKind::Es => (
                    format!("{instruction}Option: {options} {text}Answer:"),
                    target(joined(ents.iter().map(|e| e.name.clone()), ", ")),
                ),
                TaskKind::Et => {
                    let names: Vec<&str> = typed().map(|e| e.name.as_str()).collect();
                    (
                        format!(
                            "{instruction}Option: {options} {text} Entities: {} \nAnswer:",
                            names.join(", ")
                        ),
                        target(joined(
                            typed().map(|e| format!("{}: {}", e.kind, e.name)),
                            "; ",
                        )),
                    )
                }
                _ => (
                    format!("{instruction}Option: {options} {text}Answer:"),
                    target(joined(
                        typed().map(|e| format!("{}: {}", e.kind, e.name)),
                        "; ",
                    )),
                ),
            };
            Ok(Rendered {
                template,
                ground_truth: label.clone(),
                label,
            })
        }
        (Gold::Relations(rels), TaskKind::Re | TaskKind::Ep | TaskKind::Epr) => {
            let options = option_list(labels, task, at)?;
            let typed = || rels.iter().filter(|r| !is_na(&r.kind));
            let triple = |r: &crate::ie::Relation| {
                let rel = if is_na(&r.kind) {
                    "NA"
                } else {
                    r.kind.as_str()
                };
                format!("{rel}: {}, {}", r.head.name, r.tail.name)
            };
            let pairs = || typed().map(|r| format!("{}, {}", r.head.name, r.tail.name));
            if task != TaskKind::Ep && rels.is_empty() {
                return Err(DataError::field(
                    at.path,
                    at.index,
                    "relations",
                    format!("task {task} needs at least one relation per record (NA counts); the official loader stops with \"No ground truth!\""),
                ));
            }
            let with_na = target(joined(rels.iter().map(triple), "; "));
            let rendered = match task {
                TaskKind::Ep => {
                    let label = target(joined(pairs(), "; "));
                    Rendered {
                        template: format!("{instruction}Option: {options} {text}Answer:"),
                        ground_truth: label.clone(),
                        label,
                    }
                }
                TaskKind::Epr => Rendered {
                    template: format!(
                        "{instruction}Option: {options} {text} Entity Pairs:  {} \nAnswer:",
                        pairs().collect::<Vec<_>>().join("; ")
                    ),
                    label: target(joined(typed().map(triple), "; ")),
                    ground_truth: with_na,
                },
                _ => Rendered {
                    template: format!("{instruction}Option: {options} {text}Answer:"),
                    label: target(joined(typed().map(triple), "; ")),
                    ground_truth: with_na,
                },
            };
            Ok(rendered)
        }
        (Gold::Events(events), TaskKind::Ee | TaskKind::Eet | TaskKind::Eea) => {
            render_events(task, labels, instruction, events, &text, at)
        }
        _ => Err(wrong_schema()),
    }
}

fn render_events(
    task: TaskKind,
    labels: &TaskLabels,
    instruction: &str,
    events: &[crate::ie::Event],
    text: &str,
    at: &RecordRef,
) -> Result<Rendered, DataError> {
    let subst = |s: &str| s.replace('\'', SINGLE_QUOTE_SUBSTITUTE);
    let typed = || events.iter().filter(|e| !is_na(&e.kind));
    let need =
        |what: &str| DataError::field(at.path, at.index, "", format!("task {task} needs {what}"));
    let rendered = match (task, labels) {
        (TaskKind::Ee, TaskLabels::EventPair { types, roles, .. }) => {
            let label = joined(
                typed().map(|e| {
                    let args = joined(
                        e.arguments
                            .iter()
                            .map(|a| format!(" {}: {}", a.name, a.role)),
                        ",",
                    )
                    .unwrap_or_else(|| "None".to_string());
                    format!(" ( {}: {}, {args}) ", subst(&e.kind), subst(&e.trigger))
                }),
                ",",
            )
            .unwrap_or_else(|| " None".to_string());
            Rendered {
                template: format!(
                    "{instruction} Option: Event type: {types}, Arguments type: {roles}. {text}Answer:"
                ),
                ground_truth: label.clone(),
                label,
            }
        }
        (TaskKind::Eet, TaskLabels::EventMap(map)) => {
            let keys: Vec<&str> = map.keys().map(String::as_str).collect();
            let label = target(joined(
                typed().map(|e| format!("{}: {}", subst(&e.kind), subst(&e.trigger))),
                "; ",
            ));
            Rendered {
                template: format!("{instruction} Option: {} {text}Answer:", keys.join(", ")),
                ground_truth: label.clone(),
                label,
            }
        }
        (TaskKind::Eea, TaskLabels::EventMap(map)) => {
            let [event] = events else {
                return Err(DataError::field(
                    at.path,
                    at.index,
                    "events",
                    format!(
                        "task EEA needs exactly one event per record, found {}",
                        events.len()
                    ),
                ));
            };
            let Some(roles) = map.get(&event.kind) else {
                return Err(DataError::field(
                    at.path,
                    at.index,
                    "events[0].type",
                    format!("event type {:?} is not in the EEA label map", event.kind),
                ));
            };
            let label = joined(
                event
                    .arguments
                    .iter()
                    .map(|a| format!(" {}: {}", a.name, a.role)),
                ";",
            )
            .unwrap_or_else(|| " None".to_string());
            Rendered {
                template: format!(
                    "{instruction}Event type: {} \n  Option: {} {text}Answer:",
                    event.kind,
                    roles.join(", ")
                ),
                ground_truth: label.clone(),
                label,
            }
        }
        (TaskKind::Ee, _) => return Err(need("the [event types, roles] labels")),
        _ => return Err(need("an {event type: [roles]} label map")),
    };
    Ok(rendered)
}

/// The optional `Task:`/`Dataset:` prefix of the collator (SPEC §2.2 step 1).
pub fn prefix(task: TaskKind, dataset: &str, add_task: bool, add_dataset: bool) -> String {
    let mut out = String::new();
    if add_task {
        out.push_str(&format!("Task:{task}\n"));
    }
    if add_dataset {
        out.push_str(&format!("Dataset:{dataset}\n"));
    }
    out
}

/// Puts the sentence into the template.
pub fn fill(template: &str, sentence: &str, mode: Substitution) -> String {
    match mode {
        Substitution::Compat => {
            python_format(template, sentence).unwrap_or_else(|| template.to_string())
        }
        Substitution::Literal => template.replacen(PLACEHOLDER, sentence, 1),
    }
}

/// `template.format(sentence)` as CPython evaluates it for the fields a template can hold:
/// `{{`/`}}` escapes, `{0}` and auto-numbered `{}`. Anything else (other field names, a lone
/// brace, format specs) is treated as the failure the collator swallows, returning `None`.
pub fn python_format(template: &str, sentence: &str) -> Option<String> {
    let mut out = String::with_capacity(template.len() + sentence.len());
    let mut chars = template.chars().peekable();
    // Python refuses to mix manual and automatic numbering.
    let (mut manual, mut auto_used) = (false, 0usize);
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '}' => return None,
            '{' => {
                let mut field = String::new();
                loop {
                    match chars.next()? {
                        '}' => break,
                        '{' => return None,
                        ch => field.push(ch),
                    }
                }
                match field.as_str() {
                    "0" if auto_used == 0 => manual = true,
                    "" if !manual && auto_used == 0 => auto_used += 1,
                    _ => return None,
                }
                out.push_str(sentence);
            }
            _ => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_format_cases() {
        assert_eq!(python_format("a {0} b", "S").as_deref(), Some("a S b"));
        assert_eq!(python_format("a {} b", "S").as_deref(), Some("a S b"));
        assert_eq!(python_format("{{x}} {0}", "S").as_deref(), Some("{x} S"));
        assert_eq!(python_format("{0} {0}", "S").as_deref(), Some("S S"));
        assert_eq!(python_format("{x} {0}", "S"), None);
        assert_eq!(python_format("a } {0}", "S"), None);
        assert_eq!(python_format("a { {0}", "S"), None);
        assert_eq!(python_format("{} {0}", "S"), None);
        assert_eq!(python_format("{1}", "S"), None);
        // Braces in the sentence are an argument, not template syntax.
        assert_eq!(python_format("{0}", "{x}").as_deref(), Some("{x}"));
    }

    #[test]
    fn compat_keeps_the_unformatted_template_on_failure() {
        let t = "Entities: {brace} \nText: {0} \nAnswer:";
        assert_eq!(fill(t, "S", Substitution::Compat), t);
        assert_eq!(
            fill(t, "S", Substitution::Literal),
            "Entities: {brace} \nText: S \nAnswer:"
        );
    }
}
