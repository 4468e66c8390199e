#!/usr/bin/env bash
# One node, many subscribers: the hub's server (bench_server, tower-sse) with SUBS
# subscribers of one topic, opened by the load client from SOURCES loopback addresses
# (127.0.0.2 onwards). Reports the server's RSS per subscriber, then:
#  - one event at a time, PACE_ONE_US apart (N_ONE events): how long each takes to reach
#    every subscriber (first to last delivery, and publish to last delivery);
#  - RATE events a second for N_RATE events: deliveries per second, and whether any were
#    lost.
# Loopback only; the file-descriptor limit is raised (needs root for more than the hard
# limit). Both programs share this machine's cores: the client's CPU is reported.
#
# IMPLS names the servers measured, in the same run: tower-sse and axum's Sse.
#
#   bash benches/scale.sh                 # SUBS=19000 SOURCES=2 WORKERS=2
set -euo pipefail
cd "$(dirname "$0")/.."
SUBS="${SUBS:-19000}"
SOURCES="${SOURCES:-2}"
IMPLS="${IMPLS:-tower-sse axum}"
WORKERS="${WORKERS:-2}"
N_ONE="${N_ONE:-20}"
PACE_ONE_US="${PACE_ONE_US:-1000000}"
RATE="${RATE:-10}"
N_RATE="${N_RATE:-50}"
ADDR=127.0.0.1:4399
cargo build --release --features hub --example bench_server --example load_client >&2
B=target/release/examples

# Each side holds one descriptor a subscriber: raise the soft limit as far as the hard
# limit lets (raising the hard limit needs CAP_SYS_RESOURCE).
ulimit -Hn $((SUBS + 1000)) 2>/dev/null || true
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((SUBS + 100)) ]; then
  echo "SUBS=$SUBS needs $((SUBS + 100)) open files; this process may have $(ulimit -n)" >&2
  exit 1
fi

start() {
  "$B/bench_server" --impl "$impl" --addr "$ADDR" --workers "$WORKERS" >/dev/null &
  pid=$!
  for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/4399) 2>/dev/null; then return; fi
    sleep 0.05
  done
  echo "bench_server did not start" >&2
  exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; }

for impl in $IMPLS; do
  start
  echo "impl=$impl $("$B/load_client" scale --addr "$ADDR" --subs "$SUBS" --sources "$SOURCES" \
    --n "$N_ONE" --pace-us "$PACE_ONE_US" --size 32 --server-pid "$pid")"
  stop
  start
  echo "impl=$impl $("$B/load_client" scale --addr "$ADDR" --subs "$SUBS" --sources "$SOURCES" \
    --n "$N_RATE" --pace-us $((1000000 / RATE)) --size 32 --server-pid "$pid")"
  stop
done
