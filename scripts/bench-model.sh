#!/usr/bin/env bash
# ie-bench vs PyTorch + transformers on the same CPU, same shapes and work, taking turns in one
# run: ROUNDS rounds (default 3), each running ie-bench then PyTorch per shape, and the median of
# each side with their ratio. Taking turns spreads the machine's noise over both sides.
# Needs a Python with torch and transformers: PYTHON=/path/to/python (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
ROUNDS=${ROUNDS:-3}
cargo build --release -q
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for round in $(seq "$ROUNDS"); do
  for shape in ${SHAPES:-t5-small flan-t5-small}; do
    echo "round $round, $shape" >&2
    echo "$shape ours $(./target/release/ie-bench bench --shape "$shape" --format json)" >> "$results"
    echo "$shape ref $("$PY" scripts/bench_reference.py --shape "$shape")" >> "$results"
  done
done
"$PY" - "$results" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    shape, side, data = line.split(" ", 2)
    rows.setdefault(shape, {}).setdefault(side, []).append(json.loads(data))
for shape, sides in rows.items():
    ref = sides["ref"][0]
    print(f"{shape} (torch {ref['torch']}, {ref['threads']} threads; median of {len(sides['ours'])} rounds)")
    for k, name in [("train_tok_s", "training tok/s (8x128+32)"), ("gen_tok_s_b1", "generation new tok/s, batch 1"), ("gen_tok_s_b8", "generation new tok/s, batch 8")]:
        ours = statistics.median(r[k] for r in sides["ours"])
        theirs = statistics.median(r[k] for r in sides["ref"])
        spread = lambda side: f"{min(r[k] for r in sides[side]):.0f}-{max(r[k] for r in sides[side]):.0f}"
        print(f"  {name:32} ie-bench {ours:8.1f} ({spread('ours')})   pytorch {theirs:8.1f} ({spread('ref')})   ratio {ours / theirs:.2f}x")
PY
