//! Drawing Inspect: the example table, the selected example (its sentence with gold spans
//! highlighted, gold and predicted items side by side) and the confusion matrix.

use super::*;

pub fn draw(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    if let Some(id) = &s.loading {
        if s.run != Some(*id) {
            f.render_widget(
                text_panel(
                    "Inspect",
                    vec![Line::from(format!("Loading run {id}…"))],
                    false,
                    t,
                ),
                area,
            );
            return;
        }
    }
    let Some(run) = s.run else {
        f.render_widget(
            text_panel(
                "Inspect",
                vec![Line::from(
                    "Select a run on the Runs screen and press enter.",
                )],
                false,
                t,
            ),
            area,
        );
        return;
    };
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(42), Constraint::Percentage(58)]).areas(area);
    let filters = [
        s.filter_dataset.clone().map(|d| format!("dataset {d}")),
        s.filter_kind
            .map(|k| format!("kind {} ({} items)", k.as_str(), s.kind_count(k))),
        s.filter_label.clone().map(|l| format!("label {l}")),
        s.only.as_ref().map(|o| o.1.clone()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    let title = format!(
        "Run {run}: {} of {} examples{}",
        s.visible.len(),
        s.examples.len(),
        if filters.is_empty() {
            String::new()
        } else {
            format!(" · {filters}")
        }
    );
    // Only the rows on screen are built: a run may hold a hundred thousand examples.
    let height = left.height.saturating_sub(3) as usize;
    let first = crate::tui::screens::first_visible(s.cursor.selected, height);
    let window = &s.visible[first..(first + height).min(s.visible.len())];
    let rows: Vec<Row> = window
        .iter()
        .map(|&i| {
            let e = &s.examples[i];
            let kinds = e.kinds();
            let (mark, colour) = match kinds.iter().next() {
                None => ("✓".to_string(), t.correct),
                Some(k) => (k.as_str().to_string(), t.kind(*k)),
            };
            Row::new(vec![
                Cell::from(format!("{}{}", e.id, if e.corrected { "*" } else { "" })),
                Cell::from(crate::tui::screens::safe(&e.key)),
                Cell::from(Span::styled(
                    if kinds.len() > 1 {
                        format!("{mark} +{}", kinds.len() - 1)
                    } else {
                        mark
                    },
                    Style::default().fg(colour),
                )),
            ])
        })
        .collect();
    let mut state = TableState::default().with_selected(Some(s.cursor.selected - first));
    f.render_stateful_widget(
        Table::new(
            rows,
            [
                Constraint::Length(6),
                Constraint::Min(10),
                Constraint::Length(17),
            ],
        )
        .header(Row::new(vec!["id", "dataset", "verdict"]).style(t.dimmed()))
        .block(fitted_block(
            &title,
            left.width,
            s.confusion.is_none() && s.by_label.is_none(),
            t,
        ))
        .row_highlight_style(t.selected()),
        left,
        &mut state,
    );
    s.list_area.record(left, 1);
    if let Some(c) = &s.confusion {
        draw_confusion(f, right, c, t);
        return;
    }
    if let Some(table) = &s.by_label {
        draw_by_label(f, right, table, t);
        return;
    }
    let Some(e) = s.selected() else {
        f.render_widget(
            text_panel("Example", vec![Line::from("No example matches.")], false, t),
            right,
        );
        return;
    };
    // The sentence's length with room for its items' brackets (`[12h ` and `]`).
    let sentence_lines = e.sentence.as_ref().map_or(1, |x| {
        let marks = 7 * e
            .verdict
            .items
            .len()
            .max(s.span_editor.as_ref().map_or(0, |ed| ed.parts.len()));
        (x.chars().count() + marks) / right.width.saturating_sub(2).max(1) as usize + 1
    });
    let [sentence, items, raw] = Layout::vertical([
        Constraint::Length((sentence_lines as u16 + 2).min(right.height / 3).max(3)),
        Constraint::Min(4),
        Constraint::Length(8),
    ])
    .areas(right);
    if let Some(ed) = &s.span_editor {
        return draw_editor(f, [sentence, items, raw], e, ed, t);
    }
    // Each item's number, as the table lists it, marks its spans in the sentence.
    let marks: Vec<Mark> = e
        .verdict
        .items
        .iter()
        .enumerate()
        .filter_map(|(n, i)| {
            let colour = Style::default().fg(t.kind(i.kind));
            match (&i.gold, &i.pred) {
                (Some(g), _) => Some((n, g, colour.add_modifier(Modifier::BOLD))),
                (None, Some(p)) => Some((n, p, colour.add_modifier(Modifier::UNDERLINED))),
                (None, None) => None,
            }
        })
        .flat_map(|(n, item, style)| {
            marks_of(
                e.verdict.task,
                n + 1,
                item_spans(e.verdict.task, item),
                style,
            )
        })
        .collect();
    draw_sentence(
        f,
        sentence,
        e.sentence.as_deref(),
        &marks,
        None,
        "Sentence ([n:…] item n; gold bold, predicted-only underlined, in the verdict's colour)",
        t,
    );
    // Cells are cut with an ellipsis, never silently.
    let col = (items.width.saturating_sub(2) as usize).saturating_sub(3 + 3 + 10) / 2;
    let task = e.verdict.task;
    let rows: Vec<Row> = e
        .verdict
        .items
        .iter()
        .enumerate()
        .map(|(n, i)| {
            let c = t.kind(i.kind);
            let cell = |text: &Option<String>, colour| {
                Cell::from(Span::styled(
                    fit(
                        &crate::tui::screens::safe(&item_text(
                            task,
                            text.as_deref().unwrap_or_default(),
                        )),
                        col,
                    ),
                    Style::default().fg(colour),
                ))
            };
            Row::new(vec![
                Cell::from(Span::styled(format!("{}", n + 1), t.dimmed())),
                cell(&i.gold, t.gold),
                cell(&i.pred, t.prediction),
                Cell::from(Span::styled(
                    if i.kind == ErrorKind::Correct {
                        "matched"
                    } else {
                        i.kind.as_str()
                    },
                    Style::default().fg(c).add_modifier(Modifier::BOLD),
                )),
            ])
        })
        .collect();
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(3),
                Constraint::Length(col as u16),
                Constraint::Length(col as u16),
                Constraint::Min(10),
            ],
        )
        .header(Row::new(vec!["#", "gold", "predicted", "verdict"]).style(t.dimmed()))
        .block(block(
            format!("{} #{}{}", e.key, e.id, event_of(e.instruction.as_deref())),
            false,
            t,
        )),
        items,
    );
    let mut lines = vec![
        Line::from(vec![
            Span::styled("gold: ", t.dimmed()),
            Span::styled(
                crate::tui::screens::safe(&e.gold),
                Style::default().fg(t.gold),
            ),
        ]),
        Line::from(vec![
            Span::styled("raw:  ", t.dimmed()),
            Span::styled(
                crate::tui::screens::safe(&e.prediction),
                Style::default().fg(t.prediction),
            ),
        ]),
    ];
    if !e.verdict.flags.is_empty() {
        let flags: Vec<&str> = e.verdict.flags.iter().map(|k| k.as_str()).collect();
        lines.push(Line::styled(
            format!("flags: {}", flags.join(", ")),
            Style::default().fg(t.malformed),
        ));
    }
    if let Some(input) = &s.gold_edit {
        lines.push(Line::from(vec![
            Span::styled("new gold: ", Style::default().fg(t.focus)),
            Span::raw(input.with_cursor()),
        ]));
    }
    f.render_widget(
        text_panel("Gold and generated text", lines, s.gold_edit.is_some(), t),
        raw,
    );
}

