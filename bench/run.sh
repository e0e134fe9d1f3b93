#!/usr/bin/env bash
# One command for every benchmark of issue 8; prints a Markdown table for bench/RESULTS.md.
# The bridge (`scim-bridge serve`) and the simulator (`bandwidth-sim`) run as their own
# processes, so the peak RSS read from /proc is the bridge's alone.
#
#   bash bench/run.sh                     # everything, SQLite and PostgreSQL
#   BACKENDS=sqlite N=10000 DURATION=5s BULK=1000 MEMBERS=500 bash bench/run.sh   # quick
#   N=1000000 PARTS=read bash bench/run.sh   # the million-user run: read path and memory
#
# Knobs: N users stored for the read path (100000), DURATION per wrk run (10s),
# BACKENDS (sqlite postgres), SAMPLES write-latency samples (500), BULK creates (10000),
# CLIENTS concurrent IdP clients (16), RATE upstream limit in requests/s (100),
# MEMBERS in the propagated group (5000), RECONCILE=0 skips both reconciles (`scim-bridge
# reconcile`, paced to RATE with the simulator limited to it): the read part's, of the N
# stored users against the same N seeded upstream (no drift expected), and the bulk run's
# users after propagation; POSTGRES_URL, PARTS the sections to run
# ("read writes": read path with the bare-handler baseline, the full paged list and the
# reconcile, then writes, bulk and propagation; READ_ONLY=1 is PARTS=read). A zero skips a part: N=0 the
# read path, SAMPLES=0 the write latency, BULK=0 the bulk creates (propagation then
# creates its members first, unmeasured), MEMBERS=0 propagation.
# BRIDGE_PORT, SIM_PORT and BARE_PORT (18080 to 18082) move the processes' ports.
# Needs wrk, curl, python3, psql and GNU time (/usr/bin/time, for the reconciles' peak RSS).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-100000}"
DURATION="${DURATION:-10s}"
BACKENDS="${BACKENDS:-sqlite postgres}"
SAMPLES="${SAMPLES:-500}"
BULK="${BULK:-10000}"
CLIENTS="${CLIENTS:-16}"
RATE="${RATE:-100}"
MEMBERS="${MEMBERS:-5000}"
RECONCILE="${RECONCILE:-1}"
PARTS="${PARTS:-read writes}"
[[ "${READ_ONLY:-0}" != 1 ]] || PARTS=read
PG_URL="${POSTGRES_URL:-${SCIM_BRIDGE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}}"
TARGET="${CARGO_TARGET_DIR:-target}"
BRIDGE_PORT="${BRIDGE_PORT:-18080}"
SIM_PORT="${SIM_PORT:-18081}"
BARE_PORT="${BARE_PORT:-18082}"
BRIDGE_URL="http://127.0.0.1:$BRIDGE_PORT"
SIM_URL="http://127.0.0.1:$SIM_PORT"
for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install -y $tool)" >&2; exit 1; }
done
[[ "$RECONCILE" == 0 || -x /usr/bin/time ]] \
  || { echo "/usr/bin/time is needed for the reconciles (apt-get install -y time; RECONCILE=0 skips them)" >&2; exit 1; }
[[ " $BACKENDS " == *" postgres "* ]] && { command -v psql >/dev/null || { echo "psql is needed" >&2; exit 1; }; }

# One build for both binaries: separate builds unify features differently and rebuild.
cargo build --release -q --workspace --bins --example seed --example bench_writes --example bare_list

DIR="$(mktemp -d)"
SCHEMAS=()
stop() {
  kill "${BRIDGE:-}" "${SIM:-}" "${BARE:-}" 2>/dev/null || true
  wait "${BRIDGE:-}" "${SIM:-}" "${BARE:-}" 2>/dev/null || true
  BRIDGE="" SIM="" BARE=""
}
cleanup() {
  stop
  for s in "${SCHEMAS[@]}"; do
    psql -q "$PG_URL" -c "DROP SCHEMA IF EXISTS \"$s\" CASCADE" >/dev/null 2>&1 || true
  done
  rm -rf "$DIR"
}
trap cleanup EXIT
source bench/config.sh

# backend name -> DB_URL, an empty database (not called in a subshell: SCHEMAS must grow)
fresh_db() {
  if [[ "$1" == sqlite ]]; then
    rm -f "$DIR"/bench.db*
    DB_URL="sqlite://$DIR/bench.db"
  else
    local schema="bench_$(date +%s%N)_$$" sep='?'
    [[ "$PG_URL" == *\?* ]] && sep='&'
    psql -q "$PG_URL" -c "CREATE SCHEMA \"$schema\"" >/dev/null
    SCHEMAS+=("$schema")
    DB_URL="${PG_URL}${sep}options=-c%20search_path%3D${schema}"
  fi
}

