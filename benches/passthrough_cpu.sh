#!/usr/bin/env bash
# Server CPU per `GET /plain` request: the bare router against tower-sse (IMPL), both
# servers running side by side and loaded in alternating slices of SLICE requests, ROUNDS
# times (the order alternating each round). Interleaving short slices makes the drift of a
# shared machine hit both alike; CPU is each server's scheduler runtime summed over its
# threads (`se.sum_exec_runtime` in /proc/PID/task/*/sched, nanosecond resolution), not
# the 10 ms ticks of /proc/PID/stat. Both servers are pinned to CPU 0 and the load client
# to CPU 1, so neither server gets a core the other does not.
#
#   bash benches/passthrough_cpu.sh             # ROUNDS=300 SLICE=20000 IMPL=tower-sse by default
#   IMPL=bare bash benches/passthrough_cpu.sh   # the bare router against itself: the null spread
set -euo pipefail
shopt -s inherit_errexit # a failure inside $(...) stops the script too
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-300}"
SLICE="${SLICE:-20000}"
IMPL="${IMPL:-tower-sse}"
(( SLICE % 16 == 0 )) || { echo "SLICE must be a multiple of 16 (the client's connections)" >&2; exit 1; }
ls /proc/$$/task/*/sched >/dev/null 2>&1 ||
  { echo "needs /proc/PID/task/*/sched (a kernel with CONFIG_SCHED_DEBUG)" >&2; exit 1; }
cargo build --release --features hub --example bench_server --example load_client >&2
B=target/release/examples
BARE_ADDR=127.0.0.1:4297
OURS_ADDR=127.0.0.1:4296
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
start() { # impl addr
  taskset -c 0 "$B/bench_server" --impl "$1" --addr "$2" --workers 1 >/dev/null &
  pids+=($!)
  local port="${2##*:}"
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return; fi
    sleep 0.05
  done
  echo "server $1 did not start" >&2; exit 1
}
cpu_ms() { # pid -> milliseconds of CPU over all its threads
  [[ -d /proc/$1 ]] || { echo "server $1 is gone" >&2; exit 1; }
  cat /proc/"$1"/task/*/sched 2>/dev/null | awk '/se.sum_exec_runtime/ {s += $3} END {printf "%.6f", s}'
}
slice() { # pid addr -> CPU ms for SLICE requests
  local before after
  before=$(cpu_ms "$1")
  taskset -c 1 "$B/load_client" plain --requests "$SLICE" --conns 16 --addr "$2" >/dev/null
  after=$(cpu_ms "$1")
  python3 -c "print($after - $before)"
}
start bare "$BARE_ADDR"
bare_pid=${pids[0]}
start "$IMPL" "$OURS_ADDR"
ours_pid=${pids[1]}
# Warm both up (allocator, lazy statics) before counting.
slice "$bare_pid" "$BARE_ADDR" >/dev/null
slice "$ours_pid" "$OURS_ADDR" >/dev/null
results=()
for round in $(seq "$ROUNDS"); do
  if (( round % 2 )); then bare=$(slice "$bare_pid" "$BARE_ADDR"); ours=$(slice "$ours_pid" "$OURS_ADDR")
  else ours=$(slice "$ours_pid" "$OURS_ADDR"); bare=$(slice "$bare_pid" "$BARE_ADDR"); fi
  results+=("$ours:$bare")
  python3 -c "print(f'mode=plain_round round=$round impl=$IMPL us_per_request={$ours * 1e3 / $SLICE:.3f} bare_us_per_request={$bare * 1e3 / $SLICE:.3f} ratio={$ours / $bare:.3f}')"
done
python3 - "$IMPL" "${results[@]}" <<'EOF'
import random, statistics, sys
impl, pairs = sys.argv[1], [tuple(map(float, p.split(":"))) for p in sys.argv[2:]]
ratios = sorted(o / b for o, b in pairs)
def total(sample):
    return sum(o for o, _ in sample) / sum(b for _, b in sample)
# A 95% interval for the ratio of totals: the rounds resampled with replacement.
rng = random.Random(1)
boot = sorted(total(rng.choices(pairs, k=len(pairs))) for _ in range(10000))
print(f"impl={impl} rounds={len(ratios)} median_ratio={statistics.median(ratios):.3f} "
      f"min={ratios[0]:.3f} max={ratios[-1]:.3f} total_ratio={total(pairs):.3f} "
      f"total_ratio_95={boot[250]:.3f}..{boot[9749]:.3f}")
EOF
