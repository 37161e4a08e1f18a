//! Compare: run A (the baseline) against run B, per dataset: fixed, broken, both wrong, both
//! right; a cell opens its examples in Inspect. With several runs marked on Runs: their
//! per-dataset scores side by side (the best in bold) and each one's flips against the
//! baseline.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::{Cursor, Screen};
use crate::eval::compare::Flip;
use crate::eval::significance::{ALPHA, RESAMPLES, SEED};
use crate::eval::Mode;
use crate::service::reads::Reads;
use crate::service::results::{compare_many, compare_runs, DatasetComparison, ManyRow, Side};
use crate::store::RunId;
use crate::tui::app::{Ctx, Status};
use crate::tui::keymap::Action;
use crate::tui::message::Message;
use crate::tui::theme::Theme;
use crate::tui::view::{block, text_panel};
use crate::tui::worker::Latest;

pub const COLUMNS: [(Flip, &str); 4] = [
    (Flip::Fixed, "fixed"),
    (Flip::Broken, "broken"),
    (Flip::BothWrong, "both-wrong"),
    (Flip::BothRight, "both-right"),
];

/// One dataset's row: its counts, each example's flip with its id, and the difference.
pub type CompareRow = DatasetComparison;

/// Several runs side by side; `baseline` indexes `runs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Many {
    pub runs: Vec<RunId>,
    pub baseline: usize,
    pub rows: Vec<ManyRow>,
}

#[derive(Default)]
pub struct State {
    pub runs: Option<(RunId, RunId)>,
    /// The N-run view, shown instead of the pair while it is set.
    pub many: Option<Many>,
    many_loader: Latest<Vec<ManyRow>>,
    /// Per `TASK/dataset`: the counts and each example's flip.
    pub rows: Vec<CompareRow>,
    pub cursor: Cursor,
    pub col: usize,
    /// Reading and matching two runs' predictions (a hundred thousand each on a real
    /// benchmark) takes longer than a frame.
    loader: Latest<Vec<CompareRow>>,
}

/// Run `b`'s answers against run `a`'s, per dataset, with `runs compare`'s bootstrap.
pub fn compare(reads: &Reads, a: RunId, b: RunId) -> Result<Vec<CompareRow>, String> {
    let read = |id: RunId| {
        reads
            .predictions_in_force(id)
            .map_err(|e| format!("reading run {id}'s predictions: {e}"))
    };
    let (pa, pb) = (read(a)?, read(b)?);
    Ok(compare_runs(&pa, &pb, Mode::Compat, RESAMPLES, SEED))
}

/// The runs' scores side by side and their flips against `runs[baseline]`.
fn compare_several(reads: &Reads, runs: &[RunId], baseline: usize) -> Result<Vec<ManyRow>, String> {
    let sides = runs
        .iter()
        .map(|&run| {
            let read = |e: crate::store::StoreError| format!("reading run {run}: {e}");
            Ok(Side {
                run,
                scores: reads.scores(run).map_err(read)?,
                predictions: reads.predictions_in_force(run).map_err(read)?,
            })
        })
        .collect::<Result<Vec<Side>, String>>()?;
    Ok(compare_many(&sides, baseline, Mode::Compat))
}

impl State {
    /// Starts setting `runs` side by side, against `runs[baseline]`, on a worker thread.
    pub fn open_many(&mut self, runs: Vec<RunId>, baseline: usize, ctx: &mut Ctx) {
        self.many = Some(Many {
            runs: runs.clone(),
            baseline,
            rows: Vec::new(),
        });
        self.cursor = Cursor::default();
        let reads = ctx.reads.clone();
        self.many_loader
            .start(move |_| compare_several(&reads, &runs, baseline));
    }

    /// Starts comparing run `b` with baseline `a` on a worker thread.
    pub fn open(&mut self, a: RunId, b: RunId, ctx: &mut Ctx) {
        self.many = None;
        self.many_loader.forget();
        self.runs = Some((a, b));
        self.rows.clear();
        let reads = ctx.reads.clone();
        self.loader.start(move |_| compare(&reads, a, b));
    }

    pub fn is_loading(&self) -> bool {
        self.loader.busy() || self.many_loader.busy()
    }

    /// Installs a finished comparison; true when one arrived.
    pub fn poll(&mut self, status: &mut Status) -> bool {
        if let Some(answer) = self.many_loader.take() {
            match (answer, self.many.as_mut()) {
                (Ok(rows), Some(many)) => many.rows = rows,
                (Err(e), _) => status.error(e),
                (Ok(_), None) => {}
            }
            let n = self.many.as_ref().map_or(0, |m| m.rows.len());
            self.cursor.clamp(n);
            return true;
        }
        let Some(answer) = self.loader.take() else {
            return false;
        };
        match answer {
            Ok(rows) => self.rows = rows,
            Err(e) => status.error(e),
        }
        self.cursor.clamp(self.rows.len());
        if let (Some((a, b)), true) = (self.runs, self.rows.is_empty()) {
            status.info(format!(
                "runs {a} and {b} have no stored predictions in common"
            ));
        }
        true
    }

