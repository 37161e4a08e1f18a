//! Throughput on random weights: a full training step (forward, backward, clipping, AdamW) at
//! batch 8 x 128 source x 32 target tokens, and greedy generation of 32 new tokens at batch 1
//! and 8. `scripts/bench_reference.py` does the same work in PyTorch + transformers.

use candle_core::Device;
use std::time::Instant;

use super::config::T5Config;
use super::error::Result;
use super::params::{Params, SplitMix};
use super::predict::Decoding;
use super::t5::T5;
use super::train::{AdamW, Example, Trainer};

#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    pub train_tok_s: f64,
    pub gen_tok_s_b1: f64,
    pub gen_tok_s_b8: f64,
    /// Seconds per training step (median), and its parts.
    pub train_step_s: f64,
    pub forward_s: f64,
    pub backward_s: f64,
    pub optimizer_s: f64,
}

pub const SOURCE_LEN: usize = 128;
pub const TARGET_LEN: usize = 32;
pub const NEW_TOKENS: usize = 32;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn random_ids(rng: &mut SplitMix, n: usize, vocab: usize) -> Vec<u32> {
    // Ids 3.. avoid pad/eos/unk; the last id is EOS, as the tokenizer would end a sequence.
    let mut v: Vec<u32> = (0..n - 1)
        .map(|_| 3 + (rng.next_u64() % (vocab as u64 - 3)) as u32)
        .collect();
    v.push(1);
    v
}

/// Runs `train_steps` timed training steps (after one warm-up) and `gen_runs` timed
/// generations per batch size.
pub fn run(
    cfg: &T5Config,
    device: &Device,
    train_steps: usize,
    gen_runs: usize,
) -> Result<BenchReport> {
    let params = Params::random(cfg, 0, device)?;
    let model = T5::new(cfg, &params)?;
    let mut rng = SplitMix(7);
    let vocab = cfg.vocab_size.min(32100);
    let examples: Vec<Example> = (0..8)
        .map(|_| Example {
            source: random_ids(&mut rng, SOURCE_LEN, vocab),
            labels: random_ids(&mut rng, TARGET_LEN, vocab),
        })
        .collect();
    let mut trainer = Trainer::new(&model, &params, AdamW::new(), examples);
    let batch = vec![(0..8).collect::<Vec<usize>>()];
    let mut times = Vec::new();
    let mut parts = [Vec::new(), Vec::new(), Vec::new()];
    for i in 0..=train_steps {
        let t = Instant::now();
        let r = trainer.step(&batch, 1e-4, 1.0, i)?;
        if i > 0 {
            times.push(t.elapsed().as_secs_f64());
            parts[0].push(r.forward_s);
            parts[1].push(r.backward_s);
            parts[2].push(r.optimizer_s);
        }
    }
    let [forward_s, backward_s, optimizer_s] = parts.map(median);
    let step_s = median(times);
    let tokens = (8 * (SOURCE_LEN + TARGET_LEN)) as f64;
    let mut gen = |b: usize| -> Result<f64> {
        let rows: Vec<Vec<u32>> = (0..b)
            .map(|_| random_ids(&mut rng, SOURCE_LEN, vocab))
            .collect();
        let refs: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
        let decoding = Decoding::of(&model, &params);
        decoding.generate(&refs, NEW_TOKENS, false)?; // warm-up
        let mut t = Vec::new();
        for _ in 0..gen_runs {
            let s = Instant::now();
            decoding.generate(&refs, NEW_TOKENS, false)?;
            t.push(s.elapsed().as_secs_f64());
        }
        Ok((b * NEW_TOKENS) as f64 / median(t))
    };
    let gen_tok_s_b1 = gen(1)?;
    let gen_tok_s_b8 = gen(8)?;
    Ok(BenchReport {
        train_tok_s: tokens / step_s,
        gen_tok_s_b1,
        gen_tok_s_b8,
        train_step_s: step_s,
        forward_s,
        backward_s,
        optimizer_s,
    })
}
