//! Runs: the list of stored runs (queued, running, finished, …), a launch form, cancel and
//! resume; the selected run's live loss chart (raw and EMA-smoothed, recent window or full
//! history) and its per-dataset F1 table, which fills in as evaluations are stored, sortable,
//! with Δ to a baseline run and to the paper.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Clear, Dataset, GraphType, Paragraph, Row, Table, TableState};
use ratatui::Frame;
use std::collections::HashMap;

use super::{delta, pct, Cursor};
use crate::data::catalog::{infer_setting, paper_score};
use crate::data::dataset::SplitResolution;
use crate::eval::extract::Mode;
use crate::ie::Split;
use crate::ie::TaskKind;
use crate::jobs::evaluate::stored_report;
use crate::jobs::JobEvent;
use crate::spec::RunSpec;
use crate::store::{MetricPoint, RunId, RunManifest, RunStatus, StoredScore};
use crate::tui::app::Ctx;
use crate::tui::engine::DefaultModel;
use crate::tui::keymap::Action;
use crate::tui::text_input::{Edit, TextInput};
use crate::tui::theme::Theme;
use crate::tui::view::{block, fit, wrap};

/// Steps the chart shows when zoomed to the recent window.
pub const RECENT: usize = 200;
/// EMA smoothing factor (weight of the newest point).
pub const EMA_ALPHA: f64 = 0.1;

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

/// A launch form field: a choice among fixed values, or free text.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: &'static str,
    pub flag: &'static str,
    pub choices: Vec<String>,
    pub choice: usize,
    pub input: TextInput,
}

impl Field {
    fn text(name: &'static str, flag: &'static str, value: &str) -> Field {
        Field {
            name,
            flag,
            choices: Vec::new(),
            choice: 0,
            input: TextInput::new(value),
        }
    }

    fn choice(
        name: &'static str,
        flag: &'static str,
        choices: Vec<String>,
        choice: usize,
    ) -> Field {
        Field {
            name,
            flag,
            choices,
            choice,
            input: TextInput::default(),
        }
    }

