#!/usr/bin/env bash
# CI: the ways scim-bridge ships still work. The Dockerfile's build stage (through
# scripts/docker-standin.py: no container engine runs here), the release tarball (debug
# build), `cargo install --path .`, and the Kubernetes manifests against the
# Kubernetes API schemas (kubernetes-validate, pinned in .ci/deploy-requirements.txt;
# it ships the schemas, so this works offline).
#
# Environment: SCIM_COMPLIANCE_VENV=DIR, the Python environment shared with
# .ci/compliance.sh (default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
venv=${SCIM_COMPLIANCE_VENV:-$repo/.venv}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== ship: Dockerfile build stage (stand-in for docker build, dev profile)"
python3 scripts/docker-standin.py

echo "== ship: release tarball (dev profile)"
bash scripts/release.sh dev
rm -f dist/scim-bridge-*-debug.tar.gz dist/scim-bridge-*-debug.tar.gz.sha256

echo "== ship: cargo install --path . (debug, the workspace's target folder)"
CARGO_TARGET_DIR=$repo/target cargo install --locked --debug --quiet --path . --root "$work/install"
"$work/install/bin/scim-bridge" --version

echo "== ship: Kubernetes manifests"
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv" 2>/dev/null || { rm -rf "$venv"; python3 -m venv --without-pip "$venv"; }
fi
if "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  pip=("$venv/bin/python" -m pip)
else
  pip=(python3 -m pip --python "$venv/bin/python")
fi
"${pip[@]}" install --quiet --disable-pip-version-check -r .ci/deploy-requirements.txt
manifests=()
for f in deploy/kubernetes/*.yaml; do
  [[ "$(basename "$f")" == kustomization.yaml ]] || manifests+=("$f")
done
"$venv/bin/kubernetes-validate" --strict --quiet "${manifests[@]}"
echo "== ship: ${#manifests[@]} manifests valid"