/// The event an EEA prompt gives its arguments for (`Event type: attack`), as ` · event
/// attack`; nothing for other prompts.
fn event_of(instruction: Option<&str>) -> String {
    instruction
        .and_then(|i| i.split_once("Event type: "))
        .and_then(|(_, rest)| rest.split('\n').next())
        .map(|t| format!(" · event {}", crate::tui::screens::safe(t.trim())))
        .unwrap_or_default()
}

/// An item as the tables show it: a relation's head and tail joined by an arrow
/// (`work for: John → IBM`), the rest as written.
fn item_text(task: TaskKind, item: &str) -> String {
    let spans = item_spans(task, item);
    match (
        spans_per_item(task),
        item_label(task, item),
        spans.as_slice(),
    ) {
        (2, Some(label), [head, tail]) => format!("{label}: {head} → {tail}"),
        _ => item.to_string(),
    }
}

/// A span to mark in the sentence: its tag (the item's number; `h` and `t` after it for a
/// relation's head and tail), its text and its style.
struct Mark {
    tag: String,
    piece: String,
    style: Style,
}

fn marks_of(task: TaskKind, n: usize, spans: Vec<String>, style: Style) -> Vec<Mark> {
    let two = spans.len() == 2 && spans_per_item(task) == 2;
    spans
        .into_iter()
        .enumerate()
        .map(|(i, piece)| Mark {
            tag: match (two, i) {
                (true, 0) => format!("{n}h"),
                (true, _) => format!("{n}t"),
                _ => n.to_string(),
            },
            piece,
            style,
        })
        .collect()
}