    /// Moves; `Open` asks for the examples of the selected cell. Needs no store: what it
    /// shows was read by `open`.
    pub fn on_action(&mut self, a: Action, status: &mut Status) -> Option<Message> {
        if let Some(many) = &self.many {
            if !self.cursor.act(a, many.rows.len()) && a == Action::Open {
                status.info(
                    "the N-run view has no examples to open: mark two runs (or none) on Runs for the pair view",
                );
            }
            return None;
        }
        if self.cursor.act(a, self.rows.len()) {
            return None;
        }
        match a {
            Action::Left => self.col = self.col.saturating_sub(1),
            Action::Right => self.col = (self.col + 1).min(COLUMNS.len() - 1),
            Action::Open => {
                let row = self.rows.get(self.cursor.selected)?;
                let (key, list) = (&row.dataset, &row.examples);
                let (flip, name) = COLUMNS[self.col];
                let ids: Vec<(String, String)> = list
                    .iter()
                    .filter(|(f, _)| *f == flip)
                    .map(|(_, id)| (key.clone(), id.clone()))
                    .collect();
                if ids.is_empty() {
                    status.info(format!("no {name} examples in {key}"));
                    return None;
                }
                let (_, run) = self.runs?;
                return Some(Message::InspectOnly {
                    run,
                    ids,
                    what: format!("{name} in {key}"),
                });
            }
            _ => {}
        }
        None
    }
}

impl Screen for State {
    fn act(&mut self, a: Action, ctx: &mut Ctx) -> Option<Message> {
        self.on_action(a, ctx.status)
    }
}

pub fn draw(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    if let Some(many) = &s.many {
        return draw_many(f, area, s, many, t);
    }
    let Some((a, b)) = s.runs else {
        f.render_widget(
            text_panel(
                "Compare",
                vec![Line::from(
                    "Mark a baseline run on the Runs screen, select another run, then come here.",
                )],
                false,
                t,
            ),
            area,
        );
        return;
    };
    let colour = |flip: Flip| match flip {
        Flip::Fixed => t.better,
        Flip::Broken => t.worse,
        Flip::BothWrong => t.missing,
        _ => t.text,
    };
    let rows: Vec<Row> = s
        .rows
        .iter()
        .enumerate()
        .map(|(r, row)| {
            let f = &row.flips;
            let mut cells = vec![Cell::from(super::safe(&row.dataset))];
            for (c, (flip, _)) in COLUMNS.iter().enumerate() {
                let style = if r == s.cursor.selected && c == s.col {
                    t.selected()
                } else {
                    Style::default().fg(colour(*flip))
                };
                cells.push(Cell::from(format!("{:>10}", f.get(*flip))).style(style));
            }
            cells.push(Cell::from(format!("{:>9}", f.unmatched)).style(t.dimmed()));
            cells.push(match &row.difference {
                Some(d) => Cell::from(format!("{:>8}", d.words().0)).style(t.difference(d)),
                None => Cell::from(format!("{:>8}", "—")).style(t.dimmed()),
            });
            Row::new(cells)
        })
        .collect();
    let mut header = vec!["dataset".to_string()];
    header.extend(COLUMNS.iter().map(|(_, n)| format!("{n:>10}")));
    header.push(format!("{:>9}", "unmatched"));
    header.push(format!("{:>8}", "B − A"));
    let [table, details] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(5)]).areas(area);
    let mut state = TableState::default().with_selected(Some(s.cursor.selected));
    f.render_stateful_widget(
        Table::new(
            rows,
            [
                Constraint::Min(14),
                Constraint::Length(10),
                Constraint::Length(10),
                Constraint::Length(10),
                Constraint::Length(10),
                Constraint::Length(9),
                Constraint::Length(8),
            ],
        )
        .header(Row::new(header).style(t.dimmed()))
        .block(block(
            format!(
                "Run {a} (A, baseline) → run {b} (B) · compat mode{}",
                if s.is_loading() { " · reading…" } else { "" }
            ),
            true,
            t,
        )),
        table,
        &mut state,
    );
    f.render_widget(difference_panel(s, t), details);
}

