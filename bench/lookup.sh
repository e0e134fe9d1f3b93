#!/usr/bin/env bash
# Read-path benchmark: GET /Users?filter=userName eq "..." against the demo bridge on
# SQLite with N seeded users, at 1, 8 and 32 connections. Needs wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-100000}"
DURATION="${DURATION:-15s}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
cargo build --release --bin scim-bridge --example seed
DIR="$(mktemp -d)"
trap 'kill "${PID:-}" 2>/dev/null || true; rm -rf "$DIR"' EXIT
./target/release/examples/seed "sqlite://$DIR/scim-bridge.db" demo "$N"
./target/release/scim-bridge demo --data-dir "$DIR" --token bench-token \
  --listen 127.0.0.1:18080 --sim-listen 127.0.0.1:18081 >/dev/null 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:18080/healthz >/dev/null && break; sleep 0.1; done
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; users: $N"
for c in 1 8 32; do
  echo "== $c connection(s)"
  SEEDED="$N" wrk -t"$(( c < 2 ? 1 : 2 ))" -c"$c" -d"$DURATION" --latency -s bench/lookup.lua http://127.0.0.1:18080 \
    | grep -E 'Requests/sec|50%|99%|Non-2xx|Socket errors'
done
echo "peak RSS of the bridge: $(grep VmHWM /proc/$PID/status | awk '{print $2, $3}')"
