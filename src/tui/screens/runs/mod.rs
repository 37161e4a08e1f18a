//! Runs: the list of stored runs (queued, running, finished, …), filtered by a query, sorted
//! by a setting, tagged and annotated, with a wide view of each run's settings; a launch
//! form, cancel and resume; the selected run's live loss chart (raw and EMA-smoothed, recent
//! window or full history), or the marked runs' loss curves overlaid; and the selected run's
//! per-dataset F1 table, which fills in as evaluations are stored, sortable, with Δ to a
//! baseline run and to the paper.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Clear, Dataset, GraphType, Paragraph, Row, Table, TableState};
use ratatui::Frame;
use std::collections::HashMap;

use super::{delta, pct, Cursor, ListArea, Screen};
use crate::data::catalog::{infer_setting, paper_score};
use crate::data::dataset::SplitResolution;
use crate::eval::extract::Mode;
use crate::ie::Split;
use crate::ie::TaskKind;
use crate::jobs::JobEvent;
use crate::service::results::stored_report;
use crate::service::run_table::{self, RunOrder};
use crate::spec::RunSpec;
use crate::store::{MetricPoint, RunId, RunManifest, RunStatus, StoredScore};
use crate::tui::app::Ctx;
use crate::tui::engine::DefaultModel;
use crate::tui::keymap::Action;
use crate::tui::text_input::{Edit, TextInput};
use crate::tui::theme::Theme;
use crate::tui::view::{block, fit, wrap};

mod chart;
mod draw;
mod form;

pub use crate::service::curves::{ema, EMA_ALPHA};
use crate::tui::message::Message;
use chart::dev_curve;
pub use chart::{fit_bounds, loss_bounds};
pub use draw::draw;
pub use form::{Field, LaunchForm};

/// Steps the chart shows when zoomed to the recent window.
pub const RECENT: usize = 200;

#[derive(Debug, Clone, PartialEq)]
pub struct F1Row {
    pub task: TaskKind,
    pub dataset: String,
    pub n: u64,
    pub score: f64,
    pub baseline: Option<f64>,
    /// The paper's number, as a fraction.
    pub paper: Option<f64>,
    /// A task's unweighted average over its datasets (kept below the dataset rows).
    pub average: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Dataset,
    Score,
    DeltaBaseline,
    DeltaPaper,
}

impl SortBy {
    fn next(self) -> SortBy {
        match self {
            SortBy::Dataset => SortBy::Score,
            SortBy::Score => SortBy::DeltaBaseline,
            SortBy::DeltaBaseline => SortBy::DeltaPaper,
            SortBy::DeltaPaper => SortBy::Dataset,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortBy::Dataset => "dataset",
            SortBy::Score => "F1",
            SortBy::DeltaBaseline => "Δ baseline",
            SortBy::DeltaPaper => "Δ paper",
        }
    }
}

/// What a one-line prompt under the run list edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    /// The list's filter query (`runs --filter`'s syntax), applied as it is typed.
    Filter,
    /// Tags to add to the selected run (`-tag` removes one).
    Tags,
    /// The selected run's note (empty clears it).
    Note,
}

pub struct Prompt {
    pub kind: PromptKind,
    pub input: TextInput,
    /// The filter before the prompt opened, for esc to restore.
    before: String,
}

pub struct State {
    /// Where the run table was last drawn.
    pub list_area: ListArea,
    /// Every stored run, and the ones the list shows (filtered, in order).
    pub all: Vec<(RunId, RunManifest)>,
    pub runs: Vec<(RunId, RunManifest)>,
    pub order: RunOrder,
    pub filter: String,
    pub prompt: Option<Prompt>,
    /// The list widened to each run's settings (the chart makes room).
    pub wide: bool,
    /// Runs marked for the overlaid loss chart and Compare's N-run view, in marking order,
    /// with their loss points.
    pub marked: Vec<RunId>,
    pub marked_metrics: Vec<(RunId, Vec<MetricPoint>)>,
    /// Keys go to the F1 table (→; ← gives them back to the run list), whose selected row
    /// opens that dataset's per-label table.
    pub table_focus: bool,
    pub table_cursor: usize,
    pub cursor: Cursor,
    pub metrics: Vec<MetricPoint>,
    pub scores: Vec<StoredScore>,
    /// What the F1 table shows: `test`, else the newest `dev` evaluation.
    pub table_split: String,
    pub table_step: u64,
    pub table: Vec<F1Row>,
    pub dev_curve: Vec<(u64, f64)>,
    pub baseline: Option<RunId>,
    baseline_scores: Vec<StoredScore>,
    pub sort: SortBy,
    pub zoom_full: bool,
    pub form: Option<LaunchForm>,
    /// A launch waiting for the default model to be made.
    pub pending_launch: Option<RunSpec>,
    /// Newest progress counter per running run (`predict 16/200`), and planned steps.
    pub progress: HashMap<RunId, String>,
    pub total_steps: HashMap<RunId, u64>,
}

