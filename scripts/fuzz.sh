#!/usr/bin/env bash
# Fuzzes every parser target for SECONDS each (default 60): `scripts/fuzz.sh [SECONDS] [TARGET...]`.
#
# Starts from the committed seeds (fuzz/seeds/TARGET, made by scripts/make-fuzz-seeds.py) and
# the corpus grown by earlier runs (fuzz/corpus/TARGET, not committed). Needs the nightly
# toolchain and cargo-fuzz (installed here if missing). A crash or a failed assertion stops
# with its input in fuzz/artifacts/TARGET/, and this script exits non-zero; turn the input
# into a unit test. For a long run: `scripts/fuzz.sh 3600`.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(dataset predictions extract config_toml model_dir store_records)
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
cargo +nightly fuzz build -O
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  log="fuzz/corpus/$t.log"
  if ! cargo +nightly fuzz run -O "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
      -max_total_time="$secs" -max_len=65536 -rss_limit_mb=4096 -timeout=10 \
      -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz: $t FAILED; its input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  runs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
  echo "fuzz: $t: ${runs:-?} executions in ${secs}s, no crash"
done
