//! Export: mark runs, pick a format (Markdown, LaTeX, CSV), preview the result table (each
//! run's test F1 side by side with the paper's, and on request each run's difference from
//! the first with its bootstrap interval), and write it to a file.

use crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, TableState};
use ratatui::Frame;
use std::collections::BTreeSet;

use super::{Cursor, ListArea, Screen};
use crate::data::catalog::infer_setting;
use crate::eval::significance::{RESAMPLES, SEED};
use crate::eval::Mode;
use crate::export::{render, runs_tables, with_differences, Differences, Format};
use crate::ie::Split;
use crate::service::reads::Reads;
use crate::service::results::stored_report;
use crate::store::{RunId, RunManifest, StoredScore};
use crate::tui::app::{Ctx, Status};
use crate::tui::keymap::Action;
use crate::tui::message::Message;
use crate::tui::text_input::{Edit, TextInput};
use crate::tui::theme::Theme;
use crate::tui::view::{block, text_panel};
use crate::tui::worker::Latest;

pub const FORMATS: [(Format, &str, &str); 3] = [
    (Format::Md, "Markdown", "md"),
    (Format::Latex, "LaTeX", "tex"),
    (Format::Csv, "CSV", "csv"),
];

pub struct State {
    /// Where the run table was last drawn.
    pub list_area: ListArea,
    pub runs: Vec<(RunId, RunManifest)>,
    pub cursor: Cursor,
    pub marked: BTreeSet<RunId>,
    pub format: usize,
    pub preview: String,
    pub path: Option<TextInput>,
    pub written: Option<String>,
    /// Each listed run's stored score rows, as last read.
    scores: std::collections::HashMap<RunId, Vec<StoredScore>>,
    /// Reading every run's score rows takes longer than a frame on a database of many runs.
    loader: Latest<Vec<(RunId, RunManifest, Vec<StoredScore>)>>,
    /// Add each chosen run's difference from the first, with its interval.
    pub intervals: bool,
    /// The differences for these chosen runs, once computed (reading and resampling two
    /// runs' predictions is slower than a frame).
    differences: Option<(Vec<RunId>, Vec<Differences>)>,
    diff_loader: Latest<(Vec<RunId>, Vec<Differences>)>,
}

/// Each run of `runs` but the first against the first: the paired-bootstrap difference per
/// dataset (`runs compare`'s).
fn differences(reads: &Reads, runs: Vec<RunId>) -> Result<(Vec<RunId>, Vec<Differences>), String> {
    let read = |id: RunId| {
        reads
            .predictions_in_force(id)
            .map_err(|e| format!("reading run {id}'s predictions: {e}"))
    };
    let base = read(runs[0])?;
    let mut out = Vec::new();
    for &id in &runs[1..] {
        let rows =
            crate::service::results::compare_runs(&base, &read(id)?, Mode::Compat, RESAMPLES, SEED);
        out.push(Differences {
            label: format!("run {id} − run {} (95% CI)", runs[0]),
            by_dataset: rows
                .into_iter()
                .filter_map(|r| Some((r.dataset, r.difference?)))
                .collect(),
        });
    }
    Ok((runs, out))
}

/// The runs with a test table, with their score rows.
fn runs_with_tables(reads: &Reads) -> Result<Vec<(RunId, RunManifest, Vec<StoredScore>)>, String> {
    let mut out = Vec::new();
    for (id, m) in reads.runs().map_err(|e| e.to_string())? {
        let rows = reads
            .scores(id)
            .map_err(|e| format!("reading run {id}'s scores: {e}"))?;
        if rows.iter().any(|x| x.split == Split::Test) {
            out.push((id, m, rows));
        }
    }
    Ok(out)
}

impl State {
    pub fn new(ctx: &mut Ctx) -> State {
        let mut s = State {
            list_area: Default::default(),
            runs: Vec::new(),
            cursor: Cursor::default(),
            marked: BTreeSet::new(),
            format: 0,
            preview: String::new(),
            path: None,
            written: None,
            scores: Default::default(),
            loader: Latest::default(),
            intervals: false,
            differences: None,
            diff_loader: Latest::default(),
        };
        s.refresh(ctx);
        s
    }

