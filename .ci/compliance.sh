#!/usr/bin/env bash
# SCIM compliance: runs the public suites scim2-tester and scim-sanity (versions pinned in
# .ci/compliance-requirements.txt) against the demo bridge (built-in Bandwidth simulator,
# SQLite in a temporary directory) on free loopback ports, and fails on any failure the
# bridge is not known to be right about (see the tolerated ones in .ci/compliance.py).
#
# Needs: python3 with venv or pip, the Rust toolchain, and PyPI. Non-interactive.
#
# Environment:
#   SCIM_COMPLIANCE_VENV=DIR           the Python environment (default: .venv in the repo;
#                                      created when missing).
#   SCIM_COMPLIANCE_PROFILE=dev        build the bridge with the dev profile (reuses what
#                                      `cargo test` built) instead of release.
#   SCIM_COMPLIANCE_OUT=DIR            keep the demo log, scim2-tester's request log and
#                                      scim-sanity's JSON report there (default: a
#                                      temporary directory, removed on exit).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

venv=${SCIM_COMPLIANCE_VENV:-$repo/.venv}
profile=${SCIM_COMPLIANCE_PROFILE:-release}
token=compliance-token
requirements=$repo/.ci/compliance-requirements.txt

work=$(mktemp -d)
out=${SCIM_COMPLIANCE_OUT:-$work}
mkdir -p "$out"
demo_pid=""
cleanup() {
  if [[ -n "$demo_pid" ]] && kill -0 "$demo_pid" 2>/dev/null; then
    kill "$demo_pid" 2>/dev/null || true
    wait "$demo_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== compliance: Python environment ($venv)"
if [[ ! -x "$venv/bin/python" ]]; then
  if ! python3 -m venv "$venv" 2>/dev/null; then
    # No ensurepip (Debian without python3-venv): an environment without pip, filled by
    # the system pip through --python.
    rm -rf "$venv"
    python3 -m venv --without-pip "$venv"
  fi
fi
if "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  pip=("$venv/bin/python" -m pip)
else
  pip=(python3 -m pip --python "$venv/bin/python")
fi
"${pip[@]}" install --quiet --disable-pip-version-check -r "$requirements"
"$venv/bin/python" - <<'EOF'
from importlib.metadata import version
print("scim2-tester", version("scim2-tester"), "/ scim-sanity", version("scim-sanity"))
EOF

echo "== compliance: build ($profile)"
cargo build --profile "$profile" --bin scim-bridge
target_dir=$(cargo metadata --format-version 1 --no-deps |
  "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
profile_dir=$profile
[[ "$profile" == dev ]] && profile_dir=debug
bin=$target_dir/$profile_dir/scim-bridge

# Two free loopback ports: bound to port 0 by the kernel, then released for the demo.
read -r port sim_port < <("$venv/bin/python" - <<'EOF'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
EOF
)

echo "== compliance: demo on 127.0.0.1:$port (simulator 127.0.0.1:$sim_port)"
mkdir -p "$work/data"
"$bin" demo --listen "127.0.0.1:$port" --sim-listen "127.0.0.1:$sim_port" \
  --token "$token" --data-dir "$work/data" >"$out/demo.log" 2>&1 </dev/null &
demo_pid=$!

if ! "$venv/bin/python" - "$port" "$demo_pid" <<'EOF'; then
import os, sys, time, urllib.request
port, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("the demo exited before answering /healthz")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.2)
sys.exit("no answer from /healthz within 60 s")
EOF
  cat "$out/demo.log"
  exit 1
fi

url=http://127.0.0.1:$port/scim/v2
status=0

echo "== compliance: scim2-tester"
"$venv/bin/python" .ci/compliance.py scim2-tester "$url" --token "$token" \
  --log "$out/scim2-tester.log" || status=1

echo "== compliance: scim-sanity"
"$venv/bin/python" .ci/compliance.py scim-sanity "$url" --token "$token" \
  --log "$out/scim-sanity.json" || status=1

if ! kill -0 "$demo_pid" 2>/dev/null; then
  echo "the demo died during the suites:"
  cat "$out/demo.log"
  status=1
fi
if [[ $status -ne 0 && "$out" == "$work" ]]; then
  echo "(set SCIM_COMPLIANCE_OUT=DIR to keep the request log and the demo log)"
fi
echo "== compliance: $([[ $status -eq 0 ]] && echo passed || echo FAILED)"
exit "$status"
