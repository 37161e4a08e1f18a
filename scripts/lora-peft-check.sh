#!/usr/bin/env bash
# A LoRA adapter trained by ie-bench on Gemma 3 270M loads in PEFT and gives ie-bench's greedy
# answers: a short LoRA fine-tune on CoNLL 2003 (primary copy), `predict` with the adapter
# folder as the model, then `scripts/gemma_reference.py peft` on the same prompts.
# Usage: scripts/lora-peft-check.sh OUT_DIR [STEPS] [N]
# Environment: BIN (default: a release build), IE_BENCH_SHARED (../shared), PYTHON (a Python
# with torch, transformers, gguf, sentencepiece and peft), IE_BENCH_GEMMA (the .gguf).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?output directory}; STEPS=${2:-20}; N=${3:-20}
SHARED=${IE_BENCH_SHARED:-../shared}
DATA="$SHARED/data/primary/IE_INSTRUCTIONS"
PYTHON=${PYTHON:-python3}
if [ -z "${BIN:-}" ]; then
  BIN=./target/release/ie-bench
  cargo build --release -q
fi
GGUF=$($BIN model fetch gemma-3-270m)
export IE_BENCH_GEMMA=${IE_BENCH_GEMMA:-$GGUF}
mkdir -p "$OUT/config"
for split in train dev test; do
  echo '{"NER": [{"sampling strategy": "random", "dataset name": "CoNLL 2003"}]}' > "$OUT/config/${split}_tasks.json"
done
rm -rf "$OUT/run"
$BIN train --model gemma-3-270m --data "$DATA" --config "$OUT/config" --out "$OUT/run" \
  --lora-rank 8 --lora-alpha 16 --lr 1e-3 --warmup-steps 5 --batch-size 4 --max-steps "$STEPS" \
  --max-source-length 256
$BIN prompts --data "$DATA" --config "$OUT/config" --split dev --max-eval "$N" --out "$OUT/prompts.jsonl"
$BIN predict --model "$OUT/run" --data "$DATA" --config "$OUT/config" --split dev --max-eval "$N" \
  --batch-size 8 --out "$OUT/predictions.jsonl"
$PYTHON scripts/gemma_reference.py peft "$OUT/run" "$OUT/prompts.jsonl" "$OUT/predictions.jsonl"
