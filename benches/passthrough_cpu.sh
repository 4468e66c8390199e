#!/usr/bin/env bash
# Server CPU per `GET /plain` request, the bare router against tower-sse, in PAIRS
# back-to-back runs (the order alternating), each against a fresh server: the median of
# the per-pair ratios cancels most of the drift a shared machine adds between runs.
#
#   bash benches/passthrough_cpu.sh       # PAIRS=10 IMPL=tower-sse by default
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS="${PAIRS:-10}"
IMPL="${IMPL:-tower-sse}"
cargo build --release --example bench_server --example load_client >&2
B=target/release/examples
ADDR=127.0.0.1:4297
cpu_us() { # impl -> server CPU µs per request
  "$B/bench_server" --impl "$1" --addr "$ADDR" --workers 1 >/dev/null &
  local pid=$!
  for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/4297) 2>/dev/null; then break; fi
    sleep 0.05
  done
  "$B/load_client" plain --requests 300000 --conns 16 --addr "$ADDR" --server-pid "$pid" |
    tr ' ' '\n' | sed -n 's/^server_cpu_us_per_request=//p'
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
ratios=()
for pair in $(seq "$PAIRS"); do
  if (( pair % 2 )); then bare=$(cpu_us bare); ours=$(cpu_us "$IMPL")
  else ours=$(cpu_us "$IMPL"); bare=$(cpu_us bare); fi
  ratio=$(python3 -c "print(f'{$ours / $bare:.3f}')")
  ratios+=("$ratio")
  echo "mode=plain_pair pair=$pair impl=$IMPL us_per_request=$ours bare_us_per_request=$bare ratio=$ratio"
done
python3 -c "import statistics,sys; r=sorted(map(float,sys.argv[1:])); print(f'impl=$IMPL pairs={len(r)} median_ratio={statistics.median(r):.3f} min={r[0]:.3f} max={r[-1]:.3f}')" "${ratios[@]}"
