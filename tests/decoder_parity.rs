//! The decoder-only engine against transformers on tiny random Gemma 3, Llama (Llama 3.1's
//! RoPE scaling, its own head) and Qwen2 (q/k/v biases) models (`scripts/make_decoder_fixture.py`
//! wrote `tests/fixtures/{gemma3,llama,qwen2}-tiny`): logits at every position, greedy
//! continuations, a packed batch equal to its rows alone, and the loss and gradient norms of a
//! training batch in the decoder-only InstructUIE format.

#![allow(clippy::unwrap_used)] // a panic is how a test or bench reports failure

use ie_bench::model::cpu::decoder::{Grads, Prepared};
use ie_bench::model::cpu::decoder_generate::{
    all_logits, generate, last_logits, stepwise_logits, Constraint, KeptPrompt, Stop,
};
use ie_bench::model::cpu::quantized::{HeadScreen, Q8Decoder};
use ie_bench::model::decoder::constrain::TokenBytes;
use ie_bench::model::decoder::tokenizer::DecoderExample;
use ie_bench::model::decoder::{DecoderModel, DecoderWeights};
use ie_bench::prompt::AnswerGrammar;
use serde_json::Value;
use std::path::Path;

fn fixture() -> (DecoderModel, Value) {
    load_fixture("gemma3-tiny")
}

/// Each architecture's tiny model and what transformers computed on it.
fn fixtures() -> Vec<(DecoderModel, Value)> {
    ["gemma3-tiny", "llama-tiny", "qwen2-tiny"]
        .into_iter()
        .map(load_fixture)
        .collect()
}

/// The Llama and Qwen2 models again, from the GGUF files llama.cpp's converter wrote from
/// their folders (`scripts/make_gguf_fixture.py`), with what transformers computed.
fn gguf_fixtures() -> Vec<(DecoderModel, Value)> {
    ["llama-tiny", "qwen2-tiny"]
        .into_iter()
        .map(|name| {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(name);
            // Loaded from a copy: the tokenizer built from the file is cached beside it.
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().join("model.gguf");
            std::fs::copy(dir.join("model.gguf"), &path).unwrap();
            let model = DecoderModel::load(&path).unwrap_or_else(|e| panic!("{name} GGUF: {e}"));
            let text = std::fs::read_to_string(dir.join("fixture.json")).unwrap();
            (model, serde_json::from_str(&text).unwrap())
        })
        .collect()
}

fn load_fixture(name: &str) -> (DecoderModel, Value) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let model = DecoderModel::load(&dir).unwrap_or_else(|e| panic!("{name} loads: {e}"));
    let text = std::fs::read_to_string(dir.join("fixture.json")).unwrap();
    (model, serde_json::from_str(&text).unwrap())
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// The fixture's token sequences.
fn sequences(fx: &Value) -> Vec<Vec<u32>> {
    fx["sequences"]
        .as_array()
        .unwrap()
        .iter()
        .map(ids)
        .collect()
}

fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

/// Greedy continuations of `prompts` in one call, keeping nothing from an earlier call.
fn greedy(p: &Prepared, prompts: &[Vec<u32>], max_new: usize, stop: &Stop) -> Vec<Vec<u32>> {
    generate(
        p,
        prompts,
        max_new,
        stop,
        None,
        &mut KeptPrompt::default(),
        &mut |_| {},
    )
}

#[test]
fn logits_match_transformers_at_every_position() {
    for (m, fx) in fixtures().into_iter().chain(gguf_fixtures()) {
        let p = Prepared::new(&m.cfg, &m.weights, 64);
        for (seq, want) in fx["sequences"]
            .as_array()
            .unwrap()
            .iter()
            .zip(fx["logits"].as_array().unwrap())
        {
            let want: Vec<f32> = want
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| {
                    r.as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_f64().unwrap() as f32)
                })
                .collect();
            let got = all_logits(&p, &ids(seq));
            let w = worst(&got, &want);
            assert!(w < 1e-4, "{}: logits differ by {w}", m.cfg.arch.name());
        }
    }
}