/// The sentence with each mark's span in its style and bracketed with its tag (`[2:New York]`;
/// nested and overlapping spans nest their brackets), and `selection` (a char range) in the
/// selection colour. A sentence taller than the panel scrolls to the selection, else to the
/// first mark. Spans are found ignoring case and spacing; an item whose span is not in the
/// sentence is only listed below.
fn draw_sentence(
    f: &mut Frame,
    area: Rect,
    sentence: Option<&str>,
    marks: &[Mark],
    selection: Option<(usize, usize)>,
    title: &str,
    t: &Theme,
) {
    let Some(text) = sentence else {
        f.render_widget(
            text_panel(
                "Sentence",
                vec![Line::styled(
                    fit(
                        "not stored with this run",
                        area.width.saturating_sub(2) as usize,
                    ),
                    t.dimmed(),
                )],
                false,
                t,
            ),
            area,
        );
        return;
    };
    let chars: Vec<char> = text.chars().collect();
    let mut styles: Vec<Option<Style>> = vec![None; chars.len()];
    let mut opens: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut closes: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (m, mark) in marks.iter().enumerate() {
        if let Some((a, b)) = find_span(text, &mark.piece) {
            for st in &mut styles[a..b] {
                *st = Some(st.map_or(mark.style, |old| old.patch(mark.style)));
            }
            opens.entry(a).or_default().push(m);
            closes.entry(b).or_default().push(m);
        }
    }
    if let Some((a, b)) = selection {
        for st in &mut styles[a..b.min(chars.len())] {
            *st = Some(t.selected());
        }
    }
    let focus = selection
        .map(|s| s.0)
        .or_else(|| opens.keys().next().copied());
    let mut pieces: Vec<(String, Style)> = Vec::new();
    let mut shown = 0usize;
    let mut focus_at = 0usize;
    let mut start = 0;
    for i in 0..=chars.len() {
        let boundary = i == chars.len()
            || (i > start && styles[i] != styles[start])
            || opens.contains_key(&i)
            || closes.contains_key(&i);
        if boundary && i > start {
            let piece: String = chars[start..i].iter().collect();
            shown += piece.chars().count();
            pieces.push((piece, styles[start].unwrap_or_else(|| t.base())));
            start = i;
        }
        // Closing brackets first (innermost, the last opened, first), then opening ones.
        if let Some(ms) = closes.get(&i) {
            for &m in ms.iter().rev() {
                pieces.push((
                    "]".into(),
                    marks[m].style.remove_modifier(Modifier::UNDERLINED),
                ));
                shown += 1;
            }
        }
        if Some(i) == focus {
            focus_at = shown;
        }
        if let Some(ms) = opens.get(&i) {
            for &m in ms {
                let tag = format!("[{}:", marks[m].tag);
                shown += tag.chars().count();
                pieces.push((tag, marks[m].style.remove_modifier(Modifier::UNDERLINED)));
            }
        }
    }
    // Wrapped here, not by the paragraph, so the line holding the focus is known exactly and
    // a long sentence scrolls it into view.
    let width = area.width.saturating_sub(2).max(1) as usize;
    let height = area.height.saturating_sub(2).max(1) as usize;
    let (lines, focus_line) = wrap(&pieces, width, focus_at);
    let scroll = focus_line
        .saturating_sub(height.saturating_sub(1) / 2)
        .min(lines.len().saturating_sub(height));
    let visible: Vec<Line> = lines.into_iter().skip(scroll).take(height).collect();
    f.render_widget(
        ratatui::widgets::Paragraph::new(visible).block(fitted_block(title, area.width, false, t)),
        area,
    );
}

