//! The selected run's loss chart (raw and EMA-smoothed, recent window or full history), the
//! marked runs' curves overlaid, and the dev-score curve: the maths and the drawing.

use super::*;

/// Newest dev score per step: the mean of the per-task averages.
pub(super) fn dev_curve(rows: &[StoredScore]) -> Vec<(u64, f64)> {
    let mut steps: Vec<u64> = rows
        .iter()
        .filter(|r| r.split == Split::Dev && r.mode == Mode::Compat)
        .map(|r| r.step)
        .collect();
    steps.sort_unstable();
    steps.dedup();
    steps
        .into_iter()
        .filter_map(|step| {
            let at: Vec<StoredScore> = rows
                .iter()
                .filter(|r| r.split == Split::Dev && r.step == step)
                .cloned()
                .collect();
            let t = stored_report(&at, Split::Dev, Mode::Compat, None)?;
            let avgs: Vec<f64> = t.report.tasks.values().map(|t| t.average).collect();
            (!avgs.is_empty()).then(|| (step, avgs.iter().sum::<f64>() / avgs.len() as f64))
        })
        .collect()
}

/// Axis bounds fitted to the data, with a little headroom; a flat series gets a unit range.
pub fn fit_bounds(values: impl Iterator<Item = f64>) -> [f64; 2] {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return [0.0, 1.0];
    }
    if hi - lo < 1e-9 {
        return [lo - 0.5, hi + 0.5];
    }
    let pad = (hi - lo) * 0.05;
    [lo - pad, hi + pad]
}

/// The loss axis: fitted to the raw and smoothed points, but never below 0 when no loss is
/// negative (the headroom under a small loss would otherwise show negative values).
pub fn loss_bounds(raw: &[(f64, f64)], smooth: &[(f64, f64)]) -> [f64; 2] {
    let mut y = fit_bounds(raw.iter().chain(smooth).map(|p| p.1));
    if raw.iter().all(|p| p.1 >= 0.0) {
        y[0] = y[0].max(0.0);
    }
    y
}

pub(super) fn draw_chart(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    let points: &[MetricPoint] = if s.zoom_full || s.metrics.len() <= RECENT {
        &s.metrics
    } else {
        &s.metrics[s.metrics.len() - RECENT..]
    };
    let title = match s.metrics.last() {
        Some(p) => format!(
            "Loss {} · step {} · {:.4} (EMA {:.4})",
            if s.zoom_full { "(all)" } else { "(recent)" },
            p.step,
            p.loss,
            ema(&s.metrics, EMA_ALPHA).last().map_or(p.loss, |e| e.1)
        ),
        None => "Loss (no points yet)".to_string(),
    };
    if points.is_empty() {
        f.render_widget(Paragraph::new("").block(block(title, false, t)), area);
        return;
    }
    // Non-finite losses have no place on a chart; the title and `runs show` still say NaN.
    let raw: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.loss.is_finite())
        .map(|p| (p.step as f64, p.loss))
        .collect();
    // Smoothed over the full history, then cut to the window, so zooming does not restart it.
    let first = points[0].step as f64;
    let smooth: Vec<(f64, f64)> = ema(&s.metrics, EMA_ALPHA)
        .into_iter()
        .filter(|p| p.0 >= first)
        .collect();
    let x = fit_bounds(raw.iter().map(|p| p.0));
    let y = loss_bounds(&raw, &smooth);
    let datasets = vec![
        Dataset::default()
            .name("loss")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::default().fg(t.loss))
            .data(&raw),
        Dataset::default()
            .name(format!("EMA {EMA_ALPHA}"))
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::default().fg(t.smoothed))
            .data(&smooth),
    ];
    let chart = Chart::new(datasets).block(block(title, false, t));
    f.render_widget(with_axes(chart, x, y, t), area);
}

/// Steps along x (first and last), the loss along y (bottom, middle, top).
fn with_axes<'a>(chart: Chart<'a>, x: [f64; 2], y: [f64; 2], t: &Theme) -> Chart<'a> {
    let label = |v: f64| Span::styled(format!("{v:.2}"), t.dimmed());
    chart
        .x_axis(Axis::default().bounds(x).labels(vec![
            Span::styled(format!("{:.0}", x[0].max(0.0)), t.dimmed()),
            Span::styled(format!("{:.0}", x[1]), t.dimmed()),
        ]))
        .y_axis(Axis::default().bounds(y).labels(vec![
            label(y[0]),
            label((y[0] + y[1]) / 2.0),
            label(y[1]),
        ]))
}

/// The marked runs' loss curves on one chart (EMA-smoothed, so the curves stay readable
/// where they cross), each in its own colour from the theme, with a legend.
pub(super) fn draw_overlay(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    let curves: Vec<(RunId, Vec<(f64, f64)>)> = s
        .marked_metrics
        .iter()
        .map(|(id, points)| (*id, ema(points, EMA_ALPHA)))
        .collect();
    let all = || curves.iter().flat_map(|c| c.1.iter());
    let title = format!(
        "Loss of marked runs (EMA {EMA_ALPHA}) · {} runs · space unmarks",
        curves.len()
    );
    if all().next().is_none() {
        let none = Paragraph::new("the marked runs have no loss points (eval runs train nothing)")
            .style(t.dimmed());
        f.render_widget(none.block(block(title, false, t)), area);
        return;
    }
    let x = fit_bounds(all().map(|p| p.0));
    let y = loss_bounds(&all().copied().collect::<Vec<_>>(), &[]);
    let datasets: Vec<Dataset> = curves
        .iter()
        .enumerate()
        .map(|(i, (id, points))| {
            Dataset::default()
                .name(format!("run {id}"))
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::default().fg(t.series(i)))
                .data(points)
        })
        .collect();
    let chart = Chart::new(datasets)
        .block(block(title, false, t))
        .legend_position(Some(ratatui::widgets::LegendPosition::TopRight))
        .hidden_legend_constraints((Constraint::Percentage(60), Constraint::Percentage(80)));
    f.render_widget(with_axes(chart, x, y, t), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loss_axis_stops_at_zero() {
        let raw = [(1.0, 0.02), (2.0, 0.01), (3.0, 0.5)];
        let y = loss_bounds(&raw, &[]);
        assert_eq!(y[0], 0.0);
        assert!(y[1] > 0.5);
        // A negative value (a custom metric) keeps its headroom.
        let y = loss_bounds(&[(1.0, -1.0), (2.0, 1.0)], &[]);
        assert!(y[0] < -1.0);
    }
}
