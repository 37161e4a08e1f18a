#!/usr/bin/env bash
# Fetches llama.cpp's vocabulary test files (Llama 2, Llama 3, Qwen2, GPT-2: a vocabulary-only
# GGUF each, 46 texts and the ids transformers gives them) into the cache that `.ci/run` looks
# in, then runs tests/gguf_vocab.rs on them: the tokenizers ie-bench builds from GGUF files
# must give the same ids.
# Usage: scripts/gguf-vocab-check.sh   (IE_BENCH_GGUF_VOCABS: the cache folder, default
# ~/.cache/ie-bench/gguf-vocabs; PYTHON: python3)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${IE_BENCH_GGUF_VOCABS:-$HOME/.cache/ie-bench/gguf-vocabs}"
NAMES="llama-spm llama-bpe qwen2 gpt-2"
if [ ! -f "$DIR/ggml-vocab-gpt-2.gguf.out" ]; then
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
  SRC=$(scripts/llama-cpp-source.sh "$WORK")
  mkdir -p "$DIR"
  for n in $NAMES; do
    cp "$SRC/models/ggml-vocab-$n.gguf" "$SRC/models/ggml-vocab-$n.gguf.inp" \
      "$SRC/models/ggml-vocab-$n.gguf.out" "$DIR/"
  done
fi
IE_BENCH_GGUF_VOCABS="$DIR" cargo test --test gguf_vocab -- --nocapture
