//! The whole TUI state and how keys, mouse and job events change it. Drawing reads this state
//! and nothing else (see `view`).

use crossterm::event::{Event, KeyEvent, KeyEventKind, MouseEventKind};

use super::engine::{Engine, Models};
use super::keymap::{Action, Keymap};
use super::message::{first_line, Message};
use super::screens::{self, compare, datasets, export, inspect, runs, templates};
use super::theme::Theme;
use super::workspace::Workspace;
use crate::jobs::JobEvent;
use crate::service::reads::Reads;
use crate::store::RunId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Datasets,
    Templates,
    Runs,
    Inspect,
    Compare,
    Export,
}

impl Screen {
    pub const ALL: [Screen; 6] = [
        Screen::Datasets,
        Screen::Templates,
        Screen::Runs,
        Screen::Inspect,
        Screen::Compare,
        Screen::Export,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Datasets => "Datasets",
            Screen::Templates => "Templates",
            Screen::Runs => "Runs",
            Screen::Inspect => "Inspect",
            Screen::Compare => "Compare",
            Screen::Export => "Export",
        }
    }

    fn index(self) -> usize {
        Screen::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// The message line: what the last action did, or why it could not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    pub text: String,
    pub error: bool,
}

impl Status {
    pub fn info(&mut self, text: impl Into<String>) {
        self.text = text.into();
        self.error = false;
    }

    pub fn error(&mut self, e: impl std::fmt::Display) {
        self.text = format!("{e:#}");
        self.error = true;
    }
}

/// What a screen may use while it handles an action: reads, never writes (those go back to
/// `App` as messages).
pub struct Ctx<'a> {
    pub reads: &'a Reads,
    pub models: &'a Models,
    pub ws: &'a Workspace,
    pub status: &'a mut Status,
}

/// The focused screen (a macro, so the borrow stays on that one field).
macro_rules! focused {
    ($app:expr) => {{
        let screen: &mut dyn screens::Screen = match $app.screen {
            Screen::Datasets => &mut $app.datasets,
            Screen::Templates => &mut $app.templates,
            Screen::Runs => &mut $app.runs,
            Screen::Inspect => &mut $app.inspect,
            Screen::Compare => &mut $app.compare,
            Screen::Export => &mut $app.export,
        };
        screen
    }};
}

/// A screen's [`Ctx`] from the engine and the app's workspace and status line (a macro, so
/// the borrow stays on those two fields and the screens stay free to borrow).
macro_rules! ctx {
    ($app:expr, $engine:expr) => {
        Ctx {
            reads: &$engine.reads,
            models: &$engine.models,
            ws: &$app.ws,
            status: &mut $app.status,
        }
    };
}

pub struct App {
    pub screen: Screen,
    /// Where the tab bar's labels were last drawn, for clicks on them.
    pub tab_areas: std::cell::Cell<[ratatui::layout::Rect; 6]>,
    pub help: bool,
    /// Lines the help overlay is scrolled by.
    pub help_scroll: u16,
    /// Set after a first quit while runs are in progress; a second quit confirms.
    pub confirm_quit: bool,
    pub quit: bool,
    pub status: Status,
    pub keymap: Keymap,
    pub theme: Theme,
    pub ws: Workspace,
    pub datasets: datasets::State,
    pub templates: templates::State,
    pub runs: runs::State,
    pub inspect: inspect::State,
    pub compare: compare::State,
    pub export: export::State,
    /// Runs being re-scored after a gold correction: their new score rows change no
    /// prediction or verdict, so Inspect does not load them again.
    rescoring: std::collections::HashSet<RunId>,
}

/// The default model's tokenizer, for the screens that count prompt tokens; `None` until the
/// model is made, or (said on the status line) when its tokenizer cannot be read.
fn default_tokenizer(engine: &Engine, status: &mut Status) -> Option<crate::model::TextTokenizer> {
    engine.default_tokenizer().unwrap_or_else(|e| {
        status.error(format!("no tokenizer for prompt lengths: {e:#}"));
        None
    })
}