/// Styled pieces laid out in lines of at most `width` chars, breaking after spaces where it
/// can (a word longer than a line is cut); also the line holding display char `focus`.
fn wrap(pieces: &[(String, Style)], width: usize, focus: usize) -> (Vec<Line<'static>>, usize) {
    // Words with the spaces after them, each char keeping its style.
    let mut words: Vec<Vec<(char, Style)>> = vec![Vec::new()];
    for (text, style) in pieces {
        for c in crate::tui::screens::safe(text).chars() {
            let after_space = words
                .last()
                .and_then(|w| w.last())
                .is_some_and(|(p, _)| p.is_whitespace());
            if after_space && !c.is_whitespace() {
                words.push(Vec::new());
            }
            if let Some(w) = words.last_mut() {
                w.push((c, *style));
            }
        }
    }
    let mut lines: Vec<Vec<(char, Style)>> = vec![Vec::new()];
    let (mut at, mut focus_line) = (0usize, 0usize);
    for word in words {
        for chunk in word.chunks(width) {
            let full = lines
                .last()
                .is_some_and(|l| !l.is_empty() && l.len() + chunk.len() > width);
            if full {
                lines.push(Vec::new());
            }
            if (at..at + chunk.len()).contains(&focus) {
                focus_line = lines.len() - 1;
            }
            at += chunk.len();
            if let Some(l) = lines.last_mut() {
                l.extend_from_slice(chunk);
            }
        }
    }
    let styled = lines
        .into_iter()
        .map(|l| {
            let mut spans: Vec<Span<'static>> = Vec::new();
            let mut run = String::new();
            let mut style: Option<Style> = None;
            for (c, st) in l {
                if let Some(s) = style.filter(|s| *s != st) {
                    spans.push(Span::styled(std::mem::take(&mut run), s));
                }
                style = Some(st);
                run.push(c);
            }
            if let Some(s) = style {
                spans.push(Span::styled(run, s));
            }
            Line::from(spans)
        })
        .collect();
    (styled, focus_line)
}

/// The structural editor over the example pane: the sentence with the gold items (the
/// selected one highlighted) and the span being picked, the items, and the options while a
/// label is picked.
fn draw_editor(
    f: &mut Frame,
    [sentence, items, raw]: [Rect; 3],
    e: &Example,
    ed: &structure::SpanEditor,
    t: &Theme,
) {
    let task = ed.task;
    let marks: Vec<Mark> = ed
        .parts
        .iter()
        .enumerate()
        .flat_map(|(n, p)| {
            let mut style = Style::default().fg(t.gold).add_modifier(Modifier::BOLD);
            if n == ed.item && ed.stage == structure::Stage::Items {
                style = style.add_modifier(Modifier::REVERSED);
            }
            marks_of(task, n + 1, p.spans.clone(), style)
        })
        .collect();
    draw_sentence(
        f,
        sentence,
        e.sentence.as_deref(),
        &marks,
        ed.selection(),
        &format!("Editing the gold of {} #{} · {}", e.key, e.id, ed.prompt()),
        t,
    );
    let rows: Vec<Row> = ed
        .parts
        .iter()
        .enumerate()
        .map(|(n, p)| {
            let spans = if p.spans.len() == 2 && spans_per_item(task) == 2 {
                format!("{} → {}", p.spans[0], p.spans[1])
            } else {
                p.spans.join(", ")
            };
            Row::new(vec![
                Cell::from(Span::styled(format!("{}", n + 1), t.dimmed())),
                Cell::from(crate::tui::screens::safe(&p.label)),
                Cell::from(Span::styled(
                    crate::tui::screens::safe(&spans),
                    Style::default().fg(t.gold),
                )),
            ])
        })
        .collect();
    let what = if spans_per_item(task) == 2 {
        "head → tail"
    } else {
        "span"
    };
    let selected = (!ed.parts.is_empty()).then_some(ed.item);
    f.render_stateful_widget(
        Table::new(
            rows,
            [
                Constraint::Length(3),
                Constraint::Length(20),
                Constraint::Min(10),
            ],
        )
        .header(Row::new(vec!["#", "label", what]).style(t.dimmed()))
        .row_highlight_style(t.selected())
        .block(fitted_block(
            &format!(
                "Gold items ({}) · each edit is stored and re-scored",
                ed.parts.len()
            ),
            items.width,
            true,
            t,
        )),
        items,
        &mut TableState::default().with_selected(selected),
    );
    let lines: Vec<Line> = match &ed.stage {
        structure::Stage::Label { input, choice, .. } => {
            let matches = ed.matches();
            let pick = (*choice).min(matches.len().saturating_sub(1));
            let mut lines = vec![Line::from(vec![
                Span::styled("label: ", Style::default().fg(t.focus)),
                Span::raw(input.with_cursor()),
            ])];
            if ed.options.is_empty() {
                lines.push(Line::styled(
                    "the prompt names no options: the label is the text typed",
                    t.dimmed(),
                ));
            }
            // A window of the matches that keeps the pick in view.
            let room = raw.height.saturating_sub(3) as usize;
            let first = pick.saturating_sub(room.saturating_sub(1));
            for (i, m) in matches.iter().enumerate().skip(first).take(room) {
                let style = if i == pick { t.selected() } else { t.base() };
                lines.push(Line::styled(crate::tui::screens::safe(m), style));
            }
            lines
        }
        _ => vec![
            Line::from(vec![
                Span::styled("gold: ", t.dimmed()),
                Span::styled(
                    crate::tui::screens::safe(&e.gold),
                    Style::default().fg(t.gold),
                ),
            ]),
            Line::styled(
                format!(
                    "options: {}",
                    crate::tui::screens::safe(&ed.options.join(", "))
                ),
                t.dimmed(),
            ),
        ],
    };
    f.render_widget(text_panel("Label", lines, true, t), raw);
}

