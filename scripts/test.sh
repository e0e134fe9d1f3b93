#!/usr/bin/env bash
# The project's test command: every test of the workspace, on SQLite and on PostgreSQL.
#
#   bash scripts/test.sh
#
# PostgreSQL: the server SCIM_BRIDGE_TEST_POSTGRES_URL names (postgres://USER@HOST:PORT/DB,
# trust or password in the URL; each test makes a schema of its own); without it, a
# throwaway server in a temporary directory on a free loopback port, removed at the end
# (initdb and pg_ctl from the distribution's package, installed with apt-get when missing
# and running as root; as root the server runs as the `postgres` user). When none can be
# had, the PostgreSQL tests are skipped and the summary says so, loudly.
#
# Then: `cargo test --workspace` (unit tests, the store suite on both backends, the
# integration tests on SQLite), and the integration tests again with
# SCIM_BRIDGE_TEST_BACKEND=postgres. The summary at the end counts passed, failed and
# skipped tests, and why they were skipped.
#
# SCIM_BRIDGE_TEST_REQUIRE_POSTGRES=1 (CI) makes skipped PostgreSQL tests a failure.
set -uo pipefail
cd "$(dirname "$0")/.."

# Integration tests that take SCIM_BRIDGE_TEST_BACKEND (tests/common's harness).
postgres_integration=(users_lifecycle users_errors groups replicas reconcile dry_run limits
  deprovision_guard guard_restart isolation auth no_secrets_in_logs resilience input_edges
  admin_console notify
  netsapiens_lifecycle netsapiens_replicas worker_throughput roles_entitlements crash_recovery
  unheard_writes held_lock batch_reads)

work=$(mktemp -d)
chmod 755 "$work"
log=$work/test.log
pg_data=""
pg_user=""
cleanup() {
  if [[ -n "$pg_data" && -e "$pg_data/postmaster.pid" ]]; then
    as_pg pg_ctl -D "$pg_data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_pg() {
  if [[ -n "$pg_user" ]]; then
    runuser -u "$pg_user" -- env PATH="$PATH" "$@"
  else
    "$@"
  fi
}

find_pg_bin() {
  local dir
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    return 0
  fi
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [[ -n "$dir" && -x "$dir/initdb" ]]; then
    PATH="$dir:$PATH"
    return 0
  fi
  return 1
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts the throwaway server and exports its URL; on failure says why in $skip_reason.
start_throwaway_postgres() {
  if ! find_pg_bin; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
      echo "== PostgreSQL is not installed: apt-get install postgresql"
      { apt-get install -y -qq postgresql >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq postgresql >/dev/null 2>&1; }; } || true
    fi
    if ! find_pg_bin; then
      skip_reason="no PostgreSQL: initdb/pg_ctl not found (install the postgresql package, or set SCIM_BRIDGE_TEST_POSTGRES_URL)"
      return 1
    fi
  fi
  if [[ $(id -u) -eq 0 ]]; then
    # PostgreSQL refuses to run as root.
    if id postgres >/dev/null 2>&1; then pg_user=postgres; else pg_user=nobody; fi
  fi
  local port pg_root
  port=$(free_port)
  pg_root=$work/pg
  pg_data=$pg_root/data
  mkdir -p "$pg_data"
  chmod 700 "$pg_data"
  if [[ -n "$pg_user" ]]; then chown -R "$pg_user" "$pg_root"; fi
  if ! as_pg initdb -D "$pg_data" -U postgres --auth=trust -E UTF8 --no-sync >"$work/initdb.log" 2>&1; then
    cat "$work/initdb.log"
    skip_reason="the throwaway PostgreSQL did not initialise (initdb failed, log above)"
    return 1
  fi
  if ! as_pg pg_ctl -D "$pg_data" -l "$pg_root/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $pg_root -c fsync=off -c max_connections=300" \
    start >/dev/null; then
    cat "$pg_root/postgres.log"
    skip_reason="the throwaway PostgreSQL did not start (log above)"
    return 1
  fi
  if ! as_pg createdb -h 127.0.0.1 -p "$port" -U postgres test; then
    skip_reason="the throwaway PostgreSQL did not accept createdb"
    return 1
  fi
  export SCIM_BRIDGE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/test"
  echo "== throwaway PostgreSQL ($(as_pg postgres --version)) on 127.0.0.1:$port"
}

skip_reason=""
if [[ -n "${SCIM_BRIDGE_TEST_POSTGRES_URL:-}" ]]; then
  echo "== PostgreSQL: SCIM_BRIDGE_TEST_POSTGRES_URL as given"
else
  start_throwaway_postgres || echo "== PostgreSQL unavailable: $skip_reason"
fi

status=0
echo "== cargo test --workspace --no-fail-fast"
cargo test --workspace --no-fail-fast 2>&1 | tee -a "$log" || status=1

integration_skipped=0
if [[ -n "${SCIM_BRIDGE_TEST_POSTGRES_URL:-}" ]]; then
  echo "== integration tests on PostgreSQL"
  args=()
  for t in "${postgres_integration[@]}"; do args+=(--test "$t"); done
  SCIM_BRIDGE_TEST_BACKEND=postgres cargo test --no-fail-fast "${args[@]}" 2>&1 | tee -a "$log" || status=1
else
  integration_skipped=${#postgres_integration[@]}
fi

# The tally: libtest's result lines, and the skip notes the PostgreSQL tests print.
read -r passed failed ignored < <(awk '
  /^test result:/ {
    for (i = 1; i <= NF; i++) {
      if ($(i+1) ~ /^passed/) p += $i
      if ($(i+1) ~ /^failed/) f += $i
      if ($(i+1) ~ /^ignored/) g += $i
    }
  }
  END { print p + 0, f + 0, g + 0 }' "$log")
skipped=$(grep -c '^skipped ' "$log" || true)
echo
echo "=================================================================="
echo " tests: $passed passed, $failed failed, $ignored ignored"
if ((status != 0 && failed == 0)); then
  echo " FAILED before or outside the tests (a build error, a crashed test binary): see above."
fi
if ((skipped > 0 || integration_skipped > 0)); then
  echo " SKIPPED: $skipped PostgreSQL test(s) reported passed without running,"
  echo "          and $integration_skipped integration test file(s) were not run on PostgreSQL."
  echo " WHY:     ${skip_reason:-SCIM_BRIDGE_TEST_POSTGRES_URL unset}"
  grep '^skipped ' "$log" | sed 's/: .*//' | sort | uniq -c | sort -rn | head -n 5 | sed 's/^/          /'
  if [[ "${SCIM_BRIDGE_TEST_REQUIRE_POSTGRES:-}" == 1 ]]; then
    echo " SCIM_BRIDGE_TEST_REQUIRE_POSTGRES=1: skipped tests fail the run."
    status=1
  fi
elif ((passed > 0)); then
  echo " skipped: none (PostgreSQL tests ran against ${SCIM_BRIDGE_TEST_POSTGRES_URL%%\?*})"
fi
echo "=================================================================="
exit "$status"