    /// Reads the runs with a test table again, on a worker (see [`State::poll`]).
    pub fn refresh(&mut self, ctx: &mut Ctx) {
        let reads = ctx.reads.clone();
        self.loader.start(move |_| runs_with_tables(&reads));
    }

    pub fn is_loading(&self) -> bool {
        self.loader.busy() || self.diff_loader.busy()
    }

    /// Installs the runs read by the newest refresh, and the preview for the marked ones;
    /// true when they arrived.
    pub fn poll(&mut self, status: &mut Status) -> bool {
        if let Some(answer) = self.diff_loader.take() {
            match answer {
                Ok(d) => self.differences = Some(d),
                Err(e) => status.error(e),
            }
            self.rebuild();
            return true;
        }
        match self.loader.take() {
            None => return false,
            Some(Err(e)) => status.error(e),
            Some(Ok(runs)) => {
                self.scores.clear();
                self.runs = runs
                    .into_iter()
                    .map(|(id, m, rows)| {
                        self.scores.insert(id, rows);
                        (id, m)
                    })
                    .collect();
                self.cursor.clamp(self.runs.len());
                self.marked
                    .retain(|id| self.runs.iter().any(|r| r.0 == *id));
                self.rebuild();
            }
        }
        true
    }

    /// The runs the table covers: the marked ones, else the selected one.
    pub fn chosen(&self) -> Vec<RunId> {
        if self.marked.is_empty() {
            self.runs
                .get(self.cursor.selected)
                .map(|r| r.0)
                .into_iter()
                .collect()
        } else {
            self.marked.iter().copied().collect()
        }
    }

    /// The preview of the chosen runs' tables, from the rows last read.
    fn rebuild(&mut self) {
        let mut reports = Vec::new();
        for id in self.chosen() {
            let rows = self.scores.get(&id).map_or(&[][..], Vec::as_slice);
            if let Some(t) = stored_report(rows, Split::Test, Mode::Compat, None) {
                reports.push((format!("run {id}"), t.report));
            }
        }
        if reports.is_empty() {
            self.preview = String::new();
            return;
        }
        let names: Vec<String> = reports
            .iter()
            .flat_map(|(_, r)| {
                r.tasks
                    .values()
                    .flat_map(|t| t.datasets.iter().map(|d| d.0.clone()))
            })
            .collect();
        let setting = infer_setting(names.iter().map(String::as_str));
        let refs: Vec<(String, &crate::eval::Report)> =
            reports.iter().map(|(l, r)| (l.clone(), r)).collect();
        let mut tables = runs_tables(&refs, Some(setting));
        if self.intervals {
            if let Some((runs, diffs)) = &self.differences {
                if *runs == self.chosen() {
                    with_differences(&mut tables, diffs);
                }
            }
        }
        self.preview = render(&tables, FORMATS[self.format].0);
    }

    /// Starts computing the differences the preview needs, unless they are at hand.
    fn want_differences(&mut self, ctx: &mut Ctx) {
        let chosen = self.chosen();
        if !self.intervals || chosen.len() < 2 {
            return;
        }
        if self.differences.as_ref().is_some_and(|d| d.0 == chosen) {
            return;
        }
        let reads = ctx.reads.clone();
        self.diff_loader.start(move |_| differences(&reads, chosen));
    }

    fn on_click(&mut self, line: usize, height: usize) {
        self.cursor.click(line, self.runs.len(), height);
        self.rebuild();
    }

    fn on_action(&mut self, a: Action, ctx: &mut Ctx) {
        if self.cursor.act(a, self.runs.len()) {
            self.rebuild();
            return;
        }
        match a {
            Action::Mark => {
                if let Some((id, _)) = self.runs.get(self.cursor.selected) {
                    if !self.marked.remove(id) {
                        self.marked.insert(*id);
                    }
                    self.rebuild();
                    self.want_differences(ctx);
                }
            }
            Action::Intervals => {
                self.intervals = !self.intervals;
                if self.intervals && self.chosen().len() < 2 {
                    ctx.status
                        .info("intervals compare runs: mark two or more (each against the first)");
                }
                self.rebuild();
                self.want_differences(ctx);
            }
            Action::Format => {
                self.format = (self.format + 1) % FORMATS.len();
                self.rebuild();
            }
            Action::Write => {
                if self.preview.is_empty() {
                    return ctx
                        .status
                        .info("nothing to export: no run with test scores is chosen");
                }
                self.path = Some(TextInput::new(&format!(
                    "ie-bench-results.{}",
                    FORMATS[self.format].2
                )));
            }
            _ => {}
        }
    }

