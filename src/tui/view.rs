//! Drawing: a pure function of the `App` state. Screens draw their own body; this module
//! draws the frame around them (tabs, message line, key hints, help overlay).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::app::{App, Screen};
use super::keymap::Action;
use super::screens;
use super::theme::Theme;

pub fn tab_label(s: Screen) -> String {
    let n = Screen::ALL.iter().position(|x| *x == s).unwrap_or(0) + 1;
    format!(" {n} {} ", s.title())
}

pub fn block<'a>(title: impl Into<String>, focused: bool, t: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(t.border(focused))
        .title(Span::styled(
            format!(" {} ", title.into()),
            Style::default().fg(t.title).add_modifier(Modifier::BOLD),
        ))
}

/// A block for a pane `width` columns wide whose title (escaped, it may hold stored text) is
/// cut with `…` where the border leaves it no room.
pub fn fitted_block<'a>(title: &str, width: u16, focused: bool, t: &Theme) -> Block<'a> {
    block(
        fit(
            &crate::tui::screens::safe(title),
            width.saturating_sub(4) as usize,
        ),
        focused,
        t,
    )
}

/// Below this size the screens have no room to draw; a line says so instead.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 10;

pub fn draw(f: &mut Frame, app: &App) {
    let t = &app.theme;
    let area = f.area();
    f.render_widget(Block::default().style(t.base()), area);
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "terminal too small ({}×{}): ie-bench needs {MIN_WIDTH}×{MIN_HEIGHT}",
            area.width, area.height
        );
        f.render_widget(
            Paragraph::new(fit(&text, area.width as usize))
                .style(Style::default().fg(t.warning))
                .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    let [tabs, body, status, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let mut spans = Vec::new();
    let mut areas = [Rect::default(); 6];
    let mut x = tabs.x;
    for (i, s) in Screen::ALL.into_iter().enumerate() {
        let style = if s == app.screen {
            t.selected()
        } else {
            t.dimmed()
        };
        let label = tab_label(s);
        let width = (label.chars().count() as u16).min(tabs.right().saturating_sub(x));
        areas[i] = Rect::new(x, tabs.y, width, 1);
        x = x.saturating_add(width + 1);
        spans.push(Span::styled(label, style));
        spans.push(Span::raw(" "));
    }
    app.tab_areas.set(areas);
    f.render_widget(Paragraph::new(Line::from(spans)), tabs);
    match app.screen {
        Screen::Datasets => screens::datasets::draw(f, body, &app.datasets, &app.ws, t),
        Screen::Templates => screens::templates::draw(f, body, &app.templates, t),
        Screen::Runs => screens::runs::draw(f, body, &app.runs, t),
        Screen::Inspect => screens::inspect::draw(f, body, &app.inspect, t),
        Screen::Compare => screens::compare::draw(f, body, &app.compare, t),
        Screen::Export => screens::export::draw(f, body, &app.export, t),
    }
    let style = Style::default().fg(if app.status.error { t.error } else { t.status });
    f.render_widget(
        Paragraph::new(Span::styled(
            fit(&app.status.text.replace('\n', " · "), status.width as usize),
            style,
        )),
        status,
    );
    f.render_widget(
        Paragraph::new(Span::styled(
            hint_line(app, hints.width as usize),
            t.dimmed(),
        )),
        hints,
    );
    if app.help {
        draw_help(f, area, app);
    }
}

/// The screen's most useful keys, from the keymap in force, as many as fit in `width`
/// (help and quit always shown).
fn hint_line(app: &App, width: usize) -> String {
    let k = |a| app.keymap.key_of(a);
    let screen: &[(Action, &str)] = match app.screen {
        Screen::Datasets => &[(Action::Search, "search"), (Action::Open, "open hit")],
        Screen::Templates => &[
            (Action::Edit, "edit"),
            (Action::Save, "save version"),
            (Action::AbTest, "A/B"),
            (Action::Revert, "revert"),
            (Action::NextExample, "example"),
        ],
        Screen::Runs => &[
            (Action::NewRun, "new run"),
            (Action::CancelRun, "cancel"),
            (Action::ResumeRun, "resume"),
            (Action::Baseline, "baseline"),
            (Action::Sort, "sort"),
            (Action::Zoom, "zoom"),
            (Action::Open, "inspect"),
            (Action::Search, "filter"),
            (Action::Mark, "mark"),
            (Action::Wide, "settings"),
        ],
        Screen::Inspect => &[
            (Action::FilterKind, "kind"),
            (Action::FilterDataset, "dataset"),
            (Action::FilterLabel, "label"),
            (Action::NextSame, "next same"),
            (Action::Confusion, "confusion"),
            (Action::Edit, "fix gold"),
            (Action::EditSpans, "edit items"),
            (Action::Undo, "undo"),
            (Action::ByLabel, "per label"),
        ],
        Screen::Compare => &[(Action::Left, "column"), (Action::Open, "examples")],
        Screen::Export => &[
            (Action::Mark, "mark"),
            (Action::Format, "format"),
            (Action::Write, "write"),
            (Action::Intervals, "intervals"),
        ],
    };
    let tail = format!("{} help · {} quit", k(Action::Help), k(Action::Quit));
    let mut parts: Vec<String> = screen
        .iter()
        .map(|(a, what)| format!("{} {what}", k(*a)))
        .collect();
    loop {
        let mut line = parts.join(" · ");
        if !parts.is_empty() {
            line.push_str(" · ");
        }
        if parts.len() < screen.len() {
            line.push_str("… · ");
        }
        line.push_str(&tail);
        if line.chars().count() <= width || parts.is_empty() {
            return fit(&line, width);
        }
        parts.pop();
    }
}

fn draw_help(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let lines = app.keymap.help_lines();
    let w = area.width.saturating_sub(4).min(90);
    let h = area.height.saturating_sub(2).min(lines.len() as u16 + 3);
    let rect = centered(area, w, h);
    f.render_widget(Clear, rect);
    let key_w = lines
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(8) as u16;
    let rows: Vec<Row> = lines
        .into_iter()
        .map(|(k, what)| {
            Row::new(vec![
                Span::styled(k, Style::default().fg(t.focus)),
                Span::raw(what),
            ])
        })
        .collect();
    let visible = h.saturating_sub(3) as usize;
    let skip = (app.help_scroll as usize).min(rows.len().saturating_sub(visible));
    let more = rows.len() > visible;
    let title = if more {
        format!(
            "Keys {}-{} of {} (↑↓ pgup pgdn scroll; other keys close)",
            skip + 1,
            (skip + visible).min(rows.len()),
            rows.len()
        )
    } else {
        "Keys (from the active keymap; any key closes)".to_string()
    };
    let table = Table::new(
        rows.into_iter().skip(skip),
        [Constraint::Length(key_w), Constraint::Min(10)],
    )
    .block(block(fit(&title, w.saturating_sub(4) as usize), true, t))
    .style(t.base());
    f.render_widget(table, rect);
}

/// A `w`×`h` rectangle in the middle of `area`, for overlays.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    Rect {
        x: area.x + (area.width.saturating_sub(w)) / 2,
        y: area.y + (area.height.saturating_sub(h)) / 2,
        width: w.min(area.width),
        height: h.min(area.height),
    }
}

/// A paragraph of lines in a titled block, wrapped.
pub fn text_panel<'a>(
    title: &str,
    lines: Vec<Line<'a>>,
    focused: bool,
    t: &Theme,
) -> Paragraph<'a> {
    Paragraph::new(lines)
        .block(block(title, focused, t))
        .wrap(Wrap { trim: false })
}

/// `text` cut to `width` columns, ending in `…` when anything was cut (never cut silently).
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// `text` broken into lines of at most `width` columns at spaces (a longer word is cut).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word = word.to_string();
        while word.chars().count() > width {
            if !line.is_empty() {
                out.push(std::mem::take(&mut line));
            }
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            out.push(head);
        }
        let needed = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
        if needed > width && !line.is_empty() {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() {
        out.push(line);
    }
    out
}

/// A path as the user would type it: relative to the working directory when inside it.
pub fn short_path(p: &std::path::Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| p.strip_prefix(cwd).ok().map(|r| r.display().to_string()))
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_words_and_cuts_only_what_cannot_fit() {
        assert_eq!(
            wrap("missing: a, bb, ccc", 9),
            ["missing:", "a, bb,", "ccc"]
        );
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
    }
}
