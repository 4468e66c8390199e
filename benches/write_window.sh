#!/usr/bin/env bash
# Paced fan-out with the write window off and on, against the axum peer in the same run:
# SUBS subscribers, one 64-byte event every PACE_US µs (N events), each configuration
# against a fresh server, RUNS times, interleaved. Prints every raw line, then medians
# of p99 latency and server CPU per delivery, with ratios to axum's, and deliveries
# per server write syscall (from /proc/PID/io).
#
#   bash benches/write_window.sh                 # SUBS=1000 PACE_US=1000 N=2000 RUNS=3
#   WINDOWS="0 1 2 5" bash benches/write_window.sh
#   SUBS=10000 PACE_US=10000 N=300 bash benches/write_window.sh
#
# The server gets WORKERS tokio worker threads (1 by default, as compare.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
WORKERS="${WORKERS:-1}"
SUBS="${SUBS:-1000}"
PACE_US="${PACE_US:-1000}"
N="${N:-2000}"
WINDOWS="${WINDOWS:-0 1 2 5}"
# BUILD=0 uses binaries built beforehand (in B).
if [ "${BUILD:-1}" != 0 ]; then
  cargo build --release --features hub --example bench_server --example load_client >&2
fi
B="${B:-target/release/examples}"
ADDR=127.0.0.1:4298
out="$(mktemp)"

start() { # impl, then bench_server arguments
  "$B/bench_server" --impl "$1" --addr "$ADDR" --workers "$WORKERS" "${@:2}" >/dev/null &
  pid=$!
  for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/4298) 2>/dev/null; then return; fi
    sleep 0.05
  done
  echo "bench_server did not start" >&2
  exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; }
measure() { # label, then bench_server arguments
  local label="$1"; shift
  start "$@"
  local line
  line="$("$B/load_client" fanout --subs "$SUBS" --n "$N" --size 64 \
    --pace-us "$PACE_US" --addr "$ADDR" --server-pid "$pid")"
  # The server's write syscalls over its life (answers to connects and publishes too).
  echo "config=$label run=$run $line server_writes=$(awk '/^syscw/ {print $2}' "/proc/$pid/io")" |
    tee -a "$out"
  stop
}

ulimit -n 65536 2>/dev/null || true
for run in $(seq "$RUNS"); do
  measure axum axum
  for ms in $WINDOWS; do
    measure "window_${ms}ms" tower-sse --write-window-ms "$ms"
  done
done
python3 - "$out" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = dict(re.findall(r"(\w+)=(\S+)", line))
    if "p99_ms" not in f:
        continue
    cpu_us = float(f["server_cpu_s"]) * 1e6 / max(int(f["delivered"]), 1)
    per_write = int(f["delivered"]) / max(int(f["server_writes"]), 1)
    rows.setdefault(f["config"], []).append(
        (int(f["run"]), float(f["p99_ms"]), cpu_us, int(f["lost"]), per_write))
axum = {run: (p99, cpu) for run, p99, cpu, *_ in rows.get("axum", [])}
print(f"{'config':<12} {'p99 ms':>10} {'ratio':>6} {'CPU µs/delivery':>16} {'ratio':>6} {'deliveries/write':>17} lost")
for config, values in rows.items():
    p99 = statistics.median(v[1] for v in values)
    cpu = statistics.median(v[2] for v in values)
    # Ratios run by run against the axum server of the same run, then their median.
    rp = statistics.median(v[1] / axum[v[0]][0] for v in values if v[0] in axum)
    rc = statistics.median(v[2] / axum[v[0]][1] for v in values if v[0] in axum)
    lost = sum(v[3] for v in values)
    per_write = statistics.median(v[4] for v in values)
    print(f"{config:<12} {p99:>10.2f} {rp:>6.2f} {cpu:>16.3f} {rc:>6.2f} {per_write:>17.1f} {lost}")
PY
