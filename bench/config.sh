# The Bandwidth bench bridge's configuration, shared by run.sh and callgrind.sh (on
# bench/common.sh, which netsapiens.sh shares too). Uses DIR, BRIDGE_PORT, SIM_URL and
# MEMBERS.
# shellcheck shell=bash
source bench/common.sh

# database_url bridge_rate_limit -> config file path
config() {
  TENANT=demo ROLES='["basicAccess"]' PREFIX=bandwidth-role- KIND=bandwidth MAX_WAIT=30 \
    bench_config "$1" "$2" "max_connections = 16" >"$DIR/bridge.toml"
  cat >>"$DIR/bridge.toml" <<TOML
dialect = "v1"
account_id = "9900000"
client_id = "sim-client"
client_secret = "sim-secret"
TOML
  echo "$DIR/bridge.toml"
}
