#!/usr/bin/env bash
# User-space instructions per `GET /plain` request, counted by callgrind, for the bare
# router, the router with tower-sse's layer in front of it (`tower-sse`) and with the
# layer added by `Router::layer` (`tower-sse-layered`), and tower-http's
# `RequestBodyLimitLayer` added the same way (`limit-layered`, a reference for what
# `Router::layer` costs any layer that wraps the response body): a count that does not
# move with the machine's load, unlike CPU time. Kernel work (most of a request) is not counted and is
# the same for all.
#
#   bash benches/passthrough_instructions.sh        # REQUESTS=20000 by default
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install -y valgrind)" >&2; exit 1; }
REQUESTS="${REQUESTS:-20000}"
cargo build --release --features hub --example bench_server --example load_client >&2
B=target/release/examples
ADDR=127.0.0.1:4298
dir="$(mktemp -d)"
for impl in bare tower-sse tower-sse-layered limit-layered bare tower-sse tower-sse-layered limit-layered; do
  valgrind --tool=callgrind --callgrind-out-file="$dir/out.%p" \
    "$B/bench_server" --impl "$impl" --addr "$ADDR" --workers 1 >/dev/null 2>"$dir/valgrind.err" &
  pid=$!
  for _ in $(seq 300); do
    if (exec 3<>/dev/tcp/127.0.0.1/4298) 2>/dev/null; then break; fi
    sleep 0.1
  done
  # Warm up (connections, allocator, lazy statics), then count only the measured run.
  "$B/load_client" plain --requests 2000 --conns 16 --addr "$ADDR" >/dev/null
  callgrind_control -z "$pid" >/dev/null
  "$B/load_client" plain --requests "$REQUESTS" --conns 16 --addr "$ADDR" >/dev/null
  callgrind_control -d "$pid" >/dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true
  total=$(grep -h '^totals:' "$dir"/out."$pid".1 | awk '{print $2}')
  echo "impl=$impl requests=$REQUESTS instructions_per_request=$((total / REQUESTS))"
done
rm -rf "$dir"
