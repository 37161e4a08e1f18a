//! Structural gold editing in Inspect: the selected example's gold as items (label and spans),
//! edited by keys. A span is picked in the sentence word by word; a label from the options,
//! narrowed by fuzzy search. Relabel, delete, re-span or add an item (a relation takes a head
//! and a tail span, an event argument its span and role): each edit is checked as `gold set`
//! checks a gold and leaves the screen as one gold correction, so it joins the gold log with
//! undo and redo and re-scores the run.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use fuzzy_matcher::skim::SkimMatcherV2;
use fuzzy_matcher::FuzzyMatcher;

use crate::eval::structure::{editable, parts, spans_per_item, target, Part};
use crate::ie::TaskKind;
use crate::service::judged::Example;
use crate::tui::message::Message;
use crate::tui::text_input::{Edit, TextInput};

/// What the keys do now.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// Pick an item: relabel, delete, re-span it, or add one.
    Items,
    /// Select words `from..=to` of the sentence as the next span; `picked` holds the spans
    /// taken so far (a relation's head before its tail); `respan` the item whose spans are
    /// being replaced (none: a new item).
    Span {
        from: usize,
        to: usize,
        picked: Vec<String>,
        respan: Option<usize>,
    },
    /// Pick a label: the options matching `input`, best first; `choice` indexes them. `spans`
    /// are a new item's (none: relabelling the selected item).
    Label {
        input: TextInput,
        choice: usize,
        spans: Option<Vec<String>>,
    },
}

pub struct SpanEditor {
    /// The example edited: `TASK/dataset` and id.
    pub key: String,
    pub id: String,
    pub task: TaskKind,
    pub parts: Vec<Part>,
    /// The selected item.
    pub item: usize,
    pub stage: Stage,
    /// The labels the example's options allow (empty when its prompt names none).
    pub options: Vec<String>,
    /// Char ranges of the sentence's words.
    pub words: Vec<(usize, usize)>,
    chars: Vec<char>,
}

/// Char ranges of the whitespace-separated words of `text`.
fn words(chars: &[char]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in chars.iter().enumerate() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, chars.len()));
    }
    out
}

/// The option labels of a model input (`Option: a, b, c \n`), as written.
fn options(instruction: Option<&str>) -> Vec<String> {
    let line = instruction
        .and_then(crate::eval::verdict::option_line)
        .unwrap_or_default();
    line.split(',')
        .map(|o| o.trim().to_string())
        .filter(|o| !o.is_empty())
        .collect()
}

impl SpanEditor {
    /// An editor for `e`, or why it cannot have one.
    pub fn open(e: &Example) -> Result<SpanEditor, String> {
        let task = e.verdict.task;
        if !editable(task) {
            return Err(format!(
                "{task} golds are not typed items: edit the text with e"
            ));
        }
        let Some(sentence) = &e.sentence else {
            return Err("this run did not store the sentence: edit the text with e".into());
        };
        let chars: Vec<char> = sentence.chars().collect();
        Ok(SpanEditor {
            key: e.key.clone(),
            id: e.id.clone(),
            task,
            parts: parts(task, &e.gold, Some(sentence)),
            item: 0,
            stage: Stage::Items,
            options: options(e.instruction.as_deref()),
            words: words(&chars),
            chars,
        })
    }

    /// The example's gold changed (an edit stored, undone or redone): read it again.
    pub fn reload(&mut self, gold: &str) {
        let sentence: String = self.chars.iter().collect();
        self.parts = parts(self.task, gold, Some(&sentence));
        self.item = self.item.min(self.parts.len().saturating_sub(1));
        self.stage = Stage::Items;
    }

    /// The text of words `from..=to`.
    fn span_text(&self, from: usize, to: usize) -> String {
        let (a, b) = (self.words[from].0, self.words[to].1);
        self.chars[a..b].iter().collect()
    }

    /// The char range selected in the sentence, while a span is being picked.
    pub fn selection(&self) -> Option<(usize, usize)> {
        match &self.stage {
            Stage::Span { from, to, .. } => Some((self.words[*from].0, self.words[*to].1)),
            _ => None,
        }
    }

    /// The options matching the label typed so far, best first (all of them, in order, before
    /// anything is typed).
    pub fn matches(&self) -> Vec<String> {
        let Stage::Label { input, .. } = &self.stage else {
            return Vec::new();
        };
        if input.text.is_empty() {
            return self.options.clone();
        }
        let m = SkimMatcherV2::default();
        let mut scored: Vec<(i64, &String)> = self
            .options
            .iter()
            .filter_map(|o| m.fuzzy_match(o, &input.text).map(|s| (s, o)))
            .collect();
        scored.sort_by_key(|s| std::cmp::Reverse(s.0));
        scored.into_iter().map(|(_, o)| o.clone()).collect()
    }

    /// What the spans being picked are for, for the panel's title.
    pub fn prompt(&self) -> String {
        match &self.stage {
            Stage::Items => {
                "↑↓ item · l label · x delete · s re-span · a add · u undo · ctrl-r redo · esc done"
                    .into()
            }
            Stage::Span { picked, .. } => {
                let which = if spans_per_item(self.task) == 2 {
                    if picked.is_empty() {
                        "the head"
                    } else {
                        "the tail"
                    }
                } else {
                    "the span"
                };
                format!("select {which}: ←→ word · shift+←→ (or H L) end · enter take · esc back")
            }
            Stage::Label { .. } => {
                "type to narrow the options · ↑↓ pick · enter take · esc back".into()
            }
        }
    }