    fn on_key(&mut self, k: &KeyEvent, ctx: &mut Ctx) {
        let Some(input) = self.path.as_mut() else {
            return;
        };
        match input.key(k) {
            Edit::Submit => {
                let path = std::path::PathBuf::from(input.text.trim());
                self.path = None;
                match std::fs::write(&path, &self.preview) {
                    Ok(()) => {
                        let shown = std::path::absolute(&path)
                            .unwrap_or(path)
                            .display()
                            .to_string();
                        ctx.status
                            .info(format!("wrote {} ({} bytes)", shown, self.preview.len()));
                        self.written = Some(shown);
                    }
                    Err(e) => ctx.status.error(format!("writing {}: {e}", path.display())),
                }
            }
            Edit::Cancel => self.path = None,
            _ => {}
        }
    }
}

impl Screen for State {
    fn capturing(&self) -> bool {
        self.path.is_some()
    }

    fn act(&mut self, a: Action, ctx: &mut Ctx) -> Option<Message> {
        self.on_action(a, ctx);
        None
    }

    fn raw_key(&mut self, k: &KeyEvent, ctx: &mut Ctx) -> Option<Message> {
        self.on_key(k, ctx);
        None
    }

    fn list_area(&self) -> Option<&ListArea> {
        Some(&self.list_area)
    }

    fn click(&mut self, line: usize, height: usize, _ctx: &mut Ctx) -> Option<Message> {
        self.on_click(line, height);
        None
    }

    fn shown(&mut self, ctx: &mut Ctx) {
        self.refresh(ctx);
    }
}

pub fn draw(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    let [left, right] =
        Layout::horizontal([Constraint::Length(34), Constraint::Min(20)]).areas(area);
    let rows: Vec<Row> = s
        .runs
        .iter()
        .map(|(id, m)| {
            let mark = if s.marked.contains(id) { "[x]" } else { "[ ]" };
            Row::new(vec![
                Span::styled(mark, Style::default().fg(t.focus)),
                Span::raw(format!("run {id}")),
                Span::styled(m.kind.as_str(), t.dimmed()),
            ])
        })
        .collect();
    let mut state = TableState::default().with_selected(Some(s.cursor.selected));
    f.render_stateful_widget(
        Table::new(
            rows,
            [
                Constraint::Length(3),
                Constraint::Length(8),
                Constraint::Min(6),
            ],
        )
        .header(Row::new(vec!["", "run", "kind"]).style(t.dimmed()))
        .block(block("Runs with test scores", s.path.is_none(), t))
        .row_highlight_style(t.selected()),
        left,
        &mut state,
    );
    s.list_area.record(left, 1);
    let (preview_area, path_area) = if s.path.is_some() || s.written.is_some() {
        let [a, b] = Layout::vertical([Constraint::Min(3), Constraint::Length(3)]).areas(right);
        (a, Some(b))
    } else {
        (right, None)
    };
    let title = format!(
        "Preview · {}{} · runs {}",
        FORMATS[s.format].1,
        match (s.intervals, s.diff_loader.busy()) {
            (true, true) => " · with intervals (resampling…)",
            (true, false) => " · with B − A intervals",
            _ => "",
        },
        s.chosen()
            .iter()
            .map(std::string::ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let body = if s.preview.is_empty() {
        "No run with test scores selected.".to_string()
    } else {
        s.preview.clone()
    };
    f.render_widget(
        Paragraph::new(body).block(block(title, false, t)),
        preview_area,
    );
    if let Some(area) = path_area {
        let line = match (&s.path, &s.written) {
            (Some(input), _) => Line::from(vec![
                Span::styled("write to: ", Style::default().fg(t.focus)),
                Span::raw(input.with_cursor()),
            ]),
            (None, Some(w)) => Line::styled(format!("written: {w}"), Style::default().fg(t.status)),
            _ => Line::from(""),
        };
        f.render_widget(text_panel("File", vec![line], s.path.is_some(), t), area);
    }
}
