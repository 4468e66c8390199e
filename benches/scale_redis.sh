#!/usr/bin/env bash
# One node, SUBS subscribers over INSTANCES server processes that share one topic
# through a local redis-server (a process here may hold at most 20,000 sockets, so a
# node holds 100,000 as several processes, as it would behind a load balancer). One
# load client per server, from source addresses of its own; they start together, the
# first one publishes, and each writes when every event reached its subscribers.
# Reports the servers' RSS per subscriber and, per event, the time from publish to the
# last of all SUBS deliveries.
#
#   bash benches/scale_redis.sh            # SUBS=100000 INSTANCES=6 N=10 PACE_US=1000000
#
# Needs redis-server (Debian: apt-get install redis-server) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
SUBS="${SUBS:-100000}"
INSTANCES="${INSTANCES:-6}"
N="${N:-10}"
PACE_US="${PACE_US:-1000000}"
WORKERS="${WORKERS:-1}"
SOURCES="${SOURCES:-2}"
REDIS_PORT="${REDIS_PORT:-6391}"
cargo build --release --features redis --example bench_server --example load_client >&2
B=target/release/examples
per=$((SUBS / INSTANCES))
ulimit -n "$(ulimit -Hn)"
dir="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
  --dir "$dir" >/dev/null 2>&1 &
pids+=($!)
until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.05; done

servers=()
for i in $(seq 0 $((INSTANCES - 1))); do
  port=$((4500 + i))
  "$B/bench_server" --impl tower-sse --addr "127.0.0.1:$port" --workers "$WORKERS" \
    --redis "redis://127.0.0.1:$REDIS_PORT/" >/dev/null &
  servers+=($!)
  pids+=($!)
  until (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.05; done
done
mkdir -p "$dir/barrier"
clients=()
for i in $(seq 0 $((INSTANCES - 1))); do
  publish=0
  [ "$i" = 0 ] && publish=1
  "$B/load_client" scale --addr "127.0.0.1:$((4500 + i))" --subs "$per" \
    --sources "$SOURCES" --first-source $((2 + i * SOURCES)) --n "$N" --pace-us "$PACE_US" \
    --size 32 --server-pid "${servers[$i]}" --barrier "$dir/barrier" --index "$i" \
    --publish "$publish" --records "$dir/records.$i" > "$dir/client.$i" &
  clients+=($!)
done
until [ "$(ls "$dir/barrier" | wc -l)" -ge "$INSTANCES" ]; do sleep 0.1; done
touch "$dir/barrier/go"
for pid in "${clients[@]}"; do wait "$pid"; done
cat "$dir"/client.*
python3 - "$dir" "$INSTANCES" "$SUBS" <<'PY'
import sys, glob, collections
d, instances, subs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
events = collections.defaultdict(lambda: [None, 0, 0])
for path in glob.glob(f"{d}/records.*"):
    for line in open(path):
        stamp, first, last, count = map(int, line.split())
        e = events[stamp]
        e[0] = first if e[0] is None else min(e[0], first)
        e[1] = max(e[1], last)
        e[2] += count
rss = 0.0
for path in glob.glob(f"{d}/client.*"):
    fields = dict(f.split("=") for f in open(path).read().split() if "=" in f)
    rss += float(fields["rss_per_sub_b"]) * int(fields["subs"])
spans = sorted((e[1] - e[0]) / 1e6 for e in events.values())
lasts = sorted(e[1] / 1e6 for e in events.values())
complete = sum(1 for e in events.values() if e[2] == subs - subs % instances)
at = lambda v, q: v[int((len(v) - 1) * q)] if v else 0
print(f"mode=scale-redis subs={subs - subs % instances} instances={instances} events={len(events)} "
      f"complete_events={complete} rss_per_sub_b={rss / (subs - subs % instances):.0f} "
      f"first_to_last_p50_ms={at(spans, .5):.1f} first_to_last_p99_ms={at(spans, .99):.1f} "
      f"publish_to_last_p50_ms={at(lasts, .5):.1f} publish_to_last_p99_ms={at(lasts, .99):.1f}")
PY
