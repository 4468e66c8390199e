#!/usr/bin/env bash
# Scale-out over a Redis Cluster on loopback: starts MASTERS masters (1 or 3; no
# replicas) in a temporary directory, runs benches/cluster.rs against them, stops them.
#
#   bash benches/cluster.sh                  # MASTERS=3, 10,000 topics, 30,000 events
#   MASTERS=1 bash benches/cluster.sh
#   ARGS="10000 30000 64 3" bash benches/cluster.sh   # topics events publishers instances
#
# Needs redis-server and redis-cli (Debian: apt-get install redis-server redis-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
MASTERS="${MASTERS:-3}"
BASE="${BASE:-7101}"
ARGS="${ARGS:-10000 30000 64 3}"
dir="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

cargo build --release --features redis --bench cluster >&2
nodes=()
for i in $(seq 0 $((MASTERS - 1))); do
  port=$((BASE + i))
  mkdir -p "$dir/$port"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir/$port" --save "" \
    --appendonly no --cluster-enabled yes --cluster-config-file nodes.conf \
    >/dev/null 2>&1 &
  pids+=($!)
  nodes+=("127.0.0.1:$port")
done
for node in "${nodes[@]}"; do
  until redis-cli -p "${node#*:}" ping >/dev/null 2>&1; do sleep 0.05; done
done
if [ "$MASTERS" -ge 3 ]; then
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
else
  redis-cli -p "$BASE" cluster addslotsrange 0 16383 >/dev/null
fi
for node in "${nodes[@]}"; do
  until redis-cli -p "${node#*:}" cluster info | grep -q cluster_state:ok; do sleep 0.1; done
done
urls="$(printf 'redis://%s,' "${nodes[@]}")"
# shellcheck disable=SC2086
REDIS_NODES="${urls%,}" REDIS_CLUSTER=1 cargo bench --features redis --bench cluster -- $ARGS
# Each master's CPU time over the whole run (setup, subscribing, publishing, delivery).
for pid in "${pids[@]}"; do
  awk -v pid="$pid" '{printf "redis_pid=%s cpu_s=%.2f\n", pid, ($14 + $15) / 100}' "/proc/$pid/stat"
done
