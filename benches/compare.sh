#!/usr/bin/env bash
# The whole comparison of tower-sse with axum's Sse (and the floor for idle memory), RUNS
# times, each measurement against a fresh server, on 127.0.0.1 only; then the
# pass-through against the bare router: instructions under callgrind, and CPU with each
# layered server beside a bare one, interleaved (benches/passthrough_cpu.sh).
# Prints every raw line, then a table of medians (min-max) and ratios.
#
#   bash benches/compare.sh            # RUNS=3 WORKERS=1 by default
#
# The server gets WORKERS tokio worker threads; the load client runs on one thread.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
WORKERS="${WORKERS:-1}"
cargo build --release --features hub --example bench_server --example load_client >&2
B=target/release/examples
ADDR=127.0.0.1:4299
out="$(mktemp)"

start() {
  "$B/bench_server" --impl "$1" --addr "$ADDR" --workers "$WORKERS" >/dev/null &
  pid=$!
  for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/4299) 2>/dev/null; then return; fi
    sleep 0.05
  done
  echo "bench_server did not start" >&2
  exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; }
measure() { # impl, then load_client arguments
  local impl="$1"; shift
  start "$impl"
  echo "impl=$impl run=$run $("$B/load_client" "$@" --addr "$ADDR" --server-pid "$pid")" | tee -a "$out"
  stop
}

ulimit -n 65536 2>/dev/null || true
for run in $(seq "$RUNS"); do
  for impl in tower-sse axum; do
    for size in 32 1024; do
      # About half a second of streaming either way: 5M small events, 1M large ones.
      total=$(( size == 32 ? 5000000 : 1000000 ))
      for conns in 1 32; do
        measure "$impl" stream --conns "$conns" --n $((total / conns)) --size "$size"
      done
    done
    for subs in 1000 10000; do
      measure "$impl" fanout --subs "$subs" --n 100 --size 64 --pace-us 0
      measure "$impl" fanout --subs "$subs" --n 100 --size 64 --pace-us 2000
    done
    measure "$impl" idle --conns 10000
  done
  for impl in tower-sse-layered floor; do
    measure "$impl" idle --conns 10000
  done
  for size in 32 1024; do
    n=$(( size == 32 ? 10000000 : 2000000 ))
    echo "impl=raw run=$run $("$B/load_client" ceiling --conns 1 --n "$n" --size "$size")" | tee -a "$out"
  done
done
# Instructions per pass-through request: deterministic, so measured once.
bash benches/passthrough_instructions.sh | sed 's/^/mode=instructions /' | tee -a "$out"
# Pass-through CPU: each layer against the bare router running beside it, interleaved
# (`bare` against itself first: the spread of the method).
for impl in bare tower-sse tower-sse-layered limit-layered; do
  IMPL="$impl" bash benches/passthrough_cpu.sh | tail -n 1 | sed 's/^/mode=plain_ab /' | tee -a "$out"
done
python3 benches/summarize.py "$out"
