#!/usr/bin/env bash
# A flan-t5-small-shaped model trained from scratch (no pretrained weights exist here) on the
# primary CoNLL 2003 data for a bounded number of steps; dev F1 at every checkpoint (the learning
# curve), then test F1. The defaults are the README's run: 3,000 steps at batch 8, about 45 minutes on 2 cores.
# Usage: scripts/conll-from-scratch.sh OUT_DIR [STEPS] [SAVE_EVERY]
# Environment: INIT_FLAGS (`model init` flags, default --head-from-shared
# --copy-cross-attention), LR (3e-4, linear decay after WARMUP 100 steps), BATCH (8), DEVICE
# (cpu; cuda on a GPU machine), BIN (an ie-bench binary to use instead of building one),
# IE_BENCH_SHARED (../shared).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?output directory}; STEPS=${2:-3000}; EVERY=${3:-500}
SHARED=${IE_BENCH_SHARED:-../shared}
DATA="$SHARED/data/primary/IE_INSTRUCTIONS"
DEVICE=${DEVICE:-cpu}
if [ -z "${BIN:-}" ]; then
  BIN=./target/release/ie-bench
  cargo build --release -q
fi
mkdir -p "$OUT/config"
for split in train dev test; do
  echo '{"NER": [{"sampling strategy": "random", "dataset name": "CoNLL 2003"}]}' > "$OUT/config/${split}_tasks.json"
done
$BIN model init --shape flan-t5-small --tokenizer "$SHARED/models/t5-tokenizer/tokenizer.json" ${INIT_FLAGS:---head-from-shared --copy-cross-attention} --out "$OUT/init"
$BIN train --model "$OUT/init" --data "$DATA" --config "$OUT/config" --out "$OUT/run" \
  --lr "${LR:-3e-4}" --schedule linear --warmup-steps "${WARMUP:-100}" --batch-size "${BATCH:-8}" --max-steps "$STEPS" --save-every "$EVERY" --keep-checkpoints 0 \
  --max-source-length 256 --max-target-length 50 --device "$DEVICE"
for ck in "$OUT"/run/checkpoint-*; do
  $BIN predict --device "$DEVICE" --model "$ck" --data "$DATA" --config "$OUT/config" --split dev --max-eval 200 --out "$ck/dev.jsonl"
  for mode in strict compat; do
    $BIN eval "$ck/dev.jsonl" --format json --mode $mode > "$ck/dev-$mode.json"
    python3 - "$ck" $mode <<'PY'
import json, os, sys
d = json.load(open(os.path.join(sys.argv[1], f"dev-{sys.argv[2]}.json")))["tasks"]["NER"]["datasets"]["CoNLL 2003"]
print(f"{os.path.basename(sys.argv[1])} dev F1 ({sys.argv[2]}) {d['score']:.4f} (tp {d['tp']}, fp {d['fp']}, fn {d['fn']})")
PY
  done
done
$BIN predict --device "$DEVICE" --model "$OUT/run" --data "$DATA" --config "$OUT/config" --split test --out "$OUT/test.jsonl"
$BIN eval "$OUT/test.jsonl" --paper supervised
$BIN eval "$OUT/test.jsonl" --mode strict --errors
