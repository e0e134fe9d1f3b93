#!/usr/bin/env bash
# Read-path benchmark on PostgreSQL: GET /Users?filter=userName eq "..." against
# `scim-bridge serve` on a fresh PostgreSQL schema seeded with N users (and the
# bandwidth-sim binary as its upstream, which a lookup never calls), at 1, 8 and 32
# connections. Needs wrk and psql. The schema is dropped afterwards.
#
#   POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test bash bench/lookup-postgres.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-100000}"
DURATION="${DURATION:-15s}"
URL="${POSTGRES_URL:-${SCIM_BRIDGE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}}"
TARGET="${CARGO_TARGET_DIR:-target}"
BRIDGE_PORT="${BRIDGE_PORT:-18090}"
SIM_PORT="${SIM_PORT:-18091}"
for tool in wrk psql curl; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install -y $tool)" >&2; exit 1; }
done
cargo build --release --bin scim-bridge --example seed
cargo build --release -p bandwidth-sim

SCHEMA="bench_$(date +%s)_$$"
SEP='?'; [[ "$URL" == *\?* ]] && SEP='&'
SCHEMA_URL="${URL}${SEP}options=-c%20search_path%3D${SCHEMA}"
DIR="$(mktemp -d)"
cleanup() {
  kill "${BRIDGE:-}" "${SIM:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  psql -q "$URL" -c "DROP SCHEMA IF EXISTS \"$SCHEMA\" CASCADE" >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
psql -q "$URL" -c "CREATE SCHEMA \"$SCHEMA\"" >/dev/null

HASH="$(printf 'bench-token' | sha256sum | cut -d' ' -f1)"
cat >"$DIR/bench.toml" <<TOML
[server]
listen = "127.0.0.1:$BRIDGE_PORT"

[database]
url = "$SCHEMA_URL"
max_connections = 16

[tenants.demo]
tokens = [{ id = "bench", sha256 = "$HASH" }]
base_roles = ["basicAccess"]

[tenants.demo.bandwidth]
dialect = "v1"
base_url = "http://127.0.0.1:$SIM_PORT"
account_id = "9900000"
client_id = "sim-client"
client_secret = "sim-secret"
TOML

# Migrate first (the seeder writes through the store), then seed.
"$TARGET/release/scim-bridge" migrate --config "$DIR/bench.toml" >/dev/null
started=$(date +%s)
# The seeder commits per user; without waiting for each commit's fsync it takes
# about a third of the time (a lost tail would only mean fewer seeded users).
"$TARGET/release/examples/seed" "${SCHEMA_URL}%20-c%20synchronous_commit%3Doff" demo "$N"
echo "seeding took $(( $(date +%s) - started ))s"
psql -q "$URL" -c "ANALYZE \"$SCHEMA\".users" >/dev/null

"$TARGET/release/bandwidth-sim" --listen "127.0.0.1:$SIM_PORT" >/dev/null 2>&1 &
SIM=$!
"$TARGET/release/scim-bridge" serve --no-migrate --config "$DIR/bench.toml" >"$DIR/bridge.log" 2>&1 &
BRIDGE=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$BRIDGE_PORT/healthz" >/dev/null && break; sleep 0.1; done
curl -sf -H 'Authorization: Bearer bench-token' \
  "http://127.0.0.1:$BRIDGE_PORT/scim/v2/Users?filter=userName%20eq%20%22user7%40example.com%22" \
  | grep -q '"totalResults":1' || { echo "lookup check failed"; cat "$DIR/bridge.log"; exit 1; }

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; users: $N; PostgreSQL $(psql -tA "$URL" -c 'SHOW server_version')"
for c in 1 8 32; do
  echo "== $c connection(s)"
  SEEDED="$N" wrk -t"$(( c < 2 ? 1 : 2 ))" -c"$c" -d"$DURATION" --latency -s bench/lookup.lua "http://127.0.0.1:$BRIDGE_PORT" \
    | grep -E 'Requests/sec|50%|99%|Non-2xx|Socket errors'
done
echo "peak RSS of the bridge: $(grep VmHWM /proc/$BRIDGE/status | awk '{print $2, $3}')"