fn draw_confusion(f: &mut Frame, area: Rect, c: &Confusion, t: &Theme) {
    // Gold labels get a column as wide as they need (11 to 16). Predicted labels share the
    // rest: as wide as they need (up to 12) when all fit, else at least 6 wide and as many as
    // fit, a window that follows the selected cell (←→).
    let longest = c
        .labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(3);
    let rw = longest.clamp(11, 16);
    let n = c.labels.len();
    let room = (area.width.saturating_sub(2) as usize).saturating_sub(rw + 1);
    let w = longest
        .min(12)
        .min((room / n.max(1)).saturating_sub(1).max(6))
        .max(3);
    let fits = (room / (w + 1)).max(1);
    let first = (c.col + 1).saturating_sub(fits).min(n.saturating_sub(fits));
    let cols: Vec<usize> = (first..n.min(first + fits)).collect();
    let mut header = vec![Cell::from(fit("gold \\ pred", rw))];
    header.extend(
        cols.iter()
            .map(|&i| Cell::from(crate::tui::screens::safe(&fit(&c.labels[i], w)))),
    );
    let rows: Vec<Row> = c
        .labels
        .iter()
        .enumerate()
        .map(|(r, l)| {
            let mut cells = vec![Cell::from(Span::styled(
                crate::tui::screens::safe(&fit(l, rw)),
                Style::default().fg(t.gold),
            ))];
            for &col in &cols {
                let n = c.cells.get(&(r, col)).map_or(0, Vec::len);
                let mut style = if r == col {
                    Style::default().fg(t.correct)
                } else if n > 0 {
                    Style::default().fg(t.wrong_type)
                } else {
                    t.dimmed()
                };
                if (r, col) == (c.row, c.col) {
                    style = t.selected();
                }
                cells.push(Cell::from(Span::styled(n.to_string(), style)));
            }
            Row::new(cells)
        })
        .collect();
    let mut widths = vec![Constraint::Length(rw as u16)];
    widths.extend(cols.iter().map(|_| Constraint::Length(w as u16)));
    let shown = if cols.len() < n {
        format!(
            " · predicted {}-{} of {n} (←→)",
            first + 1,
            first + cols.len()
        )
    } else {
        String::new()
    };
    let title = format!(
        "Label confusion{shown} · {} · enter opens a cell",
        c.dataset.as_deref().unwrap_or("all")
    );
    f.render_widget(
        Table::new(rows, widths)
            .header(Row::new(header).style(t.dimmed()))
            .block(fitted_block(&title, area.width, true, t)),
        area,
    );
}

/// A dataset's per-label table in seqeval's layout: each label, then the micro, macro and
/// weighted averages.
fn draw_by_label(f: &mut Frame, area: Rect, table: &super::LabelTable, t: &Theme) {
    let rows: Vec<Row> = table
        .rows
        .iter()
        .map(|(label, sc)| {
            let average = label.ends_with(" avg");
            let style = if average {
                t.dimmed().add_modifier(Modifier::ITALIC)
            } else {
                Style::default()
            };
            Row::new(vec![
                Cell::from(crate::tui::screens::safe(label)),
                Cell::from(format!("{:>9.2}", sc.precision * 100.0)),
                Cell::from(format!("{:>6.2}", sc.recall * 100.0)),
                Cell::from(Span::styled(
                    format!("{:>6.2}", sc.f1 * 100.0),
                    Style::default().add_modifier(Modifier::BOLD),
                )),
                Cell::from(format!("{:>7}", sc.support)),
            ])
            .style(style)
        })
        .collect();
    let title = format!(
        "Per label · {} · compat mode, as eval --by-label · P or esc closes",
        table.dataset
    );
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Min(12),
                Constraint::Length(9),
                Constraint::Length(6),
                Constraint::Length(6),
                Constraint::Length(7),
            ],
        )
        .header(
            Row::new(vec![
                "label".to_string(),
                format!("{:>9}", "precision"),
                format!("{:>6}", "recall"),
                format!("{:>6}", "F1"),
                format!("{:>7}", "support"),
            ])
            .style(t.dimmed()),
        )
        .block(fitted_block(&title, area.width, true, t)),
        area,
    );
}
