//! The decoder-only engine against transformers on a tiny random Gemma 3
//! (`scripts/make_gemma_fixture.py` wrote `tests/fixtures/gemma3-tiny`): logits at every
//! position, greedy continuations, a packed batch equal to its rows alone, and the loss and
//! gradient norms of a training batch in the decoder-only InstructUIE format.

use ie_bench::model::cpu::decoder::Prepared;
use ie_bench::model::cpu::decoder_generate::{all_logits, generate, last_logits, Stop};
use ie_bench::model::decoder::tokenizer::DecoderExample;
use ie_bench::model::decoder::{DecoderModel, DecoderWeights};
use serde_json::Value;
use std::path::Path;

fn fixture() -> (DecoderModel, Value) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gemma3-tiny");
    let model = DecoderModel::load(&dir).expect("the fixture loads");
    let text = std::fs::read_to_string(dir.join("fixture.json")).unwrap();
    (model, serde_json::from_str(&text).unwrap())
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn logits_match_transformers_at_every_position() {
    let (m, fx) = fixture();
    let p = Prepared::new(&m.cfg, &m.weights, 64);
    for (seq, want) in fx["sequences"].as_array().unwrap().iter().zip(fx["logits"].as_array().unwrap()) {
        let want: Vec<f32> = want
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32))
            .collect();
        let got = all_logits(&p, &ids(seq));
        let w = worst(&got, &want);
        assert!(w < 1e-4, "logits differ by {w}");
    }
}

#[test]
fn a_packed_batch_equals_each_sequence_alone() {
    let (m, fx) = fixture();
    let p = Prepared::new(&m.cfg, &m.weights, 64);
    let seqs: Vec<Vec<u32>> = fx["sequences"].as_array().unwrap().iter().map(ids).collect();
    let refs: Vec<&[u32]> = seqs.iter().map(|s| s.as_slice()).collect();
    let together = last_logits(&p, &refs);
    let v = m.cfg.vocab_size;
    for (i, s) in refs.iter().enumerate() {
        let alone = last_logits(&p, &[s]);
        let w = worst(&together[i * v..(i + 1) * v], &alone);
        assert!(w < 1e-5, "sequence {i} differs by {w} in a batch");
    }
}

#[test]
fn greedy_ids_match_transformers_generate() {
    let (m, fx) = fixture();
    let p = Prepared::new(&m.cfg, &m.weights, 64);
    let cases = fx["greedy"].as_array().unwrap();
    let prompts: Vec<Vec<u32>> = cases.iter().map(|c| ids(&c["prompt"])).collect();
    let max_new = fx["max_new"].as_u64().unwrap() as usize;
    let stop = Stop {
        eos: vec![1],
        newline: vec![],
    };
    let got = generate(&p, &prompts, max_new, &stop, &mut |_| {});
    for (c, g) in cases.iter().zip(&got) {
        let mut want = ids(&c["ids"]);
        // transformers keeps the eos it stopped at; ours is the continuation only.
        if let Some(at) = want.iter().position(|&t| t == 1) {
            want.truncate(at);
        }
        assert_eq!(g, &want);
    }
}

#[test]
fn loss_and_gradient_norms_match_transformers() {
    let (m, fx) = fixture();
    let p = Prepared::new(&m.cfg, &m.weights, 64);
    let t = &fx["train"];
    let batch: Vec<DecoderExample> = t["batch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| DecoderExample {
            ids: ids(&e["ids"]),
            target_len: e["target_len"].as_u64().unwrap() as usize,
        })
        .collect();
    let count: usize = batch.iter().map(|e| e.target_len).sum();
    let refs: Vec<&DecoderExample> = batch.iter().collect();
    let mut grads = DecoderWeights::zeros_like(&m.cfg, false);
    let (loss, n) = p.accumulate(&refs, 1.0 / count as f32, &mut grads);
    assert_eq!(n, count);
    let loss = loss / count as f64;
    let want = t["loss"].as_f64().unwrap();
    assert!((loss - want).abs() < 1e-4, "loss {loss} vs {want}");
    let norms = t["grad_norms"].as_object().unwrap();
    let mut checked = 0;
    for (name, _, g) in grads.named(&m.cfg) {
        let Some(want) = norms.get(&name).and_then(Value::as_f64) else {
            assert!(g.is_empty(), "{name} has a gradient transformers lacks");
            continue;
        };
        let got = g.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>().sqrt();
        assert!(
            (got - want).abs() < 1e-4 * want.max(1.0),
            "{name}: gradient norm {got} vs {want}"
        );
        checked += 1;
    }
    assert_eq!(checked, norms.len(), "every trained tensor compared");
}
