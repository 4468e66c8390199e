#!/usr/bin/env bash
# Publish-to-receive latency between two instances on every engine, in one run:
# in-process, Redis, a three-master Redis Cluster (started here on loopback) and NATS
# JetStream (benches/nats_latency.rs starts its own nats-server and redis-server).
#
#   bash benches/engine_latency.sh
#
# Needs nats-server, redis-server and redis-cli (Debian: apt-get install nats-server
# redis-server redis-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE="${BASE:-7201}"
dir="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

cargo build --release --features nats,redis --bench nats_latency >&2
nodes=()
for i in 0 1 2; do
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
redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
for node in "${nodes[@]}"; do
  until redis-cli -p "${node#*:}" cluster info | grep -q cluster_state:ok; do sleep 0.1; done
done
urls="$(printf 'redis://%s,' "${nodes[@]}")"
REDIS_CLUSTER_NODES="${urls%,}" cargo bench --features nats,redis --bench nats_latency
