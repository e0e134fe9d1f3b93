# The bridge's configuration for the benchmarks, shared by run.sh and callgrind.sh.
# Uses DIR, BRIDGE_PORT, SIM_URL, HASH (of the token `bench-token`) and MEMBERS.
# shellcheck shell=bash

# database_url bridge_rate_limit -> config file path
config() {
  cat >"$DIR/bridge.toml" <<TOML
[server]
listen = "127.0.0.1:$BRIDGE_PORT"

[database]
url = "$1"
max_connections = 16

[worker]
concurrency = 16
poll_interval_ms = 100

[tenants.demo]
tokens = [{ id = "bench", sha256 = "$HASH" }]
base_roles = ["basicAccess"]

[tenants.demo.groups]
role_prefix = "bandwidth-role-"

# The propagation run adds every member in one PATCH.
[tenants.demo.limits]
max_members_per_request = $(( MEMBERS > 1000 ? MEMBERS : 1000 ))

[tenants.demo.target]
kind = "bandwidth"
dialect = "v1"
base_url = "$SIM_URL"
account_id = "9900000"
client_id = "sim-client"
client_secret = "sim-secret"
rate_limit_per_second = $2
max_rate_limit_wait_secs = 30
TOML
  echo "$DIR/bridge.toml"
}