# database_url bridge_rate_limit [sim args...]
start() {
  local url="$1" rate="$2"
  shift 2
  "$TARGET/release/bandwidth-sim" --listen "127.0.0.1:$SIM_PORT" "$@" >"$DIR/sim.log" 2>&1 &
  SIM=$!
  # As the image and the systemd unit run it (docs/operations.md, "Memory").
  MIMALLOC_ARENA_EAGER_COMMIT=0 "$TARGET/release/scim-bridge" serve \
    --config "$(config "$url" "$rate")" >"$DIR/bridge.log" 2>&1 &
  BRIDGE=$!
  wait_for_bridge
  # Another process on a port answers as if it were ours: ours then has exited.
  local p
  for p in SIM BRIDGE; do
    kill -0 "${!p}" 2>/dev/null && continue
    echo "$p exited at start (is its port, $SIM_PORT or $BRIDGE_PORT, taken? BRIDGE_PORT and SIM_PORT move them):" >&2
    cat "$DIR/sim.log" "$DIR/bridge.log" >&2
    exit 1
  done
}

rss_mib() { awk '/VmHWM/{printf "%.1f", $2/1024}' "/proc/$BRIDGE/status"; }
now_rss_mib() { awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$BRIDGE/status"; }

field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1==k{print $2}'; }

# lua script, connections [url] -> "req/s | p50 | p99"
wrk_row() {
  local out
  out="$(SEEDED="$N" wrk -t"$(( $2 < 2 ? 1 : 2 ))" -c"$2" -d"$DURATION" --latency -s "bench/$1" "${3:-$BRIDGE_URL}")"
  if grep -q 'Non-2xx' <<<"$out"; then
    echo "wrk saw non-2xx answers:" >&2
    echo "$out" >&2
    exit 1
  fi
  awk '/Requests\/sec/{rps=$2} /^ +50%/{p50=$2} /^ +99%/{p99=$2} END{printf "%.0f | %s | %s", rps, p50, p99}' <<<"$out"
}

# Full paged list (issue 18): every stored user in pages of 100, startIndex 1, 101, ...
# as Okta and Entra read a directory. backend -> stores its result in PAGED[backend].
declare -A PAGED
paged_list() {
  PAGED[$1]="$(python3 bench/full_list.py "$BRIDGE_URL" bench-token "$N" 100 | grep '^RESULT')"
}

paged_list_table() {
  echo
  echo "## Full paged list ($N users, pages of 100, one keep-alive client)"
  echo
  echo "First and last page: medians of five pages each. Targets: last within 2x of first;"
  echo "total for 100,000 users under 20 s on SQLite, under 40 s on PostgreSQL."
  echo
  echo "| backend | pages | first page | last page | last / first | total |"
  echo "|---|---|---|---|---|---|"
  for backend in $BACKENDS; do
    local r="${PAGED[$backend]}"
    echo "| $backend | $(field "$r" pages) | $(field "$r" first_ms) ms | $(field "$r" last_ms) ms | $(field "$r" ratio) | $(field "$r" total_s) s |"
  done
}

echo "# scim-bridge benchmarks"
echo
echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr); load generator on the same cores."
echo "Date: $(date -u +%Y-%m-%d). Commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
echo "Command: N=$N DURATION=$DURATION BACKENDS=\"$BACKENDS\" SAMPLES=$SAMPLES BULK=$BULK CLIENTS=$CLIENTS RATE=$RATE MEMBERS=$MEMBERS RECONCILE=$RECONCILE PARTS=\"$PARTS\" bash bench/run.sh"
echo
declare -A IDLE READ_PEAK LOAD LOOKUP PAGES

# backend url: N users into the fresh database; LOAD[backend] = seconds it took.
seed_users() {
  local out
  if [[ "$1" == postgres ]]; then
    out="$("$TARGET/release/examples/seed" "${2}%20-c%20synchronous_commit%3Doff" demo "$N" 2>&1 >/dev/null)"
    psql -q "$PG_URL" -c "ANALYZE \"${SCHEMAS[-1]}\".users" >/dev/null
  else
    out="$("$TARGET/release/examples/seed" "$2" demo "$N" 2>&1 >/dev/null)"
  fi
  LOAD[$1]="$(sed -n 's/^seeded .* in \(.*\)s$/\1/p' <<<"$out")"
}