    pub fn value(&self) -> String {
        if self.choices.is_empty() {
            self.input.text.trim().to_string()
        } else {
            self.choices[self.choice].clone()
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LaunchForm {
    pub fields: Vec<Field>,
    pub cursor: usize,
    /// The `--instructions` file behind each choice of the `instructions` field.
    pub bank_files: Vec<Option<String>>,
    /// What the data holds of the config's datasets, per split the run reads; or why the
    /// config cannot be read.
    pub resolution: Result<Vec<(Split, SplitResolution)>, String>,
    /// The model the `default tiny T5` backbone stands for.
    pub default_model: String,
}

/// The `missing` field's choices: the first adds no flag.
const MISSING: [&str; 2] = ["skip with a note", "fail the run"];

pub const KINDS: [&str; 3] = ["train", "eval", "zero-shot"];

const DEFAULT_BACKBONE: &str = "default tiny T5";
/// The `answers` field's choices (decoders only): the second adds `--constrain`.
const ANSWERS: [&str; 2] = ["free text", "constrained to options and sentence"];
/// Fields that are a flag alone, given when their second choice is picked.
const SWITCHES: [&str; 2] = ["--require-all", "--constrain"];
/// The tiny T5 learns the whole sample config from scratch at a high rate.
const T5_SETTINGS: &[(&str, &str)] = &[
    ("config", "supervised"),
    ("max steps", "40"),
    ("learning rate", "1e-3"),
    ("batch size", "8"),
    ("save every", "20"),
    ("max test", "50"),
];
/// A pretrained decoder fine-tunes on CoNLL 2003 alone (`ner-demo`) at a low rate in small
/// batches; its checkpoints are large, so it saves once at the end; its answers are
/// constrained, so that a short run already scores.
const DECODER_SETTINGS: &[(&str, &str)] = &[
    ("config", "ner-demo"),
    ("max steps", "60"),
    ("learning rate", "1e-4"),
    ("batch size", "4"),
    ("save every", "0"),
    ("max test", "100"),
];

impl LaunchForm {
    /// `backbones` are the installed pretrained models by name (`ie-bench model fetch`); when
    /// there are any, the form starts on the first, with settings for fine-tuning it.
    pub fn new(
        model: &str,
        data: &str,
        banks: &[(u32, String)],
        backbones: &[(String, std::path::PathBuf)],
    ) -> LaunchForm {
        let mut bank_names = vec!["data's own / built-in".to_string()];
        let mut bank_files = vec![None];
        for (v, file) in banks {
            bank_names.push(format!("stored v{v}"));
            bank_files.push(Some(file.clone()));
        }
        let newest = bank_names.len() - 1;
        let mut backbone_names = vec![DEFAULT_BACKBONE.to_string()];
        backbone_names.extend(backbones.iter().map(|(n, _)| n.clone()));
        let mut form = LaunchForm {
            fields: vec![
                Field::choice("kind", "", KINDS.iter().map(|k| k.to_string()).collect(), 0),
                Field::text("model", "--model", model),
                Field::text("data", "--data", data),
                // `supervised`, `zeroshot`, `builtin:NAME` or a task-config directory.
                Field::text("config", "--config", "supervised"),
                Field::choice(
                    "missing datasets",
                    "--require-all",
                    MISSING.iter().map(|m| m.to_string()).collect(),
                    0,
                ),
                Field::choice("instructions", "--instructions", bank_names, newest),
                Field::text("max steps", "--max-steps", "40"),
                Field::text("learning rate", "--lr", "1e-3"),
                Field::text("batch size", "--batch-size", "8"),
                Field::text("save every", "--save-every", "20"),
                // A quick look: dev and test capped per dataset (the CLI's defaults are 200
                // and all).
                Field::text("max dev", "--max-eval", "20"),
                Field::text("max test", "--max-test", "50"),
            ],
            cursor: 0,
            bank_files,
            resolution: Ok(Vec::new()),
            default_model: model.to_string(),
        };
        if !backbones.is_empty() {
            // Not a flag of its own: picking one fills in the model and its settings.
            form.fields
                .insert(1, Field::choice("backbone", "", backbone_names, 0));
            let answers = ANSWERS.iter().map(|a| a.to_string()).collect();
            form.fields
                .insert(2, Field::choice("answers", "--constrain", answers, 0));
            form.pick_backbone(1);
        }
        form
    }

    /// Selects backbone `i` (0: the default T5) and the settings that suit it
    /// (`T5_SETTINGS`, `DECODER_SETTINGS`).
    pub fn pick_backbone(&mut self, i: usize) {
        let Some(b) = self.fields.iter_mut().find(|f| f.name == "backbone") else {
            return;
        };
        b.choice = i.min(b.choices.len() - 1);
        let decoder = b.choice != 0;
        let (model, settings) = if decoder {
            (b.choices[b.choice].clone(), DECODER_SETTINGS)
        } else {
            (self.default_model.clone(), T5_SETTINGS)
        };
        self.set("model", &model);
        for (name, value) in settings {
            self.set(name, value);
        }
        if let Some(a) = self.fields.iter_mut().find(|f| f.flag == "--constrain") {
            a.choice = usize::from(decoder);
        }
    }

    fn set(&mut self, name: &str, value: &str) {
        if let Some(f) = self.fields.iter_mut().find(|f| f.name == name) {
            f.input = TextInput::new(value);
        }
    }

    /// Works out again which datasets the data and config give (after either changes).
    pub fn resolve(&mut self) {
        let value = |name| self.get(name).map(Field::value).unwrap_or_default();
        let root = std::path::PathBuf::from(value("data"));
        let splits: &[Split] = if value("kind") == "train" {
            &[Split::Train, Split::Dev, Split::Test]
        } else {
            &[Split::Test]
        };
        let config = value("config");
        let config = crate::service::runs::run_config(value("kind") == "zero-shot", &config);
        self.resolution = if !root.is_dir() {
            Err(format!("data: {} is not a directory", root.display()))
        } else {
            crate::service::workspace::task_config(config, &root)
                .map(|c| {
                    splits
                        .iter()
                        .map(|s| (*s, SplitResolution::of(&root, &c.split(*s).entries, *s)))
                        .collect()
                })
                .map_err(|e| format!("config: {e:#}"))
        };
    }

    /// Why the form cannot launch as it stands, in words.
    pub fn problem(&self) -> Option<String> {
        let value = |name| self.get(name).map(Field::value).unwrap_or_default();
        if value("model").is_empty() {
            return Some(
                "model: type a model directory (or a Hugging Face id), or make one with `ie-bench model init --data DIR --out DIR`".into(),
            );
        }
        if let Err(e) = &self.resolution {
            return Some(e.clone());
        }
        for f in self.fields.iter().filter(|f| self.applies(f)) {
            let numeric = matches!(
                f.flag,
                "--max-steps" | "--batch-size" | "--save-every" | "--max-eval" | "--max-test"
            );
            if numeric && f.value().parse::<usize>().is_err() {
                return Some(format!(
                    "{}: expected a whole number, got {:?}",
                    f.name,
                    f.value()
                ));
            }
            if f.flag == "--lr"
                && !f
                    .value()
                    .parse::<f64>()
                    .is_ok_and(|v| v > 0.0 && v.is_finite())
            {
                return Some(format!(
                    "{}: expected a positive number, got {:?}",
                    f.name,
                    f.value()
                ));
            }
        }
        None
    }

    pub fn get(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Whether a field applies to the kind chosen (evaluations take no optimiser settings).
    pub fn applies(&self, f: &Field) -> bool {
        self.fields[0].value() == "train"
            || !matches!(
                f.flag,
                "--max-steps" | "--lr" | "--batch-size" | "--save-every" | "--max-test"
            )
    }

    /// The run the form describes, checked as the command line checks it (a number field
    /// that does not parse is named here).
    pub fn spec(&self) -> Result<RunSpec, String> {
        RunSpec::from_words(&self.words()).map_err(|e| first_line(&e.to_string()))
    }

    /// The words after `ie-bench run`, exactly what the CLI would take.
    pub fn words(&self) -> Vec<String> {
        let mut w = vec![self.fields[0].value()];
        for f in &self.fields[1..] {
            if !self.applies(f) || f.flag.is_empty() {
                continue;
            }
            let value = if f.flag == "--instructions" {
                match &self.bank_files[f.choice] {
                    Some(file) => file.clone(),
                    None => continue,
                }
            } else if SWITCHES.contains(&f.flag) {
                if f.choice == 1 {
                    w.push(f.flag.to_string());
                }
                continue;
            } else {
                f.value()
            };
            if !value.is_empty() {
                w.push(f.flag.to_string());
                w.push(value);
            }
        }
        w
    }

    fn key(&mut self, k: &KeyEvent) -> Edit {
        let f = &mut self.fields[self.cursor];
        match k.code {
            KeyCode::Up | KeyCode::BackTab => {
                self.cursor = self.cursor.checked_sub(1).unwrap_or(self.fields.len() - 1);
                Edit::Moved
            }
            KeyCode::Down | KeyCode::Tab => {
                self.cursor = (self.cursor + 1) % self.fields.len();
                Edit::Moved
            }
            KeyCode::Left | KeyCode::Right if !f.choices.is_empty() => {
                let n = f.choices.len();
                f.choice = if k.code == KeyCode::Left {
                    (f.choice + n - 1) % n
                } else {
                    (f.choice + 1) % n
                };
                Edit::Changed
            }
            KeyCode::Char(' ') if !f.choices.is_empty() => {
                f.choice = (f.choice + 1) % f.choices.len();
                Edit::Changed
            }
            _ if !f.choices.is_empty() => match k.code {
                KeyCode::Enter => Edit::Submit,
                KeyCode::Esc => Edit::Cancel,
                _ => Edit::Ignored,
            },
            _ => f.input.key(k),
        }
    }
}

pub enum Follow {
    Stay,
    Inspect,
}

pub struct State {
    pub runs: Vec<(RunId, RunManifest)>,
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
            runs: Vec::new(),
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

    pub fn capturing(&self) -> bool {
        self.form.is_some()
    }

    /// Re-reads the run list and the selected run's metrics and scores.
    pub fn reload(&mut self, ctx: &mut Ctx) {
        let store = ctx.engine.store();
        match store.runs() {
            Ok(mut r) => {
                // Newest first: the run just launched is at the top.
                r.reverse();
                let keep = self.selected_id();
                self.runs = r;
                if let Some(id) = keep {
                    if let Some(p) = self.runs.iter().position(|x| x.0 == id) {
                        self.cursor.selected = p;
                    }
                }
                self.cursor.clamp(self.runs.len());
            }
            Err(e) => ctx.status.error(e),
        }
        self.load_selected(ctx);
    }

    fn load_selected(&mut self, ctx: &mut Ctx) {
        let store = ctx.engine.store();
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
            stored_report(rows, "test", Mode::Compat, None)
                .map(|t| ("test", t))
                .or_else(|| stored_report(rows, "dev", Mode::Compat, None).map(|t| ("dev", t)))
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
            | JobEvent::Cancelled { .. } => {
                if let JobEvent::Finished { run }
                | JobEvent::Failed { run, .. }
                | JobEvent::Cancelled { run } = e
                {
                    self.progress.remove(run);
                }
                self.reload(ctx)
            }
        }
    }

    pub fn click(&mut self, line: usize, height: usize, ctx: &mut Ctx) {
        self.cursor.click(line, self.runs.len(), height);
        self.load_selected(ctx);
    }

    pub fn act(&mut self, a: Action, ctx: &mut Ctx) -> Follow {
        if self.cursor.act(a, self.runs.len()) {
            self.load_selected(ctx);
            return Follow::Stay;
        }
        let id = self.selected_id();
        match a {
            Action::Open if id.is_some() => return Follow::Inspect,
            Action::NewRun => self.open_form(ctx),
            Action::CancelRun => {
                if let Some(id) = id {
                    match ctx.engine.cancel(id) {
                        Ok(()) => ctx.status.info(format!("cancelling run {id}")),
                        Err(e) => ctx.status.error(e),
                    }
                    self.reload(ctx);
                }
            }
            Action::ResumeRun => {
                if let Some(id) = id {
                    match ctx.engine.resume(id) {
                        Ok(()) => ctx.status.info(format!("run {id} queued to resume")),
                        Err(e) => ctx.status.error(e),
                    }
                    self.reload(ctx);
                }
            }
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
            _ => {}
        }
        Follow::Stay
    }

    /// Opens the launch form, filled with the default model and the data in view.
    pub fn open_form(&mut self, ctx: &mut Ctx) {
        let model = ctx.engine.default_model();
        let banks: Vec<(u32, String)> = ctx
            .engine
            .bank_versions()
            .unwrap_or_default()
            .iter()
            .map(|t| {
                (
                    t.version,
                    ctx.engine.bank_file(t.version).display().to_string(),
                )
            })
            .filter(|(_, f)| std::path::Path::new(f).is_file())
            .collect();
        let mut form = LaunchForm::new(
            &model.dir().display().to_string(),
            &ctx.ws.root.display().to_string(),
            &banks,
            &ctx.engine.backbones,
        );
        form.resolve();
        self.form = Some(form);
        if !matches!(model, DefaultModel::Ready(_)) {
            ctx.status.info(model.describe());
        }
    }

    pub fn raw_key(&mut self, k: &KeyEvent, ctx: &mut Ctx) {
        let Some(form) = self.form.as_mut() else {
            return;
        };
        let field = form.fields[form.cursor].name;
        match form.key(k) {
            Edit::Submit => {
                if let Some(problem) = form.problem() {
                    ctx.status.error(problem);
                    return;
                }
                let spec = match form.spec() {
                    Ok(spec) => spec,
                    Err(problem) => {
                        ctx.status.error(problem);
                        return;
                    }
                };
                let model = ctx.engine.default_model();
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
                        ctx.status.error(model.describe())
                    }
                    _ => {
                        self.form = None;
                        self.launch(spec, ctx);
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
    }

    fn launch(&mut self, spec: RunSpec, ctx: &mut Ctx) {
        let words = spec.to_words();
        match ctx.engine.launch(spec) {
            Ok(id) => {
                ctx.status
                    .info(format!("run {id} queued: ie-bench run {}", words.join(" ")));
                self.reload(ctx);
                if let Some(p) = self.runs.iter().position(|r| r.0 == id) {
                    self.cursor.selected = p;
                }
                self.load_selected(ctx);
            }
            Err(e) => ctx.status.error(first_line(&format!("{e:#}"))),
        }
    }

    /// The default model is made (or could not be): a launch that waited for it goes ahead.
    pub fn on_default_model(&mut self, model: &DefaultModel, ctx: &mut Ctx) {
        let Some(spec) = self.pending_launch.take() else {
            return;
        };
        match model {
            DefaultModel::Ready(_) => self.launch(spec, ctx),
            _ => ctx.status.error(model.describe()),
        }
    }
}

/// clap's usage text does not fit a status line; its first line says what is wrong.
fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_string()
}

/// Newest dev score per step: the mean of the per-task averages.
fn dev_curve(rows: &[StoredScore]) -> Vec<(u64, f64)> {
    let mut steps: Vec<u64> = rows
        .iter()
        .filter(|r| r.split == "dev" && r.mode == "compat")
        .map(|r| r.step)
        .collect();
    steps.sort_unstable();
    steps.dedup();
    steps
        .into_iter()
        .filter_map(|step| {
            let at: Vec<StoredScore> = rows
                .iter()
                .filter(|r| r.split == "dev" && r.step == step)
                .cloned()
                .collect();
            let t = stored_report(&at, "dev", Mode::Compat, None)?;
            let avgs: Vec<f64> = t.report.tasks.values().map(|t| t.average).collect();
            (!avgs.is_empty()).then(|| (step, avgs.iter().sum::<f64>() / avgs.len() as f64))
        })
        .collect()
}

/// Exponential moving average of the loss, as (step, value) points; NaN and infinite losses
/// (a diverged run) are left out rather than poisoning every later point.
pub fn ema(points: &[MetricPoint], alpha: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len());
    let mut acc: Option<f64> = None;
    for p in points.iter().filter(|p| p.loss.is_finite()) {
        let v = match acc {
            Some(a) => a + alpha * (p.loss - a),
            None => p.loss,
        };
        acc = Some(v);
        out.push((p.step as f64, v));
    }
    out
}

/// Axis bounds fitted to the data, with a little headroom; a flat series gets a unit range.
pub fn fit_bounds(values: impl Iterator<Item = f64>) -> [f64; 2] {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return [0.0, 1.0];
    }
    if hi - lo < 1e-9 {
        return [lo - 0.5, hi + 0.5];
    }
    let pad = (hi - lo) * 0.05;
    [lo - pad, hi + pad]
}

/// The loss axis: fitted to the raw and smoothed points, but never below 0 when no loss is
/// negative (the headroom under a small loss would otherwise show negative values).
pub fn loss_bounds(raw: &[(f64, f64)], smooth: &[(f64, f64)]) -> [f64; 2] {
    let mut y = fit_bounds(raw.iter().chain(smooth).map(|p| p.1));
    if raw.iter().all(|p| p.1 >= 0.0) {
        y[0] = y[0].max(0.0);
    }
    y
}

fn status_style(s: RunStatus, t: &Theme) -> Style {
    Style::default().fg(match s {
        RunStatus::Finished => t.correct,
        RunStatus::Running => t.focus,
        RunStatus::Queued => t.dim,
        RunStatus::Failed | RunStatus::Diverged => t.error,
        RunStatus::Cancelled | RunStatus::Interrupted => t.warning,
    })
}

pub fn draw(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area);
    let [list, chart] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(top);
    draw_list(f, list, s, t);
    draw_chart(f, chart, s, t);
    draw_table(f, bottom, s, t);
    if let Some(form) = &s.form {
        draw_form(f, area, form, t);
    }
}

fn draw_list(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    // A failed run's reason, in full, under the list while it is selected.
    let reason = s
        .runs
        .get(s.cursor.selected)
        .and_then(|(id, m)| Some((id, m.status, m.error.as_deref()?)));
    let area = match reason {
        Some((id, status, error)) if area.height >= 8 => {
            let [list, why] =
                Layout::vertical([Constraint::Min(4), Constraint::Length(area.height / 2)])
                    .areas(area);
            f.render_widget(
                Paragraph::new(super::safe(error))
                    .style(Style::default().fg(t.error))
                    .wrap(ratatui::widgets::Wrap { trim: false })
                    .block(block(format!("run {id} {}", status.as_str()), false, t)),
                why,
            );
            list
        }
        _ => area,
    };
    let rows: Vec<Row> = s
        .runs
        .iter()
        .map(|(id, m)| {
            let mark = if s.baseline == Some(*id) { "B" } else { " " };
            let progress = match (m.status, s.progress.get(id)) {
                (RunStatus::Running, Some(p)) => p.clone(),
                (RunStatus::Running, None) if m.kind == crate::store::RunKind::Train => {
                    let step = s
                        .metrics
                        .last()
                        .filter(|_| s.runs.get(s.cursor.selected).map(|r| r.0) == Some(*id))
                        .map(|p| p.step);
                    match (step, s.total_steps.get(id)) {
                        (Some(st), Some(total)) => format!("step {st}/{total}"),
                        _ => String::new(),
                    }
                }
                (RunStatus::Failed | RunStatus::Diverged, _) if m.error.is_some() => {
                    super::safe(m.error.as_deref().unwrap_or_default())
                }
                _ => crate::store::format_time(m.created)
                    .replace('T', " ")
                    .trim_end_matches('Z')
                    .to_string(),
            };
            Row::new(vec![
                Span::raw(format!("{mark}{id:>3}")),
                Span::raw(m.kind.as_str()),
                Span::styled(m.status.as_str(), status_style(m.status, t)),
                Span::styled(progress, t.dimmed()),
            ])
        })
        .collect();
    let mut state = TableState::default().with_selected(Some(s.cursor.selected));
    let table = Table::new(
        rows,
        [
            Constraint::Length(4),
            Constraint::Length(9),
            Constraint::Length(11),
            Constraint::Min(8),
        ],
    )
    .header(Row::new(vec!["  id", "kind", "status", "progress / created"]).style(t.dimmed()))
    .block(block(
        format!("Runs ({})", s.runs.len()),
        s.form.is_none(),
        t,
    ))
    .row_highlight_style(t.selected());
    f.render_stateful_widget(table, area, &mut state);
}

fn draw_chart(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    let points: &[MetricPoint] = if s.zoom_full || s.metrics.len() <= RECENT {
        &s.metrics
    } else {
        &s.metrics[s.metrics.len() - RECENT..]
    };
    let title = match s.metrics.last() {
        Some(p) => format!(
            "Loss {} · step {} · {:.4} (EMA {:.4})",
            if s.zoom_full { "(all)" } else { "(recent)" },
            p.step,
            p.loss,
            ema(&s.metrics, EMA_ALPHA).last().map_or(p.loss, |e| e.1)
        ),
        None => "Loss (no points yet)".to_string(),
    };
    if points.is_empty() {
        f.render_widget(Paragraph::new("").block(block(title, false, t)), area);
        return;
    }
    // Non-finite losses have no place on a chart; the title and `runs show` still say NaN.
    let raw: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.loss.is_finite())
        .map(|p| (p.step as f64, p.loss))
        .collect();
    // Smoothed over the full history, then cut to the window, so zooming does not restart it.
    let first = points[0].step as f64;
    let smooth: Vec<(f64, f64)> = ema(&s.metrics, EMA_ALPHA)
        .into_iter()
        .filter(|p| p.0 >= first)
        .collect();
    let x = fit_bounds(raw.iter().map(|p| p.0));
    let y = loss_bounds(&raw, &smooth);
    let datasets = vec![
        Dataset::default()
            .name("loss")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::default().fg(t.loss))
            .data(&raw),
        Dataset::default()
            .name(format!("EMA {EMA_ALPHA}"))
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::default().fg(t.smoothed))
            .data(&smooth),
    ];
    let label = |v: f64| Span::styled(format!("{v:.2}"), t.dimmed());
    let chart = Chart::new(datasets)
        .block(block(title, false, t))
        .x_axis(Axis::default().bounds(x).labels(vec![
            Span::styled(format!("{:.0}", x[0].max(0.0)), t.dimmed()),
            Span::styled(format!("{:.0}", x[1]), t.dimmed()),
        ]))
        .y_axis(Axis::default().bounds(y).labels(vec![
            label(y[0]),
            label((y[0] + y[1]) / 2.0),
            label(y[1]),
        ]));
    f.render_widget(chart, area);
}

