#!/usr/bin/env bash
# Runs every fuzz target for RUNS executions (default 10 million), one after another,
# on this stable toolchain (RUSTC_BOOTSTRAP=1 lets cargo-fuzz use the flags it needs).
# New inputs go to fuzz/work/<target>; the committed seeds stay in fuzz/corpus/<target>.
# Needs `cargo install cargo-fuzz`.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-10000000}"
for target in ${TARGETS:-event_encoder accept last_event_id hub_replay}; do
  mkdir -p "fuzz/work/$target"
  echo "== $target: $runs runs"
  RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$target" "fuzz/work/$target" "fuzz/corpus/$target" -- \
    -runs="$runs" -print_final_stats=1 2>&1 | grep -E "^Done|stat::number_of_executed_units|stat::peak_rss_mb|panicked|deadly|SUMMARY|crash-"
done
