#!/usr/bin/env bash
# Instructions per userName lookup on the release bridge (SQLite, 10,000 users): the
# per-request cost figure that stays stable on a loaded machine, unlike requests/s.
#
#   bash bench/callgrind.sh [out-file]     # needs valgrind, wrk, curl; a release build
#
# The bridge runs under `valgrind --tool=callgrind` with instrumentation off until wrk
# has warmed it up (5 s at 4 connections), then on for 15 s of lookups; the cost of the
# connection tasks (`http::connections::serve`) is divided by the lookups served.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-callgrind.lookups.out}"
TARGET="${CARGO_TARGET_DIR:-target}"
DIR="$(mktemp -d)"
trap 'kill "${VG:-}" "${SIM:-}" 2>/dev/null || true; rm -rf "$DIR"' EXIT
BRIDGE_PORT=18090
SIM_URL="http://127.0.0.1:18091"
MEMBERS=0
source bench/config.sh
config "sqlite://$DIR/bench.db" 100 >/dev/null
"$TARGET/release/scim-bridge" migrate --config "$DIR/bridge.toml" >/dev/null
"$TARGET/release/examples/seed" "sqlite://$DIR/bench.db" demo 10000 >/dev/null 2>&1
"$TARGET/release/bandwidth-sim" --listen 127.0.0.1:18091 >"$DIR/sim.log" 2>&1 &
SIM=$!
valgrind --tool=callgrind --callgrind-out-file="$OUT" --instr-atstart=no \
  "$TARGET/release/scim-bridge" serve --config "$DIR/bridge.toml" >"$DIR/bridge.log" 2>&1 &
VG=$!
for _ in $(seq 300); do curl -sf http://127.0.0.1:18090/healthz >/dev/null && break; sleep 0.2; done
SEEDED=10000 wrk -t1 -c4 -d5s -s bench/lookup.lua http://127.0.0.1:18090 >/dev/null
callgrind_control -i on "$VG" >/dev/null
measured="$(SEEDED=10000 wrk -t1 -c4 -d15s -s bench/lookup.lua http://127.0.0.1:18090)"
callgrind_control -i off "$VG" >/dev/null
kill "$VG"
wait "$VG" 2>/dev/null || true
VG=""
# Whole outputs read (no early exit), so no pipe breaks under `pipefail`.
cost="$(callgrind_annotate --inclusive=yes "$OUT" \
  | awk '/connections::serve::\{\{closure\}\}::\{\{closure\}\} / && !n {gsub(",","",$1); print $1; n=1}')"
# The lookups served while instrumentation was on, as wrk counted them (a caller count
# in the profile depends on how the compiler inlined the function it is read from).
lookups="$(echo "$measured" | awk '/requests in/ {print $1}')"
echo "RESULT lookups=$lookups instructions=$cost per_lookup=$(( cost / lookups )) profile=$OUT"
