# Sourced by bench/run.sh and bench/netsapiens.sh: the bridge's configuration and its
# start-up wait, the same in both. Expects BRIDGE_PORT, BRIDGE_URL, SIM_URL, MEMBERS
# and DIR.
HASH="$(printf 'bench-token' | sha256sum | cut -d' ' -f1)"

# database_url rate_limit [more database lines] -> a bench bridge's configuration, on
# stdout, up to the target's own keys (the caller appends them): tenant TENANT with
# base roles ROLES and group role prefix PREFIX, target KIND waiting MAX_WAIT seconds
# on 429s. The limit lets the propagation run add every member in one PATCH.
bench_config() {
  cat <<TOML
[server]
listen = "127.0.0.1:$BRIDGE_PORT"

[database]
url = "$1"
${3:-}

[worker]
concurrency = 16
poll_interval_ms = 100

[tenants.$TENANT]
tokens = [{ id = "bench", sha256 = "$HASH" }]
base_roles = $ROLES

[tenants.$TENANT.groups]
role_prefix = "$PREFIX"

[tenants.$TENANT.limits]
max_members_per_request = $(( MEMBERS > 1000 ? MEMBERS : 1000 ))

[tenants.$TENANT.target]
kind = "$KIND"
base_url = "$SIM_URL"
rate_limit_per_second = $2
max_rate_limit_wait_secs = $MAX_WAIT
TOML
}

# Waits for the bridge to answer /healthz; prints its log and exits if it never does.
wait_for_bridge() {
  for _ in $(seq 200); do curl -sf "$BRIDGE_URL/healthz" >/dev/null && return; sleep 0.1; done
  echo "the bridge did not start:" >&2
  cat "$DIR/bridge.log" >&2
  exit 1
}
