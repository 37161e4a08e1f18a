//! Datasets: the task → dataset → split tree with sizes and validation warnings, a split's
//! label distribution and prompt lengths against the model's maximum, and fuzzy search over
//! dataset names, labels and sentences.

use crossterm::event::KeyEvent;
use fuzzy_matcher::skim::SkimMatcherV2;
use fuzzy_matcher::FuzzyMatcher;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, List, ListItem, ListState};
use ratatui::Frame;
use std::collections::HashMap;
use std::sync::Arc;

use super::{Cursor, ListArea, Screen};
use crate::ie::{Split, TaskKind};
use crate::model::TextTokenizer;
use crate::tui::app::Ctx;
use crate::tui::keymap::Action;
use crate::tui::message::Message;
use crate::tui::text_input::{Edit, TextInput};
use crate::tui::theme::Theme;
use crate::tui::view::{block, text_panel};
use crate::tui::worker::{Fresh, Latest};
use crate::tui::workspace::{lengths, Lengths, Sample, Workspace};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Row {
    Task(TaskKind),
    Dataset(usize),
    Split(usize, Split),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HitKind {
    Dataset,
    Label(String),
    Sentence(Split, usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub dataset: usize,
    pub kind: HitKind,
    pub text: String,
    pub score: i64,
}

/// A split's measured prompt lengths.
type Measured = ((usize, Split), Option<Lengths>);

/// Everything search looks at, built once.
struct Corpus {
    items: Vec<(usize, HitKind, String)>,
}

/// Above this many items, search runs on a worker thread so typing never waits for it.
const SYNC_SEARCH_LIMIT: usize = 20_000;
const MAX_HITS: usize = 200;

pub struct State {
    /// Where the tree was last drawn.
    pub list_area: ListArea,
    pub rows: Vec<Row>,
    pub cursor: Cursor,
    pub search: Option<TextInput>,
    pub hits: Vec<Hit>,
    pub hit_cursor: Cursor,
    corpus: Arc<Corpus>,
    /// The newest query's search, on a worker when the corpus is large.
    searcher: Latest<Vec<Hit>>,
    pub lengths: HashMap<(usize, Split), Option<Lengths>>,
    /// The split whose lengths a worker is measuring (the selected one; a split left before
    /// its figures came is measured again when selected again).
    pub measuring: Option<(usize, Split)>,
    measurer: Latest<Measured>,
    tokenizer: Option<Arc<TextTokenizer>>,
    instructions: HashMap<TaskKind, String>,
    pub max_source_length: usize,
}

/// The best hits of `query`; `None` once `fresh` says a newer query replaced it.
fn search_all(corpus: &Corpus, query: &str, fresh: Option<&Fresh>) -> Option<Vec<Hit>> {
    let matcher = SkimMatcherV2::default().ignore_case();
    let mut hits = Vec::new();
    for (i, (ds, kind, text)) in corpus.items.iter().enumerate() {
        if i % 4096 == 0 && fresh.is_some_and(Fresh::is_stale) {
            return None;
        }
        if let Some(score) = matcher.fuzzy_match(text, query) {
            hits.push(Hit {
                dataset: *ds,
                kind: kind.clone(),
                text: text.clone(),
                score,
            });
        }
    }
    // Best first; datasets and labels before sentences of equal score.
    hits.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then_with(|| rank(&a.kind).cmp(&rank(&b.kind)))
    });
    hits.truncate(MAX_HITS);
    Some(hits)
}

fn rank(k: &HitKind) -> u8 {
    match k {
        HitKind::Dataset => 0,
        HitKind::Label(_) => 1,
        HitKind::Sentence(..) => 2,
    }
}

impl State {
    pub fn new(ctx: &mut Ctx, tokenizer: Option<TextTokenizer>) -> State {
        let ws = ctx.ws;
        let mut rows = Vec::new();
        let mut items = Vec::new();
        for task in TaskKind::ALL {
            let mine: Vec<usize> = (0..ws.datasets.len())
                .filter(|&i| ws.datasets[i].task == task)
                .collect();
            if mine.is_empty() {
                continue;
            }
            rows.push(Row::Task(task));
            for i in mine {
                let d = &ws.datasets[i];
                rows.push(Row::Dataset(i));
                items.push((i, HitKind::Dataset, d.key()));
                for l in d.label_names() {
                    items.push((i, HitKind::Label(l.clone()), format!("{l} ({})", d.key())));
                }
                for s in Split::ALL {
                    if d.splits[s as usize].is_some() {
                        rows.push(Row::Split(i, s));
                        for (j, r) in d.records(s).iter().enumerate() {
                            items.push((i, HitKind::Sentence(s, j), r.sentence.clone()));
                        }
                    }
                }
            }
        }
        let tokenizer = tokenizer.map(Arc::new);
        let bank = crate::service::workspace::instruction_bank(None, &ws.root)
            .unwrap_or_else(|_| crate::prompt::InstructionBank::builtin());
        let instructions = TaskKind::ALL
            .iter()
            .filter_map(|t| bank.instructions(*t).first().map(|i| (*t, i.clone())))
            .collect();
        State {
            list_area: Default::default(),
            rows,
            cursor: Cursor::default(),
            search: None,
            hits: Vec::new(),
            hit_cursor: Cursor::default(),
            corpus: Arc::new(Corpus { items }),
            searcher: Latest::default(),
            lengths: HashMap::new(),
            measuring: None,
            measurer: Latest::default(),
            tokenizer,
            instructions,
            max_source_length: 512,
        }
    }

