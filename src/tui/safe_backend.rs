//! The last guard between data and the terminal. Screens show data strings through
//! [`crate::text::display_safe`], so control characters and direction marks appear as visible
//! symbols; this backend makes sure that a string a screen forgot still cannot reach the
//! terminal raw. ratatui treats such characters as zero-width and glues them to the cell
//! before, so they would be written out inside that cell's symbol; here they are dropped from
//! every cell, which leaves the layout exactly as ratatui computed it.

use std::io;

use ratatui::backend::{Backend, ClearType, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};

pub struct SafeBackend<B>(pub B);

/// The cell without the characters `display_safe` would have escaped.
fn clean(cell: &Cell) -> Option<Cell> {
    use crate::text::needs_escape;
    let symbol = cell.symbol();
    if !symbol.chars().any(needs_escape) {
        return None;
    }
    let kept: String = symbol.chars().filter(|&c| !needs_escape(c)).collect();
    let mut out = cell.clone();
    out.set_symbol(if kept.is_empty() { " " } else { &kept });
    Some(out)
}

impl<B: Backend> Backend for SafeBackend<B> {
    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        let cells: Vec<(u16, u16, std::borrow::Cow<'a, Cell>)> = content
            .map(|(x, y, c)| {
                (
                    x,
                    y,
                    clean(c).map_or(std::borrow::Cow::Borrowed(c), std::borrow::Cow::Owned),
                )
            })
            .collect();
        self.0
            .draw(cells.iter().map(|(x, y, c)| (*x, *y, c.as_ref())))
    }

    fn append_lines(&mut self, n: u16) -> io::Result<()> {
        self.0.append_lines(n)
    }

    fn hide_cursor(&mut self) -> io::Result<()> {
        self.0.hide_cursor()
    }

    fn show_cursor(&mut self) -> io::Result<()> {
        self.0.show_cursor()
    }

    fn get_cursor_position(&mut self) -> io::Result<Position> {
        self.0.get_cursor_position()
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        self.0.set_cursor_position(position)
    }

    fn clear(&mut self) -> io::Result<()> {
        self.0.clear()
    }

    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        self.0.clear_region(clear_type)
    }

    fn size(&self) -> io::Result<Size> {
        self.0.size()
    }

    fn window_size(&mut self) -> io::Result<WindowSize> {
        self.0.window_size()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::backend::TestBackend;
    use ratatui::widgets::Paragraph;

    #[test]
    fn no_control_character_reaches_the_backend() {
        let mut term = ratatui::Terminal::new(SafeBackend(TestBackend::new(20, 1))).unwrap();
        term.draw(|f| f.render_widget(Paragraph::new("ab\u{1b}]0;x\u{7}c\u{202e}d\re"), f.area()))
            .unwrap();
        let buf = term.backend().0.buffer().clone();
        let shown: String = buf
            .content()
            .iter()
            .map(ratatui::buffer::Cell::symbol)
            .collect();
        assert!(
            !shown.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{shown:?}"
        );
        assert!(shown.replace(' ', "").starts_with("ab]0;xcde"), "{shown:?}");
    }
}
