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
    let [list, chart] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(top);
    draw_list(f, list, s, t);
    draw_chart(f, chart, s, t);
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
            let mark = if s.baseline == Some(*id) { "B" } else { " " };
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
            Row::new(vec![
                Span::raw(format!("{mark}{id:>3}")),
                Span::raw(m.kind.as_str()),
                Span::styled(m.status.as_str(), status_style(m.status, t)),
                Span::styled(progress, t.dimmed()),
            ])
        })
        .collect();
    let mut state = TableState::default().with_selected(Some(s.cursor.selected));
    let table = Table::new(
        rows,
        [
            Constraint::Length(4),
            Constraint::Length(9),
            Constraint::Length(11),
            Constraint::Min(8),
        ],
    )
    .header(Row::new(vec!["  id", "kind", "status", "progress / created"]).style(t.dimmed()))
    .block(block(
        format!("Runs ({})", s.runs.len()),
        s.form.is_none(),
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
            "F1 · {} at step {} · sorted by {}{curve}",
            s.table_split,
            s.table_step,
            s.sort.label()
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
    .block(block(title, false, t));
    f.render_widget(table, area);
}