    /// Handles a key; a message when an edit is ready to be stored (checked first: a refusal
    /// is returned as the error text for the status line).
    pub fn key(&mut self, k: &KeyEvent, e: &Example) -> Result<Option<Message>, String> {
        let shift = k.modifiers.contains(KeyModifiers::SHIFT);
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        let n_words = self.words.len();
        match &mut self.stage {
            Stage::Items => match k.code {
                KeyCode::Up | KeyCode::Char('k') => self.item = self.item.saturating_sub(1),
                KeyCode::Down | KeyCode::Char('j') => {
                    self.item = (self.item + 1).min(self.parts.len().saturating_sub(1));
                }
                KeyCode::Char('l') | KeyCode::Enter if !self.parts.is_empty() => {
                    self.stage = Stage::Label {
                        input: TextInput::new(""),
                        choice: 0,
                        spans: None,
                    };
                }
                KeyCode::Char('x') | KeyCode::Delete if !self.parts.is_empty() => {
                    let mut after = self.parts.clone();
                    after.remove(self.item);
                    return self.commit(after, e).map(Some);
                }
                KeyCode::Char('a') | KeyCode::Char('s') if n_words > 0 => {
                    let respan = (k.code == KeyCode::Char('s') && !self.parts.is_empty())
                        .then_some(self.item);
                    if k.code == KeyCode::Char('s') && respan.is_none() {
                        return Ok(None);
                    }
                    self.stage = Stage::Span {
                        from: 0,
                        to: 0,
                        picked: Vec::new(),
                        respan,
                    };
                }
                KeyCode::Char('u') if !ctrl => {
                    return Ok(Some(Message::StepGold { redo: false }));
                }
                KeyCode::Char('r') if ctrl => return Ok(Some(Message::StepGold { redo: true })),
                _ => {}
            },
            Stage::Span {
                from,
                to,
                picked,
                respan,
            } => {
                let last = n_words.saturating_sub(1);
                match k.code {
                    KeyCode::Right | KeyCode::Char('L')
                        if shift || k.code == KeyCode::Char('L') =>
                    {
                        *to = (*to + 1).min(last);
                    }
                    KeyCode::Left | KeyCode::Char('H') if shift || k.code == KeyCode::Char('H') => {
                        *to = to.saturating_sub(1).max(*from);
                    }
                    KeyCode::Right | KeyCode::Char('l') => {
                        *from = (*to + 1).min(last);
                        *to = *from;
                    }
                    KeyCode::Left | KeyCode::Char('h') => {
                        *from = from.saturating_sub(1);
                        *to = *from;
                    }
                    KeyCode::Home => (*from, *to) = (0, 0),
                    KeyCode::End => (*from, *to) = (last, last),
                    KeyCode::Esc => self.stage = Stage::Items,
                    KeyCode::Enter => {
                        let (f, t, respan) = (*from, *to, *respan);
                        let mut spans = picked.clone();
                        spans.push(self.span_text(f, t));
                        if spans.len() < spans_per_item(self.task) {
                            self.stage = Stage::Span {
                                from: f,
                                to: t,
                                picked: spans,
                                respan,
                            };
                        } else if let Some(i) = respan {
                            let mut after = self.parts.clone();
                            after[i] = Part::new(after[i].label.clone(), spans);
                            return self.commit(after, e).map(Some);
                        } else {
                            self.stage = Stage::Label {
                                input: TextInput::new(""),
                                choice: 0,
                                spans: Some(spans),
                            };
                        }
                    }
                    _ => {}
                }
            }
            Stage::Label { input, choice, .. } => match k.code {
                KeyCode::Up => *choice = choice.saturating_sub(1),
                KeyCode::Down => *choice += 1,
                KeyCode::Esc => self.stage = Stage::Items,
                KeyCode::Enter => {
                    let matches = self.matches();
                    let Stage::Label {
                        input,
                        choice,
                        spans,
                    } = &self.stage
                    else {
                        return Ok(None);
                    };
                    // A label from the options when the prompt names them; typed otherwise.
                    let label = if self.options.is_empty() {
                        input.text.trim().to_string()
                    } else {
                        match matches.get((*choice).min(matches.len().saturating_sub(1))) {
                            Some(l) => l.clone(),
                            None => return Err(format!("no option matches {:?}", input.text)),
                        }
                    };
                    if label.is_empty() {
                        return Err("type a label".into());
                    }
                    let mut after = self.parts.clone();
                    match spans {
                        Some(spans) => after.push(Part::new(label, spans.clone())),
                        None => after[self.item] = Part::new(label, after[self.item].spans.clone()),
                    }
                    return self.commit(after, e).map(Some);
                }
                _ => {
                    if input.key(k) == Edit::Changed {
                        *choice = 0;
                    }
                }
            },
        }
        Ok(None)
    }

    /// The correction `after` gives, checked as `gold set` checks one.
    fn commit(&mut self, after: Vec<Part>, e: &Example) -> Result<Message, String> {
        let text = target(self.task, &after);
        let problems = crate::eval::verdict::gold_problems(
            self.task,
            &text,
            e.sentence.as_deref(),
            e.instruction.as_deref(),
        );
        if !problems.is_empty() {
            self.stage = Stage::Items;
            return Err(format!("not stored: {}", problems.join("; ")));
        }
        if text == e.gold {
            self.stage = Stage::Items;
            return Err("gold unchanged".into());
        }
        Ok(Message::EditGold {
            key: e.key.clone(),
            id: e.id.clone(),
            before: e.gold.clone(),
            after: text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_char_ranges() {
        let chars: Vec<char> = "  Ann  met Bö .".chars().collect();
        assert_eq!(words(&chars), [(2, 5), (7, 10), (11, 13), (14, 15)]);
        assert_eq!(
            options(Some(
                "List them. Option: person, location \nText: {0} \nAnswer:"
            )),
            ["person", "location"]
        );
    }
}