/// Several runs: a score column per run (the best of each row in bold), then per run but
/// the baseline, the examples it fixed and broke against the baseline (`+3 −1`).
fn draw_many(f: &mut Frame, area: Rect, s: &State, many: &Many, t: &Theme) {
    let base = many.runs[many.baseline];
    let others: Vec<usize> = (0..many.runs.len())
        .filter(|i| *i != many.baseline)
        .collect();
    let rows: Vec<Row> = many
        .rows
        .iter()
        .map(|row| {
            let best = row.best();
            let mut cells = vec![Cell::from(super::safe(&row.dataset))];
            for (i, score) in row.scores.iter().enumerate() {
                let style = if best.contains(&i) && best.len() < row.scores.len() {
                    Style::default().add_modifier(Modifier::BOLD)
                } else {
                    Style::default()
                };
                cells.push(Cell::from(format!("{:>7}", super::pct(*score))).style(style));
            }
            for &i in &others {
                cells.push(match &row.flips[i] {
                    Some(fl) => Cell::from(ratatui::text::Line::from(vec![
                        ratatui::text::Span::styled(
                            format!("{:>4}", format!("+{}", fl.fixed)),
                            Style::default().fg(t.better),
                        ),
                        ratatui::text::Span::styled(
                            format!(" −{:<3}", fl.broken),
                            Style::default().fg(t.worse),
                        ),
                    ])),
                    None => Cell::from(format!("{:>9}", "—")).style(t.dimmed()),
                });
            }
            Row::new(cells)
        })
        .collect();
    let mut header = vec!["dataset".to_string()];
    header.extend(many.runs.iter().map(|id| {
        let mark = if *id == base { "*" } else { "" };
        format!("{:>7}", format!("{mark}run {id}"))
    }));
    header.extend(
        others
            .iter()
            .map(|i| format!("{:>9}", format!("{} vs {base}", many.runs[*i]))),
    );
    let mut widths = vec![Constraint::Min(14)];
    widths.extend(many.runs.iter().map(|_| Constraint::Length(7)));
    widths.extend(others.iter().map(|_| Constraint::Length(9)));
    let mut state = TableState::default().with_selected(Some(s.cursor.selected));
    let ids: Vec<String> = many.runs.iter().map(ToString::to_string).collect();
    f.render_stateful_widget(
        Table::new(rows, widths)
            .header(Row::new(header).style(t.dimmed()))
            .row_highlight_style(t.selected())
            .block(block(
                format!(
                    "Runs {} side by side · F1 (compat; bold: best) · fixed/broken against baseline run {base} (*){}",
                    ids.join(", "),
                    if s.is_loading() { " · reading…" } else { "" }
                ),
                true,
                t,
            )),
        area,
        &mut state,
    );
}

/// The selected dataset's difference in full: both scores, the interval and the p-value.
fn difference_panel<'a>(s: &State, t: &Theme) -> Paragraph<'a> {
    let method = format!(
        "paired bootstrap over the examples both runs answered, {RESAMPLES} resamples, seed {SEED}; \
         dimmed: not significant (p ≥ {ALPHA})"
    );
    let line = match s.rows.get(s.cursor.selected) {
        Some(row) => match &row.difference {
            Some(d) => {
                let (delta, interval, p) = d.words();
                format!(
                    "{}: A {:.2}, B {:.2} on {} examples; B − A {delta} pp, 95% CI {interval}, p {p}",
                    super::safe(&row.dataset),
                    d.a * 100.0,
                    d.b * 100.0,
                    d.n
                )
            }
            None => format!(
                "{}: no example both runs answered",
                super::safe(&row.dataset)
            ),
        },
        None => String::new(),
    };
    Paragraph::new(vec![Line::from(line), Line::styled(method, t.dimmed())])
        .wrap(ratatui::widgets::Wrap { trim: true })
        .block(block("Is B better than A?", false, t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::compare::Flips;

    /// The screen on its own, without a store or a job manager: keys in, a message out.
    #[test]
    fn a_cell_asks_for_its_examples_in_inspect() {
        let mut flips = Flips::default();
        flips.add(Flip::Fixed);
        flips.add(Flip::Broken);
        let mut s = State {
            runs: Some((1, 2)),
            rows: vec![DatasetComparison {
                dataset: "NER/CoNLL 2003".to_string(),
                flips,
                examples: vec![
                    (Flip::Fixed, "7".to_string()),
                    (Flip::Broken, "9".to_string()),
                ],
                difference: None,
            }],
            ..State::default()
        };
        let mut status = Status::default();
        assert_eq!(s.on_action(Action::Right, &mut status), None);
        assert_eq!(
            s.on_action(Action::Open, &mut status),
            Some(Message::InspectOnly {
                run: 2,
                ids: vec![("NER/CoNLL 2003".to_string(), "9".to_string())],
                what: "broken in NER/CoNLL 2003".to_string(),
            })
        );
        // An empty cell says so and asks for nothing.
        s.on_action(Action::Right, &mut status);
        assert_eq!(s.on_action(Action::Open, &mut status), None);
        assert_eq!(status.text, "no both-wrong examples in NER/CoNLL 2003");
    }
}
