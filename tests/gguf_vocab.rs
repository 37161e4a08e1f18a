//! Tokenizers built from GGUF vocabularies against llama.cpp's own tokenizer tests: its
//! vocabulary-only files of Llama 2 (SentencePiece), Llama 3, Qwen2 and GPT-2 (byte-level BPE)
//! and, for each, 46 texts with the ids transformers gives them (`ggml-vocab-NAME.gguf.inp` /
//! `.out`, in llama.cpp's `models/`). The files are not ours to commit; the test runs when
//! `IE_BENCH_GGUF_VOCABS` names a folder holding them (`scripts/gguf-vocab-check.sh` fetches
//! them and sets it; `.ci/run` sets it when they are in the cache) and is skipped otherwise.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use ie_bench::model::decoder::gguf::Gguf;
use std::path::PathBuf;
use tokenizers::Tokenizer;

/// The vocabularies checked: each tokenizer kind and byte-level split `gguf_vocab` builds.
const VOCABS: [&str; 4] = ["llama-spm", "llama-bpe", "qwen2", "gpt-2"];

#[test]
fn gguf_vocabularies_tokenize_as_llama_cpps_tests_expect() {
    let Some(dir) = std::env::var_os("IE_BENCH_GGUF_VOCABS").map(PathBuf::from) else {
        eprintln!(
            "skipped: IE_BENCH_GGUF_VOCABS is not set (scripts/gguf-vocab-check.sh fetches llama.cpp's vocabulary files)"
        );
        return;
    };
    for name in VOCABS {
        let path = dir.join(format!("ggml-vocab-{name}.gguf"));
        let g = Gguf::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let json = g.tokenizer_json().unwrap_or_else(|e| panic!("{name}: {e}"));
        let tok: Tokenizer = json.parse().unwrap();
        let read = |ext: &str| std::fs::read_to_string(path.with_extension(ext)).unwrap();
        let inp = read("gguf.inp");
        let texts: Vec<&str> = inp.split("\n__ggml_vocab_test__\n").collect();
        let out = read("gguf.out");
        let wants: Vec<Vec<u32>> = out
            .lines()
            .map(|l| l.split_whitespace().map(|t| t.parse().unwrap()).collect())
            .collect();
        // The file ends with the separator: the last piece is empty and has no ids.
        assert_eq!(texts.len(), wants.len() + 1, "{name}: texts and id lines");
        for (text, want) in texts.iter().zip(&wants) {
            let got = tok.encode(*text, false).unwrap().get_ids().to_vec();
            assert_eq!(&got, want, "{name}: {text:?}");
            // Byte-level BPE gives every byte back; SentencePiece's decoder strips the space
            // its normalizer put in front.
            let back = tok.decode(&got, false).unwrap();
            assert_eq!(&back, text, "{name}: decoding {text:?}");
        }
        eprintln!(
            "{name}: {} texts tokenize as llama.cpp's test expects",
            wants.len()
        );
    }
}