#[test]
fn a_packed_batch_equals_each_sequence_alone() {
    for (m, fx) in fixtures() {
        let p = Prepared::new(&m.cfg, &m.weights, 64);
        let seqs = sequences(&fx);
        let refs: Vec<&[u32]> = seqs.iter().map(std::vec::Vec::as_slice).collect();
        let together = last_logits(&p, &refs);
        let v = m.cfg.vocab_size;
        for (i, s) in refs.iter().enumerate() {
            let alone = last_logits(&p, &[s]);
            let w = worst(&together[i * v..(i + 1) * v], &alone);
            assert!(
                w < 1e-5,
                "{}: sequence {i} differs by {w} in a batch",
                m.cfg.arch.name()
            );
        }
    }
}

#[test]
fn greedy_ids_match_transformers_generate() {
    for (m, fx) in fixtures() {
        let p = Prepared::new(&m.cfg, &m.weights, 64);
        let cases = fx["greedy"].as_array().unwrap();
        let prompts: Vec<Vec<u32>> = cases.iter().map(|c| ids(&c["prompt"])).collect();
        let max_new = fx["max_new"].as_u64().unwrap() as usize;
        let stop = Stop {
            eos: vec![1],
            newline: vec![],
        };
        let got = greedy(&p, &prompts, max_new, &stop);
        // The same through the int8 screen of the head (what `predict` uses with f32).
        let screen = HeadScreen::of(m.weights.head(), m.cfg.vocab_size).expect("a screen");
        let screened = greedy(
            &Prepared::new(&m.cfg, &m.weights, 64).with_head_screen(Some(&screen)),
            &prompts,
            max_new,
            &stop,
        );
        assert_eq!(screened, got, "{}: screened", m.cfg.arch.name());
        for (c, g) in cases.iter().zip(&got) {
            let mut want = ids(&c["ids"]);
            // transformers keeps the eos it stopped at; ours is the continuation only.
            if let Some(at) = want.iter().position(|&t| t == 1) {
                want.truncate(at);
            }
            assert_eq!(g, &want, "{}", m.cfg.arch.name());
        }
    }
}

/// Prompts that share a beginning (an instruction) have it prefilled once for the batch: each
/// continuation equals the prompt's alone, on every architecture (the shared part longer than
/// the sliding window; one prompt is the shared part and one token more).
#[test]
fn prompts_sharing_a_beginning_decode_as_they_do_alone() {
    let common: Vec<u32> = vec![2, 10, 11, 12, 13, 14, 15, 16, 17];
    let tails: [&[u32]; 4] = [&[20, 21, 22], &[23], &[25, 26, 27, 28, 29], &[20, 21, 30]];
    let prompts: Vec<Vec<u32>> = tails
        .iter()
        .map(|t| common.iter().chain(*t).copied().collect())
        .collect();
    let stop = Stop {
        eos: vec![1],
        newline: vec![],
    };
    for (m, _) in fixtures() {
        let name = m.cfg.arch.name();
        let p = Prepared::new(&m.cfg, &m.weights, 64);
        let together = greedy(&p, &prompts, 12, &stop);
        let alone: Vec<Vec<u32>> = prompts
            .iter()
            .map(|pr| greedy(&p, std::slice::from_ref(pr), 12, &stop).remove(0))
            .collect();
        assert_eq!(together, alone, "{name}");
        assert!(
            alone.iter().any(|a| a.len() > 2),
            "{name}: {alone:?} too short to tell"
        );
        // One prompt per call, then pairs, each call taking the rows its prompts share with
        // the last call's first prompt from what that call kept.
        let mut kept = KeptPrompt::default();
        let one_by_one: Vec<Vec<u32>> = prompts
            .iter()
            .map(|pr| {
                let got = generate(
                    &p,
                    std::slice::from_ref(pr),
                    12,
                    &stop,
                    None,
                    &mut kept,
                    &mut |_| {},
                );
                assert_eq!(kept.rows(), pr.len(), "{name}: the prompt is kept");
                got.into_iter().next().unwrap()
            })
            .collect();
        assert_eq!(
            one_by_one, alone,
            "{name}: one by one, keeping the last prompt"
        );
        let pairs: Vec<Vec<u32>> = prompts
            .chunks(2)
            .rev()
            .flat_map(|two| generate(&p, two, 12, &stop, None, &mut kept, &mut |_| {}))
            .collect();
        let mut want = alone[2..].to_vec();
        want.extend_from_slice(&alone[..2]);
        assert_eq!(pairs, want, "{name}: in pairs, keeping the last prompt");
    }
}

