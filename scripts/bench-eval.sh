#!/usr/bin/env bash
# Scoring 100,000 predictions: ie-bench vs an independent Python implementation of the same
# rules, on the same file; checks the per-dataset scores agree and prints both timings.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench eval_100k
file=target/bench/eval_100k.jsonl
bin=target/release/ie-bench
cargo build --release -q
ours=$( { /usr/bin/time -f "%e" "$bin" eval --format json "$file" > target/bench/ours.json; } 2>&1 | tail -1 )
ref=$( { /usr/bin/time -f "%e" python3 scripts/eval_reference.py "$file" > target/bench/ref.json; } 2>&1 | tail -1 )
python3 - <<'PY'
import json
ours = json.load(open("target/bench/ours.json"))["tasks"]
ref = json.load(open("target/bench/ref.json"))
worst = max(abs(ours[t]["datasets"][d]["score"] - s) for t in ref for d, s in ref[t].items())
n = sum(len(v) for v in ref.values())
print(f"scores: {n} datasets compared, largest difference {worst:.3g}")
assert worst < 1e-9
PY
echo "wall time (whole process): ie-bench ${ours}s, python reference ${ref}s"
