//! Templates: the instruction bank per task; edit a task's instruction with a live preview of
//! the exact model input for an example (options filled in, token count, where truncation
//! cuts), save the bank as a new version, or revert to the saved one.

use crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState};
use ratatui::Frame;
use std::collections::HashMap;
use std::path::PathBuf;

use super::{Cursor, Screen};
use crate::ie::{Split, TaskKind};
use crate::model::TextTokenizer;
use crate::prompt::InstructionBank;
use crate::tui::app::Ctx;
use crate::tui::keymap::Action;
use crate::tui::message::Message;
use crate::tui::text_input::{Edit, TextInput};
use crate::tui::theme::Theme;
use crate::tui::view::{block, fit, text_panel};
use crate::tui::workspace::model_input;

#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    pub dataset: String,
    pub split: Split,
    pub index: usize,
    pub text: String,
    /// `None` until a tokenizer is at hand.
    pub tokens: Option<usize>,
    /// Characters of `text` the model keeps when it is longer than the maximum.
    pub kept_chars: Option<usize>,
}

pub struct State {
    pub tasks: Vec<TaskKind>,
    pub cursor: Cursor,
    /// The bank in force: its JSON text, and its stored version (None: never saved).
    pub bank_text: String,
    pub bank: InstructionBank,
    pub version: Option<u32>,
    pub origin: String,
    pub versions: Vec<u32>,
    /// Unsaved instructions per task.
    pub drafts: HashMap<TaskKind, String>,
    pub editing: Option<TextInput>,
    pub example: usize,
    pub preview: Result<Preview, String>,
    tokenizer: Option<TextTokenizer>,
    pub max_source_length: usize,
    /// Lines the model-input preview is scrolled by.
    pub scroll: u16,
}

impl State {
    pub fn new(ctx: &mut Ctx, tokenizer: Option<TextTokenizer>) -> State {
        let (origin, text) = crate::service::workspace::instruction_bank_source(None, &ctx.ws.root)
            .unwrap_or_else(|_| {
                (
                    "builtin".into(),
                    InstructionBank::builtin_text().to_string(),
                )
            });
        let bank = InstructionBank::from_text(&origin, &text)
            .unwrap_or_else(|_| InstructionBank::builtin());
        let mut s = State {
            tasks: TaskKind::ALL.to_vec(),
            cursor: Cursor::default(),
            bank_text: text,
            bank,
            version: None,
            origin: crate::tui::view::short_path(&origin),
            versions: Vec::new(),
            drafts: HashMap::new(),
            editing: None,
            example: 0,
            preview: Err(String::new()),
            tokenizer,
            max_source_length: 512,
            scroll: 0,
        };
        s.refresh(ctx);
        s
    }

    /// Picks up the newest stored version of the bank (saved here or imported).
    pub fn refresh(&mut self, ctx: &mut Ctx) {
        match ctx.reads.bank_versions() {
            Ok(v) => {
                self.versions = v.iter().map(|t| t.version).collect();
                if let Some(latest) = v.last() {
                    if let Some((_, text)) = latest.files.first() {
                        if let Ok(bank) = InstructionBank::from_text(&PathBuf::from("stored"), text)
                        {
                            self.bank = bank;
                            self.bank_text = text.clone();
                            self.version = Some(latest.version);
                            self.origin = format!("stored version {}", latest.version);
                        }
                    }
                }
            }
            Err(e) => ctx.status.error(e),
        }
        self.update_preview(ctx);
    }

    pub fn task(&self) -> TaskKind {
        self.tasks[self.cursor.selected.min(self.tasks.len() - 1)]
    }

    /// The task's instruction as it stands: the editor's text, a draft, or the bank's.
    pub fn instruction(&self, task: TaskKind) -> String {
        if task == self.task() {
            if let Some(e) = &self.editing {
                return e.text.clone();
            }
        }
        self.drafts
            .get(&task)
            .cloned()
            .or_else(|| self.bank.instructions(task).first().cloned())
            .unwrap_or_default()
    }