    pub fn selected(&self) -> Option<Row> {
        self.rows.get(self.cursor.selected).copied()
    }

    /// Takes the default model's tokenizer once it is made; splits shown without figures are
    /// measured again.
    pub fn set_tokenizer(&mut self, tokenizer: Option<TextTokenizer>, ws: &Workspace) {
        self.tokenizer = tokenizer.map(Arc::new);
        self.lengths.retain(|_, l| l.is_some());
        self.measure(ws);
    }

    /// Measures the selected split's prompt lengths once, on a worker thread (tokenizing a
    /// sample of a large split takes longer than a frame).
    fn measure(&mut self, ws: &Workspace) {
        let Some(Row::Split(i, s)) = self.selected() else {
            return;
        };
        if self.lengths.contains_key(&(i, s)) {
            return;
        }
        let d = &ws.datasets[i];
        let (Some(tok), Some(instr)) = (&self.tokenizer, self.instructions.get(&d.task)) else {
            self.lengths.insert((i, s), None);
            return;
        };
        let Some(sample) = Sample::of_split(d, s, instr) else {
            self.lengths.insert((i, s), None);
            return;
        };
        // The split measured before, if its figures never came, is measured again when
        // selected again.
        if let Some(left) = self.measuring.take() {
            self.lengths.remove(&left);
        }
        // Marked as measuring (`Some(None)` is "no figures"), so it starts once.
        self.measuring = Some((i, s));
        self.lengths.insert((i, s), None);
        let (tok, limit) = (Arc::clone(tok), self.max_source_length);
        self.measurer.start(move |_| {
            let measured = sample
                .inputs()
                .and_then(|texts| lengths(&texts, sample.of, &tok, limit));
            Ok(((i, s), measured))
        });
    }

    /// Whether a search is still running.
    pub fn searching(&self) -> bool {
        self.searcher.busy()
    }

    fn on_action(&mut self, a: Action, ctx: &mut Ctx) {
        if !self.hits.is_empty() && a == Action::Back {
            self.hits.clear();
            return;
        }
        if !self.hits.is_empty() {
            if self.hit_cursor.act(a, self.hits.len()) {
                return;
            }
            if a == Action::Open {
                self.jump(ctx);
                return;
            }
        }
        match a {
            Action::Search => {
                self.search = Some(TextInput::default());
                self.hits.clear();
            }
            _ => {
                if self.cursor.act(a, self.rows.len()) {
                    self.measure(ctx.ws);
                }
            }
        }
    }

    fn on_click(&mut self, line: usize, height: usize, ctx: &mut Ctx) {
        self.cursor.click(line, self.rows.len(), height);
        self.measure(ctx.ws);
    }

    /// Selects the tree row of the chosen hit.
    fn jump(&mut self, ctx: &mut Ctx) {
        let Some(hit) = self.hits.get(self.hit_cursor.selected).cloned() else {
            return;
        };
        let target = match hit.kind {
            HitKind::Sentence(s, j) => {
                ctx.status.info(format!(
                    "{} {} #{j}: {}",
                    ctx.ws.datasets[hit.dataset].key(),
                    s.as_str(),
                    hit.text
                ));
                Row::Split(hit.dataset, s)
            }
            HitKind::Label(l) => {
                ctx.status.info(format!(
                    "label {l} of {}",
                    ctx.ws.datasets[hit.dataset].key()
                ));
                Row::Dataset(hit.dataset)
            }
            HitKind::Dataset => Row::Dataset(hit.dataset),
        };
        if let Some(p) = self.rows.iter().position(|r| *r == target) {
            self.cursor.selected = p;
        }
        self.hits.clear();
        self.measure(ctx.ws);
    }

    fn on_key(&mut self, k: &KeyEvent, _ctx: &mut Ctx) {
        let Some(input) = self.search.as_mut() else {
            return;
        };
        match input.key(k) {
            Edit::Changed => {
                let q = input.text.clone();
                self.start_search(q);
            }
            Edit::Submit => {
                self.search = None;
                self.hit_cursor = Cursor::default();
            }
            Edit::Cancel => {
                self.search = None;
                self.hits.clear();
                self.searcher.forget();
            }
            _ => {}
        }
    }