impl App {
    pub fn new(engine: &Engine, ws: Workspace, keymap: Keymap, theme: Theme) -> App {
        let mut status = Status::default();
        let mut ctx = Ctx {
            reads: &engine.reads,
            models: &engine.models,
            ws: &ws,
            status: &mut status,
        };
        // Read once for the two screens that count tokens.
        let tokenizer = default_tokenizer(engine, ctx.status);
        let datasets = datasets::State::new(&mut ctx, tokenizer.clone());
        let templates = templates::State::new(&mut ctx, tokenizer);
        let mut runs = runs::State::new(&mut ctx);
        let export = export::State::new(&mut ctx);
        // A fresh database opens on a ready launch form: one key trains the default model on
        // the data, and the first minute shows a run learning and its scores filling in.
        let fresh = runs.runs.is_empty();
        if fresh {
            runs.open_form(&mut ctx);
            // With a pretrained decoder installed the form starts on it (a short fine-tune on
            // CoNLL 2003); otherwise on the tiny T5 made for the data.
            let model = match (engine.models.backbones.first(), engine.default_model()) {
                (Some((name, _)), _) => format!("fine-tunes {name} briefly"),
                (None, super::engine::DefaultModel::Ready(_)) => {
                    "trains the tiny default model".to_string()
                }
                (None, _) => {
                    "trains the tiny default model (being made now; a launch waits for it)"
                        .to_string()
                }
            };
            ctx.status.info(format!(
                "A fresh database: enter {model} on {} (esc closes the form; {} for help)",
                super::view::short_path(&ws.root),
                keymap.key_of(Action::Help)
            ));
        }
        if status.text.is_empty() {
            status.info(format!(
                "{} datasets, {} examples from {}; {} for help",
                ws.datasets.len(),
                ws.total_records(),
                super::view::short_path(&ws.root),
                keymap.key_of(Action::Help)
            ));
        }
        App {
            screen: if fresh {
                Screen::Runs
            } else {
                Screen::Datasets
            },
            tab_areas: Default::default(),
            help: false,
            help_scroll: 0,
            confirm_quit: false,
            quit: false,
            status,
            keymap,
            theme,
            datasets,
            templates,
            runs,
            inspect: inspect::State::default(),
            compare: compare::State::default(),
            export,
            ws,
            rescoring: Default::default(),
        }
    }

    /// Whether the focused screen is taking raw keys (a text field or form is open).
    fn capturing(&mut self) -> bool {
        focused!(self).capturing()
    }

    /// Hands the focused screen to `f` with its context, and carries out what it asks for.
    fn with_screen(
        &mut self,
        engine: &Engine,
        f: impl FnOnce(&mut dyn screens::Screen, &mut Ctx) -> Option<Message>,
    ) {
        let mut ctx = ctx!(self, engine);
        let message = f(focused!(self), &mut ctx);
        if let Some(m) = message {
            self.carry(engine, m);
        }
    }

    pub fn event(&mut self, engine: &Engine, e: &Event) {
        match e {
            Event::Key(k) if k.kind != KeyEventKind::Release => self.key(engine, k),
            Event::Mouse(m) => match m.kind {
                MouseEventKind::ScrollUp => self.act(engine, Action::Up),
                MouseEventKind::ScrollDown => self.act(engine, Action::Down),
                MouseEventKind::Down(_) => self.click(engine, m.column, m.row),
                _ => {}
            },
            _ => {}
        }
    }

    /// A click on the tab bar switches screens; one in a list selects its row. Both use the
    /// rectangles the last frame drew.
    fn click(&mut self, engine: &Engine, col: u16, row: u16) {
        let at = ratatui::layout::Position::new(col, row);
        if let Some(i) = self.tab_areas.get().iter().position(|r| r.contains(at)) {
            return self.go(engine, Screen::ALL[i]);
        }
        self.with_screen(engine, |screen, ctx| {
            let (line, height) = screen.list_area()?.hit(col, row)?;
            screen.click(line, height, ctx)
        });
    }