/// Constrained decoding on the tiny model, with made-up texts for its token ids: every
/// continuation stays inside its grammar, one that stops at eos is a whole answer, and each
/// first token is the best of the allowed ones under the full head.
#[test]
fn constrained_greedy_stays_inside_the_grammar_and_picks_the_best_allowed_token() {
    let (m, fx) = fixture();
    let p = Prepared::new(&m.cfg, &m.weights, 64);
    let texts = [
        " ", "a", "b", ": ", "; ", "None", " None", "x", "ab", " b", "bx", " a", "a:", "zz", "q",
    ];
    let mut vocab = vec![Vec::new(); m.cfg.vocab_size];
    for (i, t) in texts.iter().enumerate() {
        vocab[10 + i] = t.as_bytes().to_vec();
    }
    let tokens = TokenBytes::new(vocab);
    let options = vec![vec!["a".to_string(), "bx".to_string()]];
    let grammars: Vec<AnswerGrammar> = ["ab xa b", "b b a", "xxxx"]
        .iter()
        .map(|s| AnswerGrammar::new(ie_bench::ie::TaskKind::Ner, &options, s))
        .collect();
    let mut prompts = sequences(&fx);
    prompts.truncate(grammars.len());
    assert_eq!(prompts.len(), grammars.len());
    let stop = Stop {
        eos: vec![1],
        newline: vec![],
    };
    let max_new = 12;
    let constraint = Constraint {
        tokens: &tokens,
        grammars: grammars.iter().collect(),
    };
    let got = generate(
        &p,
        &prompts,
        max_new,
        &stop,
        Some(&constraint),
        &mut KeptPrompt::default(),
        &mut |_| {},
    );
    let v = m.cfg.vocab_size;
    for ((g, out), prompt) in grammars.iter().zip(&got).zip(&prompts) {
        let text: Vec<u8> = out.iter().flat_map(|&t| tokens.text(t).to_vec()).collect();
        let at = g
            .walk(&g.start(), &text)
            .unwrap_or_else(|| panic!("{:?} leaves the grammar", String::from_utf8_lossy(&text)));
        if out.len() < max_new {
            assert!(
                g.accepts(&at),
                "{:?} stopped early",
                String::from_utf8_lossy(&text)
            );
        }
        // The first token: the best allowed one under the full head.
        let full = last_logits(&p, &[prompt]);
        let mut allowed = tokens.allowed(g, &g.start());
        assert!(!allowed.is_empty());
        allowed.sort_by(|&a, &b| full[b as usize].total_cmp(&full[a as usize]));
        assert_eq!(out.first(), Some(&allowed[0]), "first of {v} logits");
    }
}

#[test]
fn loss_and_gradient_norms_match_transformers() {
    for (m, fx) in fixtures() {
        let p = Prepared::new(&m.cfg, &m.weights, 64);
        let t = &fx["train"];
        let batch = train_batch(&fx);
        let count: usize = batch.iter().map(|e| e.target_len).sum();
        let refs: Vec<&DecoderExample> = batch.iter().collect();
        let mut grads = DecoderWeights::zeros_like(&m.cfg, false);
        let (loss, n) = p.accumulate(&refs, 1.0 / count as f32, Grads::Weights(&mut grads));
        assert_eq!(n, count);
        let loss = loss / count as f64;
        let want = t["loss"].as_f64().unwrap();
        assert!(
            (loss - want).abs() < 1e-4,
            "{}: loss {loss} vs {want}",
            m.cfg.arch.name()
        );
        let norms = t["grad_norms"].as_object().unwrap();
        let mut checked = 0;
        for (name, _, g) in grads.named(&m.cfg) {
            let Some(want) = norms.get(&name).and_then(Value::as_f64) else {
                assert!(g.is_empty(), "{name} has a gradient transformers lacks");
                continue;
            };
            let got = g
                .iter()
                .map(|v| (*v as f64) * (*v as f64))
                .sum::<f64>()
                .sqrt();
            assert!(
                (got - want).abs() < 1e-4 * want.max(1.0),
                "{name}: gradient norm {got} vs {want}"
            );
            checked += 1;
        }
        assert_eq!(checked, norms.len(), "every trained tensor compared");
    }
}

fn train_batch(fx: &Value) -> Vec<DecoderExample> {
    fx["train"]["batch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| DecoderExample {
            ids: ids(&e["ids"]),
            target_len: e["target_len"].as_u64().unwrap() as usize,
        })
        .collect()
}