    fn update_preview(&mut self, ctx: &Ctx) {
        let task = self.task();
        let instruction = self.instruction(task);
        self.preview = (|| {
            let d = ctx
                .ws
                .first_of(task)
                .ok_or(format!("no {task} dataset in the data"))?;
            let split = Split::ALL
                .into_iter()
                .find(|s| !d.records(*s).is_empty())
                .ok_or(format!("{} has no records", d.key()))?;
            let n = d.records(split).len();
            let index = self.example % n;
            let text = model_input(d, &instruction, split, index).map_err(|e| e.to_string())?;
            let (tokens, kept_chars) = match &self.tokenizer {
                Some(tok) => {
                    let ids = tok.encode(&text).map_err(|e| e.to_string())?;
                    let kept = if ids.len() > self.max_source_length {
                        let cut = tok
                            .decode(&ids[..self.max_source_length])
                            .map_err(|e| e.to_string())?;
                        Some(cut.chars().count())
                    } else {
                        None
                    };
                    (Some(ids.len()), kept)
                }
                None => (None, None),
            };
            Ok(Preview {
                dataset: d.key(),
                split,
                index,
                text,
                tokens,
                kept_chars,
            })
        })();
    }

    /// Takes the default model's tokenizer once it is made.
    pub fn set_tokenizer(&mut self, tokenizer: Option<TextTokenizer>, ctx: &Ctx) {
        self.tokenizer = tokenizer;
        self.update_preview(ctx);
    }

    fn on_action(&mut self, a: Action, ctx: &mut Ctx) -> Option<Message> {
        // The task list is short; the page keys scroll the model input, whose end (where a
        // long prompt is cut) may lie below the pane.
        match a {
            Action::PageDown => {
                self.scroll = self.scroll.saturating_add(5);
                return None;
            }
            Action::PageUp => {
                self.scroll = self.scroll.saturating_sub(5);
                return None;
            }
            _ => {}
        }
        if self.cursor.act(a, self.tasks.len()) {
            self.scroll = 0;
            self.update_preview(ctx);
            return None;
        }
        match a {
            Action::Edit => self.editing = Some(TextInput::new(&self.instruction(self.task()))),
            Action::NextExample => {
                self.example += 1;
                self.update_preview(ctx);
            }
            Action::PrevExample => {
                self.example = self.example.saturating_sub(1);
                self.update_preview(ctx);
            }
            Action::Revert => {
                if self.drafts.remove(&self.task()).is_some() {
                    ctx.status
                        .info(format!("{}: back to the saved instruction", self.task()));
                }
                self.update_preview(ctx);
            }
            Action::Save => return self.save(ctx),
            _ => {}
        }
        None
    }

    /// The bank with the drafts in, for the workbench to store as the next version.
    fn save(&mut self, ctx: &mut Ctx) -> Option<Message> {
        if self.drafts.is_empty() {
            ctx.status
                .info("nothing to save: edit an instruction first");
            return None;
        }
        let mut text = self.bank_text.clone();
        for (task, draft) in &self.drafts {
            let mut list = self.bank.instructions(*task).to_vec();
            match list.first_mut() {
                Some(first) => *first = draft.clone(),
                None => list.push(draft.clone()),
            }
            match InstructionBank::with_instructions(&text, *task, &list) {
                Some(t) => text = t,
                None => {
                    ctx.status
                        .error("the instruction bank is not a JSON object");
                    return None;
                }
            }
        }
        Some(Message::SaveBank(text))
    }

    /// The bank was stored as version `v` (and as file `path`): the drafts are in it.
    pub fn saved(&mut self, v: u32, path: &std::path::Path, ctx: &mut Ctx) {
        self.drafts.clear();
        ctx.status.info(format!(
            "saved instruction bank version {v} ({})",
            path.display()
        ));
        self.refresh(ctx);
    }
}

impl Screen for State {
    fn capturing(&self) -> bool {
        self.editing.is_some()
    }

    fn act(&mut self, a: Action, ctx: &mut Ctx) -> Option<Message> {
        self.on_action(a, ctx)
    }

    fn shown(&mut self, ctx: &mut Ctx) {
        self.refresh(ctx);
    }

    fn raw_key(&mut self, k: &KeyEvent, ctx: &mut Ctx) -> Option<Message> {
        let input = self.editing.as_mut()?;
        match input.key(k) {
            Edit::Changed => self.update_preview(ctx),
            Edit::Submit => {
                let text = input.text.clone();
                let task = self.task();
                self.editing = None;
                if Some(&text) == self.bank.instructions(task).first() {
                    self.drafts.remove(&task);
                } else {
                    self.drafts.insert(task, text);
                }
                self.update_preview(ctx);
            }
            Edit::Cancel => {
                self.editing = None;
                self.update_preview(ctx);
            }
            _ => {}
        }
        None
    }
}

