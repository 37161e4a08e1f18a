#!/usr/bin/env bash
# On a GPU machine (no Rust there): the parity test, a short training run, the benchmark, and
# (when ../shared is there, or IE_BENCH_SHARED says where) a flan-t5-small-shaped model trained
# from scratch on CoNLL 2003, with the binaries from scripts/build-cuda.sh in target/cuda-bin/.
# CONLL_STEPS (default 3000) and CONLL_BATCH (32) size that run.
set -euo pipefail
cd "$(dirname "$0")/.."
LIBDIR=$(python3 -c 'import nvidia, os; print(os.path.join(os.path.dirname(nvidia.__file__), "cu13", "lib"))' 2>/dev/null || true)
export LD_LIBRARY_PATH="${LIBDIR}:${LD_LIBRARY_PATH:-}"
mkdir -p /tmp/gpu && cd /tmp/gpu
xz -dc "$OLDPWD/target/cuda-bin/ie-bench.xz" > ie-bench && chmod +x ie-bench
xz -dc "$OLDPWD/target/cuda-bin/model_parity.xz" > model_parity && chmod +x model_parity
nvidia-smi --query-gpu=name,driver_version --format=csv
echo "== parity (CUDA, f32)"; IE_BENCH_FIXTURES="$OLDPWD/tests/fixtures" IE_BENCH_TEST_DEVICE=cuda ./model_parity
echo "== short training run"
./ie-bench model init --shape tiny --out tiny --data "$OLDPWD/sample-data/IE_INSTRUCTIONS"
./ie-bench train --device cuda --model tiny --out trained --data "$OLDPWD/sample-data/IE_INSTRUCTIONS" \
  --lr 3e-3 --schedule linear --warmup-steps 20 --batch-size 16 --max-steps 400
./ie-bench predict --device cuda --model trained --split train --data "$OLDPWD/sample-data/IE_INSTRUCTIONS" --out pred.jsonl
./ie-bench eval pred.jsonl --mode strict
echo "== benchmark"
for s in t5-small flan-t5-small; do ./ie-bench bench --device cuda --shape $s; done
SHARED=${IE_BENCH_SHARED:-$OLDPWD/../shared}
if [ -d "$SHARED/data/primary" ]; then
  echo "== CoNLL 2003 from scratch"
  cd "$OLDPWD"
  IE_BENCH_SHARED="$SHARED" BIN=/tmp/gpu/ie-bench DEVICE=cuda BATCH="${CONLL_BATCH:-32}" \
    scripts/conll-from-scratch.sh /tmp/gpu/conll "${CONLL_STEPS:-3000}" 1000
fi