/// A batch whose sequences share a long beginning (an instruction and its options) runs that
/// beginning once: the loss and every gradient equal the unshared pass's, on every
/// architecture, with the shared part longer than the sliding window, and with two identical
/// sequences (the prefix then stops short of the first target).
#[test]
fn a_shared_prefix_runs_once_and_changes_nothing() {
    use ie_bench::model::cpu::decoder::shared_prefix;
    let common: Vec<u32> = vec![2, 10, 11, 12, 13, 14, 15, 16, 17];
    let ex = |tail: &[u32], target_len: usize| DecoderExample {
        ids: common.iter().chain(tail).copied().collect(),
        target_len,
    };
    let batch = [
        ex(&[20, 21, 22, 30, 31, 1], 3),
        ex(&[23, 24, 30, 1], 2),
        ex(&[20, 21, 22, 30, 31, 1], 3),
        ex(&[25, 26, 27, 28, 29, 32, 33, 1], 4),
    ];
    let refs: Vec<&DecoderExample> = batch.iter().collect();
    assert_eq!(shared_prefix(&refs), common.len());
    assert_eq!(shared_prefix(&refs[..1]), 0, "one example shares nothing");
    // The two identical examples alone: shared up to the row before their first target.
    assert_eq!(shared_prefix(&[refs[0], refs[2]]), common.len() + 2);
    for (m, _) in fixtures() {
        let name = m.cfg.arch.name();
        let p = Prepared::new(&m.cfg, &m.weights, 64);
        for subset in [&refs[..], &[refs[0], refs[2]][..]] {
            let mut plain = DecoderWeights::zeros_like(&m.cfg, false);
            let mut shared = DecoderWeights::zeros_like(&m.cfg, false);
            let (l0, n0) = p.accumulate_shared(subset, 0, 0.1, Grads::Weights(&mut plain));
            let (l1, n1) = p.accumulate(subset, 0.1, Grads::Weights(&mut shared));
            assert_eq!(n0, n1);
            assert!(
                (l0 - l1).abs() < 1e-5 * l0.abs(),
                "{name}: loss {l0} vs {l1}"
            );
            let mut compared = 0;
            for ((a_name, _, a), (_, _, b)) in
                plain.named(&m.cfg).into_iter().zip(shared.named(&m.cfg))
            {
                let scale = a.iter().fold(1e-3f32, |s, v| s.max(v.abs()));
                let w = worst(a, b);
                assert!(
                    w < 1e-5 * scale.max(1.0),
                    "{name}: {a_name} differs by {w} (scale {scale})"
                );
                compared += 1;
            }
            assert!(compared > 10, "{name}: only {compared} gradients compared");
        }
    }
}

