# Sourced by the bench scripts: a Redis Cluster of masters on loopback, no replicas.
#
#   start_redis_cluster DIR FIRST_PORT MASTERS PIDS
#
# Starts MASTERS redis-servers (1, or 3 and more) on FIRST_PORT onwards, each with its
# data under DIR, adds their pids to the caller's array named PIDS (so that its cleanup
# kills them, even when this fails), waits until every slot is served, and sets
# `cluster_urls` to the masters' comma-separated `redis://` URLs. Gives up after 30 s.
start_redis_cluster() {
  local dir=$1 first=$2 masters=$3 nodes=() port i until=$((SECONDS + 30))
  local -n started=$4
  for ((i = 0; i < masters; i++)); do
    port=$((first + i))
    mkdir -p "$dir/$port"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir/$port" --save "" \
      --appendonly no --cluster-enabled yes --cluster-config-file nodes.conf \
      >/dev/null 2>&1 &
    started+=($!)
    nodes+=("127.0.0.1:$port")
  done
  for node in "${nodes[@]}"; do
    until redis-cli -p "${node#*:}" ping >/dev/null 2>&1; do
      [ "$SECONDS" -lt "$until" ] || { echo "no redis-server on ${node#*:}" >&2; return 1; }
      sleep 0.05
    done
  done
  if [ "$masters" -ge 3 ]; then
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes \
      >"$dir/create.log" 2>&1 || { cat "$dir/create.log" >&2; return 1; }
  else
    redis-cli -p "$first" cluster addslotsrange 0 16383 >/dev/null
  fi
  for node in "${nodes[@]}"; do
    until redis-cli -p "${node#*:}" cluster info 2>/dev/null | grep -q cluster_state:ok; do
      [ "$SECONDS" -lt "$until" ] || { echo "the cluster did not come up" >&2; return 1; }
      sleep 0.1
    done
  done
  cluster_urls="$(printf 'redis://%s,' "${nodes[@]}")"
  cluster_urls="${cluster_urls%,}"
}
