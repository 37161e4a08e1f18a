//! Per-dataset sampling as the official builder does it (SPEC §1.4): `random` keeps the first N
//! records, `full` keeps all, and optional over-sampling tops a short list up to N with
//! replacement.

use super::config::Strategy;
use crate::pyrandom::PyRandom;

/// Applies the strategy to `records`. `max` is the per-task cap (train: 10,000; dev: 200;
/// test: none). Over-sampling draws from the generator shared by the whole split.
pub fn sample<T: Clone>(
    records: Vec<T>,
    strategy: Strategy,
    max: Option<usize>,
    over_sampling: bool,
    rng: &mut PyRandom,
) -> Vec<T> {
    let mut out = records;
    if let (Strategy::Random, Some(n)) = (strategy, max) {
        out.truncate(n);
    }
    if let Some(n) = max {
        // Python's random.choice raises on an empty list; an empty dataset stays empty here.
        if over_sampling && !out.is_empty() && out.len() < n {
            let original = out.len();
            while out.len() < n {
                let i = rng.choice_index(original);
                out.push(out[i].clone());
            }
        }
    }
    out
}

/// What a `<base>_sample_<N>` directory's train file is (SPEC §1.4), for data that ships only
/// the base: a shorter list keeps every record in order and is topped up with random
/// duplicates; a longer one keeps N records drawn without replacement, in file order.
pub fn resample_to<T: Clone>(records: Vec<T>, n: usize, rng: &mut PyRandom) -> Vec<T> {
    let len = records.len();
    if len == 0 || len == n {
        return records;
    }
    if len < n {
        let mut out = records;
        while out.len() < n {
            let i = rng.choice_index(len);
            out.push(out[i].clone());
        }
        return out;
    }
    let mut index: Vec<usize> = (0..len).collect();
    for i in 0..n {
        let j = i + rng.randbelow(len - i);
        index.swap(i, j);
    }
    let mut keep = index[..n].to_vec();
    keep.sort_unstable();
    let mut records: Vec<Option<T>> = records.into_iter().map(Some).collect();
    keep.into_iter().filter_map(|i| records[i].take()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_tops_up_or_draws_in_order() {
        let mut rng = PyRandom::new(7);
        let v: Vec<u32> = (0..10).collect();
        let up = resample_to(v.clone(), 15, &mut rng);
        assert_eq!(up.len(), 15);
        assert_eq!(&up[..10], &v[..]);
        let down = resample_to(v.clone(), 4, &mut rng);
        assert_eq!(down.len(), 4);
        assert!(down.windows(2).all(|w| w[0] < w[1]), "{down:?}");
        assert_eq!(
            resample_to(Vec::<u32>::new(), 3, &mut rng),
            Vec::<u32>::new()
        );
    }

    #[test]
    fn random_is_a_prefix_and_full_keeps_all() {
        let mut rng = PyRandom::new(42);
        let v: Vec<u32> = (0..10).collect();
        assert_eq!(
            sample(v.clone(), Strategy::Random, Some(3), false, &mut rng),
            vec![0, 1, 2]
        );
        assert_eq!(
            sample(v.clone(), Strategy::Full, Some(3), false, &mut rng).len(),
            10
        );
        assert_eq!(sample(v, Strategy::Random, None, false, &mut rng).len(), 10);
    }

    #[test]
    fn over_sampling_tops_up_with_python_choices() {
        let mut rng = PyRandom::new(42);
        let v: Vec<u32> = (0..10).collect();
        let out = sample(v, Strategy::Full, Some(14), true, &mut rng);
        // python3 -c "import random; random.seed(42); print([random.choice(range(10)) for _ in range(4)])"
        assert_eq!(&out[10..], &[1, 0, 4, 3]);
        let mut rng = PyRandom::new(42);
        assert!(sample(Vec::<u32>::new(), Strategy::Full, Some(5), true, &mut rng).is_empty());
    }
}
