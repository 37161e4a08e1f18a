//! Drawing the Runs screen: the run list and the F1 table (the chart and the form draw
//! themselves in `chart` and `form`).

use super::chart::draw_chart;
use super::form::draw_form;
use super::*;

fn status_style(s: RunStatus, t: &Theme) -> Style {
    Style::default().fg(match s {
        RunStatus::Finished => t.correct,
        RunStatus::Running => t.focus,
        RunStatus::Queued => t.dim,
        RunStatus::Failed | RunStatus::Diverged => t.error,
        RunStatus::Cancelled | RunStatus::Interrupted => t.warning,
    })
}

pub fn draw(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area);
    // The wide list takes the chart's half.
    let list_share = if s.wide { 100 } else { 50 };
    let [list, chart] = Layout::horizontal([
        Constraint::Percentage(list_share),
        Constraint::Percentage(100 - list_share),
    ])
    .areas(top);
    let list = match &s.prompt {
        Some(p) => {
            let [list, prompt] =
                Layout::vertical([Constraint::Min(3), Constraint::Length(3)]).areas(list);
            let title = match p.kind {
                PromptKind::Filter => "filter: #tag, key=value, text (enter keeps, esc drops)",
                PromptKind::Tags => "tags to add, -tag removes (enter applies, esc drops)",
                PromptKind::Note => "note (enter keeps, empty clears, esc drops)",
            };
            f.render_widget(
                crate::tui::view::text_panel(
                    title,
                    vec![Line::from(p.input.with_cursor())],
                    true,
                    t,
                ),
                prompt,
            );
            list
        }
        None => list,
    };
    draw_list(f, list, s, t);
    if !s.wide {
        if s.marked.is_empty() {
            draw_chart(f, chart, s, t);
        } else {
            super::chart::draw_overlay(f, chart, s, t);
        }
    }
    draw_table(f, bottom, s, t);
    if let Some(form) = &s.form {
        draw_form(f, area, form, t);
    }
}

fn draw_list(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    // A failed run's reason (or its last re-scoring's), in full, under the list while it is
    // selected.
    let reason = s.runs.get(s.cursor.selected).and_then(|(id, m)| {
        let why = m.error.clone().or_else(|| {
            m.rescore_error
                .as_ref()
                .map(|e| format!("re-scoring against corrected gold failed: {e}"))
        })?;
        Some((id, m.status, why))
    });
    let area = match reason {
        Some((id, status, error)) if area.height >= 8 => {
            let [list, why] =
                Layout::vertical([Constraint::Min(4), Constraint::Length(area.height / 2)])
                    .areas(area);
            f.render_widget(
                Paragraph::new(crate::tui::screens::safe(&error))
                    .style(Style::default().fg(t.error))
                    .wrap(ratatui::widgets::Wrap { trim: false })
                    .block(block(format!("run {id} {}", status.as_str()), false, t)),
                why,
            );
            list
        }
        _ => area,
    };
    let rows: Vec<Row> = s
        .runs
        .iter()
        .map(|(id, m)| {
            let mark = if s.baseline == Some(*id) {
                "B"
            } else if s.marked.contains(id) {
                "•"
            } else {
                " "
            };
            let progress = match (m.status, s.progress.get(id)) {
                (RunStatus::Running, Some(p)) => p.clone(),
                (RunStatus::Running, None) if m.kind == crate::store::RunKind::Train => {
                    let step = s
                        .metrics
                        .last()
                        .filter(|_| s.runs.get(s.cursor.selected).map(|r| r.0) == Some(*id))
                        .map(|p| p.step);
                    match (step, s.total_steps.get(id)) {
                        (Some(st), Some(total)) => format!("step {st}/{total}"),
                        _ => String::new(),
                    }
                }
                (RunStatus::Failed | RunStatus::Diverged, _) if m.error.is_some() => {
                    crate::tui::screens::safe(m.error.as_deref().unwrap_or_default())
                }
                _ => crate::store::format_time(m.created)
                    .replace('T', " ")
                    .trim_end_matches('Z')
                    .to_string(),
            };
            // The user's tags (`runs tag`) after it, so a sweep's runs stand out in the list.
            let progress = if m.tags.is_empty() {
                progress
            } else {
                let tags: Vec<String> = m
                    .tags
                    .iter()
                    .map(|t| format!("#{}", crate::tui::screens::safe(t)))
                    .collect();
                format!("{progress}  {}", tags.join(" "))
            };
            let mut cells = vec![
                Span::raw(format!("{mark}{id:>3}")),
                Span::raw(m.kind.as_str()),
                Span::styled(m.status.as_str(), status_style(m.status, t)),
            ];
            if s.wide {
                let set = run_table::settings(m);
                let cell = |k: &str| crate::tui::screens::safe(&run_table::shown(&set[k]));
                let model = m.model.as_deref().map_or("-".into(), |p| {
                    crate::tui::view::short_path(std::path::Path::new(p))
                });
                cells.extend([
                    Span::raw(crate::tui::screens::safe(&model)),
                    Span::raw(cell("config")),
                    Span::raw(cell("lr")),
                    Span::raw(cell("max_steps")),
                    Span::raw(cell("batch_size")),
                    Span::raw(cell("seed")),
                    Span::styled(versions(&set["data"]), t.dimmed()),
                    Span::styled(versions(&set["templates"]), t.dimmed()),
                    Span::raw(crate::tui::screens::safe(m.note.as_deref().unwrap_or(""))),
                ]);
            }
            cells.push(Span::styled(progress, t.dimmed()));
            Row::new(cells)
        })
        .collect();
    let mut state = TableState::default().with_selected(Some(s.cursor.selected));
    let mut widths = vec![
        Constraint::Length(4),
        Constraint::Length(9),
        Constraint::Length(11),
    ];
    let mut header = vec!["  id", "kind", "status"];
    if s.wide {
        widths.extend([
            Constraint::Length(16),
            Constraint::Length(10),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(5),
            Constraint::Length(10),
            Constraint::Length(5),
            Constraint::Length(16),
        ]);
        header.extend([
            "model", "config", "lr", "steps", "batch", "seed", "data", "bank", "note",
        ]);
    }
    widths.push(Constraint::Min(8));
    header.push("progress / created");
    let shown = if s.runs.len() == s.all.len() {
        format!("Runs ({})", s.runs.len())
    } else {
        format!("Runs ({} of {})", s.runs.len(), s.all.len())
    };
    let mut title = format!("{shown} · by {}", s.order.label());
    if !s.filter.is_empty() {
        title.push_str(&format!(" · filter {}", s.filter));
    }
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(t.dimmed()))
        .block(crate::tui::view::fitted_block(
            &title,
            area.width,
            s.form.is_none() && s.prompt.is_none() && !s.table_focus,
            t,
        ))
        .row_highlight_style(t.selected());
    f.render_stateful_widget(table, area, &mut state);
    s.list_area.record(area, 1);
}

