#!/usr/bin/env bash
# The reconnect storm at full size, with the clients in a process of their own: per
# engine, the chat example (release build) runs as two instances sharing the engine, 200
# events are published on the first, and CLIENTS clients (`load_client storm`, spread
# over the instances) all resume at once from the 100th event's id, each owed 100
# events. The in-process hub runs the same way, as two instances of its own (each
# instance's hub is its own: 200 events are published on each, and its clients resume
# from its own 100th). Prints load_client's line per engine (clients done,
# refused, time from the first connect to the last client done, p50/p99 of the clients'
# completion times), the listen-queue overflows during the storm, and each engine's
# time against the in-process one of the same run.
#
#   bash benches/storm.sh                      # 10,000 clients, 2 runs, every engine
#   CLIENTS=2000 RUNS=1 ENGINES="memory nats" bash benches/storm.sh
#
# Each engine's servers start fresh for its storm, on loopback, in a temporary
# directory: redis-server, a three-master Redis Cluster, nats-server -js, PostgreSQL (as
# nobody when run as root). Needs redis-server, redis-cli, nats-server, postgresql and
# curl (Debian: apt-get install redis-server redis-tools nats-server postgresql curl).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/support/redis_cluster.sh
source benches/support/redis_cluster.sh
CLIENTS="${CLIENTS:-10000}"
RUNS="${RUNS:-2}"
ENGINES="${ENGINES:-memory redis cluster nats postgres}"
# Clients of each instance between their connect and their answer's head at once: the
# chat's listen queue holds 128, and handshakes dropped from a full queue wait for TCP's
# retry (1 s, then 3 s). INFLIGHT=$CLIENTS connects them all at once.
INFLIGHT="${INFLIGHT:-128}"
BASE="${BASE:-7301}"
dir="$(mktemp -d)"
# The engines' data, made afresh for each storm.
data="$dir/data"
servers=()
chats=()
pg="$(dirname "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")"
as_server=()
if [ "$(id -u)" = 0 ]; then
  chown 65534:65534 "$dir"
  as_server=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
fi
stop_all() {
  for pid in "${chats[@]}" "${servers[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${chats[@]}" "${servers[@]}"; do wait "$pid" 2>/dev/null || true; done
  chats=()
  servers=()
  if [ -d "$data/pg" ]; then
    "${as_server[@]}" "$pg/pg_ctl" -D "$data/pg" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$data"
}
cleanup() {
  local status=$?
  if [ "$status" != 0 ]; then tail -n 20 "$dir"/chat-*.log >&2 2>/dev/null || true; fi
  stop_all
  rm -rf "$dir"
}
trap cleanup EXIT

cargo build --release --features redis,nats,postgres --example chat --example load_client >&2
target="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
bin="$target/release/examples"

# Polls `$@` until it succeeds, for at most 30 s.
wait_for() {
  local until=$((SECONDS + 30))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$until" ] || { echo "gave up waiting for: $*" >&2; return 1; }
    sleep 0.1
  done
}

# The kernel's count of handshakes dropped from full listen queues.
overflows() {
  awk '/^TcpExt:/ { if (!c) { for (i = 1; i <= NF; i++) if ($i == "ListenOverflows") c = i }
       else print $c }' /proc/net/netstat
}

# CPU seconds (user and system) of the processes `$@` and their children.
cpu_of() {
  local pid all=()
  for pid in "$@"; do all+=("$pid" $(ps -o pid= --ppid "$pid" 2>/dev/null || true)); done
  for pid in "${all[@]}"; do cat "/proc/$pid/stat" 2>/dev/null || true; done |
    awk '{ sub(/.*\) /, ""); s += $12 + $13 } END { printf "%.2f", s / 100 }'
}

# The engine's server processes: ours, or PostgreSQL's postmaster.
engine_pids() {
  if [ -f "$data/pg/postmaster.pid" ]; then head -n 1 "$data/pg/postmaster.pid"; fi
  if [ "${#servers[@]}" -gt 0 ]; then printf '%s\n' "${servers[@]}"; fi
}

