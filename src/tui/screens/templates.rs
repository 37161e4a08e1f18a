//! Templates: the instruction bank per task; edit a task's instruction with a live preview of
//! the exact model input for an example (options filled in, token count, where truncation
//! cuts), save the bank as a new version, or revert to the saved one. An edit can be tried
//! before it is saved: an A/B scores the saved and the edited bank zero-shot on the same
//! sampled instances, as two stored `eval` runs, and shows both scores and the flips.

use crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState};
use ratatui::Frame;
use std::collections::HashMap;
use std::path::PathBuf;

use super::compare::{compare, CompareRow};
use super::{Cursor, Screen};
use crate::ie::{Split, TaskKind};
use crate::model::TextTokenizer;
use crate::prompt::InstructionBank;
use crate::store::{RunId, RunStatus};
use crate::tui::app::Ctx;
use crate::tui::keymap::Action;
use crate::tui::message::Message;
use crate::tui::text_input::{Edit, TextInput};
use crate::tui::theme::Theme;
use crate::tui::view::{block, fit, text_panel};
use crate::tui::worker::Latest;
use crate::tui::workspace::model_input;

/// Instances an A/B draws (from the dev split where the edited tasks have one).
pub const AB_SAMPLE: usize = 50;

/// A template A/B: run `a` scores the saved bank (version `saved`), run `b` the edited one
/// (version `edited`), on the same sampled instances of the edited tasks.
#[derive(Debug, Clone)]
pub struct Trial {
    pub tasks: Vec<TaskKind>,
    pub a: RunId,
    pub b: RunId,
    pub saved: u32,
    pub edited: u32,
    pub split: Split,
    /// Instances drawn (fewer when the split has fewer): planned, then as scored.
    pub sample: usize,
    /// The run that failed or was cancelled, and how it ended; none while they run or once
    /// both finished.
    pub stopped: Option<(RunId, String)>,
    /// Both runs finished: per dataset, the two scores, the difference and the flips.
    pub rows: Option<Vec<CompareRow>>,
}

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
    /// The newest A/B, while it runs and after.
    pub trial: Option<Trial>,
    /// Bank versions stored only for an A/B's edited side: stored (so its run names a
    /// version), not saved, so the bank in force stays the saved one.
    trial_versions: Vec<u32>,
    trial_loader: Latest<Vec<CompareRow>>,
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
            trial: None,
            trial_versions: Vec::new(),
            trial_loader: Latest::default(),
        };
        s.refresh(ctx);
        s
    }

    /// Picks up a newer stored version of the bank (saved here or imported; an A/B's edited
    /// side is not saved), else keeps the version in force.
    pub fn refresh(&mut self, ctx: &mut Ctx) {
        match ctx.reads.bank_versions() {
            Ok(v) => {
                let seen = self.versions.iter().max().copied();
                self.versions = v.iter().map(|t| t.version).collect();
                let saved =
                    |t: &&crate::store::TemplateRecord| !self.trial_versions.contains(&t.version);
                let newer = v
                    .iter()
                    .rev()
                    .filter(saved)
                    .find(|t| seen.is_none_or(|n| t.version > n));
                let pick = newer
                    .or_else(|| v.iter().find(|t| Some(t.version) == self.version))
                    .or_else(|| v.iter().rev().find(saved));
                if let Some(latest) = pick {
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
            Action::AbTest => return self.ab(ctx),
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
        self.edited_bank(ctx).map(Message::SaveBank)
    }

    /// An A/B of the drafts against the saved bank, for the workbench to run.
    fn ab(&mut self, ctx: &mut Ctx) -> Option<Message> {
        if self.drafts.is_empty() {
            ctx.status
                .info("A/B compares the saved template with an edit: edit an instruction first");
            return None;
        }
        let mut tasks: Vec<TaskKind> = self.drafts.keys().copied().collect();
        tasks.sort();
        Some(Message::TemplateAb {
            saved: self.bank_text.clone(),
            edited: self.edited_bank(ctx)?,
            tasks,
        })
    }

    /// The bank's JSON text with the drafts in place of each task's first instruction.
    fn edited_bank(&self, ctx: &mut Ctx) -> Option<String> {
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
        Some(text)
    }

    /// The workbench stored the A/B's banks and queued its runs.
    pub fn trial_started(&mut self, trial: Trial, ctx: &mut Ctx) {
        // Versions seen before are saved ones (or an earlier trial's, listed already).
        if !self.versions.contains(&trial.edited) {
            self.trial_versions.push(trial.edited);
        }
        self.trial_loader.forget();
        self.trial = Some(trial);
        // The saved side may have just been stored for the first time.
        self.refresh(ctx);
    }

    /// A run ended: when both of the A/B's runs finished, compare them on a worker thread;
    /// true when it did (the workbench then makes them Compare's pair).
    pub fn trial_run_ended(&mut self, run: RunId, ctx: &mut Ctx) -> bool {
        let Some(trial) = self.trial.as_mut() else {
            return false;
        };
        if run != trial.a && run != trial.b {
            return false;
        }
        let status = |id: RunId| ctx.reads.run(id).ok().map(|m| m.status);
        let (sa, sb) = (status(trial.a), status(trial.b));
        for (id, st) in [(trial.a, sa), (trial.b, sb)] {
            if let Some(st @ (RunStatus::Failed | RunStatus::Cancelled)) = st {
                trial.stopped = Some((id, format!("{st:?}").to_lowercase()));
                return false;
            }
        }
        if sa != Some(RunStatus::Finished) || sb != Some(RunStatus::Finished) {
            return false;
        }
        let (a, b, reads) = (trial.a, trial.b, ctx.reads.clone());
        self.trial_loader.start(move |_| compare(&reads, a, b));
        true
    }

    /// Takes a finished A/B comparison; true when one arrived.
    pub fn poll(&mut self, status: &mut crate::tui::app::Status) -> bool {
        let Some(answer) = self.trial_loader.take() else {
            return false;
        };
        match (answer, self.trial.as_mut()) {
            (Ok(rows), Some(trial)) => {
                status.info(format!(
                    "A/B done: run {} (saved, bank v{}) vs run {} (edited, bank v{}); Compare shows the flips",
                    trial.a, trial.saved, trial.b, trial.edited
                ));
                // What the runs actually scored (the config may hold fewer instances than
                // the data).
                trial.sample = rows.iter().map(|r| r.examples.len()).sum();
                trial.rows = Some(rows);
            }
            (Err(e), _) => status.error(e),
            (Ok(_), None) => {}
        }
        true
    }

    /// The bank was stored as version `v` (and as file `path`): the drafts are in it.
    pub fn saved(&mut self, v: u32, path: &std::path::Path, ctx: &mut Ctx) {
        self.drafts.clear();
        // An A/B's edited side, or an earlier version's text, saved now is the bank in force.
        self.trial_versions.retain(|t| *t != v);
        self.version = Some(v);
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
    let [edit, preview, ab] = Layout::vertical([
        Constraint::Length(7),
        Constraint::Min(3),
        Constraint::Length(s.trial.as_ref().map_or(0, trial_height)),
    ])
    .areas(right);
    if let Some(trial) = &s.trial {
        f.render_widget(trial_panel(trial, ab.width, t), ab);
    }
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

/// Rows the A/B panel takes: a line per dataset (at most six shown) and its border.
fn trial_height(trial: &Trial) -> u16 {
    let lines = trial.rows.as_ref().map_or(1, |r| r.len().clamp(1, 6));
    lines as u16 + 3
}

/// The A/B's two scores, the difference (with its bootstrap interval where the panel is
/// wide enough) and the flips, per dataset; or how far it has got.
fn trial_panel<'a>(trial: &Trial, width: u16, t: &Theme) -> ratatui::widgets::Paragraph<'a> {
    let tasks: Vec<&str> = trial.tasks.iter().map(|t| t.as_str()).collect();
    let title = format!(
        "A/B: saved v{} (run {}) vs edited v{} (run {}) · {} sampled {} instances of {}",
        trial.saved,
        trial.a,
        trial.edited,
        trial.b,
        trial.sample,
        trial.split,
        tasks.join(",")
    );
    let wide = width >= 100;
    let name_width = if wide { 22 } else { 11 };
    let columns = |name: &str, a: &str, b: &str, d: &str, ci: &str, p: &str, fx: &str, br: &str| {
        let ci = if wide {
            format!(" {ci:>16}")
        } else {
            String::new()
        };
        (
            format!("{name:<name_width$} {a:>6} {b:>6} "),
            format!("{d:>7}"),
            format!("{ci} {p:>9} {fx:>5} {br:>6}"),
        )
    };
    let (h1, h2, h3) = columns(
        "dataset", "A", "B", "B − A", "95% CI", "p", "fixed", "broken",
    );
    let mut lines = vec![Line::styled(format!("{h1}{h2}{h3}"), t.dimmed())];
    match (&trial.stopped, &trial.rows) {
        (Some((run, how)), _) => lines.push(Line::styled(
            format!("run {run} {how}: the A/B has no result (see Runs)"),
            Style::default().fg(t.error),
        )),
        (None, None) => lines.push(Line::styled(
            "scoring both templates zero-shot (the runs are on the Runs screen)…",
            t.dimmed(),
        )),
        (None, Some(rows)) => {
            for row in rows.iter().take(6) {
                let name = fit(&super::safe(&row.dataset), name_width);
                let line = match &row.difference {
                    Some(d) => {
                        let (delta, interval, p) = d.words();
                        let style = t.difference(d);
                        let (c1, c2, c3) = columns(
                            &name,
                            &format!("{:.2}", d.a * 100.0),
                            &format!("{:.2}", d.b * 100.0),
                            &delta,
                            &interval,
                            &p,
                            &row.flips.fixed.to_string(),
                            &row.flips.broken.to_string(),
                        );
                        Line::from(vec![Span::raw(c1), Span::styled(c2, style), Span::raw(c3)])
                    }
                    None => Line::styled(
                        format!("{name:<name_width$} no example both runs answered"),
                        t.dimmed(),
                    ),
                };
                lines.push(line);
            }
        }
    }
    ratatui::widgets::Paragraph::new(lines).block(block(title, false, t))
}
