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
        .block(block(
            fit(
                &crate::tui::screens::safe(&title),
                left.width.saturating_sub(4) as usize,
            ),
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
    let sentence_lines = e.sentence.as_ref().map_or(1, |x| {
        x.chars().count() / right.width.saturating_sub(2).max(1) as usize + 1
    });
    let [sentence, items, raw] = Layout::vertical([
        Constraint::Length((sentence_lines as u16 + 2).min(right.height / 3).max(3)),
        Constraint::Min(4),
        Constraint::Length(8),
    ])
    .areas(right);
    draw_sentence(f, sentence, e, t);
    // Cells are cut with an ellipsis, never silently.
    let col = (items.width.saturating_sub(2) as usize * 40 / 100).saturating_sub(1);
    let rows: Vec<Row> = e
        .verdict
        .items
        .iter()
        .map(|i| {
            let c = t.kind(i.kind);
            Row::new(vec![
                Cell::from(Span::styled(
                    fit(
                        &crate::tui::screens::safe(i.gold.as_deref().unwrap_or_default()),
                        col,
                    ),
                    Style::default().fg(t.gold),
                )),
                Cell::from(Span::styled(
                    fit(
                        &crate::tui::screens::safe(i.pred.as_deref().unwrap_or_default()),
                        col,
                    ),
                    Style::default().fg(t.prediction),
                )),
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
                Constraint::Percentage(40),
                Constraint::Percentage(40),
                Constraint::Min(10),
            ],
        )
        .header(Row::new(vec!["gold", "predicted", "verdict"]).style(t.dimmed()))
        .block(block(format!("{} #{}", e.key, e.id), false, t)),
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

/// The sentence with each item's span in its verdict's colour: gold items as they were judged
/// (matched, missing, wrong type, ...), predicted-only items underlined. Spans are found
/// ignoring case and spacing; an item whose span is not in the sentence is only listed below.
fn draw_sentence(f: &mut Frame, area: Rect, e: &Example, t: &Theme) {
    let Some(text) = &e.sentence else {
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
    let task = e.verdict.task;
    let mut mark = |item: &str, style: Style| {
        for piece in item_spans(task, item) {
            if let Some((a, b)) = find_span(text, &piece) {
                for st in &mut styles[a..b] {
                    *st = Some(st.map_or(style, |old| old.patch(style)));
                }
            }
        }
    };
    for i in &e.verdict.items {
        let colour = Style::default().fg(t.kind(i.kind));
        match (&i.gold, &i.pred) {
            (Some(g), _) => mark(g, colour.add_modifier(Modifier::BOLD)),
            (None, Some(p)) => mark(p, colour.add_modifier(Modifier::UNDERLINED)),
            (None, None) => {}
        }
    }
    let mut spans: Vec<Span> = Vec::new();
    let mut start = 0;
    for i in 1..=chars.len() {
        if i == chars.len() || styles[i] != styles[start] {
            let piece: String = chars[start..i].iter().collect();
            let style = styles[start].unwrap_or_else(|| t.base());
            spans.push(Span::styled(crate::tui::screens::safe(&piece), style));
            start = i;
        }
    }
    f.render_widget(
        text_panel(
            &fit(
                "Sentence (gold bold, predicted-only underlined, in the verdict's colour)",
                area.width.saturating_sub(4) as usize,
            ),
            vec![Line::from(spans)],
            false,
            t,
        ),
        area,
    );
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
            .block(block(
                fit(
                    &crate::tui::screens::safe(&title),
                    area.width.saturating_sub(4) as usize,
                ),
                true,
                t,
            )),
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
        .block(block(
            fit(
                &crate::tui::screens::safe(&title),
                area.width.saturating_sub(4) as usize,
            ),
            true,
            t,
        )),
        area,
    );
}