impl State {
    pub fn new(ctx: &mut Ctx) -> State {
        let mut s = State {
            list_area: Default::default(),
            all: Vec::new(),
            runs: Vec::new(),
            order: RunOrder::Id,
            filter: String::new(),
            prompt: None,
            wide: false,
            marked: Vec::new(),
            marked_metrics: Vec::new(),
            table_focus: false,
            table_cursor: 0,
            cursor: Cursor::default(),
            metrics: Vec::new(),
            scores: Vec::new(),
            table_split: String::new(),
            table_step: 0,
            table: Vec::new(),
            dev_curve: Vec::new(),
            baseline: None,
            baseline_scores: Vec::new(),
            sort: SortBy::Dataset,
            zoom_full: true,
            form: None,
            pending_launch: None,
            progress: HashMap::new(),
            total_steps: HashMap::new(),
        };
        s.reload(ctx);
        s
    }

    pub fn selected_id(&self) -> Option<RunId> {
        self.runs.get(self.cursor.selected).map(|r| r.0)
    }

    /// Re-reads the run list and the selected run's metrics and scores.
    pub fn reload(&mut self, ctx: &mut Ctx) {
        let store = ctx.reads;
        match store.runs() {
            Ok(r) => {
                self.all = r;
                self.apply_view();
            }
            Err(e) => ctx.status.error(e),
        }
        self.load_selected(ctx);
    }

    /// The list from every run: the filter's matches in the chosen order (by id: newest
    /// first, so the run just launched is at the top), keeping the selected run selected.
    pub fn apply_view(&mut self) {
        let keep = self.selected_id();
        let mut runs: Vec<(RunId, RunManifest)> = self
            .all
            .iter()
            .filter(|(id, m)| run_table::matches(*id, m, &self.filter))
            .cloned()
            .collect();
        run_table::sort(&mut runs, self.order);
        if self.order == RunOrder::Id {
            runs.reverse();
        }
        self.runs = runs;
        if let Some(id) = keep {
            if let Some(p) = self.runs.iter().position(|x| x.0 == id) {
                self.cursor.selected = p;
            }
        }
        self.cursor.clamp(self.runs.len());
    }

    /// Marks or unmarks the selected run for the overlaid chart and the N-run compare.
    fn toggle_mark(&mut self, id: RunId, ctx: &mut Ctx) {
        if let Some(p) = self.marked.iter().position(|m| *m == id) {
            self.marked.remove(p);
        } else {
            self.marked.push(id);
        }
        self.load_marked(ctx);
        let ids: Vec<String> = self.marked.iter().map(ToString::to_string).collect();
        ctx.status.info(if ids.is_empty() {
            "no runs marked".to_string()
        } else {
            format!(
                "marked runs {}: the chart overlays their loss; Compare sets them side by side",
                ids.join(", ")
            )
        });
    }

    fn load_marked(&mut self, ctx: &mut Ctx) {
        self.marked_metrics.clear();
        for id in &self.marked {
            match ctx.reads.metrics(*id) {
                Ok(m) => self.marked_metrics.push((*id, m)),
                Err(e) => ctx.status.error(e),
            }
        }
    }

    /// Opens a prompt under the list.
    fn open_prompt(&mut self, kind: PromptKind) {
        let text = match kind {
            PromptKind::Filter => self.filter.clone(),
            PromptKind::Tags => String::new(),
            PromptKind::Note => self
                .runs
                .get(self.cursor.selected)
                .and_then(|r| r.1.note.clone())
                .unwrap_or_default(),
        };
        self.prompt = Some(Prompt {
            kind,
            input: TextInput::new(&text),
            before: self.filter.clone(),
        });
    }