    pub fn key(&mut self, engine: &Engine, k: &KeyEvent) {
        if self.help {
            // The arrows and page keys scroll a help taller than the screen; any other key
            // closes it.
            match self.keymap.action(k) {
                Some(Action::Down) => self.help_scroll = self.help_scroll.saturating_add(1),
                Some(Action::Up) => self.help_scroll = self.help_scroll.saturating_sub(1),
                Some(Action::PageDown) => self.help_scroll = self.help_scroll.saturating_add(10),
                Some(Action::PageUp) => self.help_scroll = self.help_scroll.saturating_sub(10),
                _ => self.help = false,
            }
            return;
        }
        // F1 always opens the help; `?` too where no text is being typed (the launch form's
        // fields are paths and numbers).
        let help_key = self.keymap.action(k) == Some(Action::Help)
            && (!self.capturing()
                || k.code == crossterm::event::KeyCode::F(1)
                || (self.screen == Screen::Runs && self.runs.form.is_some()));
        if help_key {
            self.help = true;
            self.help_scroll = 0;
            return;
        }
        if self.capturing() {
            return self.with_screen(engine, |screen, ctx| screen.raw_key(k, ctx));
        }
        if let Some(a) = self.keymap.action(k) {
            self.act(engine, a);
        }
    }

    pub fn go(&mut self, engine: &Engine, s: Screen) {
        let mut ctx = ctx!(self, engine);
        match s {
            Screen::Inspect => {
                if let Some(id) = self.runs.selected_id() {
                    if self.inspect.run != Some(id) {
                        self.inspect.open(id, &mut ctx);
                    }
                }
            }
            Screen::Compare => {
                let marked = self.runs.marked.clone();
                let pair = (self.runs.baseline, self.runs.selected_id());
                if marked.len() > 2 {
                    // The baseline when it is marked, else the first run marked.
                    let base = self
                        .runs
                        .baseline
                        .and_then(|b| marked.iter().position(|m| *m == b))
                        .unwrap_or(0);
                    let same = self
                        .compare
                        .many
                        .as_ref()
                        .is_some_and(|m| m.runs == marked && m.baseline == base);
                    if !same {
                        self.compare.open_many(marked, base, &mut ctx);
                    }
                } else if marked.len() == 2 {
                    let (a, b) = match self.runs.baseline {
                        Some(x) if x == marked[1] => (marked[1], marked[0]),
                        _ => (marked[0], marked[1]),
                    };
                    if self.compare.runs != Some((a, b)) || self.compare.many.is_some() {
                        self.compare.open(a, b, &mut ctx);
                    }
                } else if let (Some(a), Some(b)) = pair {
                    if self.compare.runs != Some((a, b)) || self.compare.many.is_some() {
                        self.compare.open(a, b, &mut ctx);
                    }
                } else if self.compare.runs.is_none() {
                    ctx.status.info(format!(
                        "Compare needs a baseline: select a run on Runs and press {}, then select another",
                        self.keymap.key_of(Action::Baseline)
                    ));
                }
            }
            _ => {}
        }
        self.screen = s;
        focused!(self).shown(&mut ctx);
    }

