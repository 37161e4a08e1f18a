//! ie-bench's T5 against transformers on tiny seeded checkpoints (made by
//! `scripts/make_parity_fixture.py`): a v1.0-style model (relu, tied head) and a Flan-style one
//! (gated-gelu, untied head).

#![allow(clippy::unwrap_used)] // a panic is how a test or bench reports failure

use candle_core::{DType, Device, Tensor};
use ie_bench::model::cpu::{Backprop, Layout};
use ie_bench::model::train::{batch_loss, Example};
use ie_bench::model::{Params, T5Config, T5};
use std::path::PathBuf;

struct Fixture {
    model: T5,
    params: Params,
    refs: std::collections::HashMap<String, Tensor>,
    greedy: Vec<Vec<u32>>,
    max_new: usize,
}

/// The fixtures, here or where `IE_BENCH_FIXTURES` says (a test binary carried to a GPU machine).
fn fixtures() -> PathBuf {
    std::env::var_os("IE_BENCH_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"))
}

/// `IE_BENCH_TEST_DEVICE=cuda` runs the comparison on the GPU (still in f32).
fn device() -> Device {
    match std::env::var("IE_BENCH_TEST_DEVICE").as_deref() {
        Ok("cuda") => Device::new_cuda(0).expect("a CUDA device"),
        _ => Device::Cpu,
    }
}

fn load(name: &str) -> Fixture {
    let dir = fixtures().join("parity").join(name);
    let cfg = T5Config::read(&dir.join("config.json")).unwrap();
    let dev = device();
    let params = Params::load(&dir, &cfg, DType::F32, &dev).unwrap();
    let model = T5::new(&cfg, &params).unwrap();
    let refs = candle_core::safetensors::load(dir.join("reference.safetensors"), &dev).unwrap();
    let g: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("greedy.json")).unwrap()).unwrap();
    let greedy = g["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        })
        .collect();
    Fixture {
        model,
        params,
        refs,
        greedy,
        max_new: g["max_new_tokens"].as_u64().unwrap() as usize,
    }
}

fn u32s(t: &Tensor) -> Tensor {
    t.to_dtype(DType::U32).unwrap()
}

fn abs_max(t: &Tensor) -> f32 {
    t.abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// max |a - b| / max |b|
fn rel_err(a: &Tensor, b: &Tensor) -> f32 {
    abs_max(&(a - b).unwrap()) / abs_max(b)
}

fn check(name: &str) {
    let f = load(name);
    let ids = u32s(&f.refs["input_ids"]);
    let mask = u32s(&f.refs["attention_mask"]);
    let enc = f.model.encode(&ids, &mask, false).unwrap();
    let e = rel_err(&enc.hidden, &f.refs["encoder_hidden"]);
    assert!(
        e < 1e-4,
        "{name}: encoder states differ by {e:e} (relative)"
    );
    let dec = u32s(&f.refs["decoder_input_ids"]);
    let logits = f.model.decode(&enc, &dec, None, false).unwrap();
    let e = rel_err(&logits, &f.refs["logits"]);
    assert!(e < 1e-4, "{name}: logits differ by {e:e} (relative)");
    eprintln!("{name}: logits relative difference {e:e}");
    let got = f.model.generate(&ids, &mask, f.max_new).unwrap();
    assert_eq!(got, f.greedy, "{name}: greedy decode differs");
}

/// The training loss and every parameter's gradient norm match transformers' on a padded batch.
fn check_gradients(name: &str) {
    let f = load(name);
    let dir = fixtures().join("parity").join(name);
    let g: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("grads.json")).unwrap()).unwrap();
    let mask: Vec<Vec<u32>> = u32s(&f.refs["attention_mask"]).to_vec2().unwrap();
    let ids: Vec<Vec<u32>> = u32s(&f.refs["input_ids"]).to_vec2().unwrap();
    let examples: Vec<Example> = ids
        .iter()
        .zip(&mask)
        .zip(g["labels"].as_array().unwrap())
        .map(|((row, m), labels)| Example {
            source: row[..m.iter().sum::<u32>() as usize].to_vec(),
            labels: labels
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect(),
        })
        .collect();
    let batch: Vec<&Example> = examples.iter().collect();
    let loss = batch_loss(&f.model, &batch).unwrap();
    let got = loss.to_scalar::<f32>().unwrap() as f64;
    let want = g["loss"].as_f64().unwrap();
    assert!(
        ((got - want) / want).abs() < 1e-5,
        "{name}: loss {got} vs {want}"
    );
    let grads = loss.backward().unwrap();
    let norms = g["grad_norms"].as_object().unwrap();
    assert_eq!(norms.len(), f.params.vars.len(), "{name}: parameter count");
    let autograd: Vec<(String, f64)> = norms
        .keys()
        .map(|pname| {
            let grad = grads
                .get(f.params.vars[pname].as_tensor())
                .unwrap_or_else(|| panic!("{name}: no gradient for {pname}"));
            let v: Vec<f32> = grad.flatten_all().unwrap().to_vec1().unwrap();
            (pname.clone(), l2(&v))
        })
        .collect();
    check_norms(name, "autograd", &autograd, norms);

    // The hand-written CPU pass that training uses on the CPU, against the same reference.
    // (On a well-conditioned model it equals autograd element by element: see
    // `model::cpu::backprop`'s tests. This fixture's initialisation is deliberately harsh, so
    // two f32 evaluation orders part by up to 3e-4 here, as autograd and transformers do.)
    if Layout::applies(&f.params) {
        let mut bp = Backprop::new(&f.model.cfg);
        let pass = bp.accumulate(&f.params, &batch, 1.0).unwrap();
        assert!(
            ((pass.loss as f64 - want) / want).abs() < 1e-5,
            "{name}: hand-written pass loss {} vs {want}",
            pass.loss
        );
        let ours: Vec<(String, f64)> = bp.grads().map(|(n, g)| (n.to_string(), l2(g))).collect();
        check_norms(name, "hand-written", &ours, norms);
    }
}