    /// A key for the open prompt: the filter applies as it is typed; tags and notes go to
    /// the workbench on enter.
    fn prompt_key(&mut self, k: &KeyEvent, ctx: &mut Ctx) -> Option<Message> {
        let prompt = self.prompt.as_mut()?;
        let edit = prompt.input.key(k);
        let (kind, text, before) = (
            prompt.kind,
            prompt.input.text.clone(),
            prompt.before.clone(),
        );
        match edit {
            Edit::Changed if kind == PromptKind::Filter => {
                self.filter = text;
                self.apply_view();
                self.load_selected(ctx);
            }
            Edit::Cancel => {
                self.prompt = None;
                if kind == PromptKind::Filter {
                    self.filter = before;
                    self.apply_view();
                    self.load_selected(ctx);
                }
            }
            Edit::Submit => {
                self.prompt = None;
                if kind == PromptKind::Filter {
                    ctx.status.info(format!(
                        "{} of {} runs match {:?}",
                        self.runs.len(),
                        self.all.len(),
                        self.filter
                    ));
                    return None;
                }
                let id = self.selected_id()?;
                match kind {
                    PromptKind::Filter => {}
                    PromptKind::Tags => {
                        let (remove, add): (Vec<String>, Vec<String>) = text
                            .split_whitespace()
                            .map(|w| w.trim_start_matches('#').to_string())
                            .partition(|w| w.starts_with('-'));
                        let remove = remove
                            .into_iter()
                            .map(|w| w.trim_start_matches('-').to_string())
                            .collect();
                        return Some(Message::Tag { id, add, remove });
                    }
                    PromptKind::Note => {
                        let text = (!text.trim().is_empty()).then_some(text);
                        return Some(Message::Note { id, text });
                    }
                }
            }
            _ => {}
        }
        None
    }

    fn load_selected(&mut self, ctx: &mut Ctx) {
        let store = ctx.reads;
        let (metrics, scores) = match self.selected_id() {
            Some(id) => (store.metrics(id), store.scores(id)),
            None => (Ok(Vec::new()), Ok(Vec::new())),
        };
        match (metrics, scores) {
            (Ok(m), Ok(s)) => {
                self.metrics = m;
                self.scores = s;
            }
            (Err(e), _) | (_, Err(e)) => ctx.status.error(e),
        }
        self.baseline_scores = match self.baseline {
            Some(b) => store.scores(b).unwrap_or_default(),
            None => Vec::new(),
        };
        self.rebuild_table();
    }

    /// The F1 table and dev curve from the stored score rows.
    pub fn rebuild_table(&mut self) {
        let pick = |rows: &[StoredScore]| {
            stored_report(rows, Split::Test, Mode::Compat, None)
                .map(|t| (Split::Test, t))
                .or_else(|| {
                    stored_report(rows, Split::Dev, Mode::Compat, None).map(|t| (Split::Dev, t))
                })
        };
        self.table.clear();
        self.dev_curve = dev_curve(&self.scores);
        let Some((split, table)) = pick(&self.scores) else {
            self.table_split.clear();
            return;
        };
        self.table_split = split.to_string();
        self.table_step = table.step;
        let base = stored_report(&self.baseline_scores, split, Mode::Compat, None);
        let names: Vec<&str> = table
            .report
            .tasks
            .values()
            .flat_map(|t| t.datasets.iter().map(|d| d.0.as_str()))
            .collect();
        let setting = infer_setting(names);
        for (task, tr) in &table.report.tasks {
            for (name, d) in &tr.datasets {
                let baseline = base.as_ref().and_then(|b| {
                    b.report
                        .tasks
                        .get(task)?
                        .datasets
                        .iter()
                        .find(|x| &x.0 == name)
                        .map(|x| x.1.score)
                });
                self.table.push(F1Row {
                    task: *task,
                    dataset: name.clone(),
                    n: d.n,
                    score: d.score,
                    baseline,
                    paper: paper_score(*task, name, setting).map(|p| p / 100.0),
                    average: false,
                });
            }
        }
        self.sort_table();
        for (task, tr) in &table.report.tasks {
            self.table.push(F1Row {
                task: *task,
                dataset: "average".into(),
                n: tr.datasets.iter().map(|d| d.1.n).sum(),
                score: tr.average,
                baseline: base
                    .as_ref()
                    .and_then(|b| b.report.tasks.get(task))
                    .map(|b| b.average),
                paper: None,
                average: true,
            });
        }
    }

    fn sort_table(&mut self) {
        let key = |r: &F1Row| -> f64 {
            match self.sort {
                SortBy::Dataset | SortBy::Score => r.score,
                SortBy::DeltaBaseline => {
                    delta(Some(r.score), r.baseline).unwrap_or(f64::NEG_INFINITY)
                }
                SortBy::DeltaPaper => delta(Some(r.score), r.paper).unwrap_or(f64::NEG_INFINITY),
            }
        };
        match self.sort {
            SortBy::Dataset => self.table.sort_by(|a, b| {
                (a.task.as_str(), a.dataset.to_lowercase())
                    .cmp(&(b.task.as_str(), b.dataset.to_lowercase()))
            }),
            _ => self.table.sort_by(|a, b| key(b).total_cmp(&key(a))),
        }
    }