    pub fn act(&mut self, engine: &Engine, a: Action) {
        if a != Action::Quit {
            self.confirm_quit = false;
        }
        match a {
            Action::Quit => {
                if engine.pending() > 0 && !self.confirm_quit {
                    self.confirm_quit = true;
                    self.status.error(format!(
                        "{} run(s) in progress: press {} again to cancel them (they keep a checkpoint to resume) and quit",
                        engine.pending(),
                        self.keymap.key_of(Action::Quit)
                    ));
                } else {
                    self.quit = true;
                }
                return;
            }
            Action::Help => {
                self.help = true;
                self.help_scroll = 0;
                return;
            }
            Action::NextScreen | Action::PrevScreen => {
                let n = Screen::ALL.len();
                let i = self.screen.index();
                let j = if a == Action::NextScreen {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.go(engine, Screen::ALL[j]);
                return;
            }
            Action::GoDatasets => return self.go(engine, Screen::Datasets),
            Action::GoTemplates => return self.go(engine, Screen::Templates),
            Action::GoRuns => return self.go(engine, Screen::Runs),
            Action::GoInspect => return self.go(engine, Screen::Inspect),
            Action::GoCompare => return self.go(engine, Screen::Compare),
            Action::GoExport => return self.go(engine, Screen::Export),
            _ => {}
        }
        self.with_screen(engine, |screen, ctx| screen.act(a, ctx));
    }

    /// Takes job events and finished background work; true when anything changed.
    pub fn poll(&mut self, engine: &Engine) -> bool {
        let made = self.poll_default_model(engine);
        let searched = made
            | self.datasets.poll()
            | self.inspect.poll(&mut self.status)
            | self.compare.poll(&mut self.status)
            | self.templates.poll(&mut self.status)
            | self.export.poll(&mut self.status);
        let events = engine.events();
        let changed = searched || !events.is_empty();
        self.apply_events(engine, &events);
        changed
    }

    /// The default model, once made: its tokenizer counts prompt tokens, and a launch that
    /// waited for it starts.
    fn poll_default_model(&mut self, engine: &Engine) -> bool {
        let Some(model) = engine.poll_default_model() else {
            return false;
        };
        let mut ctx = ctx!(self, engine);
        let tok = default_tokenizer(engine, ctx.status);
        self.datasets.set_tokenizer(tok.clone(), &self.ws);
        self.templates.set_tokenizer(tok, &ctx);
        // Ready is news only to a launch that waited (it says so itself).
        if !matches!(model, super::engine::DefaultModel::Ready(_)) {
            ctx.status.error(model.describe());
        }
        if let Some(m) = self.runs.on_default_model(&model, &mut ctx) {
            self.carry(engine, m);
        }
        true
    }

    /// Carries out what a screen asked for, against the service.
    pub fn carry(&mut self, engine: &Engine, m: Message) {
        let mut ctx = ctx!(self, engine);
        match m {
            Message::Launch(spec) => {
                let words = spec.to_words().join(" ");
                match engine.launch(*spec) {
                    Ok(id) => {
                        ctx.status
                            .info(format!("run {id} queued: ie-bench run {words}"));
                        self.runs.launched(id, &mut ctx);
                    }
                    Err(e) => ctx.status.error(first_line(&format!("{e:#}"))),
                }
            }
            Message::Cancel(id) => {
                match engine.cancel(id) {
                    Ok(()) => ctx.status.info(format!("cancelling run {id}")),
                    Err(e) => ctx.status.error(e),
                }
                self.runs.reload(&mut ctx);
            }
            Message::Resume(id) => {
                match engine.resume(id) {
                    Ok(()) => ctx.status.info(format!("run {id} queued to resume")),
                    Err(e) => ctx.status.error(e),
                }
                self.runs.reload(&mut ctx);
            }
            Message::Inspect => self.go(engine, Screen::Inspect),
            Message::LabelTable { run, dataset } => {
                if self.inspect.run != Some(run) {
                    self.inspect.open(run, &mut ctx);
                }
                self.inspect.show_by_label(&dataset);
                self.screen = Screen::Inspect;
            }
            Message::InspectOnly { run, ids, what } => {
                self.inspect.open(run, &mut ctx);
                self.inspect.only(ids, what);
                self.screen = Screen::Inspect;
            }
            Message::EditGold {
                key,
                id,
                before,
                after,
            } => match engine.gold_edit(&key, &id, &before, &after) {
                Ok(version) => {
                    ctx.status.info(format!(
                        "gold of {key} #{id} corrected (gold version {version}); re-scoring the run"
                    ));
                    self.gold_changed(engine, &key, &id);
                }
                Err(e) => ctx.status.error(e),
            },
            Message::StepGold { redo } => match engine.gold_step(redo) {
                Ok(None) => ctx.status.info(if redo {
                    "nothing to redo"
                } else {
                    "nothing to undo"
                }),
                Ok(Some(step)) => {
                    ctx.status.info(format!(
                        "{} gold edit {}; gold version {}",
                        if redo { "redid" } else { "undid" },
                        step.of,
                        step.version
                    ));
                    if let Some((key, id)) = step.example {
                        self.gold_changed(engine, &key, &id);
                    }
                }
                Err(e) => ctx.status.error(e),
            },
            Message::SaveBank(text) => match engine.save_bank(&text) {
                Ok((v, path)) => self.templates.saved(v, &path, &mut ctx),
                Err(e) => ctx.status.error(e),
            },
            Message::Tag { id, add, remove } => {
                match crate::service::tags::tag(engine.store(), id, &add, &remove) {
                    Ok(said) => ctx.status.info(said.err.trim().to_string()),
                    Err(e) => ctx.status.error(first_line(&format!("{e:#}"))),
                }
                self.runs.reload(&mut ctx);
            }
            Message::Note { id, text } => {
                match crate::service::tags::note(engine.store(), id, text) {
                    Ok(said) => ctx.status.info(said.err.trim().to_string()),
                    Err(e) => ctx.status.error(first_line(&format!("{e:#}"))),
                }
                self.runs.reload(&mut ctx);
            }
            Message::TemplateAb {
                saved,
                edited,
                tasks,
            } => {
                if let Err(e) = self.template_ab(engine, &saved, &edited, tasks) {
                    self.status.error(first_line(&format!("A/B: {e:#}")));
                }
            }
        }
    }

    /// Stores both banks as versions and queues an `eval` run for each, on the same sampled
    /// instances of the edited tasks (dev where they have one), with the model of the run
    /// selected on Runs (a finished training run's, or an eval's) or else the default one.
    fn template_ab(
        &mut self,
        engine: &Engine,
        saved: &str,
        edited: &str,
        tasks: Vec<crate::ie::TaskKind>,
    ) -> anyhow::Result<()> {
        use crate::ie::Split;
        let model = self.ab_model(engine)?;
        let has_dev = self
            .ws
            .datasets
            .iter()
            .any(|d| tasks.contains(&d.task) && !d.records(Split::Dev).is_empty());
        let split = if has_dev { Split::Dev } else { Split::Test };
        let (saved_v, saved_path) = engine.save_bank(saved)?;
        let (edited_v, edited_path) = engine.save_bank(edited)?;
        anyhow::ensure!(
            saved_v != edited_v,
            "the edit leaves the instruction bank as it is (version {saved_v})"
        );
        let names: Vec<&str> = tasks.iter().map(|t| t.as_str()).collect();
        let spec = |bank: &std::path::Path| {
            let words: Vec<String> = [
                "eval",
                "--model",
                &model,
                "--data",
                &self.ws.root.display().to_string(),
                "--instructions",
                &bank.display().to_string(),
                "--split",
                split.as_str(),
                "--sample",
                &templates::AB_SAMPLE.to_string(),
                "--task",
                &names.join(","),
            ]
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
            crate::spec::RunSpec::from_words(&words)
        };
        let (spec_a, spec_b) = (spec(&saved_path)?, spec(&edited_path)?);
        let a = engine.launch(spec_a)?;
        let b = engine.launch(spec_b)?;
        let mut ctx = ctx!(self, engine);
        self.runs.launched(b, &mut ctx);
        let sample = self
            .ws
            .datasets
            .iter()
            .filter(|d| tasks.contains(&d.task))
            .map(|d| d.records(split).len())
            .sum::<usize>()
            .min(templates::AB_SAMPLE);
        self.templates.trial_started(
            templates::Trial {
                tasks,
                a,
                b,
                saved: saved_v,
                edited: edited_v,
                split,
                sample,
                stopped: None,
                rows: None,
            },
            &mut ctx,
        );
        ctx.status.info(format!(
            "A/B queued: run {a} (saved, bank v{saved_v}) and run {b} (edited, bank v{edited_v}) on {sample} {split} instances with {model}"
        ));
        Ok(())
    }

    /// The model an A/B scores: the selected run's when it has a usable one, else the default
    /// model once it is made.
    fn ab_model(&self, engine: &Engine) -> anyhow::Result<String> {
        use crate::spec::RunKind;
        use crate::store::RunStatus;
        if let Some((_, m)) = self.runs.runs.get(self.runs.cursor.selected) {
            match (m.kind, m.status) {
                (RunKind::Train, RunStatus::Finished) => {
                    if let Some(out) = &m.out_dir {
                        return Ok(out.clone());
                    }
                }
                (RunKind::Eval | RunKind::ZeroShot, _) => {
                    if let Some(model) = &m.model {
                        return Ok(model.clone());
                    }
                }
                _ => {}
            }
        }
        match engine.default_model() {
            super::engine::DefaultModel::Ready(dir) => Ok(dir.display().to_string()),
            other => anyhow::bail!("no model to score with: {}", other.describe()),
        }
    }

    /// After a gold correction, undo or redo: Inspect judges the example again, and the run
    /// it shows is re-scored by a job (its outcome arrives as an event).
    fn gold_changed(&mut self, engine: &Engine, key: &str, id: &str) {
        let mut ctx = ctx!(self, engine);
        self.inspect.gold_changed(&mut ctx, key, id);
        if let Some(run) = self.inspect.run {
            match engine.rescore(run) {
                Ok(()) => {
                    self.rescoring.insert(run);
                }
                Err(e) => ctx.status.error(format!("re-scoring run {run}: {e:#}")),
            }
        }
    }

    /// Job events (runs queued by other processes through the socket arrive as job events
    /// too).
    pub fn apply_events(&mut self, engine: &Engine, events: &[JobEvent]) {
        let mut ctx = ctx!(self, engine);
        for e in events {
            match e {
                JobEvent::Failed { run, error } => {
                    ctx.status.error(format!("run {run} failed: {error}"));
                }
                JobEvent::Finished { run } => ctx.status.info(format!("run {run} finished")),
                JobEvent::Cancelled { run } => ctx.status.info(format!("run {run} cancelled")),
                JobEvent::Rescored { run, outcome: Ok(r) } => ctx.status.info(format!(
                    "run {run} re-scored against gold version {} ({} of {} predictions have corrected gold)",
                    r.gold_version, r.changed, r.predictions
                )),
                JobEvent::Rescored {
                    run,
                    outcome: Err(error),
                } => ctx.status.error(format!("re-scoring run {run} failed: {error}")),
                _ => {}
            }
            if let JobEvent::Rescored { run, .. } = e {
                self.rescoring.remove(run);
            }
            self.runs.on_event(e, &mut ctx);
            if let JobEvent::Finished { run }
            | JobEvent::Failed { run, .. }
            | JobEvent::Cancelled { run } = e
            {
                if self.templates.trial_run_ended(*run, &mut ctx) {
                    // Compare shows the A/B's flips: the saved side is the baseline.
                    if let Some(trial) = &self.templates.trial {
                        self.runs.baseline = Some(trial.a);
                        let b = trial.b;
                        self.runs.launched(b, &mut ctx);
                    }
                }
            }
            if let JobEvent::Scores { run, .. } | JobEvent::Finished { run } = e {
                if self.inspect.run == Some(*run) && !self.rescoring.contains(run) {
                    self.inspect.open(*run, &mut ctx);
                }
            }
        }
        // The Export screen's tables change with scores and with the run list, not with a
        // training step's metrics or a progress count.
        let tables_changed = events.iter().any(|e| {
            !matches!(
                e,
                JobEvent::Metric { .. }
                    | JobEvent::Progress { .. }
                    | JobEvent::Predictions { .. }
                    | JobEvent::Checkpoint { .. }
            )
        });
        if tables_changed {
            self.export.refresh(&mut ctx);
        }
    }
}
