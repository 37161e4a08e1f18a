#!/usr/bin/env bash
# Builds the CUDA binary (and the parity test binary) on a machine without a GPU, from PyPI
# toolkit wheels, as ../shared/GPU.md describes. Output: target/cuda-bin/{ie-bench,model_parity}.xz
set -euo pipefail
cd "$(dirname "$0")/.."
TK=${CUDA_WHEELS:-$HOME/.cache/ie-bench/cuda13}
if [ ! -x "$TK/nvidia/cu13/bin/nvcc" ]; then
  pip install --no-deps --target "$TK" nvidia-cuda-nvcc==13.0.88 nvidia-cuda-runtime==13.0.96 \
    nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-cccl==13.0.85 nvidia-cuda-nvrtc==13.0.88 \
    nvidia-curand==10.4.0.35 "nvidia-cublas<13.1"
fi
CU="$TK/nvidia/cu13"
export PATH="$CU/bin:$PATH" CUDA_COMPUTE_CAP=90 CUDA_HOME="$CU" CUDA_ROOT="$CU" CUDA_PATH="$CU" CUDAFORGE_THREADS=2
# Unversioned names for the linker, and a link-time stub for the driver API (no driver here).
LIB="$CU/lib"
for l in cublas cublasLt cudart nvrtc curand; do
  v=$(ls "$LIB"/lib$l.so.* 2>/dev/null | head -1); [ -n "$v" ] && ln -sf "$(basename "$v")" "$LIB/lib$l.so"
done
# Every driver-API name cuda.h declares (plain and _v2 forms), so the stub covers whatever
# cudarc links against; the real libcuda.so.1 of the GPU machine's driver replaces it at run time.
if [ ! -f "$LIB/libcuda.so" ] || [ "${REBUILD_STUB:-}" = 1 ]; then
  grep -ohE '\bcu[A-Z][A-Za-z0-9_]*' "$CU/include/cuda.h" | sort -u \
    | awk '{print "void " $1 "(void){}"}' > /tmp/cuda_stub.c
  gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$LIB/libcuda.so" /tmp/cuda_stub.c
fi
export LIBRARY_PATH="$LIB:${LIBRARY_PATH:-}" LD_LIBRARY_PATH="$LIB:${LD_LIBRARY_PATH:-}"
# A target directory of its own, so the CPU build in target/release stays as it is.
TD=target/cuda-build
cargo build --release --features cuda --target-dir $TD
cargo test --release --features cuda --target-dir $TD --test model_parity --no-run 2>&1 | tee /tmp/cuda-test-build.log
mkdir -p target/cuda-bin
xz -T2 -c $TD/release/ie-bench > target/cuda-bin/ie-bench.xz
test_bin=$(ls -t $TD/release/deps/model_parity-* | grep -v '\.d$' | head -1)
xz -T2 -c "$test_bin" > target/cuda-bin/model_parity.xz
ls -la target/cuda-bin