    pub fn on_event(&mut self, e: &JobEvent, ctx: &mut Ctx) {
        match e {
            JobEvent::Metric { run, point, total } => {
                if let Some(t) = total {
                    self.total_steps.insert(*run, *t);
                }
                self.progress.remove(run);
                if let Some((_, m)) = self.marked_metrics.iter_mut().find(|m| m.0 == *run) {
                    m.retain(|m| m.step < point.step);
                    m.push(point.clone());
                }
                if self.selected_id() == Some(*run) {
                    // Stored already; appending spares a re-read per step.
                    self.metrics.retain(|m| m.step < point.step);
                    self.metrics.push(point.clone());
                }
            }
            JobEvent::Progress {
                run,
                done,
                total,
                what,
            } => {
                self.progress.insert(*run, format!("{what} {done}/{total}"));
            }
            JobEvent::Scores { .. }
            | JobEvent::Predictions { .. }
            | JobEvent::Checkpoint { .. } => self.load_selected(ctx),
            JobEvent::Started { .. }
            | JobEvent::Finished { .. }
            | JobEvent::Failed { .. }
            | JobEvent::Cancelled { .. }
            | JobEvent::Rescored { .. } => {
                if let JobEvent::Finished { run }
                | JobEvent::Failed { run, .. }
                | JobEvent::Cancelled { run } = e
                {
                    self.progress.remove(run);
                }
                self.reload(ctx);
            }
        }
    }

    fn on_click(&mut self, line: usize, height: usize, ctx: &mut Ctx) {
        self.cursor.click(line, self.runs.len(), height);
        self.load_selected(ctx);
    }

    /// Keys while the F1 table has them: move, open a dataset's per-label table, or go back.
    fn table_action(&mut self, a: Action, ctx: &mut Ctx) -> Option<Message> {
        let n = self.table.len();
        match a {
            Action::Up => self.table_cursor = self.table_cursor.saturating_sub(1),
            Action::Down => self.table_cursor = (self.table_cursor + 1).min(n.saturating_sub(1)),
            Action::Top => self.table_cursor = 0,
            Action::Bottom => self.table_cursor = n.saturating_sub(1),
            Action::Left | Action::Back => self.table_focus = false,
            Action::Open => {
                let row = self.table.get(self.table_cursor)?;
                if row.average {
                    ctx.status
                        .info("an average row has no labels: pick a dataset");
                    return None;
                }
                return Some(Message::LabelTable {
                    run: self.selected_id()?,
                    dataset: crate::ie::dataset_key(row.task, &row.dataset),
                });
            }
            _ => return self.run_action(a, ctx),
        }
        None
    }

    fn on_action(&mut self, a: Action, ctx: &mut Ctx) -> Option<Message> {
        if self.table_focus {
            return self.table_action(a, ctx);
        }
        if a == Action::Right && !self.table.is_empty() {
            self.table_focus = true;
            self.table_cursor = self.table_cursor.min(self.table.len() - 1);
            return None;
        }
        self.run_action(a, ctx)
    }

    fn run_action(&mut self, a: Action, ctx: &mut Ctx) -> Option<Message> {
        if self.cursor.act(a, self.runs.len()) {
            self.load_selected(ctx);
            return None;
        }
        let id = self.selected_id();
        match a {
            Action::Open if id.is_some() => return Some(Message::Inspect),
            Action::NewRun => self.open_form(ctx),
            Action::CancelRun => return id.map(Message::Cancel),
            Action::ResumeRun => return id.map(Message::Resume),
            Action::Baseline => {
                self.baseline = if self.baseline == id { None } else { id };
                match self.baseline {
                    Some(b) => ctx.status.info(format!("baseline: run {b}")),
                    None => ctx.status.info("no baseline"),
                }
                self.load_selected(ctx);
            }
            Action::Sort => {
                self.sort = self.sort.next();
                self.sort_table();
                ctx.status
                    .info(format!("F1 table sorted by {}", self.sort.label()));
            }
            Action::Zoom => self.zoom_full = !self.zoom_full,
            Action::Search => self.open_prompt(PromptKind::Filter),
            Action::Back if !self.filter.is_empty() => {
                self.filter.clear();
                self.apply_view();
                self.load_selected(ctx);
                ctx.status.info("filter cleared");
            }
            Action::SortRuns => {
                self.order = self.order.next();
                self.apply_view();
                self.load_selected(ctx);
                ctx.status
                    .info(format!("runs sorted by {}", self.order.label()));
            }
            Action::Tag if id.is_some() => self.open_prompt(PromptKind::Tags),
            Action::Note if id.is_some() => self.open_prompt(PromptKind::Note),
            Action::Wide => self.wide = !self.wide,
            Action::Mark => {
                if let Some(id) = id {
                    self.toggle_mark(id, ctx);
                }
            }
            _ => {}
        }
        None
    }

