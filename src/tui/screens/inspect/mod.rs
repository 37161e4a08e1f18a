//! Inspect: a run's examples, filtered by dataset, error category and label; gold and predicted
//! items side by side, each marked matched / missing / spurious / wrong type / wrong boundary,
//! with the raw generated text; a label confusion matrix whose cells open their examples; a
//! dataset's per-label precision, recall and F1 (`eval --by-label`'s table); a jump to the
//! next error of the same kind; gold corrections with undo and redo, re-scored at
//! once.

use crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table, TableState};
use ratatui::Frame;
use std::collections::{BTreeMap, BTreeSet};

use super::{Cursor, ListArea, Screen};
use crate::eval::structure::spans_per_item;
use crate::eval::verdict::{find_span, item_label, item_spans, ErrorKind, Summary};
use crate::ie::TaskKind;
use crate::store::RunId;
use crate::tui::app::Ctx;
use crate::tui::keymap::Action;
use crate::tui::message::Message;
use crate::tui::text_input::{Edit, TextInput};
use crate::tui::theme::Theme;
use crate::tui::view::{block, fit, fitted_block, text_panel};
use crate::tui::worker::Latest;

mod draw;
pub mod structure;

use crate::service::judged::{self, load, NONE_ID};
pub use crate::service::judged::{Example, Loaded, NOTHING, OTHER};
pub use draw::draw;

/// One dataset's per-label table over all of its examples in the run.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelTable {
    pub dataset: String,
    pub rows: Vec<(String, crate::eval::by_label::LabelScore)>,
}

#[derive(Debug, Clone, Default)]
pub struct Confusion {
    pub dataset: Option<String>,
    pub labels: Vec<String>,
    /// Example indices behind each (gold, predicted) cell.
    pub cells: BTreeMap<(usize, usize), Vec<usize>>,
    pub row: usize,
    pub col: usize,
}

#[derive(Default)]
pub struct State {
    /// Where the example table was last drawn.
    pub list_area: ListArea,
    pub run: Option<RunId>,
    pub examples: Vec<Example>,
    pub visible: Vec<usize>,
    pub cursor: Cursor,
    pub datasets: Vec<String>,
    pub labels: Vec<String>,
    pub filter_dataset: Option<String>,
    pub filter_kind: Option<ErrorKind>,
    pub filter_label: Option<String>,
    /// A narrowing from elsewhere (a Compare cell, a confusion cell): these example indices.
    pub only: Option<(BTreeSet<usize>, String)>,
    pending_only: Option<(Vec<(String, String)>, String)>,
    /// The run being loaded, while it is.
    loading: Option<RunId>,
    loader: Latest<(RunId, Loaded)>,
    pub confusion: Option<Confusion>,
    /// One dataset's per-label table, shown in place of the example while it is set.
    pub by_label: Option<LabelTable>,
    /// A per-label table asked for before the run was loaded (from the Runs screen's F1
    /// table).
    pending_by_label: Option<String>,
    pub gold_edit: Option<TextInput>,
    /// The structural gold editor, while it is open.
    pub span_editor: Option<structure::SpanEditor>,
    /// A gold refused by the checks once; entering it again stores it anyway.
    refused: Option<String>,
    /// Item counts per error kind and dataset, as `eval --errors` prints them.
    pub summary: Summary,
}

fn cycle<T: Clone + PartialEq>(current: &Option<T>, all: &[T]) -> Option<T> {
    match current {
        None => all.first().cloned(),
        Some(c) => all
            .iter()
            .position(|x| x == c)
            .and_then(|i| all.get(i + 1).cloned()),
    }
}

