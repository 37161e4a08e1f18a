//! The whole loop through the real binary: `model init` -> `train` -> `predict` -> `eval`, and
//! training killed with SIGKILL then resumed.

#![allow(clippy::unwrap_used)] // a panic is how a test or bench reports failure

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;
use common::{ie_bench as bin, ok};

fn init(dir: &Path) -> PathBuf {
    let m = dir.join("init");
    ok(bin()
        .args(["model", "init", "--shape", "tiny", "--out"])
        .arg(&m)
        .output()
        .unwrap());
    m
}

fn log_steps(out: &Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(out.join("train_log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["step"].as_u64().unwrap(), v["loss"].as_f64().unwrap())
        })
        .collect()
}

/// A tiny model trained from scratch memorises the sample training split.
#[test]
fn overfits_the_sample_training_split() {
    let tmp = tempfile::tempdir().unwrap();
    let m = init(tmp.path());
    let t = tmp.path().join("trained");
    ok(bin()
        .args([
            "train",
            "--lr",
            "3e-3",
            "--schedule",
            "linear",
            "--warmup-steps",
            "20",
            "--batch-size",
            "16",
            "--max-steps",
            "400",
            "--model",
        ])
        .arg(&m)
        .arg("--out")
        .arg(&t)
        .output()
        .unwrap());
    let steps = log_steps(&t);
    assert_eq!(steps.len(), 400);
    let last: f64 = steps[390..].iter().map(|s| s.1).sum::<f64>() / 10.0;
    assert!(last < 0.01, "final loss {last}");
    let p = tmp.path().join("pred.jsonl");
    ok(bin()
        .args(["predict", "--split", "train", "--model"])
        .arg(&t)
        .arg("--out")
        .arg(&p)
        .output()
        .unwrap());
    // Compat scores gold NA relations that the official targets teach the model never to
    // emit, so datasets with NA gold cannot reach 0.9 there; strict excludes them.
    let with_na: Vec<String> = std::fs::read_to_string(&p)
        .unwrap()
        .lines()
        .filter(|l| l.contains("NA: "))
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["Dataset"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(with_na.contains(&"kbp-mini".to_string()));
    for mode in ["compat", "strict"] {
        let out = ok(bin()
            .args(["eval", "--format", "json", "--mode", mode])
            .arg(&p)
            .output()
            .unwrap());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut checked = 0;
        for (task, t) in v["tasks"].as_object().unwrap() {
            for (name, d) in t["datasets"].as_object().unwrap() {
                if mode == "compat" && with_na.contains(name) {
                    continue;
                }
                let s = d["score"].as_f64().unwrap();
                assert!(s > 0.9, "{mode} {task}/{name}: {s}");
                checked += 1;
            }
        }
        assert!(checked >= 9, "{mode}: only {checked} datasets scored");
    }
}

fn read_weights(path: &Path) -> std::collections::HashMap<String, Vec<f32>> {
    candle_core::safetensors::load(path, &candle_core::Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(k, t)| (k, t.flatten_all().unwrap().to_vec1().unwrap()))
        .collect()
}

/// SIGKILL mid-run, then `--resume`: the same final weights as an uninterrupted run.
#[test]
fn killed_and_resumed_training_matches_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let m = init(tmp.path());
    kill_and_resume(tmp.path(), &m, &[], "model.safetensors");
}

/// The same for decoder-only models: the tiny Gemma 3, Llama (its own head) and Qwen2 (q/k/v
/// biases) fixtures.
#[test]
fn a_killed_and_resumed_decoder_fine_tune_matches_an_uninterrupted_run() {
    for arch in ["gemma3", "llama", "qwen2"] {
        let tmp = tempfile::tempdir().unwrap();
        let m = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(format!("{arch}-tiny"));
        kill_and_resume(tmp.path(), &m, &[], "model.safetensors");
    }
}

