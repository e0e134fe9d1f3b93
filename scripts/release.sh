#!/usr/bin/env bash
# A release tarball: dist/scim-bridge-VERSION-TARGET.tar.gz (and its .sha256) with the
# scim-bridge binary, the example configuration, the systemd unit, README, LICENSE and
# CHANGELOG. The binary is built by scripts/build.sh, as in the image.
#
#   bash scripts/release.sh            release profile
#   bash scripts/release.sh dev        debug build (CI checks the script this way); the
#                                      archive is named ...-debug.tar.gz
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${1:-release}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
target=$(rustc -vV | sed -n 's/^host: //p')
name=scim-bridge-$version-$target
[[ "$profile" == release ]] || name=$name-debug

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/$name
mkdir -p "$stage" dist
bash scripts/build.sh "$profile" "$work/bin"
install -m 0755 "$work/bin/scim-bridge" "$stage/scim-bridge"
install -m 0644 config/scim-bridge.example.toml deploy/scim-bridge.service \
  README.md LICENSE CHANGELOG.md SECURITY.md "$stage/"

tar -C "$work" --owner=0 --group=0 --numeric-owner -czf "dist/$name.tar.gz" "$name"
(cd dist && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")

# The archive must hold what it claims, and its binary must run.
tar -tzf "dist/$name.tar.gz" | sort
mkdir "$work/check"
tar -C "$work/check" -xzf "dist/$name.tar.gz"
"$work/check/$name/scim-bridge" --version
echo "dist/$name.tar.gz"
