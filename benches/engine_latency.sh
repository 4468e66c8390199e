#!/usr/bin/env bash
# Publish-to-receive latency between two instances, and publishes/s, on every engine in
# one run: in-process, Redis, a three-master Redis Cluster and PostgreSQL (both started
# here on loopback; PostgreSQL as nobody when run as root, default settings, fsync on)
# and NATS JetStream (benches/nats_latency.rs starts its own nats-server and
# redis-server).
#
#   bash benches/engine_latency.sh
#
# Needs nats-server, redis-server, redis-cli and postgresql (Debian: apt-get install
# nats-server redis-server redis-tools postgresql).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/support/redis_cluster.sh
source benches/support/redis_cluster.sh
BASE="${BASE:-7201}"
dir="$(mktemp -d)"
pids=()
pg="$(dirname "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")"
as_server=()
if [ "$(id -u)" = 0 ]; then
  chown 65534:65534 "$dir"
  as_server=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
fi
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  "${as_server[@]}" "$pg/pg_ctl" -D "$dir/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

cargo build --release --features nats,redis,postgres --bench nats_latency >&2
pg_port=$((BASE + 3))
"${as_server[@]}" "$pg/initdb" -U postgres -A trust -E UTF8 -D "$dir/pg" >/dev/null
"${as_server[@]}" "$pg/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w \
  -o "-p $pg_port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
psql -h 127.0.0.1 -p "$pg_port" -U postgres -qc "CREATE DATABASE bench"
start_redis_cluster "$dir" "$BASE" 3 pids
REDIS_CLUSTER_NODES="$cluster_urls" POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/bench" \
  cargo bench --features nats,redis,postgres --bench nats_latency
