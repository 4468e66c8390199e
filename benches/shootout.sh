#!/usr/bin/env bash
# Fan-out measured the websocket-shootout way: the largest number of subscribers for
# which 95% of broadcasts reach every subscriber within 500 ms, with 4 broadcasts in
# flight. Three configurations, interleaved at each step, each against a fresh server:
# the axum peer (`Sse` + `tokio::sync::broadcast`), tower-sse with the write window off,
# and tower-sse with a 5 ms window. Prints one line per (configuration, subscribers),
# then per configuration the largest step held (that step and every one below it).
#
#   bash benches/shootout.sh                          # the steps below, RUNS=1
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
python3 - "$run_lines" <<'PY'
# Per configuration and step: the share within the limit and time-to-all's p95 (medians
# over the runs) and p95's ratio to axum's at the same step; then the largest step held
# (that step and every one below it at 95% or more).
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = dict(re.findall(r"(\w+)=(\S+)", line))
    share = float(f.get("within_limit_pct", 0))
    p95 = float(f.get("to_all_p95_ms", "inf"))
    rows.setdefault(f["config"], {}).setdefault(int(f["subs"]), []).append((share, p95))
axum = {subs: statistics.median(v[1] for v in values)
        for subs, values in rows.get("axum", {}).items()}
print(f"{'config':<13} {'subs':>6} {'within %':>9} {'p95 ms':>9} {'p95/axum':>9}")
held = {}
for config, steps in rows.items():
    held[config] = 0
    failed = False
    for subs in sorted(steps):
        share = statistics.median(v[0] for v in steps[subs])
        p95 = statistics.median(v[1] for v in steps[subs])
        failed = failed or share < 95
        if not failed:
            held[config] = subs
        ratio = p95 / axum[subs] if axum.get(subs) else float("nan")
        print(f"{config:<13} {subs:>6} {share:>9.1f} {p95:>9.1f} {ratio:>9.2f}")
for config, subs in held.items():
    ratio = subs / held["axum"] if held.get("axum") else float("nan")
    print(f"held: {config:<13} {subs:>6} subscribers ({ratio:.2f}x axum)")
PY
rm -f "$run_lines"
