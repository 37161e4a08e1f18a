#!/usr/bin/env bash
# Scoring the release's test splits: `ie-bench eval` against the official calculate_f1.py on
# the same file, with the per-dataset scores compared.
#
#   OFFICIAL=DIR PYTHON=PY scripts/bench-eval-official.sh [DATA] [PER_DATASET]
#
# DATA: the release tree (default ../shared/data/IE_INSTRUCTIONS); PER_DATASET: instances kept
# per dataset (default 2500). OFFICIAL: the `src/` directory of a checkout of the official
# InstructUIE code (calculate_f1.py and evaluation/), run with PYTHON (it needs numpy and
# matplotlib); without OFFICIAL only ie-bench is timed.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data/IE_INSTRUCTIONS}"
per="${2:-2500}"
cargo build --release -q
bin="$PWD/target/release/ie-bench"
dir="$PWD/target/bench/official"
mkdir -p "$dir"
file="$dir/predict_eval_predictions.jsonl"
python3 scripts/make-eval-bench.py "$data" "$file" "$bin" "$per"
echo "file: $(wc -l <"$file") lines, $(du -m "$file" | cut -f1) MB"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ours=$(for _ in 1 2 3 4 5; do
  /usr/bin/time -f %e "$bin" eval --mode compat --format json "$file" 2>&1 >"$dir/ours.json" | tail -n 1
done | median)
echo "ie-bench eval --mode compat --format json: ${ours}s (median of 5)"
[ -n "${OFFICIAL:-}" ] || exit 0
ref=$(for _ in 1 2 3; do
  (cd "$OFFICIAL" && RANDOM_RECORD=0 EXPORT_IMG=0 /usr/bin/time -f %e "${PYTHON:-python3}" \
    -c "from calculate_f1 import calculate_f1; calculate_f1('$dir')" 2>&1 >/dev/null | tail -n 1)
done | median)
echo "official calculate_f1.py: ${ref}s (median of 3)"
python3 - "$dir" "$ours" "$ref" <<'PY'
import glob, json, os, sys
d, ours_s, ref_s = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
ours = json.load(open(os.path.join(d, "ours.json")))["tasks"]
worst, n = 0.0, 0
for tsv in glob.glob(os.path.join(d, "report", "report_*.tsv")):
    task = os.path.basename(tsv)[len("report_"):-len(".tsv")]
    for line in open(tsv):
        name, score = line.rstrip("\n").split("\t")
        mine = ours[task]["average"] if name == "Average" else ours[task]["datasets"][name]["score"]
        worst, n = max(worst, abs(mine - float(score))), n + 1
print(f"scores: {n} rows compared, largest difference {worst:.3g}")
print(f"ratio: {ref_s / ours_s:.1f}x")
assert worst < 1e-9
PY
