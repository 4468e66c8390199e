#!/usr/bin/env bash
# Fan-out measured the websocket-shootout way: the largest number of subscribers for
# which 95% of broadcasts reach every subscriber within 500 ms, with 4 broadcasts in
# flight. Three configurations, interleaved at each step, each against a fresh server:
# the axum peer (`Sse` + `tokio::sync::broadcast`), tower-sse with the write window off,
# and tower-sse with a 5 ms window. Prints one line per (configuration, subscribers)
# and appends it to OUT, then a summary: per configuration the largest step held (that
# step and every one below it), run by run, and its ratio to axum's in the same run.
#
#   bash benches/shootout.sh                          # the steps below, RUNS=1
#   RUNS=3 STEPS="1000 2000 4000 8000 10000 12000 14000 16000 18000 19000" bash benches/shootout.sh
#   STEPS="1000 4000 16000" N=50 bash benches/shootout.sh
#
# Read from the environment: STEPS, RUNS, N (broadcasts per step), INFLIGHT, SIZE,
# LIMIT_MS, WINDOW_MS (the "on" window), WORKERS (server threads, 1 as compare.sh),
# OUT (raw output file), BUILD=0 with B (binaries built beforehand).
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${STEPS:-1000 2000 4000 8000 12000 16000 19000}"
RUNS="${RUNS:-1}"
N="${N:-100}"
INFLIGHT="${INFLIGHT:-4}"
SIZE="${SIZE:-64}"
LIMIT_MS="${LIMIT_MS:-500}"
WINDOW_MS="${WINDOW_MS:-5}"
WORKERS="${WORKERS:-1}"
OUT="${OUT:-benches/results/shootout-$(date -u +%F).txt}"
if [ "${BUILD:-1}" != 0 ]; then
  cargo build --release --features hub --example bench_server --example load_client >&2
fi
B="${B:-target/release/examples}"
ADDR=127.0.0.1:4299
mkdir -p "$(dirname "$OUT")"
run_lines="$(mktemp)"

# Server and client each hold one descriptor per subscriber: raise the limit as far as
# allowed, and skip the steps above it.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fds="$(ulimit -n)"

start() { # bench_server arguments
  "$B/bench_server" --addr "$ADDR" --workers "$WORKERS" "$@" >/dev/null &
  pid=$!
  for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/4299) 2>/dev/null; then return; fi
    sleep 0.05
  done
  echo "bench_server did not start" >&2
  exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; }
measure() { # label, subscribers, then bench_server arguments
  local label="$1" subs="$2"; shift 2
  start "$@"
  local line
  # Subscribers from 8 loopback source addresses: ports of one address's range are not
  # all free when many connections of the step before are still in TIME_WAIT.
  line="$(timeout 600 "$B/load_client" shootout --subs "$subs" --sources 8 --n "$N" \
    --size "$SIZE" --inflight "$INFLIGHT" --limit-ms "$LIMIT_MS" --addr "$ADDR" \
    --server-pid "$pid" || echo "mode=shootout subs=$subs failed=1 pass=0")"
  echo "config=$label run=$run load=$(cut -d' ' -f1 /proc/loadavg) $line" |
    tee -a "$OUT" "$run_lines"
  stop
}

echo "# $(date -u +%FT%TZ) STEPS=\"$STEPS\" RUNS=$RUNS N=$N INFLIGHT=$INFLIGHT SIZE=$SIZE LIMIT_MS=$LIMIT_MS WINDOW_MS=$WINDOW_MS WORKERS=$WORKERS open-files=$fds loadavg=\"$(cat /proc/loadavg)\"" |
  tee -a "$OUT"
for run in $(seq "$RUNS"); do
  for subs in $STEPS; do
    if [ $((subs + 64)) -gt "$fds" ]; then
      echo "# skipped subs=$subs: open files limited to $fds" | tee -a "$OUT"
      continue
    fi
    measure axum "$subs" --impl axum
    measure window_off "$subs" --impl tower-sse
    measure "window_${WINDOW_MS}ms" "$subs" --impl tower-sse --write-window-ms "$WINDOW_MS"
  done
done
echo "# done $(date -u +%FT%TZ) loadavg=\"$(cat /proc/loadavg)\"" | tee -a "$OUT"
# The summary of this run (benches/shootout_summary.py takes a whole results file too).
python3 benches/shootout_summary.py "$run_lines"
rm -f "$run_lines"
