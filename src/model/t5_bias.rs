//! T5's attention biases, shared by the candle graph (`t5`) and the hand-written CPU passes
//! (`cpu`): relative-position buckets and the value added at masked keys.

/// Added to the logits of masked keys. Finite, so
/// rows that combine several masks stay finite.
pub const MASKED: f32 = -1e9;

/// Hugging Face's `_relative_position_bucket`, in the same f32 arithmetic.
pub fn relative_position_bucket(
    relative: i64,
    bidirectional: bool,
    num_buckets: usize,
    max_distance: usize,
) -> usize {
    let mut buckets = num_buckets as i64;
    let mut ret = 0i64;
    let mut n = relative;
    if bidirectional {
        buckets /= 2;
        if n > 0 {
            ret += buckets;
        }
        n = n.abs();
    } else {
        n = -n.min(0);
    }
    let max_exact = buckets / 2;
    if n < max_exact {
        ret += n;
    } else {
        let scale = ((max_distance as f64) / (max_exact as f64)).ln() as f32;
        let large = max_exact
            + (((n as f32) / (max_exact as f32)).ln() / scale * ((buckets - max_exact) as f32))
                as i64;
        ret += large.min(buckets - 1);
    }
    ret as usize
}