/// LoRA's gradients, taken straight from the pass, against central differences of the loss
/// in the adapters themselves (f64 sums over f32 passes; B made non-zero so that A has a
/// gradient at all), and against the merged weights' gradient G: dB = s·G·Aᵀ, dA = s·Bᵀ·G.
#[test]
fn lora_gradients_match_finite_differences() {
    use ie_bench::model::decoder::lora::{Adapters, LoraOptions};
    for (m, fx) in fixtures() {
        let batch = train_batch(&fx);
        let refs: Vec<&DecoderExample> = batch.iter().collect();
        let options = LoraOptions {
            rank: 2,
            alpha: 4.0,
            targets: vec!["q_proj".into(), "down_proj".into()],
        };
        let mut ad = Adapters::init(&m.cfg, &options, 7).unwrap();
        for (i, v) in ad.b.iter_mut().flatten().flatten().enumerate() {
            *v = ((i * 37 % 11) as f32 - 5.0) * 0.02;
        }
        let frozen = ad.frozen_parts(&m.weights);
        let run = |ad: &Adapters| {
            let mut w = m.weights.clone();
            ad.merge(&m.cfg, &frozen, &mut w);
            let p = Prepared::new(&m.cfg, &w, 64);
            let mut g = ad.zeros_like();
            let (loss, _) = p.accumulate(&refs, 1.0, Grads::Adapters(ad, &mut g));
            (loss, g)
        };
        let (_, grads) = run(&ad);
        let names = ad.names();
        // The same pass with every weight trained gives G; the adapters' gradients follow from it.
        let mut merged = m.weights.clone();
        ad.merge(&m.cfg, &frozen, &mut merged);
        let mut g = DecoderWeights::zeros_like(&m.cfg, false);
        Prepared::new(&m.cfg, &merged, 64).accumulate(&refs, 1.0, Grads::Weights(&mut g));
        let (r, s) = (options.rank, options.scale());
        for (t, name) in names.iter().enumerate() {
            let (layer, k) = (t / (2 * ad.parts.len()), t / 2 % ad.parts.len());
            let gw = &g.layers[layer][ad.parts[k]];
            let cols = ad.a[layer][k].len() / r;
            let rows = gw.len() / cols;
            let from_g: Vec<f32> = if t % 2 == 0 {
                // dA[j, i] = s·Σₒ B[o, j]·G[o, i]
                (0..r * cols)
                    .map(|ji| {
                        let (j, i) = (ji / cols, ji % cols);
                        s * (0..rows)
                            .map(|o| ad.b[layer][k][o * r + j] * gw[o * cols + i])
                            .sum::<f32>()
                    })
                    .collect()
            } else {
                // dB[o, j] = s·Σᵢ G[o, i]·A[j, i]
                (0..rows * r)
                    .map(|oj| {
                        let (o, j) = (oj / r, oj % r);
                        s * (0..cols)
                            .map(|i| gw[o * cols + i] * ad.a[layer][k][j * cols + i])
                            .sum::<f32>()
                    })
                    .collect()
            };
            let scale = from_g.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
            for (i, (got, want)) in grads[t].iter().zip(&from_g).enumerate() {
                assert!(
                    (got - want).abs() <= 1e-4 * scale,
                    "{name}[{i}]: {got} from the pass, {want} from the merged weight's gradient"
                );
            }
        }
        let eps = 1e-2f32;
        let mut checked = 0;
        for (t, name) in names.iter().enumerate() {
            for at in [0usize, 5, 17] {
                let analytic = grads[t][at] as f64;
                let mut plus = Adapters::init(&m.cfg, &options, 7).unwrap();
                plus.b = ad.b.clone();
                plus.a = ad.a.clone();
                plus.tensors_mut()[t][at] += eps;
                let mut minus = Adapters::init(&m.cfg, &options, 7).unwrap();
                minus.b = ad.b.clone();
                minus.a = ad.a.clone();
                minus.tensors_mut()[t][at] -= eps;
                let numeric = (run(&plus).0 - run(&minus).0) / (2.0 * eps as f64);
                assert!(
                    (analytic - numeric).abs() < 2e-3 + 2e-2 * numeric.abs(),
                    "{name}[{at}]: {analytic} vs finite difference {numeric}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, names.len() * 3);
    }
}

/// The tiny model written as llama.cpp writes a Gemma 3 GGUF (its tensor names, norms stored as
/// 1 + w, the layer pattern and a SentencePiece vocabulary in the metadata) loads back to the
/// same weights and logits; a cut-off copy fails with the file named.
#[test]
fn a_gguf_file_loads_to_the_same_model_and_a_cut_one_is_refused() {
    use candle_core::quantized::gguf_file::{self, Value};
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Tensor};
    use ie_bench::model::decoder::gguf::gguf_name;
    let (m, fx) = fixture();
    let c = &m.cfg;
    let u = |v: usize| Value::U32(v as u32);
    let mut tokens = vec!["<pad>", "<eos>", "<bos>", "<unk>"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    // Characters, then every pair of them, then triples: BPE merges the pairs first.
    let chars = ["▁", "a", "b", "c", "d", "e"];
    let pairs: Vec<String> = chars
        .iter()
        .flat_map(|a| chars.iter().map(move |b| format!("{a}{b}")))
        .collect();
    let triples = pairs
        .iter()
        .flat_map(|p| chars.iter().map(move |c| format!("{p}{c}")));
    tokens.extend(
        chars
            .iter()
            .map(std::string::ToString::to_string)
            .chain(pairs.iter().cloned())
            .chain(triples),
    );
    tokens.truncate(c.vocab_size);
    let types: Vec<Value> = (0..c.vocab_size)
        .map(|i| {
            Value::I32(match i {
                0..=2 => 3,
                3 => 2,
                _ => 1,
            })
        })
        .collect();
    let meta: Vec<(&str, Value)> = vec![
        ("general.architecture", Value::String("gemma3".into())),
        ("tokenizer.ggml.add_space_prefix", Value::Bool(false)),
        ("general.license", Value::String("gemma".into())),
        ("gemma3.embedding_length", u(c.hidden)),
        ("gemma3.block_count", u(c.layers.len())),
        ("gemma3.feed_forward_length", u(c.intermediate)),
        ("gemma3.attention.head_count", u(c.heads)),
        ("gemma3.attention.head_count_kv", u(c.kv_heads)),
        ("gemma3.attention.key_length", u(c.head_dim)),
        ("gemma3.attention.layer_norm_rms_epsilon", Value::F32(c.eps)),
        ("gemma3.rope.freq_base", Value::F32(c.rope_theta)),
        ("gemma3.attention.sliding_window", u(c.sliding_window)),
        (
            "gemma3.attention.sliding_window_pattern",
            Value::Array(vec![
                Value::Bool(true),
                Value::Bool(true),
                Value::Bool(false),
            ]),
        ),
        ("gemma3.context_length", u(64)),
        ("tokenizer.ggml.model", Value::String("llama".into())),
        (
            "tokenizer.ggml.tokens",
            Value::Array(tokens.iter().map(|t| Value::String(t.clone())).collect()),
        ),
        (
            "tokenizer.ggml.scores",
            Value::Array((0..c.vocab_size).map(|i| Value::F32(-(i as f32))).collect()),
        ),
        ("tokenizer.ggml.token_type", Value::Array(types)),
        ("tokenizer.ggml.bos_token_id", u(2)),
        ("tokenizer.ggml.eos_token_id", u(1)),
        ("tokenizer.ggml.padding_token_id", u(0)),
    ];
    let mut tensors = Vec::new();
    for (name, shape, data) in m.weights.named(c) {
        let shift = if name.ends_with("norm.weight") {
            1.0
        } else {
            0.0
        };
        let data: Vec<f32> = data.iter().map(|v| v + shift).collect();
        let t = Tensor::from_vec(data, shape, &Device::Cpu).unwrap();
        tensors.push((
            gguf_name(c.arch, &name),
            QTensor::quantize(&t, GgmlDType::F32).unwrap(),
        ));
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("tiny.gguf");
    let mut f = std::fs::File::create(&path).unwrap();
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (*k, v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut f, &meta_refs, &tensor_refs).unwrap();
    drop(f);

    let g = DecoderModel::load(&path).expect("the GGUF loads");
    assert_eq!(g.cfg.layers, m.cfg.layers);
    assert_eq!((g.cfg.bos, g.cfg.eos.clone(), g.cfg.pad), (2, vec![1], 0));
    assert!(
        path.with_extension("tokenizer.json").is_file(),
        "the tokenizer is cached"
    );
    let ids_ = g.tokenizer.encode(" ab cde").unwrap();
    assert!(ids_.len() < 7, "pieces are merged: {ids_:?}");
    assert_eq!(g.tokenizer.decode(&ids_).unwrap(), " ab cde");
    let seq = ids(&fx["sequences"][0]);
    let a = all_logits(&Prepared::new(&m.cfg, &m.weights, 64), &seq);
    let b = all_logits(&Prepared::new(&g.cfg, &g.weights, 64), &seq);
    assert!(worst(&a, &b) < 1e-5);
    assert!(g
        .describe()
        .iter()
        .any(|(k, v)| k == "general.license" && v == "gemma"));

    let bytes = std::fs::read(&path).unwrap();
    let cut = tmp.path().join("cut.gguf");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = DecoderModel::load(&cut)
        .err()
        .expect("a cut file is refused")
        .to_string();
    assert!(err.contains("cut.gguf"), "{err}");

    // An architecture the engine lacks is refused, naming the file and those it has.
    let arch = Value::String("mamba".into());
    let err = refusal(
        &tmp.path().join("mamba.gguf"),
        &[("general.architecture", &arch)],
    );
    assert!(
        err.contains("mamba.gguf") && err.contains("gemma3, llama, qwen2"),
        "{err}"
    );

    // A hostile layer count is refused before a per-layer list is built from it.
    let arch = Value::String("llama".into());
    let (width, heads, blocks) = (u(32), u(4), Value::U32(u32::MAX));
    let err = refusal(
        &tmp.path().join("huge.gguf"),
        &[
            ("general.architecture", &arch),
            ("llama.embedding_length", &width),
            ("llama.attention.head_count", &heads),
            ("llama.block_count", &blocks),
        ],
    );
    assert!(
        err.contains("huge.gguf") && err.contains("4294967295 layers"),
        "{err}"
    );
}

/// The error loading a GGUF file of metadata `meta` and no tensors gives.
fn refusal(path: &Path, meta: &[(&str, &candle_core::quantized::gguf_file::Value)]) -> String {
    let mut f = std::fs::File::create(path).unwrap();
    candle_core::quantized::gguf_file::write(&mut f, meta, &[]).unwrap();
    drop(f);
    DecoderModel::load(path)
        .err()
        .expect("the file is refused")
        .to_string()
}

/// llama.cpp's converter reorders Llama's q/k rows, turns Llama 3.1's RoPE scaling into a
/// tensor of divisors, renames every tensor and keeps an untied head as `output.weight`:
/// loading its files gives the folders' weights and config again (the logits are checked
/// against transformers in `logits_match_transformers_at_every_position`).
#[test]
fn gguf_files_from_llama_cpps_converter_load_to_the_folders_models() {
    let folders = fixtures();
    for (g, _) in gguf_fixtures() {
        let (m, _) = folders
            .iter()
            .find(|(m, _)| m.cfg.arch == g.cfg.arch)
            .unwrap();
        // llama.cpp keeps no maximum context of its own and stores ε as f32 of the f64.
        let mut want = m.cfg.clone();
        want.max_positions = g.cfg.max_positions;
        assert_eq!(g.cfg, want, "{}", g.cfg.arch.name());
        for ((name, _, a), (_, _, b)) in m
            .weights
            .named(&m.cfg)
            .into_iter()
            .zip(g.weights.named(&g.cfg))
        {
            assert!(worst(a, b) == 0.0, "{}: {name} differs", g.cfg.arch.name());
        }
        // The byte-level vocabulary and merges the fixture script wrote.
        let t = &g.tokenizer;
        let abc = t.encode("abcab").unwrap();
        assert_eq!(abc.len(), 2, "abc and ab are merged: {abc:?}");
        assert_eq!(t.decode(&abc).unwrap(), "abcab");
    }
}

/// A saved model loads back to the same weights, in a `config.json` transformers accepts
/// (whose config class refuses a float `query_pre_attn_scalar`; a saved checkpoint of the real
/// model loads in transformers and gives ie-bench's predictions, see the README).
#[test]
fn a_saved_model_loads_back_the_same() {
    for (m, _) in fixtures() {
        let tmp = tempfile::tempdir().unwrap();
        m.save(tmp.path()).unwrap();
        let cfg: Value =
            serde_json::from_str(&std::fs::read_to_string(tmp.path().join("config.json")).unwrap())
                .unwrap();
        if m.cfg.arch == ie_bench::model::decoder::Arch::Gemma3 {
            assert!(
                cfg["query_pre_attn_scalar"].is_u64(),
                "{}",
                cfg["query_pre_attn_scalar"]
            );
            assert_eq!(cfg["model_type"], "gemma3_text");
        } else {
            assert_eq!(cfg["model_type"], m.cfg.arch.name());
        }
        let back = DecoderModel::load(tmp.path()).unwrap();
        assert_eq!(back.cfg, m.cfg);
        let (mine, theirs) = (m.weights.named(&m.cfg), back.weights.named(&back.cfg));
        assert_eq!(mine.len(), theirs.len());
        for ((n, _, a), (_, _, b)) in mine.iter().zip(&theirs) {
            assert_eq!(a, b, "{n}");
        }
    }
}

/// Decoding with int8 copies of the weights (`--decode-weights q8`) stays near the f32 logits
/// on every architecture (the tiny models' 48-wide MLP keeps its down projection in f32, as a
/// matrix whose rows do not split into blocks does), and a batch still decodes as each prompt
/// alone. Fed one token at a time, f32 gives the packed pass's logits.
#[test]
fn int8_decoding_stays_near_f32_and_a_batch_decodes_as_each_prompt_alone() {
    let stop = Stop {
        eos: vec![1],
        newline: vec![],
    };
    for (m, fx) in fixtures() {
        let name = m.cfg.arch.name();
        let q8 = Q8Decoder::of(&m.cfg, &m.weights);
        let p = Prepared::new(&m.cfg, &m.weights, 64);
        let p8 = Prepared::new(&m.cfg, &m.weights, 64).with_q8(Some(&q8));
        let seqs = sequences(&fx);
        for s in &seqs {
            let packed = all_logits(&p, s);
            let w = worst(&stepwise_logits(&p, s), &packed);
            assert!(w < 1e-5, "{name}: stepwise logits differ by {w}");
            let near = stepwise_logits(&p8, s);
            let range = packed.iter().fold(0f32, |m, v| m.max(v.abs()));
            let w = worst(&near, &packed);
            assert!(w > 0.0, "{name}: the int8 copies were not used");
            assert!(
                w < 0.05 * range,
                "{name}: logits differ by {w} (largest {range})"
            );
        }
        let together = greedy(&p8, &seqs, 12, &stop);
        let alone: Vec<Vec<u32>> = seqs
            .iter()
            .map(|s| greedy(&p8, std::slice::from_ref(s), 12, &stop).remove(0))
            .collect();
        assert_eq!(together, alone, "{name}");
    }
}

/// LoRA's passes through the base packed in bf16 for AMX tiles (`--frozen-weights bf16`),
/// with the adapters added as low-rank products, stay near the f32 passes through the merged
/// weights on every architecture: the loss and each adapter's gradient, with every
/// projection adapted and B made non-zero so that the adapters change the result. Skipped
/// where the CPU has no AMX.
#[test]
fn lora_passes_over_a_bf16_base_track_the_f32_passes() {
    use ie_bench::model::cpu::amx;
    use ie_bench::model::cpu::frozen_bf16::{Bf16Pass, FrozenBf16};
    use ie_bench::model::decoder::lora::{Adapters, LoraOptions, DEFAULT_TARGETS};
    if !amx::available() {
        eprintln!("skipped: this CPU (or kernel) gives no AMX bf16 tiles");
        return;
    }
    for (m, fx) in fixtures() {
        let name = m.cfg.arch.name();
        let batch = train_batch(&fx);
        let refs: Vec<&DecoderExample> = batch.iter().collect();
        let options = LoraOptions {
            rank: 2,
            alpha: 4.0,
            targets: DEFAULT_TARGETS.map(String::from).to_vec(),
        };
        let mut ad = Adapters::init(&m.cfg, &options, 7).unwrap();
        for (i, v) in ad.b.iter_mut().flatten().flatten().enumerate() {
            *v = ((i * 37 % 11) as f32 - 5.0) * 0.2;
        }
        let frozen = ad.frozen_parts(&m.weights);
        let mut merged = m.weights.clone();
        ad.merge(&m.cfg, &frozen, &mut merged);
        let mut want = ad.zeros_like();
        let (want_loss, _) = Prepared::new(&m.cfg, &merged, 64).accumulate(
            &refs,
            1.0,
            Grads::Adapters(&ad, &mut want),
        );
        // The base alone is packed; the merged weights are not read.
        let base = FrozenBf16::of(&m.cfg, &m.weights);
        let pass = Bf16Pass {
            base: &base,
            adapters: Some(&ad),
        };
        let mut got = ad.zeros_like();
        let (got_loss, _) = Prepared::new(&m.cfg, &m.weights, 64)
            .with_bf16(Some(pass))
            .accumulate(&refs, 1.0, Grads::Adapters(&ad, &mut got));
        assert!(got_loss != want_loss, "{name}: the bf16 base was not used");
        assert!(
            (got_loss - want_loss).abs() < 5e-3 * want_loss.abs(),
            "{name}: loss {got_loss} with the bf16 base, {want_loss} in f32"
        );
        // Without the adapters the pass is the base model's, which these adapters move away.
        let (bare_loss, _) = Prepared::new(&m.cfg, &m.weights, 64)
            .with_bf16(Some(Bf16Pass {
                base: &base,
                adapters: None,
            }))
            .accumulate(&refs, 1.0, Grads::Adapters(&ad, &mut ad.zeros_like()));
        assert!(
            (bare_loss - want_loss).abs() > 10.0 * (got_loss - want_loss).abs(),
            "{name}: the adapters barely matter here ({bare_loss} vs {want_loss}, bf16 {got_loss})"
        );
        for (t, n) in ad.names().iter().enumerate() {
            let norm = |g: &[f32]| g.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
            let diff: Vec<f32> = got[t].iter().zip(&want[t]).map(|(a, b)| a - b).collect();
            let rel = norm(&diff) / norm(&want[t]).max(1e-12);
            assert!(rel < 6e-2, "{name}: {n} differs by {rel} (relative L2)");
        }
    }
}
