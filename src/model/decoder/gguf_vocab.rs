//! A GGUF file's embedded vocabulary as `tokenizer.json` text, for the two kinds llama.cpp
//! stores: SentencePiece pieces with scores (`tokenizer.ggml.model` "llama": Gemma, Llama 2)
//! and byte-level BPE with merges ("gpt2": Llama 3, Qwen2, SmolLM), whose pre-tokenizer is
//! named by `tokenizer.ggml.pre`. Checked against llama.cpp's own vocabulary files and their
//! expected ids (`scripts/gguf-vocab-check.sh`).

use serde_json::{json, Value};
use std::collections::HashMap;

/// Token types as llama.cpp stores them.
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;

/// The vocabulary as the GGUF metadata holds it.
pub struct Vocab<'a> {
    pub tokens: &'a [String],
    /// One per token (`tokenizer.ggml.token_type`); normal (1) where the file has none.
    pub types: &'a [i32],
}

impl Vocab<'_> {
    /// Control and user-defined tokens: matched whole before the model sees the text, as
    /// transformers' `added_tokens` are.
    fn added(&self, also: Option<usize>) -> Vec<Value> {
        self.tokens
            .iter()
            .enumerate()
            .filter(|(i, _)| matches!(self.types[*i], CONTROL | USER_DEFINED) || Some(*i) == also)
            .map(|(i, t)| {
                json!({"id": i, "content": t, "single_word": false, "lstrip": false,
                       "rstrip": false, "normalized": false, "special": self.types[i] != USER_DEFINED})
            })
            .collect()
    }

    fn ids(&self) -> serde_json::Map<String, Value> {
        self.tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), json!(i)))
            .collect()
    }
}

/// SentencePiece's BPE rebuilt from the pieces and scores. SentencePiece merges the adjacent
/// pair whose joined piece scores highest; a `tokenizers` BPE merges by rank, so every way of
/// splitting a piece into two pieces becomes a merge ranked by the joined piece's score (what
/// transformers' converter derives from a `.model` file). `space_prefix`: a space is put
/// before the text (Llama 2's `add_dummy_prefix`; Gemma's files turn it off) and taken off
/// again when decoding.
pub fn sentencepiece(v: &Vocab, scores: &[f32], unk: usize, space_prefix: bool) -> Value {
    let tokens = v.tokens;
    let index: HashMap<&str, usize> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let mut merges: Vec<(f32, usize, usize, usize)> = Vec::new();
    for (id, piece) in tokens.iter().enumerate() {
        let mut local = Vec::new();
        for (cut, _) in piece.char_indices().skip(1) {
            let (l, r) = piece.split_at(cut);
            if let (Some(&a), Some(&b)) = (index.get(l), index.get(r)) {
                local.push((a, b));
            }
        }
        local.sort();
        merges.extend(local.into_iter().map(|(a, b)| (scores[id], id, a, b)));
    }
    // Highest score first; ties keep the order above (a stable sort).
    merges.sort_by(|x, y| y.0.total_cmp(&x.0));
    let replace = json!({"type": "Replace", "pattern": {"String": " "}, "content": "▁"});
    let (normalizer, mut decoders) = if space_prefix {
        (
            json!({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, replace]}),
            vec![json!({"type": "Strip", "content": " ", "start": 1, "stop": 0})],
        )
    } else {
        (replace, Vec::new())
    };
    decoders.splice(
        0..0,
        [
            json!({"type": "Replace", "pattern": {"String": "▁"}, "content": " "}),
            json!({"type": "ByteFallback"}),
            json!({"type": "Fuse"}),
        ],
    );
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": v.added(Some(unk)),
        "normalizer": normalizer,
        "pre_tokenizer": null,
        "post_processor": null,
        "decoder": {"type": "Sequence", "decoders": decoders},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": tokens.get(unk).cloned().unwrap_or_default(),
            "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
            "vocab": v.ids(),
            "merges": merges.iter().map(|(_, _, a, b)| json!([tokens[*a], tokens[*b]])).collect::<Vec<_>>(),
        }
    })
}

/// Llama 3's split: digits in groups of up to three.
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's: as Llama 3's, but every digit alone.
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The `tokenizer.ggml.pre` names read (llama.cpp's names for the same splits included).
pub const PRE_NAMES: &str =
    "default, gpt-2, llama-bpe, llama3, llama-v3, qwen2, deepseek-r1-qwen, smollm";

/// A byte-level BPE from the tokens and merges ("a b" each); `pre` picks the text split.
pub fn byte_level_bpe(v: &Vocab, merges: &[String], pre: &str) -> Result<Value, String> {
    let split = |regex: &str| json!({"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false});
    let bytes = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    // GPT-2's split is `ByteLevel`'s own regex.
    let (pre_tokenizer, ignore_merges) = match pre {
        "default" | "gpt-2" => (bytes(true), false),
        "llama-bpe" | "llama3" | "llama-v3" => (
            json!({"type": "Sequence", "pretokenizers": [split(LLAMA3_SPLIT), bytes(false)]}),
            true,
        ),
        "qwen2" | "deepseek-r1-qwen" => (
            json!({"type": "Sequence", "pretokenizers": [split(QWEN2_SPLIT), bytes(false)]}),
            false,
        ),
        "smollm" => (
            json!({"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": true}, bytes(true)]}),
            false,
        ),
        other => {
            return Err(format!(
                "tokenizer.ggml.pre is {other:?}; the byte-level splits read are {PRE_NAMES}"
            ))
        }
    };
    let pairs = merges
        .iter()
        .enumerate()
        .map(|(i, m)| {
            m.split_once(' ')
                .map(|(a, b)| json!([a, b]))
                .ok_or_else(|| format!("tokenizer.ggml.merges[{i}] {m:?} is not two tokens"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": v.added(None),
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null,
            "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": false, "byte_fallback": false, "ignore_merges": ignore_merges,
            "vocab": v.ids(),
            "merges": pairs,
        }
    }))
}