fn l2(v: &[f32]) -> f64 {
    v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt()
}

/// Each parameter's gradient norm against transformers' within 1e-3 (relative).
fn check_norms(
    name: &str,
    path: &str,
    got: &[(String, f64)],
    want: &serde_json::Map<String, serde_json::Value>,
) {
    assert_eq!(got.len(), want.len(), "{name} ({path}): parameter count");
    let mut worst = 0f64;
    for (pname, got) in got {
        let want = want[pname].as_f64().unwrap();
        let e = (got - want).abs() / want.max(1e-12);
        worst = worst.max(e);
        assert!(
            e < 1e-3,
            "{name} ({path}): gradient of {pname}: norm {got} vs {want}"
        );
    }
    eprintln!("{name} ({path}): gradient norms agree to {worst:e} (relative)");
}

#[test]
fn t5_v1_matches_transformers() {
    check("t5v1");
}

#[test]
fn t5_v1_gradients_match_transformers() {
    check_gradients("t5v1");
}

#[test]
fn flan_gradients_match_transformers() {
    check_gradients("flan");
}

#[test]
fn flan_matches_transformers() {
    check("flan");
}

/// A padded batch gives each row what it gives alone.
#[test]
fn padding_does_not_change_outputs() {
    let f = load("flan");
    let ids = u32s(&f.refs["input_ids"]);
    let mask = u32s(&f.refs["attention_mask"]);
    let batch = f.model.encode(&ids, &mask, false).unwrap();
    let lens: Vec<u32> = mask.sum(1).unwrap().to_vec1().unwrap();
    let batch_gen = f.model.generate(&ids, &mask, f.max_new).unwrap();
    for (r, &n) in lens.iter().enumerate() {
        let n = n as usize;
        let one_ids = ids
            .get(r)
            .unwrap()
            .narrow(0, 0, n)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let one_mask = Tensor::ones((1, n), DType::U32, &f.model.device).unwrap();
        let one = f.model.encode(&one_ids, &one_mask, false).unwrap();
        let from_batch = batch.hidden.get(r).unwrap().narrow(0, 0, n).unwrap();
        let e = rel_err(&one.hidden.squeeze(0).unwrap(), &from_batch);
        assert!(
            e < 1e-5,
            "row {r}: padded batch differs from alone by {e:e}"
        );
        let alone = f.model.generate(&one_ids, &one_mask, f.max_new).unwrap();
        assert_eq!(alone[0], batch_gen[r], "row {r}");
    }
}