fn draw_table(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    let d = |v: Option<f64>| -> Span {
        match v {
            Some(x) => Span::styled(
                format!("{x:+.2}"),
                Style::default().fg(if x >= 0.0 { t.better } else { t.worse }),
            ),
            None => Span::styled("—", t.dimmed()),
        }
    };
    let rows: Vec<Row> = s
        .table
        .iter()
        .map(|r| {
            let row_style = if r.average {
                t.dimmed().add_modifier(Modifier::ITALIC)
            } else {
                Style::default()
            };
            Row::new(vec![
                Span::raw(r.task.as_str()),
                Span::raw(super::safe(&r.dataset)),
                Span::raw(r.n.to_string()),
                Span::styled(
                    pct(Some(r.score)),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::raw(pct(r.baseline)),
                d(delta(Some(r.score), r.baseline)),
                Span::raw(pct(r.paper)),
                d(delta(Some(r.score), r.paper)),
            ])
            .style(row_style)
        })
        .collect();
    let curve = match s.dev_curve.last() {
        Some((step, v)) if s.dev_curve.len() > 1 => format!(
            " · dev F1 by step: {}",
            s.dev_curve
                .iter()
                .map(|(st, v)| format!("{st}:{:.1}", v * 100.0))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Some((step, v)) => format!(" · dev F1 at step {step}: {:.2}", v * 100.0),
        None => String::new(),
    };
    let title = if s.table.is_empty() {
        "F1 (no scores stored yet)".to_string()
    } else {
        format!(
            "F1 · {} at step {} · sorted by {}{curve}",
            s.table_split,
            s.table_step,
            s.sort.label()
        )
    };
    let base = s
        .baseline
        .map_or("base".to_string(), |b| format!("run {b}"));
    let table = Table::new(
        rows,
        [
            Constraint::Length(4),
            Constraint::Min(12),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(6),
            Constraint::Length(7),
        ],
    )
    .header(
        Row::new(vec![
            "task".to_string(),
            "dataset".into(),
            "n".into(),
            "F1".into(),
            base,
            "Δ".into(),
            "paper".into(),
            "Δ".into(),
        ])
        .style(t.dimmed()),
    )
    .block(block(title, false, t));
    f.render_widget(table, area);
}

fn draw_form(f: &mut Frame, area: Rect, form: &LaunchForm, t: &Theme) {
    let w = area.width.saturating_sub(4).min(90);
    let inner = w.saturating_sub(2) as usize;
    let mut lines = Vec::new();
    for (i, field) in form.fields.iter().enumerate() {
        let focused = i == form.cursor;
        let value = if !field.choices.is_empty() {
            format!("‹ {} ›", field.value())
        } else if focused {
            field.input.with_cursor()
        } else {
            field.input.text.clone()
        };
        let style = if !form.applies(field) {
            t.dimmed()
        } else if focused {
            t.selected()
        } else {
            t.base()
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!("{:>16}  ", field.name),
                if focused {
                    Style::default().fg(t.focus)
                } else {
                    t.dimmed()
                },
            ),
            Span::styled(fit(&value, inner.saturating_sub(18)), style),
        ]));
    }
    // What the config will use of the data, before anything starts: counts per split, then
    // the names (each once, whichever tasks and splits name it), wrapped to the form.
    match &form.resolution {
        Ok(splits) => {
            let mut based = std::collections::BTreeSet::new();
            let mut missing = std::collections::BTreeSet::new();
            for (split, r) in splits {
                let warn = !r.missing.is_empty();
                lines.push(Line::styled(
                    fit(
                        &format!(
                            "{split}: {} found · {} from a base · {} missing",
                            r.found.len(),
                            r.from_base.len(),
                            r.missing.len()
                        ),
                        inner,
                    ),
                    if warn {
                        Style::default().fg(t.warning)
                    } else {
                        t.dimmed()
                    },
                ));
                for (key, dir) in &r.from_base {
                    based.insert(format!("{} → {dir}", crate::ie::dataset_of_key(key)));
                }
                missing.extend(r.missing.iter().map(|k| crate::ie::dataset_of_key(k)));
            }
            let mut list = |what: &str, names: Vec<String>, style: Style| {
                if names.is_empty() {
                    return;
                }
                let text = super::safe(&format!("{what}: {}", names.join(", ")));
                for l in wrap(&text, inner) {
                    lines.push(Line::styled(l, style));
                }
            };
            list("from a base", based.into_iter().collect(), t.dimmed());
            list(
                "missing (skipped with a note, or the run fails, as chosen above)",
                missing.into_iter().map(str::to_string).collect(),
                Style::default().fg(t.warning),
            );
        }
        Err(e) => {
            for l in wrap(&super::safe(e), inner) {
                lines.push(Line::styled(l, Style::default().fg(t.error)));
            }
        }
    }
    lines.push(Line::styled(
        fit(
            "↑↓ field · ←→ choice · type to edit · enter launch · esc close · ? keys",
            inner,
        ),
        t.dimmed(),
    ));
    let h = (lines.len() as u16 + 2).min(area.height);
    // Taller than the screen: the focused field stays in the middle, so moving down to the
    // last fields brings the lines under them into view.
    let visible = h.saturating_sub(2) as usize;
    let scroll = form
        .cursor
        .saturating_sub(visible / 2)
        .min(lines.len().saturating_sub(visible)) as u16;
    let rect = crate::tui::view::centered(area, w, h);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines)
            .block(block("New run", true, t))
            .style(t.base())
            .scroll((scroll, 0)),
        rect,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loss_axis_stops_at_zero() {
        let raw = [(1.0, 0.02), (2.0, 0.01), (3.0, 0.5)];
        let y = loss_bounds(&raw, &[]);
        assert_eq!(y[0], 0.0);
        assert!(y[1] > 0.5);
        // A negative value (a custom metric) keeps its headroom.
        let y = loss_bounds(&[(1.0, -1.0), (2.0, 1.0)], &[]);
        assert!(y[0] < -1.0);
    }

    fn flag(words: &[String], name: &str) -> Option<String> {
        let at = words.iter().position(|w| w == name)?;
        words.get(at + 1).cloned()
    }

    #[test]
    fn an_installed_backbone_is_offered_with_settings_for_fine_tuning_it() {
        let plain = LaunchForm::new("models/tiny", "data", &[], &[]);
        assert!(
            plain.get("backbone").is_none(),
            "no choice without an installed backbone"
        );
        let gemma = (
            "gemma-3-270m".to_string(),
            std::path::PathBuf::from("g.gguf"),
        );
        let mut form = LaunchForm::new("models/tiny", "data", &[], &[gemma]);
        let w = form.words();
        assert_eq!(flag(&w, "--model").as_deref(), Some("gemma-3-270m"));
        assert_eq!(flag(&w, "--lr").as_deref(), Some("1e-4"));
        assert_eq!(flag(&w, "--batch-size").as_deref(), Some("4"));
        assert_eq!(flag(&w, "--config").as_deref(), Some("ner-demo"));
        assert!(w.iter().any(|x| x == "--constrain"), "{w:?}");
        assert!(
            !w.iter().any(|x| x.is_empty()),
            "the choice adds no word: {w:?}"
        );
        form.pick_backbone(0);
        let w = form.words();
        assert_eq!(flag(&w, "--model").as_deref(), Some("models/tiny"));
        assert_eq!(flag(&w, "--lr").as_deref(), Some("1e-3"));
        assert_eq!(flag(&w, "--config").as_deref(), Some("supervised"));
        assert!(!w.iter().any(|x| x == "--constrain"), "{w:?}");
        // The form gives the spec the CLI would parse, switch included.
        form.pick_backbone(1);
        let spec = form.spec().expect("the form's words parse");
        let crate::spec::RunSpec::Train(t) = &spec else {
            panic!("{spec:?}")
        };
        assert!(t.constrain && t.model == "gemma-3-270m", "{spec:?}");
    }
}