# The floor under the bridge's lookups: a bare axum handler (examples/bare_list.rs)
# serving the bridge's own lookup answer under the same wrk load, in this run; as saved
# bytes (transport only) and as `Json(value)` serialized per request.
bare_baseline() {
  echo
  echo "## Per-request overhead: lookups against a bare axum handler serving the same body"
  echo
  echo "The bare handler answers every request with the bridge's lookup answer ($(wc -c <"$DIR/lookup.json") bytes), same wrk script."
  echo "\`bytes\` sends the saved bytes; \`json\` answers \`Json(value)\`, serializing the ListResponse per request."
  echo
  echo "| bare handler | connections | requests/s | p50 | p99 |$(for b in $BACKENDS; do printf ' %s lookups / bare |' "$b"; done)"
  echo "|---|---|---|---|---|$(for _ in $BACKENDS; do printf -- '---|'; done)"
  local mode c row rps ratios
  for mode in bytes json; do
    "$TARGET/release/examples/bare_list" "127.0.0.1:$BARE_PORT" "$DIR/lookup.json" "$mode" &
    BARE=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$BARE_PORT/scim/v2/Users" >/dev/null && break; sleep 0.1; done
    for c in 1 32; do
      row="$(wrk_row lookup.lua "$c" "http://127.0.0.1:$BARE_PORT")"
      rps="${row%% *}"
      ratios=""
      for b in $BACKENDS; do
        ratios+=" $(awk -v a="${LOOKUP[$b,$c]}" -v b="$rps" 'BEGIN{printf "%.2f (%d)", a/b, a}') |"
      done
      echo "| $mode | $c | $row |$ratios"
    done
    stop
  done
}

# Latency of single list pages (count=100) at growing startIndex, as Okta and Entra page:
# shows whether a page costs O(offset). "start:ms" pairs.
page_probe() {
  local start ms out=""
  for start in 1 1001 10001 100001 $(( N > 100 ? N - 99 : 1 )); do
    (( start <= N )) || continue
    ms="$(curl -sf -o /dev/null -w '%{time_total}' -H 'Authorization: Bearer bench-token' \
      "$BRIDGE_URL/scim/v2/Users?startIndex=$start&count=100" | awk '{printf "%.1f", $1*1000}')"
    out+=" $start:${ms}ms"
  done
  echo "${out# }"
}

# The simulator's counters: "requests rate_limited page_reads".
sim_counts() {
  curl -sf "$SIM_URL/_sim/stats" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["requests"], s["rateLimited"], s["pageReads"])'
}

# One `scim-bridge reconcile` of the tenant (no drift expected), paced to RATE like the
# server (`$DIR/bridge.toml`): its wall time against the upstream calls it made / R, and
# its peak RSS (the environment as the image sets it).
reconcile_run() {
  local before after t0 t1
  before="$(sim_counts)"
  t0="$(date +%s.%N)"
  MIMALLOC_ARENA_EAGER_COMMIT=0 /usr/bin/time -f %M -o "$DIR/reconcile.rss" \
    "$TARGET/release/scim-bridge" reconcile --config "$DIR/bridge.toml" --tenant demo --format json \
    >"$DIR/reconcile.json" 2>"$DIR/reconcile.log" \
    || { echo "reconcile failed:" >&2; tail -20 "$DIR/reconcile.log" >&2; exit 1; }
  t1="$(date +%s.%N)"
  after="$(sim_counts)"
  RECON="$(python3 - "$DIR/reconcile.json" "$before" "$after" "$t0" "$t1" "$RATE" "$DIR/reconcile.rss" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
before, after = [list(map(int, a.split())) for a in sys.argv[2:4]]
wall = float(sys.argv[5]) - float(sys.argv[4])
rate = float(sys.argv[6])
rss_mib = int(open(sys.argv[7]).read().split()[-1]) / 1024
calls = (after[0] - after[1]) - (before[0] - before[1])
pages = after[2] - before[2]
drift = sum(report["users_with_drift"].values())
print(f"RESULT stored={report['stored_users']} upstream={report['upstream_users']} drift={drift} "
      f"errors={len(report['errors'])} calls={calls} pages={pages} wall_s={wall:.2f} "
      f"pages_bound_s={pages / rate:.2f} bound_s={calls / rate:.2f} ratio={wall / (calls / rate):.3f} "
      f"local_s={wall - calls / rate:.2f} rss_mib={rss_mib:.1f}")
PY
)"
}

