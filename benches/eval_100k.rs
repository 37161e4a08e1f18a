//! Scoring 100,000 predictions: `cargo bench --bench eval_100k`.
//!
//! Writes a deterministic mix of official-format predictions (NER, RE, EET, EEA; clean, messy
//! and wrong) to `target/bench/eval_100k.jsonl`, then times reading + scoring in-process and
//! `ie-bench eval` end to end. `scripts/bench-eval.sh` runs the Python reference on the same file.

#![allow(clippy::unwrap_used)] // a panic is how a test or bench reports failure

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use ie_bench::eval::{read_predictions, score, Mode};

const N: usize = 100_000;

/// A small LCG: the file must be identical on every run and machine.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

fn generate(path: &PathBuf) {
    let names = [
        "John Smith",
        "New York",
        "Acme Corp",
        "U.S.",
        "Marie Curie",
        "O\u{2019}Brien",
        "Relocation Bay",
        "p53",
        "{Grammy} Award",
        "Paris",
    ];
    let types = ["person", "location", "organization", "else"];
    let rels = ["work for", "located in", "live in", "NA"];
    let mut rng = Lcg(42);
    let mut out = String::with_capacity(N * 300);
    for i in 0..N {
        let task = ["NER", "NER", "RE", "EET", "EEA"][rng.next(5)];
        let dataset = format!("{task}-set-{}", rng.next(8));
        let k = 1 + rng.next(4);
        let items: Vec<String> = (0..k)
            .map(|_| {
                let (a, b) = (names[rng.next(names.len())], names[rng.next(names.len())]);
                match task {
                    "RE" => format!("{}: {a}, {b}", rels[rng.next(rels.len())]),
                    "EEA" => format!("{a}: {}", types[rng.next(types.len())]),
                    _ => format!("{}: {a}", types[rng.next(types.len())]),
                }
            })
            .collect();
        let gold = if task == "NER" && rng.next(5) == 0 {
            " None".to_string()
        } else {
            format!(" {}", items.join("; "))
        };
        let pred = match rng.next(6) {
            0 => gold.trim().to_string(),
            1 => gold.to_uppercase().replace(": ", " : "),
            2 => items[..k.saturating_sub(1)].join(";; "),
            3 => format!("{};", gold.trim()),
            4 => String::new(),
            _ => format!("{}; garbage text", items[rng.next(k)]),
        };
        let line = serde_json::json!({
            "Task": task, "Dataset": dataset,
            "Instance": {"id": i.to_string(), "sentence": "", "label": gold, "instruction": "", "ground_truth": gold},
            "Prediction": pred,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, out).unwrap();
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench/eval_100k.jsonl");
    generate(&path);
    let mb = std::fs::metadata(&path).unwrap().len() as f64 / 1e6;
    println!(
        "eval_100k: {N} predictions, {mb:.1} MB at {}",
        path.display()
    );
    for mode in [Mode::Compat, Mode::Strict] {
        let (mut read_t, mut score_t) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            let t0 = Instant::now();
            let lines = read_predictions(&path).unwrap();
            let t1 = Instant::now();
            let report = score(&lines, mode);
            score_t.push(t1.elapsed());
            read_t.push(t1 - t0);
            assert_eq!(
                report
                    .tasks
                    .values()
                    .map(|t| t.datasets.iter().map(|d| d.1.n).sum::<u64>())
                    .sum::<u64>(),
                N as u64
            );
        }
        println!(
            "  {:<6} read {:>7.1} ms  score {:>7.1} ms  (median of 7)",
            mode.as_str(),
            median(read_t).as_secs_f64() * 1e3,
            median(score_t).as_secs_f64() * 1e3
        );
    }
    let bin = env!("CARGO_BIN_EXE_ie-bench");
    let mut wall = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        let out = Command::new(bin)
            .args(["eval", "--format", "json"])
            .arg(&path)
            .output()
            .unwrap();
        wall.push(t0.elapsed());
        assert!(out.status.success());
    }
    println!(
        "  ie-bench eval --format json (whole process): {:.1} ms (median of 5)",
        median(wall).as_secs_f64() * 1e3
    );
}