impl State {
    /// Loads run `id`'s predictions with the gold corrections in force.
    /// Starts loading run `id`'s predictions (with the gold corrections in force) on a worker
    /// thread: a run of a hundred thousand predictions takes longer than a frame to judge.
    pub fn open(&mut self, id: RunId, ctx: &mut Ctx) {
        let reads = ctx.reads.clone();
        self.loader.start(move |_| {
            Ok((
                id,
                load(&reads, id).map_err(|e| format!("loading run {id}: {e}"))?,
            ))
        });
        self.loading = Some(id);
    }

    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }

    /// Installs a finished load; true when one arrived.
    pub fn poll(&mut self, status: &mut crate::tui::app::Status) -> bool {
        let Some(answer) = self.loader.take() else {
            return false;
        };
        self.loading = None;
        let (id, loaded) = match answer {
            Ok(x) => x,
            Err(e) => {
                status.error(e);
                return true;
            }
        };
        let keep = self.run == Some(id);
        self.run = Some(id);
        self.examples = loaded.examples;
        self.datasets = loaded.datasets;
        self.labels = loaded.labels;
        self.summary = loaded.summary;
        if !keep {
            self.filter_dataset = None;
            self.filter_kind = None;
            self.filter_label = None;
            self.only = None;
            self.by_label = None;
            self.cursor = Cursor::default();
        }
        if let Some((ids, what)) = self.pending_only.take() {
            self.narrow(ids, what);
        }
        self.apply_filters();
        if let Some(dataset) = self.pending_by_label.take() {
            self.show_by_label(&dataset);
        }
        if self.examples.is_empty() {
            status.info(format!("run {id} has no stored predictions yet"));
        }
        true
    }

    /// Narrows to the examples of `ids` (`TASK/dataset` and id pairs from Compare), once the
    /// run is loaded.
    pub fn only(&mut self, ids: Vec<(String, String)>, what: String) {
        if self.loading.is_some() {
            self.pending_only = Some((ids, what));
        } else {
            self.narrow(ids, what);
        }
    }

    fn narrow(&mut self, ids: Vec<(String, String)>, what: String) {
        let wanted: std::collections::HashSet<(String, String)> = ids.into_iter().collect();
        let idx: BTreeSet<usize> = self
            .examples
            .iter()
            .enumerate()
            .filter(|(_, e)| wanted.contains(&(e.key.clone(), e.id.clone())))
            .map(|(i, _)| i)
            .collect();
        self.only = Some((idx, what));
        self.cursor = Cursor::default();
        self.apply_filters();
    }

    /// Items of kind `k` in the dataset in view (all datasets without a dataset filter), as
    /// `eval --errors` counts them.
    pub fn kind_count(&self, k: ErrorKind) -> u64 {
        self.summary
            .iter()
            .filter(|((task, d), _)| {
                self.filter_dataset
                    .as_ref()
                    .is_none_or(|f| *f == crate::ie::dataset_key(*task, d))
            })
            .map(|(_, counts)| counts.get(&k).copied().unwrap_or(0))
            .sum()
    }

    pub fn apply_filters(&mut self) {
        let only = self.only.as_ref().map(|o| &o.0);
        self.visible = (0..self.examples.len())
            .filter(|i| only.is_none_or(|o| o.contains(i)))
            .filter(|&i| {
                let e = &self.examples[i];
                self.filter_dataset.as_ref().is_none_or(|d| &e.key == d)
                    && self.filter_kind.is_none_or(|k| e.has(k))
                    && self
                        .filter_label
                        .as_ref()
                        .is_none_or(|l| e.labels.contains(l))
            })
            .collect();
        self.cursor.clamp(self.visible.len());
        if self.confusion.is_some() {
            self.confusion = Some(self.build_confusion());
        }
    }

    pub fn selected(&self) -> Option<&Example> {
        self.visible
            .get(self.cursor.selected)
            .map(|&i| &self.examples[i])
    }

    /// Shows `dataset`'s per-label table and filters the list to it (once the run is loaded,
    /// when it is still loading).
    pub fn show_by_label(&mut self, dataset: &str) {
        if self.loading.is_some() {
            self.pending_by_label = Some(dataset.to_string());
            return;
        }
        self.confusion = None;
        if self.datasets.iter().any(|d| d == dataset) {
            self.filter_dataset = Some(dataset.to_string());
            self.apply_filters();
        }
        self.by_label = Some(self.build_by_label(Some(dataset.to_string())));
    }

    /// The per-label table of one dataset (the dataset filter's, else the selected
    /// example's), over all of its examples: labels do not depend on the kind filter.
    fn build_by_label(&self, dataset: Option<String>) -> LabelTable {
        let dataset = dataset
            .or_else(|| self.filter_dataset.clone())
            .or_else(|| self.selected().map(|e| e.key.clone()))
            .unwrap_or_default();
        let mut counts = crate::eval::by_label::ByLabel::default();
        for e in self.examples.iter().filter(|e| e.key == dataset) {
            counts.add(&e.verdict);
        }
        let rows = counts
            .0
            .get(&dataset)
            .map(crate::eval::by_label::ByLabel::table)
            .unwrap_or_default();
        LabelTable { dataset, rows }
    }

    /// The confusion matrix of one dataset (the dataset filter's, else the selected
    /// example's) over the examples in view. Predicted labels the gold never uses are pooled
    /// as `other`, so a model's invented labels cannot crowd the matrix.
    fn build_confusion(&self) -> Confusion {
        let dataset = self
            .filter_dataset
            .clone()
            .or_else(|| self.selected().map(|e| e.key.clone()));
        let in_view: Vec<usize> = self
            .visible
            .iter()
            .copied()
            .filter(|&i| dataset.as_ref().is_none_or(|d| &self.examples[i].key == d))
            .collect();
        let judged::Confusion { labels, cells } =
            judged::confusion(&self.examples, &self.labels, &in_view);
        Confusion {
            dataset,
            labels,
            cells,
            row: 0,
            col: 0,
        }
    }

    fn on_action(&mut self, a: Action, ctx: &mut Ctx) -> Option<Message> {
        if let Some(c) = self.confusion.as_mut() {
            let n = c.labels.len();
            match a {
                Action::Up => c.row = c.row.saturating_sub(1),
                Action::Down => c.row = (c.row + 1).min(n.saturating_sub(1)),
                Action::Left => c.col = c.col.saturating_sub(1),
                Action::Right => c.col = (c.col + 1).min(n.saturating_sub(1)),
                Action::Open => {
                    let cell = c.cells.get(&(c.row, c.col)).cloned().unwrap_or_default();
                    let what = format!("gold {} → predicted {}", c.labels[c.row], c.labels[c.col]);
                    self.confusion = None;
                    ctx.status.info(format!("{} examples: {what}", cell.len()));
                    self.only = Some((cell.into_iter().collect(), what));
                    self.cursor = Cursor::default();
                    self.apply_filters();
                }
                Action::Confusion | Action::Back => self.confusion = None,
                _ => {}
            }
            return None;
        }
        if self.by_label.is_some() && matches!(a, Action::ByLabel | Action::Back) {
            self.by_label = None;
            return None;
        }
        if self.cursor.act(a, self.visible.len()) {
            return None;
        }
        match a {
            Action::ByLabel => {
                self.confusion = None;
                self.by_label = Some(self.build_by_label(None));
            }
            Action::FilterDataset => {
                self.filter_dataset = cycle(&self.filter_dataset, &self.datasets);
                self.apply_filters();
            }
            Action::FilterKind => {
                // The error categories that occur (in the dataset in view), then all.
                let present: Vec<ErrorKind> = ErrorKind::ALL[1..]
                    .iter()
                    .copied()
                    .filter(|k| self.kind_count(*k) > 0)
                    .collect();
                self.filter_kind = cycle(&self.filter_kind, &present);
                self.apply_filters();
            }
            Action::FilterLabel => {
                self.filter_label = cycle(&self.filter_label, &self.labels);
                self.apply_filters();
            }
            Action::Back => {
                self.only = None;
                self.filter_dataset = None;
                self.filter_kind = None;
                self.filter_label = None;
                self.apply_filters();
            }
            Action::Confusion => {
                self.by_label = None;
                self.confusion = Some(self.build_confusion());
            }
            Action::NextSame => self.next_same(ctx),
            Action::Edit => {
                if let Some(e) = self.selected() {
                    self.gold_edit = Some(TextInput::new(&e.gold));
                }
            }
            Action::EditSpans => {
                if let Some(e) = self.selected() {
                    match structure::SpanEditor::open(e) {
                        Ok(ed) => self.span_editor = Some(ed),
                        Err(why) => ctx.status.info(why),
                    }
                }
            }
            Action::Undo => return Some(Message::StepGold { redo: false }),
            Action::Redo => return Some(Message::StepGold { redo: true }),
            _ => {}
        }
        None
    }

    /// A key for the structural editor: esc on its item list closes it; an edit it makes is
    /// stored by the workbench, a refusal goes to the status line.
    fn span_key(&mut self, k: &KeyEvent, ctx: &mut Ctx) -> Option<Message> {
        let e = self.selected().cloned()?;
        let ed = self.span_editor.as_mut()?;
        if k.code == crossterm::event::KeyCode::Esc && ed.stage == structure::Stage::Items {
            self.span_editor = None;
            return None;
        }
        match ed.key(k, &e) {
            Ok(m) => m,
            Err(why) => {
                ctx.status.error(why);
                None
            }
        }
    }

    /// The next example in view sharing the first error category of the selected one.
    fn next_same(&mut self, ctx: &mut Ctx) {
        let Some(kind) = self
            .filter_kind
            .or_else(|| self.selected().and_then(Example::first_kind))
        else {
            return ctx.status.info("the selected example has no error");
        };
        let n = self.visible.len();
        for step in 1..=n {
            let j = (self.cursor.selected + step) % n;
            if self.examples[self.visible[j]].has(kind) {
                self.cursor.selected = j;
                return ctx.status.info(format!("next {}", kind.as_str()));
            }
        }
        ctx.status
            .info(format!("no other {} example", kind.as_str()));
    }

    /// Judges example (`key`, `id`) again against the gold now in force (after a correction,
    /// undo or redo; the workbench re-scores the run).
    pub fn gold_changed(&mut self, ctx: &mut Ctx, key: &str, id: &str) {
        let corrections = match ctx.reads.gold_state() {
            Ok(g) => g.corrections(),
            Err(e) => return ctx.status.error(e),
        };
        let correction = corrections.get(&(key.to_string(), id.to_string()));
        let mut ids: std::collections::HashMap<String, u32> = self
            .labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.clone(), i as u32))
            .collect();
        for e in self
            .examples
            .iter_mut()
            .filter(|e| e.key == key && e.id == id)
        {
            e.judge_again(
                correction.unwrap_or(&e.released_gold).clone(),
                correction.is_some(),
            );
            if let Some(ed) = self.span_editor.as_mut() {
                if ed.key == e.key && ed.id == e.id {
                    ed.reload(&e.gold);
                }
            }
            for l in &e.labels {
                if !ids.contains_key(l) {
                    ids.insert(l.clone(), self.labels.len() as u32);
                    self.labels.push(l.clone());
                }
            }
            let id_of = |l: &str| ids.get(l).copied().unwrap_or(NONE_ID);
            e.pair_ids = e.pairs.iter().map(|(g, p)| (id_of(g), id_of(p))).collect();
        }
        self.apply_filters();
    }
}