fn draw_table(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    let d = |v: Option<f64>| -> Span {
        match v {
            Some(x) => Span::styled(
                format!("{x:+.2}"),
                Style::default().fg(if x >= 0.0 { t.better } else { t.worse }),
            ),
            None => Span::styled("—", t.dimmed()),
        }
    };
    let rows: Vec<Row> = s
        .table
        .iter()
        .map(|r| {
            let row_style = if r.average {
                t.dimmed().add_modifier(Modifier::ITALIC)
            } else {
                Style::default()
            };
            Row::new(vec![
                Span::raw(r.task.as_str()),
                Span::raw(crate::tui::screens::safe(&r.dataset)),
                Span::raw(r.n.to_string()),
                Span::styled(
                    pct(Some(r.score)),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::raw(pct(r.baseline)),
                d(delta(Some(r.score), r.baseline)),
                Span::raw(pct(r.paper)),
                d(delta(Some(r.score), r.paper)),
            ])
            .style(row_style)
        })
        .collect();
    let curve = match s.dev_curve.last() {
        Some((step, v)) if s.dev_curve.len() > 1 => format!(
            " · dev F1 by step: {}",
            s.dev_curve
                .iter()
                .map(|(st, v)| format!("{st}:{:.1}", v * 100.0))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Some((step, v)) => format!(" · dev F1 at step {step}: {:.2}", v * 100.0),
        None => String::new(),
    };
    let title = if s.table.is_empty() {
        "F1 (no scores stored yet)".to_string()
    } else {
        format!(
            "F1 · {} at step {} · sorted by {}{}{curve}",
            s.table_split,
            s.table_step,
            s.sort.label(),
            if s.table_focus {
                " · enter: per-label table"
            } else {
                ""
            }
        )
    };
    let base = s
        .baseline
        .map_or("base".to_string(), |b| format!("run {b}"));
    let table = Table::new(
        rows,
        [
            Constraint::Length(4),
            Constraint::Min(12),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(6),
            Constraint::Length(7),
        ],
    )
    .header(
        Row::new(vec![
            "task".to_string(),
            "dataset".into(),
            "n".into(),
            "F1".into(),
            base,
            "Δ".into(),
            "paper".into(),
            "Δ".into(),
        ])
        .style(t.dimmed()),
    )
    .block(block(title, s.table_focus, t))
    .row_highlight_style(t.selected());
    let selected = s.table_focus.then_some(s.table_cursor);
    f.render_stateful_widget(
        table,
        area,
        &mut TableState::default().with_selected(selected),
    );
}

/// A run's data or bank versions, compactly: the newest version number of each, or how many
/// datasets at which versions (`9 @v1`).
fn versions(v: &serde_json::Value) -> String {
    let list: Vec<&str> = v
        .as_array()
        .map(|xs| xs.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    let mut numbers: Vec<&str> = list.iter().filter_map(|x| x.rsplit(' ').next()).collect();
    numbers.sort_unstable();
    numbers.dedup();
    match (list.len(), numbers.as_slice()) {
        (0, _) => "-".into(),
        (1, [v]) => (*v).to_string(),
        (n, [v]) => format!("{n}@{v}"),
        (n, _) => format!("{n}@mixed"),
    }
}
