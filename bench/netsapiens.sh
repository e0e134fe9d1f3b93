#!/usr/bin/env bash
# NetSapiens benchmarks (issue 13); prints a Markdown section for bench/RESULTS.md.
# The bridge (`scim-bridge serve`) and the simulator (`bandwidth-sim --system netsapiens`)
# run as their own processes, on SQLite.
#
#   bash bench/netsapiens.sh                       # SAMPLES=300 MEMBERS=1000 RATE=100
#   SAMPLES=50 MEMBERS=200 bash bench/netsapiens.sh  # quick
#
# 1. Bridge-added latency of a create: `bench_writes latency` (as bench/run.sh uses it
#    for Bandwidth: one keep-alive client, SAMPLES sequential `POST /Users`, extension
#    allocated from the range, each followed by a `PATCH`) with neither side rate
#    limited; bridge-added = the client's time minus the upstream time the bridge reports
#    in `Server-Timing: upstream`.
# 2. Group push: MEMBERS users (extensions from employeeNumber, created unlimited), then
#    the bridge restarted limited to RATE requests/s and the simulator limiting to RATE;
#    one `POST /Groups` with every member, its rule granting a scope; wall time until
#    `/_sim/state` shows the scope on every member, against the bound (upstream calls
#    counted by the simulator) / RATE.
# Run only through /work/bin/gate-bench in the shared sandbox. Needs curl and jq.
set -euo pipefail
cd "$(dirname "$0")/.."
SAMPLES="${SAMPLES:-300}"
MEMBERS="${MEMBERS:-1000}"
RATE="${RATE:-100}"
TARGET="${CARGO_TARGET_DIR:-target}"
BRIDGE_PORT=18090
SIM_PORT=18091
BRIDGE_URL="http://127.0.0.1:$BRIDGE_PORT"
SIM_URL="http://127.0.0.1:$SIM_PORT"
API="$BRIDGE_URL/scim/v2"
KEY="nsd_simDomainKeyAcme0000000000000000000000000000000000000000"
SCOPE="Call Center Agent"
for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done

cargo build --release -q --workspace --bins --example bench_writes

