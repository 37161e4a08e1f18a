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

#[cfg(test)]
mod tests {
    use super::*;

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