    /// Opens the launch form, filled with the default model and the data in view.
    pub fn open_form(&mut self, ctx: &mut Ctx) {
        let model = ctx.models.default_model();
        let banks: Vec<(u32, String)> = ctx
            .reads
            .bank_versions()
            .unwrap_or_default()
            .iter()
            .map(|t| {
                (
                    t.version,
                    ctx.reads.bank_file(t.version).display().to_string(),
                )
            })
            .filter(|(_, f)| std::path::Path::new(f).is_file())
            .collect();
        let mut form = LaunchForm::new(
            &model.dir().display().to_string(),
            &ctx.ws.root.display().to_string(),
            &banks,
            &ctx.models.backbones,
        );
        form.resolve();
        self.form = Some(form);
        if !matches!(model, DefaultModel::Ready(_)) {
            ctx.status.info(model.describe());
        }
    }

    fn on_key(&mut self, k: &KeyEvent, ctx: &mut Ctx) -> Option<Message> {
        let form = self.form.as_mut()?;
        let field = form.fields[form.cursor].name;
        match form.key(k) {
            Edit::Submit => {
                if let Some(problem) = form.problem() {
                    ctx.status.error(problem);
                    return None;
                }
                let spec = match form.spec() {
                    Ok(spec) => spec,
                    Err(problem) => {
                        ctx.status.error(problem);
                        return None;
                    }
                };
                let model = ctx.models.default_model();
                let wants_default = form
                    .get("model")
                    .is_some_and(|f| std::path::Path::new(&f.value()) == model.dir());
                match model {
                    DefaultModel::Making { .. } if wants_default => {
                        self.form = None;
                        self.pending_launch = Some(spec);
                        ctx.status.info(format!(
                            "the run starts as soon as the default model is made; {}",
                            model.describe()
                        ));
                    }
                    DefaultModel::Failed { .. } if wants_default => {
                        ctx.status.error(model.describe());
                    }
                    _ => {
                        self.form = None;
                        return Some(Message::Launch(Box::new(spec)));
                    }
                }
            }
            Edit::Cancel => self.form = None,
            Edit::Changed if field == "backbone" => {
                let i = form.get("backbone").map_or(0, |f| f.choice);
                form.pick_backbone(i);
                form.resolve();
            }
            Edit::Changed if matches!(field, "kind" | "data" | "config") => form.resolve(),
            _ => {}
        }
        None
    }

    /// Run `id` was just queued: it is selected.
    pub fn launched(&mut self, id: RunId, ctx: &mut Ctx) {
        self.reload(ctx);
        if let Some(p) = self.runs.iter().position(|r| r.0 == id) {
            self.cursor.selected = p;
        }
        self.load_selected(ctx);
    }

    /// The default model is made (or could not be): a launch that waited for it goes ahead.
    pub fn on_default_model(&mut self, model: &DefaultModel, ctx: &mut Ctx) -> Option<Message> {
        let spec = self.pending_launch.take()?;
        match model {
            DefaultModel::Ready(_) => Some(Message::Launch(Box::new(spec))),
            _ => {
                ctx.status.error(model.describe());
                None
            }
        }
    }
}

impl Screen for State {
    fn capturing(&self) -> bool {
        self.form.is_some() || self.prompt.is_some()
    }

    fn act(&mut self, a: Action, ctx: &mut Ctx) -> Option<Message> {
        self.on_action(a, ctx)
    }

    fn raw_key(&mut self, k: &KeyEvent, ctx: &mut Ctx) -> Option<Message> {
        if self.prompt.is_some() {
            return self.prompt_key(k, ctx);
        }
        self.on_key(k, ctx)
    }

    fn list_area(&self) -> Option<&ListArea> {
        Some(&self.list_area)
    }

    fn click(&mut self, line: usize, height: usize, ctx: &mut Ctx) -> Option<Message> {
        self.on_click(line, height, ctx);
        None
    }

    fn shown(&mut self, ctx: &mut Ctx) {
        // Gold corrections re-score in the background: show their tables.
        self.reload(ctx);
    }
}
