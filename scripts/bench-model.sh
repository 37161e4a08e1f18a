#!/usr/bin/env bash
# ie-bench vs PyTorch + transformers on the same CPU, same shapes and work, one after the other
# in one run. Needs a Python with torch and transformers: PYTHON=/path/to/python (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
cargo build --release -q
for shape in ${SHAPES:-t5-small flan-t5-small}; do
  ours=$(./target/release/ie-bench bench --shape "$shape" --format json)
  ref=$("$PY" scripts/bench_reference.py --shape "$shape")
  "$PY" - "$shape" "$ours" "$ref" <<'PY'
import json, sys
shape, ours, ref = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(f"{shape} (torch {ref['torch']}, {ref['threads']} threads)")
for k, name in [("train_tok_s", "training tok/s (8x128+32)"), ("gen_tok_s_b1", "generation new tok/s, batch 1"), ("gen_tok_s_b8", "generation new tok/s, batch 8")]:
    print(f"  {name:32} ie-bench {ours[k]:8.1f}   pytorch {ref[k]:8.1f}   ratio {ours[k] / ref[k]:.2f}x")
PY
done
