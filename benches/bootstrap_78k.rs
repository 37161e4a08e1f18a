//! The paired bootstrap of `runs compare` on a run pair of 78,000 predictions each:
//! `cargo bench --bench bootstrap_78k`.
//!
//! 26 NER datasets of 3,000 examples (the size of the release's test splits together); run B
//! fixes a tenth of run A's errors. Times matching and scoring the two runs, then the
//! bootstrap (1,000 resamples per dataset, one thread), as `runs compare` and the Compare
//! screen run them.

#![allow(clippy::unwrap_used)] // a panic is how a test or bench reports failure

use std::time::Instant;

use ie_bench::eval::compare::{join, Answer};
use ie_bench::eval::significance::{paired_bootstrap, RESAMPLES, SEED};
use ie_bench::eval::Mode;
use ie_bench::ie::TaskKind;

const DATASETS: usize = 26;
const PER: usize = 3_000;

fn main() {
    let names: Vec<String> = (0..DATASETS).map(|d| format!("set{d}")).collect();
    let mut rows: Vec<(usize, String, String, String, String)> = Vec::new();
    for d in 0..DATASETS {
        for i in 0..PER {
            let gold = format!("person: p{i}; location: l{i}");
            let a = if i % 3 == 0 {
                format!("person: p{i}; organization: l{i}")
            } else {
                gold.clone()
            };
            let b = if i % 30 == 0 { gold.clone() } else { a.clone() };
            rows.push((d, i.to_string(), gold, a, b));
        }
    }
    let answers = |b: bool| -> Vec<Answer> {
        rows.iter()
            .map(|(d, id, gold, pa, pb)| Answer {
                task: TaskKind::Ner,
                dataset: &names[*d],
                id,
                ground_truth: gold,
                prediction: if b { pb } else { pa },
            })
            .collect()
    };
    let (a, b) = (answers(false), answers(true));
    let start = Instant::now();
    let joined = join(&a, &b, Mode::Compat);
    let matched = start.elapsed();
    let start = Instant::now();
    let mut significant = 0;
    for examples in joined.values() {
        let d = paired_bootstrap(examples, RESAMPLES, SEED).unwrap();
        significant += usize::from(d.significant);
    }
    let boot = start.elapsed();
    println!(
        "bootstrap_78k: {} predictions per run in {DATASETS} datasets: matched and scored in {:.0} ms; \
         paired bootstrap ({RESAMPLES} resamples each) in {:.0} ms; {significant}/{DATASETS} significant",
        a.len(),
        matched.as_secs_f64() * 1000.0,
        boot.as_secs_f64() * 1000.0
    );
}
