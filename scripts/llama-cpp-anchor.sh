#!/usr/bin/env bash
# llama.cpp's generation speed on the Gemma 3 270M GGUF, as a second anchor beside
# transformers `generate` (issue 15): its own Q4_K_M weights, the same weights dequantized
# to f32 (what ie-bench runs) and requantized to Q8_0 (the layout `--decode-weights q8`
# decodes with), at batch 1 (llama-bench, llama-batched-bench) and batch 8
# (llama-batched-bench), on 80-token prompts and 32 new tokens, with the machine's threads.
# Usage: scripts/llama-cpp-anchor.sh WORK_DIR
# llama.cpp is built from the llama-cpp-python 0.3.36 sdist (scripts/llama-cpp-source.sh),
# with cmake from pip. Environment: PYTHON (python3), THREADS
# (nproc), BIN (an ie-bench binary; default: a release build), IE_BENCH_GEMMA (the GGUF;
# default: the one `ie-bench model fetch gemma-3-270m` installs, fetched if absent).
# The build targets AVX2, plus AVX-512 where the CPU has it, without -march=native: a native
# build (AMX and every AVX-512 extension the CPU reports) died here with "Illegal instruction".
set -euo pipefail
WORK=${1:?work directory}
PY=${PYTHON:-python3}
THREADS=${THREADS:-$(nproc)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
cd "$(dirname "$0")/.."
if [ -z "${IE_BENCH_GEMMA:-}" ]; then
  if [ -z "${BIN:-}" ]; then
    BIN=./target/release/ie-bench
    cargo build --release -q
  fi
  IE_BENCH_GEMMA=$($BIN model fetch gemma-3-270m)
fi
GGUF=$IE_BENCH_GEMMA
if [ ! -x "$WORK/venv/bin/cmake" ]; then
  "$PY" -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install -q cmake
fi
SRC=$(scripts/llama-cpp-source.sh "$WORK")
BUILD="$SRC/build"
AVX512=OFF
grep -qw avx512f /proc/cpuinfo && AVX512=ON
if [ ! -x "$BUILD/bin/llama-batched-bench" ]; then
  "$WORK/venv/bin/cmake" -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON \
    -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=$AVX512 \
    -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF >"$WORK/cmake.log" 2>&1
  "$WORK/venv/bin/cmake" --build "$BUILD" -j "$THREADS" \
    --target llama-bench llama-batched-bench llama-quantize >"$WORK/build.log" 2>&1
fi
LLAMA_BIN="$BUILD/bin"
export LD_LIBRARY_PATH="$LLAMA_BIN${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
F32="$WORK/gemma-3-270m-f32.gguf"
[ -f "$F32" ] || "$LLAMA_BIN/llama-quantize" --allow-requantize "$GGUF" "$F32" F32 >"$WORK/quantize.log" 2>&1
Q8="$WORK/gemma-3-270m-q8_0.gguf"
[ -f "$Q8" ] || "$LLAMA_BIN/llama-quantize" --allow-requantize "$GGUF" "$Q8" Q8_0 >>"$WORK/quantize.log" 2>&1
# Their progress goes to bench.log, which says why when one fails.
"$LLAMA_BIN/llama-bench" -m "$GGUF" -m "$F32" -m "$Q8" -t "$THREADS" -p 80 -n 32 -r 3 2>"$WORK/bench.log"
for m in "$GGUF" "$F32" "$Q8"; do
  echo "llama-batched-bench $(basename "$m") (T s: prompt 80 tokens + 32 new, end to end):"
  "$LLAMA_BIN/llama-batched-bench" -m "$m" -c 4096 -b 2048 -ub 512 -npp 80 -ntg 32 -npl 1,8 \
    -t "$THREADS" 2>>"$WORK/bench.log" | grep '^|'
done