impl Screen for State {
    fn capturing(&self) -> bool {
        self.gold_edit.is_some() || self.span_editor.is_some()
    }

    fn act(&mut self, a: Action, ctx: &mut Ctx) -> Option<Message> {
        self.on_action(a, ctx)
    }

    fn list_area(&self) -> Option<&ListArea> {
        Some(&self.list_area)
    }

    fn click(&mut self, line: usize, height: usize, _ctx: &mut Ctx) -> Option<Message> {
        self.cursor.click(line, self.visible.len(), height);
        None
    }

    /// The gold editor: a correction is checked here, and stored by the workbench.
    fn raw_key(&mut self, k: &KeyEvent, ctx: &mut Ctx) -> Option<Message> {
        if self.span_editor.is_some() {
            return self.span_key(k, ctx);
        }
        let input = self.gold_edit.as_mut()?;
        match input.key(k) {
            Edit::Submit => {
                let after = input.text.clone();
                let Some(e) = self.selected().cloned() else {
                    self.gold_edit = None;
                    return None;
                };
                // The checks of `gold set`: a label among the options, spans in the sentence.
                let problems = crate::eval::verdict::gold_problems(
                    e.verdict.task,
                    &after,
                    e.sentence.as_deref(),
                    e.instruction.as_deref(),
                );
                if !problems.is_empty() && self.refused.as_deref() != Some(after.as_str()) {
                    self.refused = Some(after);
                    ctx.status.error(format!(
                        "not stored: {}; enter again to store it anyway, esc to drop it",
                        problems.join("; ")
                    ));
                    return None;
                }
                self.refused = None;
                self.gold_edit = None;
                if after == e.gold {
                    ctx.status.info("gold unchanged");
                    return None;
                }
                return Some(Message::EditGold {
                    key: e.key,
                    id: e.id,
                    before: e.gold,
                    after,
                });
            }
            Edit::Cancel => self.gold_edit = None,
            _ => {}
        }
        None
    }
}
