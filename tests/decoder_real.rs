//! The real Gemma 3 270M against transformers on the same GGUF weights: greedy continuations of
//! the first 50 CoNLL 2003 test prompts equal token for token (the fixture comes from
//! `scripts/gemma_reference.py parity`). Needs the model: set IE_BENCH_GEMMA to the .gguf file
//! (`ie-bench model fetch gemma-3-270m` installs it; `.ci/run` sets the variable when it is
//! there). Skipped with a message otherwise.

#![allow(clippy::unwrap_used)] // a panic is how a test or bench reports failure

use ie_bench::model::cpu::decoder::{Grads, Prepared};
use ie_bench::model::cpu::decoder_generate::{generate, KeptPrompt, Stop};
use ie_bench::model::cpu::quantized::HeadScreen;
use ie_bench::model::decoder::DecoderModel;
use std::path::Path;

/// The model IE_BENCH_GEMMA names and a fixture of `tests/fixtures`; None (with a message)
/// when the variable is not set.
fn model_and_fixture(name: &str) -> Option<(DecoderModel, serde_json::Value)> {
    let Some(path) = std::env::var_os("IE_BENCH_GEMMA") else {
        eprintln!("skipped: IE_BENCH_GEMMA is not set (ie-bench model fetch gemma-3-270m)");
        return None;
    };
    let m = DecoderModel::load(Path::new(&path)).expect("the model loads");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(fixture).unwrap();
    Some((m, serde_json::from_str(&text).unwrap()))
}

#[test]
fn greedy_output_equals_transformers_on_50_conll_prompts() {
    let Some((m, fx)) = model_and_fixture("gemma3-270m-conll50.json") else {
        return;
    };
    let alike = fx["tokenizer_alike"].as_array().unwrap();
    assert_eq!(
        alike[0], alike[1],
        "transformers tokenized some sources differently"
    );
    let max_new = fx["max_new"].as_u64().unwrap() as usize;
    let cases = fx["cases"].as_array().unwrap();
    let prompts: Vec<Vec<u32>> = cases
        .iter()
        .map(|c| {
            m.tokenizer
                .source_ids(c["source"].as_str().unwrap(), 512)
                .unwrap()
                .0
        })
        .collect();
    let longest = prompts.iter().map(Vec::len).max().unwrap();
    // As `predict` decodes with f32 weights: the greedy tokens found through the head's
    // int8 screen.
    let screen = HeadScreen::of(m.weights.head(), m.cfg.vocab_size);
    assert!(screen.is_some(), "Gemma's head has an int8 screen");
    let p =
        Prepared::new(&m.cfg, &m.weights, longest + max_new + 1).with_head_screen(screen.as_ref());
    let stop = Stop {
        eos: m.cfg.eos.clone(),
        newline: vec![],
    };
    let got = generate(
        &p,
        &prompts,
        max_new,
        &stop,
        None,
        &mut KeptPrompt::default(),
        &mut |_| {},
    );
    let mut differ = Vec::new();
    for (i, (c, g)) in cases.iter().zip(&got).enumerate() {
        let want: Vec<u32> = c["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        if g != &want {
            differ.push(format!("prompt {i}: {g:?} vs {want:?}"));
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} differ:\n{}",
        differ.len(),
        cases.len(),
        differ.join("\n")
    );
}

/// The loss and every gradient norm of a training batch (the first four CoNLL 2003 training
/// prompts, decoder-only format, embedding frozen) equal transformers' on the real weights.
#[test]
fn loss_and_gradient_norms_equal_transformers_on_the_real_model() {
    use ie_bench::model::decoder::DecoderWeights;
    let Some((m, fx)) = model_and_fixture("gemma3-270m-grads.json") else {
        return;
    };
    let text = |k: &str| -> Vec<String> {
        fx[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let batch: Vec<_> = text("sources")
        .iter()
        .zip(text("targets"))
        .map(|(s, t)| m.tokenizer.example(s, &t, 512, 50).unwrap())
        .collect();
    let refs: Vec<_> = batch.iter().collect();
    let count: usize = batch.iter().map(|e| e.target_len).sum();
    let longest = batch.iter().map(|e| e.ids.len()).max().unwrap();
    let p = Prepared::new(&m.cfg, &m.weights, longest);
    let mut grads = DecoderWeights::zeros_like(&m.cfg, false);
    let (loss, _) = p.accumulate(&refs, 1.0 / count as f32, Grads::Weights(&mut grads));
    let loss = loss / count as f64;
    let want = fx["loss"].as_f64().unwrap();
    assert!((loss - want).abs() < 1e-4, "loss {loss} vs {want}");
    let norms = fx["grad_norms"].as_object().unwrap();
    let mut worst = (0f64, String::new());
    for (name, _, g) in grads.named(&m.cfg) {
        let Some(want) = norms.get(&name).and_then(serde_json::Value::as_f64) else {
            continue;
        };
        let got = g.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        let rel = (got - want).abs() / want.max(1e-3);
        if rel > worst.0 {
            worst = (rel, format!("{name}: {got} vs {want}"));
        }
    }
    assert!(
        worst.0 < 1e-3,
        "largest relative difference {:.2e} ({})",
        worst.0,
        worst.1
    );
}
