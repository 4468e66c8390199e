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
# shellcheck source=benches/support/redis_cluster.sh
source benches/support/redis_cluster.sh
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
start_redis_cluster "$dir" "$BASE" "$MASTERS" pids
# shellcheck disable=SC2086
REDIS_NODES="$cluster_urls" REDIS_CLUSTER=1 cargo bench --features redis --bench cluster -- $ARGS
# Each master's CPU time over the whole run (setup, subscribing, publishing, delivery).
for pid in "${pids[@]}"; do
  awk -v pid="$pid" '{printf "redis_pid=%s cpu_s=%.2f\n", pid, ($14 + $15) / 100}' "/proc/$pid/stat"
done
