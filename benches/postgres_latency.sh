#!/usr/bin/env bash
# The Postgres engine's figures (benches/postgres_latency.rs) against a server of its
# own: initdb in a temporary directory (as nobody when run as root), default settings
# (fsync on), a free loopback port.
#
#   bash benches/postgres_latency.sh
#
# Needs Debian's postgresql (initdb and postgres in /usr/lib/postgresql/<v>/bin).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(dirname "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")"
dir="$(mktemp -d)"
port="${PORT:-7301}"
as_server=()
if [ "$(id -u)" = 0 ]; then
  chown 65534:65534 "$dir"
  as_server=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
fi
cleanup() {
  "${as_server[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
"${as_server[@]}" "$bin/initdb" -U postgres -A trust -E UTF8 -D "$dir/data" >/dev/null
"${as_server[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
psql -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE bench"
POSTGRES_URL="postgres://postgres@127.0.0.1:$port/bench" \
  cargo bench --features postgres --bench postgres_latency