# The read part's reconcile (issue 18): backend url. The simulator gets the same N users
# through the bridge's own create mapping (`seed --upstream`), then is limited to RATE;
# the reconcile's configuration is paced to it. RECONS[backend], UPSEED[backend] seconds.
declare -A RECONS UPSEED
reconcile_read() {
  local out
  config "$2" "$RATE" >/dev/null
  out="$("$TARGET/release/examples/seed" --upstream "$DIR/bridge.toml" demo "$N" 2>&1 >/dev/null)" \
    || { echo "upstream seed failed: $out" >&2; exit 1; }
  UPSEED[$1]="$(sed -n 's/^seeded .* in \(.*\)s$/\1/p' <<<"$out")"
  curl -sf -H 'content-type: application/json' -d "{\"rateLimit\": $RATE}" "$SIM_URL/_sim/faults" >/dev/null
  reconcile_run
  RECONS[$1]="$RECON"
}

reconcile_read_table() {
  echo
  echo "## Reconcile with no drift ($N users stored and upstream, upstream limited to $RATE requests/s)"
  echo
  echo "One \`scim-bridge reconcile --tenant demo\` paced to R = $RATE, after the upstream got the same users"
  echo "through the bridge's create mapping (\`examples/seed --upstream\`). Local work = wall time - calls / R."
  echo
  echo "| backend | stored | upstream | drift | errors | calls | list pages | wall time | pages / R | local work | peak RSS | upstream seed |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  for backend in $READ_BACKENDS; do
    local r="${RECONS[$backend]:-}"
    [[ -n "$r" ]] || continue
    echo "| $backend | $(field "$r" stored) | $(field "$r" upstream) | $(field "$r" drift) | $(field "$r" errors) | $(field "$r" calls) | $(field "$r" pages) | $(field "$r" wall_s) s | $(field "$r" pages_bound_s) s | $(field "$r" local_s) s | $(field "$r" rss_mib) MiB | ${UPSEED[$backend]} s |"
  done
}

if [[ " $PARTS " == *" read "* ]]; then
echo "## Read path ($N users stored)"
echo
echo "| backend | request | connections | requests/s | p50 | p99 |"
echo "|---|---|---|---|---|---|"
READ_BACKENDS="$BACKENDS"
(( N > 0 )) || READ_BACKENDS=""
for backend in $READ_BACKENDS; do
  fresh_db "$backend"
  url="$DB_URL"
  "$TARGET/release/scim-bridge" migrate --config "$(config "$url" 100)" >/dev/null
  seed_users "$backend" "$url"
  start "$url" 100
  curl -sf -H 'Authorization: Bearer bench-token' \
    "$BRIDGE_URL/scim/v2/Users?filter=userName%20eq%20%22user7%40example.com%22" >"$DIR/lookup.json"
  grep -q '"totalResults":1' "$DIR/lookup.json" \
    || { echo "lookup check failed" >&2; cat "$DIR/bridge.log" >&2; exit 1; }
  sleep 1
  IDLE[$backend]="$(now_rss_mib)"
  for c in 1 8 32; do
    row="$(wrk_row lookup.lua "$c")"
    LOOKUP[$backend,$c]="${row%% *}"
    echo "| $backend | \`GET /Users?filter=userName eq\` | $c | $row |"
  done
  for c in 1 8 32; do
    echo "| $backend | \`GET /Users/{id}\` | $c | $(wrk_row by_id.lua "$c") |"
  done
  PAGES[$backend]="$(page_probe)"
  paged_list "$backend"
  READ_PEAK[$backend]="$(rss_mib)"
  (( RECONCILE == 0 )) || reconcile_read "$backend" "$url"
  stop
done
paged_list_table
reconcile_read_table
echo
echo "| backend | load of $N users (examples/seed) | one page of 100 at startIndex:latency |"
echo "|---|---|---|"
for backend in $READ_BACKENDS; do echo "| $backend | ${LOAD[$backend]} s | ${PAGES[$backend]} |"; done
[[ -z "$READ_BACKENDS" ]] || bare_baseline
fi

WRITES="$TARGET/release/examples/bench_writes"

if [[ " $PARTS " == *" writes "* ]]; then
# Write latency: the upstream unlimited on both sides, so no pacing is counted.
LAT=""
if (( SAMPLES > 0 )); then
  fresh_db sqlite
  start "$DB_URL" 100000
  LAT="$("$WRITES" latency "$SAMPLES" --bridge "$BRIDGE_URL" --sim "$SIM_URL" --pid "$BRIDGE" | grep '^RESULT')"
  stop
fi