    fn start_search(&mut self, query: String) {
        self.searcher.forget();
        self.hit_cursor = Cursor::default();
        if query.is_empty() {
            self.hits.clear();
            return;
        }
        if self.corpus.items.len() <= SYNC_SEARCH_LIMIT {
            self.hits = search_all(&self.corpus, &query, None).unwrap_or_default();
            return;
        }
        let corpus = Arc::clone(&self.corpus);
        // A stale search stops early; what it found is dropped either way.
        self.searcher
            .start(move |fresh| Ok(search_all(&corpus, &query, Some(fresh)).unwrap_or_default()));
    }

    /// Takes the newest query's hits and measured prompt lengths, once they come.
    pub fn poll(&mut self) -> bool {
        let mut changed = false;
        if let Some(Ok((key, l))) = self.measurer.take() {
            self.measuring = None;
            self.lengths.insert(key, l);
            changed = true;
        }
        if let Some(Ok(hits)) = self.searcher.take() {
            self.hits = hits;
            changed = true;
        }
        changed
    }
}

impl Screen for State {
    fn capturing(&self) -> bool {
        self.search.is_some()
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

    fn click(&mut self, line: usize, height: usize, ctx: &mut Ctx) -> Option<Message> {
        self.on_click(line, height, ctx);
        None
    }
}

pub fn draw(f: &mut Frame, area: Rect, s: &State, ws: &Workspace, t: &Theme) {
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(area);
    let (tree_area, search_area) = if s.search.is_some() || !s.hits.is_empty() {
        let [a, b] = Layout::vertical([Constraint::Min(3), Constraint::Length(3)]).areas(left);
        (a, Some(b))
    } else {
        (left, None)
    };
    let items: Vec<ListItem> = s
        .rows
        .iter()
        .map(|r| match *r {
            Row::Task(task) => ListItem::new(Span::styled(
                task.as_str().to_string(),
                Style::default().fg(t.title).add_modifier(Modifier::BOLD),
            )),
            Row::Dataset(i) => {
                let d = &ws.datasets[i];
                let mark = if !d.errors.is_empty() {
                    Span::styled(" ✗", Style::default().fg(t.error))
                } else if !d.warnings.is_empty() {
                    Span::styled(
                        format!(" ⚠{}", d.warnings.len()),
                        Style::default().fg(t.warning),
                    )
                } else {
                    Span::raw("")
                };
                ListItem::new(Line::from(vec![
                    Span::raw(format!("  {}", super::safe(&d.name))),
                    mark,
                ]))
            }
            Row::Split(i, sp) => ListItem::new(Span::styled(
                format!(
                    "    {:<5} {:>7}",
                    sp.as_str(),
                    ws.datasets[i].records(sp).len()
                ),
                t.dimmed(),
            )),
        })
        .collect();
    let mut state = ListState::default().with_selected(Some(s.cursor.selected));
    f.render_stateful_widget(
        List::new(items)
            .block(block(
                format!("Data: {}", crate::tui::view::short_path(&ws.root)),
                s.hits.is_empty(),
                t,
            ))
            .highlight_style(t.selected()),
        tree_area,
        &mut state,
    );
    s.list_area.record(tree_area, 0);
    if let Some(area) = search_area {
        let text = match &s.search {
            Some(input) => input.with_cursor(),
            None => format!("{} hits", s.hits.len()),
        };
        let title = if s.searching() {
            "Search (searching…)"
        } else {
            "Search"
        };
        f.render_widget(
            text_panel(title, vec![Line::from(text)], s.search.is_some(), t),
            area,
        );
    }
    if !s.hits.is_empty() {
        draw_hits(f, right, s, ws, t);
        return;
    }
    draw_detail(f, right, s, ws, t);
}

fn draw_hits(f: &mut Frame, area: Rect, s: &State, ws: &Workspace, t: &Theme) {
    let items: Vec<ListItem> = s
        .hits
        .iter()
        .map(|h| {
            let (tag, colour) = match &h.kind {
                HitKind::Dataset => ("dataset ".to_string(), t.title),
                HitKind::Label(_) => ("label   ".to_string(), t.gold),
                HitKind::Sentence(sp, j) => (format!("{} #{j} ", sp.as_str()), t.dim),
            };
            let ds = if matches!(h.kind, HitKind::Sentence(..)) {
                format!(" ({})", super::safe(&ws.datasets[h.dataset].key()))
            } else {
                String::new()
            };
            ListItem::new(Line::from(vec![
                Span::styled(tag, Style::default().fg(colour)),
                Span::raw(super::safe(&h.text)),
                Span::styled(ds, t.dimmed()),
            ]))
        })
        .collect();
    let mut state = ListState::default().with_selected(Some(s.hit_cursor.selected));
    f.render_stateful_widget(
        List::new(items)
            .block(block(format!("{} hits", s.hits.len()), true, t))
            .highlight_style(t.selected()),
        area,
        &mut state,
    );
}

fn draw_detail(f: &mut Frame, area: Rect, s: &State, ws: &Workspace, t: &Theme) {
    let Some(row) = s.selected() else {
        let mut lines = vec![Line::from("No datasets found.")];
        lines.extend(
            ws.errors
                .iter()
                .map(|e| Line::styled(e.clone(), Style::default().fg(t.error))),
        );
        f.render_widget(text_panel("Details", lines, false, t), area);
        return;
    };
    match row {
        Row::Task(task) => {
            let ds: Vec<_> = ws.datasets.iter().filter(|d| d.task == task).collect();
            let n: usize = ds.iter().map(|d| d.total()).sum();
            let lines = vec![
                Line::from(format!("{} datasets, {n} records", ds.len())),
                Line::from(""),
                Line::styled(
                    "Select a dataset or a split for its labels and prompt lengths.",
                    t.dimmed(),
                ),
            ];
            f.render_widget(text_panel(task.as_str(), lines, false, t), area);
        }
        Row::Dataset(i) => {
            let d = &ws.datasets[i];
            let mut lines = vec![Line::from(format!(
                "directory  {}",
                d.location.data_dir.display()
            ))];
            for sp in Split::ALL {
                lines.push(Line::from(match &d.splits[sp as usize] {
                    Some(r) => format!("{:<10} {}", sp.as_str(), r.len()),
                    None => format!("{:<10} absent", sp.as_str()),
                }));
            }
            let labels = d.label_names();
            lines.push(Line::from(format!(
                "labels     {}: {}",
                labels.len(),
                super::safe(&labels.join(", "))
            )));
            for e in &d.errors {
                lines.push(Line::styled(
                    format!("error: {e}"),
                    Style::default().fg(t.error),
                ));
            }
            for w in d.warnings.iter().take(20) {
                lines.push(Line::styled(
                    format!("warning: {w}"),
                    Style::default().fg(t.warning),
                ));
            }
            if d.warnings.len() > 20 {
                lines.push(Line::styled(
                    format!("… {} more warnings", d.warnings.len() - 20),
                    Style::default().fg(t.warning),
                ));
            }
            f.render_widget(text_panel(&super::safe(&d.key()), lines, false, t), area);
        }
        Row::Split(i, sp) => {
            let d = &ws.datasets[i];
            let [info, chart] =
                Layout::vertical([Constraint::Length(6), Constraint::Min(3)]).areas(area);
            let mut lines = vec![Line::from(format!("{} records", d.records(sp).len()))];
            match s.lengths.get(&(i, sp)).copied().flatten() {
                Some(l) => {
                    let share = l.over as f64 / l.measured as f64 * 100.0;
                    let sampled = if l.measured < l.of {
                        format!(" ({} of {} records sampled)", l.measured, l.of)
                    } else {
                        String::new()
                    };
                    lines.push(Line::from(format!(
                        "prompt tokens  mean {:.1}, max {}{sampled}",
                        l.mean, l.max
                    )));
                    let style = Style::default().fg(if l.over > 0 { t.warning } else { t.status });
                    lines.push(Line::styled(
                        format!(
                            "over max_source_length {}: {} ({share:.1}%), truncated",
                            l.limit, l.over
                        ),
                        style,
                    ));
                }
                None if s.measuring == Some((i, sp)) => {
                    lines.push(Line::styled("prompt lengths: measuring…", t.dimmed()));
                }
                None if s.tokenizer.is_none() => lines.push(Line::styled(
                    "prompt lengths: waiting for a tokenizer (the default model is being made)",
                    t.dimmed(),
                )),
                None => lines.push(Line::styled(
                    "prompt lengths: none (no labels or no records)",
                    t.dimmed(),
                )),
            }
            f.render_widget(
                text_panel(
                    &format!("{} {}", super::safe(&d.key()), sp.as_str()),
                    lines,
                    false,
                    t,
                ),
                info,
            );
            let dist = &d.distribution[sp as usize];
            let bars: Vec<Bar> = dist
                .iter()
                .take(chart.height.saturating_sub(2) as usize)
                .map(|(l, n)| {
                    Bar::default()
                        .label(Line::from(super::safe(l)))
                        .value(*n)
                        .style(Style::default().fg(t.gold))
                        .value_style(Style::default().fg(t.text))
                })
                .collect();
            f.render_widget(
                BarChart::default()
                    .block(block("Label distribution", false, t))
                    .direction(Direction::Horizontal)
                    .bar_width(1)
                    .bar_gap(0)
                    .data(BarGroup::default().bars(&bars)),
                chart,
            );
        }
    }
}
