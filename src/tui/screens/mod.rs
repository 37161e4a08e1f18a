//! One module per screen: its state, how actions change it, and how it is drawn.

pub mod compare;
pub mod datasets;
pub mod export;
pub mod inspect;
pub mod runs;
pub mod templates;

use crossterm::event::KeyEvent;

use super::app::Ctx;
use super::keymap::Action;
use super::message::Message;

/// What the workbench asks of every screen. A screen changes its own state and returns what
/// it wants done beyond that as a [`Message`], which `App` alone carries out; it reads the
/// database through `Ctx::reads` and never holds the store.
pub trait Screen {
    /// Whether it takes raw keys now (a text field or form is open).
    fn capturing(&self) -> bool {
        false
    }

    /// An action from the keymap.
    fn act(&mut self, a: Action, ctx: &mut Ctx) -> Option<Message>;

    /// A key while [`Screen::capturing`].
    fn raw_key(&mut self, _k: &KeyEvent, _ctx: &mut Ctx) -> Option<Message> {
        None
    }

    /// Where its clickable list was last drawn, if it has one.
    fn list_area(&self) -> Option<&ListArea> {
        None
    }

    /// A click on line `line` of its list, `height` lines high.
    fn click(&mut self, _line: usize, _height: usize, _ctx: &mut Ctx) -> Option<Message> {
        None
    }

    /// It is about to be shown: read again what may have changed while it was hidden.
    fn shown(&mut self, _ctx: &mut Ctx) {}
}

/// A selected row in a list of `len` rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub selected: usize,
}

pub const PAGE: usize = 10;

/// A string from data or a model, as the screen shows it: control characters and direction
/// marks made visible (see [`crate::text::safe`]).
pub use crate::text::safe_string as safe;

impl Cursor {
    /// Moves for a movement action; false for any other action.
    pub fn act(&mut self, a: Action, len: usize) -> bool {
        let last = len.saturating_sub(1);
        self.selected = match a {
            Action::Up => self.selected.saturating_sub(1),
            Action::Down => (self.selected + 1).min(last),
            Action::PageUp => self.selected.saturating_sub(PAGE),
            Action::PageDown => (self.selected + PAGE).min(last),
            Action::Top => 0,
            Action::Bottom => last,
            _ => return false,
        };
        true
    }

    pub fn clamp(&mut self, len: usize) {
        self.selected = self.selected.min(len.saturating_sub(1));
    }

    /// Selects row `line` of what is visible in a list of `len` rows `height` high.
    pub fn click(&mut self, line: usize, len: usize, height: usize) {
        let first = first_visible(self.selected, height);
        if first + line < len {
            self.selected = first + line;
        }
    }
}

/// The first row shown when row `selected` must be visible in `height` rows.
pub fn first_visible(selected: usize, height: usize) -> usize {
    if height == 0 {
        return 0;
    }
    selected.saturating_sub(height - 1)
}

/// A fraction as a percentage with two decimals, or a dash.
pub fn pct(x: Option<f64>) -> String {
    x.map_or("—".to_string(), |v| format!("{:.2}", v * 100.0))
}

/// A signed difference in percentage points.
pub fn delta(x: Option<f64>, base: Option<f64>) -> Option<f64> {
    Some((x? - base?) * 100.0)
}

/// Where a screen's list was last drawn: the rectangle of its rows, inside the border and under
/// any header. Drawing records it, so a click maps to the row it lands on whatever the layout
/// did (a list shortened by a panel under it, a narrow terminal).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListArea(std::cell::Cell<ratatui::layout::Rect>);

impl ListArea {
    /// Records a list drawn in `area`, with a border and `header` header lines.
    pub fn record(&self, area: ratatui::layout::Rect, header: u16) {
        self.0.set(ratatui::layout::Rect {
            x: area.x.saturating_add(1),
            y: area.y.saturating_add(1 + header),
            width: area.width.saturating_sub(2),
            height: area.height.saturating_sub(2 + header),
        });
    }

    /// The line of the list a click at (`col`, `row`) lands on, and the list's height.
    pub fn hit(&self, col: u16, row: u16) -> Option<(usize, usize)> {
        let r = self.0.get();
        r.contains(ratatui::layout::Position::new(col, row))
            .then(|| ((row - r.y) as usize, r.height as usize))
    }
}