# Bulk creates, propagation and reconcile: the simulator limits to RATE and the bridge
# paces to it. Propagation runs on the bulk run's users (creating them first when BULK=0).
bulk_and_propagation() {
  BULK_OUT="" PROP="" RECON=""
  (( BULK > 0 || MEMBERS > 0 )) || return 0
  fresh_db sqlite
  start "$DB_URL" "$RATE"
  if (( BULK > 0 )); then
    BULK_OUT="$("$WRITES" bulk "$BULK" "$CLIENTS" "$RATE" --bridge "$BRIDGE_URL" --sim "$SIM_URL" --pid "$BRIDGE" | grep '^RESULT')"
  fi
  if (( MEMBERS > 0 )); then
    PROP="$("$WRITES" propagate "$MEMBERS" "$RATE" --bridge "$BRIDGE_URL" --sim "$SIM_URL" --pid "$BRIDGE" | grep '^RESULT')"
  fi
  if (( RECONCILE > 0 && (BULK > 0 || MEMBERS > 0) )); then
    reconcile_run
  fi
  stop
}
bulk_and_propagation

echo
echo "## Write path: bridge-added latency (SQLite, $SAMPLES sequential samples, simulator without delay)"
echo
echo "Bridge-added = the client's latency minus the upstream time the bridge reports in \`Server-Timing: upstream\`."
echo
echo "| request | added p50 | added p99 | total p50 | total p99 |"
echo "|---|---|---|---|---|"
[[ -z "$LAT" ]] || echo "| POST /Users | $(field "$LAT" post_added_p50_ms) ms | $(field "$LAT" post_added_p99_ms) ms | $(field "$LAT" post_total_p50_ms) ms | $(field "$LAT" post_total_p99_ms) ms |"
[[ -z "$LAT" ]] || echo "| PATCH /Users/{id} | $(field "$LAT" patch_added_p50_ms) ms | $(field "$LAT" patch_added_p99_ms) ms | $(field "$LAT" patch_total_p50_ms) ms | $(field "$LAT" patch_total_p99_ms) ms |"
echo
echo "## Bulk and propagation (SQLite, upstream limited to $RATE requests/s)"
echo
echo "| run | wall time | bound (upstream calls / R) | ratio | upstream 429s | errors to the IdP |"
echo "|---|---|---|---|---|---|"
[[ -z "$BULK_OUT" ]] || echo "| $BULK creates, $CLIENTS clients | $(field "$BULK_OUT" wall_s) s | $(field "$BULK_OUT" bound_s) s ($(field "$BULK_OUT" upstream_calls) calls; $BULK / R = $(field "$BULK_OUT" bound_users_s) s) | $(field "$BULK_OUT" ratio) | $(field "$BULK_OUT" upstream_429) ($(field "$BULK_OUT" upstream_429_pct) %) | $(field "$BULK_OUT" idp_errors) (503/429 retried: $(field "$BULK_OUT" idp_retries)) |"
[[ -z "$PROP" ]] || echo "| group of $MEMBERS members (PATCH answered in $(field "$PROP" patch_ms) ms) | $(field "$PROP" wall_s) s | $(field "$PROP" bound_s) s ($(field "$PROP" upstream_calls) calls of which $(field "$PROP" page_reads) list pages, $(field "$PROP" calls_per_member) per member) | $(field "$PROP" ratio) | $(field "$PROP" upstream_429) ($(field "$PROP" upstream_429_pct) %) | - |"
[[ -z "$RECON" ]] || echo "| reconcile of $(field "$RECON" stored) stored users against $(field "$RECON" upstream) upstream (drift: $(field "$RECON" drift), errors: $(field "$RECON" errors)) | $(field "$RECON" wall_s) s | $(field "$RECON" bound_s) s ($(field "$RECON" calls) calls, $(field "$RECON" pages) list pages: $(field "$RECON" pages_bound_s) s); local work $(field "$RECON" local_s) s | $(field "$RECON" ratio) | - | - |"
fi
echo
echo "## Memory (peak RSS of the bridge process)"
echo
echo "| moment | RSS |"
echo "|---|---|"
for backend in $BACKENDS; do
  [[ -n "${IDLE[$backend]:-}" ]] || continue
  echo "| idle, $N users stored, $backend | ${IDLE[$backend]} MiB |"
  echo "| read-path load, $backend (peak) | ${READ_PEAK[$backend]} MiB |"
  [[ -z "${RECONS[$backend]:-}" ]] || echo "| reconcile of $N users, $backend (the \`scim-bridge reconcile\` process, peak) | $(field "${RECONS[$backend]}" rss_mib) MiB |"
done
if [[ -n "${BULK_OUT:-}" ]]; then
  echo "| $BULK bulk creates (peak) | $(field "$BULK_OUT" peak_rss_mib) MiB |"
fi
[[ -z "${RECON:-}" || -z "${BULK_OUT:-}${PROP:-}" ]] || echo "| reconcile after the bulk run (its own process, peak) | $(field "$RECON" rss_mib) MiB |"
