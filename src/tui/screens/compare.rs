//! Compare: run A (the baseline) against run B, per dataset: fixed, broken, both wrong, both
//! right; a cell opens its examples in Inspect.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Cell, Row, Table, TableState};
use ratatui::Frame;

use super::{Cursor, Screen};
use crate::eval::compare::{flips, Flip, Flips};
use crate::eval::Mode;
use crate::service::reads::Reads;
use crate::service::results::answers;
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

/// One dataset's row: `TASK/dataset`, its counts, and each example's flip with its id.
pub type CompareRow = (String, Flips, Vec<(Flip, String)>);

#[derive(Default)]
pub struct State {
    pub runs: Option<(RunId, RunId)>,
    /// Per `TASK/dataset`: the counts and each example's flip.
    pub rows: Vec<CompareRow>,
    pub cursor: Cursor,
    pub col: usize,
    /// Reading and matching two runs' predictions (a hundred thousand each on a real
    /// benchmark) takes longer than a frame.
    loader: Latest<Vec<CompareRow>>,
}

/// Run `b`'s answers against run `a`'s, per dataset.
fn compare(reads: &Reads, a: RunId, b: RunId) -> Result<Vec<CompareRow>, String> {
    let read = |id: RunId| {
        reads
            .predictions(id)
            .map_err(|e| format!("reading run {id}'s predictions: {e}"))
    };
    let (pa, pb) = (read(a)?, read(b)?);
    Ok(flips(&answers(&pa), &answers(&pb), Mode::Compat)
        .into_iter()
        .map(|(k, list)| {
            let mut f = Flips::default();
            for (flip, _) in &list {
                f.add(*flip);
            }
            (
                k,
                f,
                list.into_iter()
                    .map(|(fl, id)| (fl, id.to_string()))
                    .collect(),
            )
        })
        .collect())
}

impl State {
    /// Starts comparing run `b` with baseline `a` on a worker thread.
    pub fn open(&mut self, a: RunId, b: RunId, ctx: &mut Ctx) {
        self.runs = Some((a, b));
        self.rows.clear();
        let reads = ctx.reads.clone();
        self.loader.start(move |_| compare(&reads, a, b));
    }

    pub fn is_loading(&self) -> bool {
        self.loader.busy()
    }

    /// Installs a finished comparison; true when one arrived.
    pub fn poll(&mut self, status: &mut Status) -> bool {
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
        if self.cursor.act(a, self.rows.len()) {
            return None;
        }
        match a {
            Action::Left => self.col = self.col.saturating_sub(1),
            Action::Right => self.col = (self.col + 1).min(COLUMNS.len() - 1),
            Action::Open => {
                let (key, _, list) = self.rows.get(self.cursor.selected)?;
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
        .map(|(r, (key, f, _))| {
            let mut cells = vec![Cell::from(super::safe(key))];
            for (c, (flip, _)) in COLUMNS.iter().enumerate() {
                let style = if r == s.cursor.selected && c == s.col {
                    t.selected()
                } else {
                    Style::default().fg(colour(*flip))
                };
                cells.push(Cell::from(format!("{:>10}", f.get(*flip))).style(style));
            }
            cells.push(Cell::from(format!("{:>9}", f.unmatched)).style(t.dimmed()));
            Row::new(cells)
        })
        .collect();
    let mut header = vec!["dataset".to_string()];
    header.extend(COLUMNS.iter().map(|(_, n)| format!("{n:>10}")));
    header.push(format!("{:>9}", "unmatched"));
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
        area,
        &mut state,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The screen on its own, without a store or a job manager: keys in, a message out.
    #[test]
    fn a_cell_asks_for_its_examples_in_inspect() {
        let mut flips = Flips::default();
        flips.add(Flip::Fixed);
        flips.add(Flip::Broken);
        let mut s = State {
            runs: Some((1, 2)),
            rows: vec![(
                "NER/CoNLL 2003".to_string(),
                flips,
                vec![
                    (Flip::Fixed, "7".to_string()),
                    (Flip::Broken, "9".to_string()),
                ],
            )],
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