pub fn draw(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    let [left, right] =
        Layout::horizontal([Constraint::Length(22), Constraint::Min(20)]).areas(area);
    let items: Vec<ListItem> = s
        .tasks
        .iter()
        .map(|task| {
            let n = s.bank.instructions(*task).len();
            let dirty = if s.drafts.contains_key(task) {
                " *"
            } else {
                ""
            };
            ListItem::new(Line::from(vec![
                Span::raw(format!("{:<4} {n:>2} instr.", task.as_str())),
                Span::styled(dirty, Style::default().fg(t.warning)),
            ]))
        })
        .collect();
    let mut state = ListState::default().with_selected(Some(s.cursor.selected));
    let version = match s.version {
        Some(v) => format!("bank v{v}"),
        None => "bank (unsaved)".into(),
    };
    f.render_stateful_widget(
        List::new(items)
            .block(block(version, s.editing.is_none(), t))
            .highlight_style(t.selected()),
        left,
        &mut state,
    );
    let [edit, preview] =
        Layout::vertical([Constraint::Length(7), Constraint::Min(3)]).areas(right);
    let task = s.task();
    let mut lines = vec![];
    match &s.editing {
        Some(input) => lines.push(Line::from(input.with_cursor())),
        None => lines.push(Line::from(s.instruction(task))),
    }
    let others = s.bank.instructions(task).len().saturating_sub(1);
    lines.push(Line::styled(
        format!(
            "from {}{}{}",
            s.origin,
            if others > 0 {
                format!("; {others} more instructions for `multiple`")
            } else {
                String::new()
            },
            if s.drafts.contains_key(&task) {
                "; edited, not saved"
            } else {
                ""
            }
        ),
        t.dimmed(),
    ));
    let title = if s.editing.is_some() {
        format!("{task} instruction (editing: enter keeps, esc drops)")
    } else {
        format!("{task} instruction")
    };
    f.render_widget(text_panel(&title, lines, s.editing.is_some(), t), edit);
    match &s.preview {
        Ok(p) => {
            let mut spans = Vec::new();
            match p.kept_chars {
                Some(k) => {
                    let cut = p
                        .text
                        .char_indices()
                        .nth(k)
                        .map_or(p.text.len(), |(b, _)| b);
                    spans.push(Span::raw(p.text[..cut].to_string()));
                    spans.push(Span::styled(
                        "⟦truncated here⟧",
                        Style::default().fg(t.error).add_modifier(Modifier::BOLD),
                    ));
                    spans.push(Span::styled(p.text[cut..].to_string(), t.dimmed()));
                }
                None => spans.push(Span::raw(p.text.clone())),
            }
            // The input holds newlines; keep them as lines.
            let mut lines: Vec<Line> = Vec::new();
            let mut current: Vec<Span> = Vec::new();
            for span in spans {
                let style = span.style;
                let mut parts = span.content.split('\n').peekable();
                while let Some(part) = parts.next() {
                    current.push(Span::styled(super::safe(part), style));
                    if parts.peek().is_some() {
                        lines.push(Line::from(std::mem::take(&mut current)));
                    }
                }
            }
            lines.push(Line::from(current));
            let tokens = match p.tokens {
                Some(n) => format!("{n} tokens of {}", s.max_source_length),
                None => "tokens: no tokenizer yet (the default model is being made)".to_string(),
            };
            let title = fit(
                &format!(
                    "Model input: {} {} #{} · {tokens} · pgup/pgdn scroll",
                    p.dataset,
                    p.split.as_str(),
                    p.index,
                ),
                preview.width.saturating_sub(4) as usize,
            );
            f.render_widget(
                text_panel(&title, lines, false, t).scroll((s.scroll, 0)),
                preview,
            );
        }
        Err(e) => f.render_widget(
            text_panel(
                "Model input",
                vec![Line::styled(e.clone(), Style::default().fg(t.warning))],
                false,
                t,
            ),
            preview,
        ),
    }
}
