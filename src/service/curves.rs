//! Loss curves as both front ends draw or print them: the raw points and their exponential
//! moving average, which the Runs screen plots (one run, or the marked runs overlaid) and
//! `runs loss` prints.

use crate::store::MetricPoint;

/// EMA smoothing factor (weight of the newest point).
pub const EMA_ALPHA: f64 = 0.1;

/// Exponential moving average of the loss, as (step, value) points; NaN and infinite losses
/// (a diverged run) are left out rather than poisoning every later point.
pub fn ema(points: &[MetricPoint], alpha: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len());
    let mut acc: Option<f64> = None;
    for p in points.iter().filter(|p| p.loss.is_finite()) {
        let v = match acc {
            Some(a) => a + alpha * (p.loss - a),
            None => p.loss,
        };
        acc = Some(v);
        out.push((p.step as f64, v));
    }
    out
}