# Starts the engine `$1`'s servers; sets `engine` to the chat's arguments for it.
start_engine() {
  engine=()
  mkdir -p "$data"
  if [ "${#as_server[@]}" -gt 0 ]; then chown 65534:65534 "$data"; fi
  case "$1" in
    memory) ;;
    redis)
      redis-server --bind 127.0.0.1 --port "$BASE" --save "" --appendonly no \
        --dir "$data" >/dev/null 2>&1 &
      servers+=($!)
      wait_for redis-cli -p "$BASE" ping
      engine=(--redis "redis://127.0.0.1:$BASE")
      ;;
    cluster) start_cluster ;;
    nats)
      nats-server -js -a 127.0.0.1 -p "$((BASE + 4))" -sd "$data/nats" >/dev/null 2>&1 &
      servers+=($!)
      wait_for bash -c "exec 3<>/dev/tcp/127.0.0.1/$((BASE + 4))"
      engine=(--nats "nats://127.0.0.1:$((BASE + 4))")
      ;;
    postgres)
      local port=$((BASE + 5))
      "${as_server[@]}" "$pg/initdb" -U postgres -A trust -E UTF8 -D "$data/pg" >/dev/null
      "${as_server[@]}" "$pg/pg_ctl" -D "$data/pg" -l "$data/pg.log" -w \
        -o "-p $port -k $data -c listen_addresses=127.0.0.1" start >/dev/null
      psql -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE storm"
      engine=(--postgres "postgres://postgres@127.0.0.1:$port/storm")
      ;;
    *) echo "no engine $1" >&2; return 1 ;;
  esac
}

# Three Redis Cluster masters, no replicas.
start_cluster() {
  start_redis_cluster "$data" $((BASE + 1)) 3 servers
  engine=(--redis-cluster "$cluster_urls")
}

# One storm on engine `$1`, run `$2`: prints load_client's line with the engine's name.
storm() {
  local name=$1 run=$2 ports=() addrs="" from="" i id before line
  start_engine "$name"
  for i in 1 2; do
    ports+=($((BASE + 10 + i)))
    RUST_LOG=warn PORT="${ports[-1]}" "$bin/chat" "${engine[@]}" \
      >"$dir/chat-$i.log" 2>&1 &
    chats+=($!)
  done
  for i in "${ports[@]}"; do
    wait_for curl -sf -o /dev/null "http://127.0.0.1:$i/sse.js"
    addrs+="127.0.0.1:$i,"
  done
  # The in-process hub: each instance its own events; the engines: all on the first.
  local publish_on=("${ports[0]}") port
  if [ "$name" = memory ]; then publish_on=("${ports[@]}"); fi
  for port in "${publish_on[@]}"; do
    for i in $(seq 1 200); do
      id="$(curl -sf -d name=storm -d "text=m$i" "http://127.0.0.1:$port/send")"
      if [ "$i" = 100 ]; then from+="$id,"; fi
    done
  done
  before="$(overflows)"
  local engine_cpu chat_cpu
  engine_cpu="$(cpu_of $(engine_pids))"
  chat_cpu="$(cpu_of "${chats[@]}")"
  # Each storm's clients come from 8 loopback addresses of their own, away from the
  # ports the last storm's closed connections still hold.
  line="$(timeout 300 "$bin/load_client" storm --addrs "${addrs%,}" --conns "$CLIENTS" \
    --n 100 --last-event-id "${from%,}" --sources 8 --first-source "$((2 + 8 * (storms % 30)))" \
    --inflight "$INFLIGHT" --deadline-s 120)" || line="load_client failed ($?)"
  storms=$((storms + 1))
  engine_cpu="$(awk -v a="$(cpu_of $(engine_pids))" -v b="$engine_cpu" 'BEGIN { printf "%.2f", a - b }')"
  chat_cpu="$(awk -v a="$(cpu_of "${chats[@]}")" -v b="$chat_cpu" 'BEGIN { printf "%.2f", a - b }')"
  echo "run=$run engine=$name $line listen_overflows=$(($(overflows) - before)) chat_cpu_s=$chat_cpu engine_cpu_s=$engine_cpu load=$(cut -d' ' -f1 /proc/loadavg)" |
    tee -a "$results"
  stop_all
}

storms=0
echo "clients=$CLIENTS runs=$RUNS inflight=$INFLIGHT engines=\"$ENGINES\" $(nproc) cores"
results="$dir/results"
for run in $(seq 1 "$RUNS"); do
  for name in $ENGINES; do
    storm "$name" "$run"
  done
done
# Each engine's time against the in-process one of the same run.
awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
       t[f["run"], f["engine"]] = f["seconds"]; runs[f["run"]]; names[f["engine"]] }
     END { for (r in runs) for (n in names) if (t[r, "memory"] > 0 && t[r, n] != "")
             printf "run=%s engine=%s seconds=%s ratio=%.2f\n", r, n, t[r, n], t[r, n] / t[r, "memory"] }' \
  "$results" | sort