/// The same for LoRA adapters on the tiny Gemma 3: the adapter after a kill and resume is the
/// uninterrupted one; the adapter folder predicts as a model, and `model merge` writes a full
/// folder that predicts the same answers.
#[test]
fn a_killed_and_resumed_lora_fine_tune_matches_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let m = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gemma3-tiny");
    let lora = ["--lora-rank", "4", "--lora-alpha", "8"];
    kill_and_resume(tmp.path(), &m, &lora, "adapter_model.safetensors");
    let full = tmp.path().join("full");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(full.join("adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!(config["peft_type"], "LORA");
    assert_eq!(config["r"], 4);
    let adapter = read_weights(&full.join("adapter_model.safetensors"));
    // Three layers of 7 projections, A and B each; B has moved off its zero start.
    assert_eq!(adapter.len(), 3 * 7 * 2, "{:?}", adapter.keys());
    let b = &adapter["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"];
    assert!(b.iter().any(|v| *v != 0.0));
    let merged = tmp.path().join("merged");
    ok(bin()
        .args(["model", "merge"])
        .arg(&full)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap());
    let predict = |model: &Path, out: &Path| {
        ok(bin()
            .args([
                "predict",
                "--split",
                "test",
                "--max-new-tokens",
                "8",
                "--model",
            ])
            .arg(model)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap());
        std::fs::read_to_string(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["Prediction"].clone())
            .collect::<Vec<_>>()
    };
    let from_adapter = predict(&full, &tmp.path().join("a.jsonl"));
    let from_merged = predict(&merged, &tmp.path().join("m.jsonl"));
    assert!(!from_adapter.is_empty());
    assert_eq!(from_adapter, from_merged);
}

/// LoRA over a base packed in bf16 for AMX tiles (`--frozen-weights bf16`): a kill and
/// resume gives the uninterrupted adapter, as in f32. Skipped where the CPU has no AMX.
#[test]
fn a_killed_and_resumed_lora_fine_tune_over_a_bf16_base_matches_an_uninterrupted_run() {
    if !ie_bench::model::cpu::amx::available() {
        eprintln!("skipped: this CPU (or kernel) gives no AMX bf16 tiles");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let m = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gemma3-tiny");
    let lora = [
        "--lora-rank",
        "4",
        "--lora-alpha",
        "8",
        "--frozen-weights",
        "bf16",
    ];
    kill_and_resume(tmp.path(), &m, &lora, "adapter_model.safetensors");
}

/// With a bf16 base the model's weights are merged with the adapters only when read: what a
/// checkpoint hook sees (the stored runs' dev scoring predicts with it) is the base plus the
/// adapters just saved, as loading that checkpoint gives it.
#[test]
fn checkpoint_hooks_see_the_adapters_merged_over_a_bf16_base() {
    use ie_bench::model::backbone::Backbone;
    use ie_bench::model::decoder::lora::LoraOptions;
    use ie_bench::model::decoder::DecoderModel;
    use ie_bench::model::error::ModelError;
    use ie_bench::model::fit::{fit, FitHooks, FitSpec};
    use ie_bench::model::train::{FrozenWeights, StepReport, TrainOptions, TrainState};
    if !ie_bench::model::cpu::amx::available() {
        eprintln!("skipped: this CPU (or kernel) gives no AMX bf16 tiles");
        return;
    }
    struct Compare(usize);
    impl FitHooks for Compare {
        type Error = ModelError;
        fn step(&mut self, _: &StepReport, _: &TrainState, _: f64) -> Result<(), ModelError> {
            Ok(())
        }
        fn checkpoint(
            &mut self,
            model: &Backbone,
            _: &TrainState,
            dir: &Path,
        ) -> Result<(), ModelError> {
            let Backbone::Decoder(m) = model else {
                panic!("a decoder run")
            };
            let saved = DecoderModel::load(dir)?;
            for (a, b) in m.weights.layers.iter().zip(&saved.weights.layers) {
                assert_eq!(
                    a,
                    b,
                    "{}: the hook's weights are not the checkpoint's",
                    dir.display()
                );
            }
            self.0 += 1;
            Ok(())
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let m = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gemma3-tiny");
    let pairs: Vec<(String, String)> = (0..8)
        .map(|i| {
            (
                format!("Text: item {i} sits in box {}", i * 7 % 5),
                format!("box: {}", i * 7 % 5),
            )
        })
        .collect();
    let spec = FitSpec {
        model: m.to_str().unwrap(),
        out: tmp.path(),
        resume: false,
        options: TrainOptions {
            lr: 1e-2,
            batch_size: 4,
            total_steps: 6,
            save_every: 3,
            lora: Some(LoraOptions {
                rank: 4,
                alpha: 8.0,
                targets: vec!["q_proj".into(), "down_proj".into()],
            }),
            frozen_weights: FrozenWeights::Bf16,
            ..TrainOptions::default()
        },
        epochs: None,
        keep_checkpoints: 0,
        device: &candle_core::Device::Cpu,
    };
    let mut hooks = Compare(0);
    fit(spec, &pairs, &mut hooks).unwrap();
    assert_eq!(hooks.0, 2, "checkpoints at steps 3 and 6");
}

fn kill_and_resume(tmp: &Path, m: &Path, extra: &[&str], weights: &str) {
    let args = [
        "train",
        "--lr",
        "1e-3",
        "--batch-size",
        "4",
        "--max-steps",
        "120",
        "--save-every",
        "10",
        "--model",
    ];
    let full = tmp.join("full");
    ok(bin()
        .args(args)
        .arg(m)
        .args(extra)
        .arg("--out")
        .arg(&full)
        .args(["--keep-checkpoints", "0"])
        .output()
        .unwrap());
    let kept = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("checkpoint-"))
            .collect();
        names.sort_by_key(|n| n["checkpoint-".len()..].parse::<u64>().unwrap());
        names
    };
    let every: Vec<String> = (1..=12).map(|i| format!("checkpoint-{}", i * 10)).collect();
    assert_eq!(kept(&full), every, "--keep-checkpoints 0 keeps them all");

    let cut = tmp.join("cut");
    let mut child = bin()
        .args(args)
        .arg(m)
        .args(extra)
        .arg("--out")
        .arg(&cut)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !cut.join("checkpoint-20").is_dir() {
        assert!(Instant::now() < deadline, "no checkpoint-20 appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !cut.join(weights).exists(),
        "the run finished before it was killed"
    );
    let logged = log_steps(&cut).len();
    assert!(logged < 120, "killed run logged {logged} steps");

    ok(bin()
        .args(args)
        .arg(m)
        .args(extra)
        .arg("--out")
        .arg(&cut)
        .arg("--resume")
        .output()
        .unwrap());
    assert_eq!(
        kept(&cut),
        ["checkpoint-110", "checkpoint-120"],
        "the default keeps two"
    );
    let steps: Vec<u64> = log_steps(&cut).iter().map(|s| s.0).collect();
    assert_eq!(
        steps,
        (1..=120).collect::<Vec<u64>>(),
        "every step logged exactly once"
    );
    let a = read_weights(&full.join(weights));
    let b = read_weights(&cut.join(weights));
    assert_eq!(a.len(), b.len());
    let mut worst = 0f32;
    for (k, va) in &a {
        for (x, y) in va.iter().zip(&b[k]) {
            worst = worst.max((x - y).abs());
        }
    }
    assert!(worst <= 1e-6, "resumed weights differ by {worst}");
}

/// Missing, truncated or mismatched weights fail with the tensor named, never a panic.
#[test]
fn bad_weights_fail_with_the_tensor_named() {
    let tmp = tempfile::tempdir().unwrap();
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity/flan");
    let copy = |name: &str| {
        let d = tmp.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        for f in ["config.json", "model.safetensors"] {
            std::fs::copy(src.join(f), d.join(f)).unwrap();
        }
        // A tokenizer is needed to get as far as the weights.
        ok(bin()
            .args(["model", "init", "--out"])
            .arg(tmp.path().join("tok"))
            .output()
            .unwrap());
        std::fs::copy(
            tmp.path().join("tok/tokenizer.json"),
            d.join("tokenizer.json"),
        )
        .unwrap();
        d
    };
    let predict = |d: &Path| {
        bin()
            .args(["predict", "--out", "/dev/null", "--model"])
            .arg(d)
            .output()
            .unwrap()
    };
    let fails_with = |d: &Path, want: &str| {
        let out = predict(d);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains(want), "{want:?} not in: {err}");
    };
    // The fixture's vocabulary (96) is smaller than a trained tokenizer; widen it consistently
    // where the test is not about vocabulary.
    let widen = |d: &Path| {
        let p = d.join("config.json");
        let mut c: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        c["vocab_size"] = 2048.into();
        std::fs::write(&p, c.to_string()).unwrap();
    };

    let missing = copy("missing");
    std::fs::remove_file(missing.join("model.safetensors")).unwrap();
    fails_with(
        &missing,
        "no model.safetensors or model.safetensors.index.json",
    );

    let truncated = copy("truncated");
    let bytes = std::fs::read(truncated.join("model.safetensors")).unwrap();
    std::fs::write(
        truncated.join("model.safetensors"),
        &bytes[..bytes.len() - 1000],
    )
    .unwrap();
    fails_with(&truncated, "is cut off");

    let shapes = copy("shapes");
    widen(&shapes);
    fails_with(&shapes, "tensor `shared.weight` in");
    fails_with(
        &shapes,
        "has shape [96, 32], but the config needs [2048, 32]",
    );

    let empty = copy("empty");
    std::fs::write(empty.join("model.safetensors"), b"").unwrap();
    fails_with(&empty, "too short for a safetensors header");
}