DIR="$(mktemp -d)"
stop_bridge() { kill "${BRIDGE:-}" 2>/dev/null || true; wait "${BRIDGE:-}" 2>/dev/null || true; BRIDGE=""; }
cleanup() {
  stop_bridge
  kill "${SIM:-}" 2>/dev/null || true
  wait "${SIM:-}" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT
source bench/common.sh

# bridge_rate_limit extension_source_line -> config file path
config() {
  TENANT=pbx ROLES='[]' PREFIX=pbx-scope- KIND=netsapiens MAX_WAIT=60 \
    bench_config "sqlite://$DIR/bench.db" "$1" >"$DIR/bridge.toml"
  cat >>"$DIR/bridge.toml" <<TOML
domain = "acme"
api_key = "$KEY"
extension_range = [2000, 9999]
$2
TOML
  echo "$DIR/bridge.toml"
}

start_bridge() {
  "$TARGET/release/scim-bridge" serve --config "$(config "$@")" >"$DIR/bridge.log" 2>&1 &
  BRIDGE=$!
  wait_for_bridge
}

sim_requests() { curl -sf "$SIM_URL/_sim/state" | jq '.stats.requests'; }
sim_rate() { curl -sf -X POST "$SIM_URL/_sim/faults" -d "{\"rateLimit\": $1}" >/dev/null; }

# name [employeeNumber] -> the SCIM user's JSON
user_json() {
  local enterprise=""
  [[ -n "${2:-}" ]] && enterprise=", \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\": {\"employeeNumber\": \"$2\"}"
  printf '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"%s","name":{"givenName":"Bench","familyName":"User"},"emails":[{"value":"%s","type":"work","primary":true}],"active":true%s}' \
    "$1" "$1" "$enterprise"
}

"$TARGET/release/bandwidth-sim" --system netsapiens --listen "127.0.0.1:$SIM_PORT" >"$DIR/sim.log" 2>&1 &
SIM=$!
for _ in $(seq 100); do curl -sf "$SIM_URL/_sim/state" >/dev/null && break; sleep 0.1; done

# 1. Create latency, nothing rate limited.
start_bridge 100000 ""
LAT="$("$TARGET/release/examples/bench_writes" latency "$SAMPLES" --bridge "$BRIDGE_URL" --sim "$SIM_URL" --pid "$BRIDGE" | grep '^RESULT')"
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1==k{print $2}'; }
stop_bridge

# 2. Group push. The members first, with their extensions given (no range scans).
start_bridge 100000 'extension_source = { kind = "employee_number" }'
IDS=()
for i in $(seq "$MEMBERS"); do
  id="$(curl -sf -H 'Authorization: Bearer bench-token' -H 'Content-Type: application/scim+json' \
    -d "$(user_json "m$i@bench.test" "$(( 5000 + i ))")" "$API/Users" | jq -r '.id')"
  IDS+=("$id")
done
stop_bridge
start_bridge "$RATE" 'extension_source = { kind = "employee_number" }'
sim_rate "$RATE"
members="$(printf '%s\n' "${IDS[@]}" | jq -R '{value: .}' | jq -s -c .)"
printf '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"pbx-scope-%s","members":%s}' \
  "$SCOPE" "$members" >"$DIR/group.json"
before="$(sim_requests)"
t0="$(date +%s.%N)"
status="$(curl -s -o "$DIR/group.out" -w '%{http_code} %{time_total}' -H 'Authorization: Bearer bench-token' \
  -H 'Content-Type: application/scim+json' --data-binary "@$DIR/group.json" "$API/Groups")"
[[ "${status%% *}" == 201 ]] || { echo "group create answered $status: $(cat "$DIR/group.out")" >&2; exit 1; }
PATCH_MS="$(awk '{printf "%.0f", $2*1000}' <<<"$status")"
deadline=$(( $(date +%s) + 300 ))
while :; do
  have="$(curl -sf "$SIM_URL/_sim/state" | jq --arg s "$SCOPE" '[.domains.acme.users[] | select(.["user-scope"] == $s)] | length')"
  [[ "$have" -ge "$MEMBERS" ]] && break
  [[ "$(date +%s)" -lt "$deadline" ]] || { echo "only $have of $MEMBERS got the scope" >&2; exit 1; }
  sleep 0.1
done
t1="$(date +%s.%N)"
after="$(sim_requests)"
CALLS=$(( after - before ))
read -r WALL BOUND RATIO < <(awk -v a="$t0" -v b="$t1" -v c="$CALLS" -v r="$RATE" \
  'BEGIN{w=b-a; d=c/r; printf "%.1f %.1f %.2f\n", w, d, w/d}')
LIMITED="$(curl -sf "$SIM_URL/_sim/state" | jq '.stats.rateLimited // 0')"
stop_bridge

echo "## NetSapiens (issue 13)"
echo
echo "Machine: $(nproc) cores, $(uname -sr); client on the same cores. Date: $(date -u +%Y-%m-%d). Commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
echo "Command: SAMPLES=$SAMPLES MEMBERS=$MEMBERS RATE=$RATE bash bench/netsapiens.sh (SQLite)"
echo
echo "| run | result | target |"
echo "|---|---|---|"
echo "| POST /Users (extension allocated), bridge-added, $SAMPLES sequential | p50 $(field "$LAT" post_added_p50_ms) ms, p99 $(field "$LAT" post_added_p99_ms) ms (total p50 $(field "$LAT" post_total_p50_ms) ms, p99 $(field "$LAT" post_total_p99_ms) ms) | p50 < 2 ms |"
echo "| PATCH /Users/{id}, bridge-added | p50 $(field "$LAT" patch_added_p50_ms) ms, p99 $(field "$LAT" patch_added_p99_ms) ms (total p50 $(field "$LAT" patch_total_p50_ms) ms) | - |"
echo "| group push of $MEMBERS members at R = $RATE req/s (POST /Groups answered in $PATCH_MS ms) | $WALL s for $CALLS upstream calls; bound $BOUND s; ratio $RATIO; upstream 429s $LIMITED | ratio <= 1.1 |"
