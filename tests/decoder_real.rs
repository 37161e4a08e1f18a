//! The real Gemma 3 270M against transformers on the same GGUF weights: greedy continuations of
//! the first 50 CoNLL 2003 test prompts equal token for token (the fixture comes from
//! `scripts/gemma_reference.py parity`). Needs the model: set IE_BENCH_GEMMA to the .gguf file
//! (`ie-bench model fetch gemma-3-270m` installs it; `.ci/run` sets the variable when it is
//! there). Skipped with a message otherwise.

use ie_bench::model::cpu::decoder::Prepared;
use ie_bench::model::cpu::decoder_generate::{generate, Stop};
use ie_bench::model::decoder::DecoderModel;
use std::path::Path;

#[test]
fn greedy_output_equals_transformers_on_50_conll_prompts() {
    let Some(path) = std::env::var_os("IE_BENCH_GEMMA") else {
        eprintln!("skipped: IE_BENCH_GEMMA is not set (ie-bench model fetch gemma-3-270m)");
        return;
    };
    let m = DecoderModel::load(Path::new(&path)).expect("the model loads");
    let fx: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gemma3-270m-conll50.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let alike = fx["tokenizer_alike"].as_array().unwrap();
    assert_eq!(alike[0], alike[1], "transformers tokenized some sources differently");
    let max_new = fx["max_new"].as_u64().unwrap() as usize;
    let cases = fx["cases"].as_array().unwrap();
    let prompts: Vec<Vec<u32>> = cases
        .iter()
        .map(|c| m.tokenizer.source_ids(c["source"].as_str().unwrap(), 512).unwrap())
        .collect();
    let longest = prompts.iter().map(Vec::len).max().unwrap();
    let p = Prepared::new(&m.cfg, &m.weights, longest + max_new + 1);
    let stop = Stop {
        eos: m.cfg.eos.clone(),
        newline: vec![],
    };
    let got = generate(&p, &prompts, max_new, &stop, &mut |_| {});
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
    assert!(differ.is_empty(), "{} of {} differ:\n{}", differ.len(), cases.len(), differ.join("\n"));
}
