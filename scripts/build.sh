#!/usr/bin/env bash
# The one build of the shipped binaries (scim-bridge and bandwidth-sim): the Dockerfile
# runs it, scripts/release.sh runs it, and CI runs it (dev profile), so the image's build
# line is exercised on every CI run and cannot rot.
#
#   scripts/build.sh [PROFILE] [OUT_DIR]   build with PROFILE (release, default, or dev)
#                                          and copy both binaries to OUT_DIR if given
#   scripts/build.sh deps [PROFILE]        build only the dependencies, from the manifests
#                                          and Cargo.lock alone (the image's cached layer):
#                                          empty stand-ins for the workspace's sources are
#                                          written where sources are missing, then removed
#
# SCIM_BRIDGE_BUILD_PROFILE overrides PROFILE (CI's stand-in for `docker build` builds
# the Dockerfile's steps with the dev profile).
#
# Needs: cargo (rust-version in Cargo.toml) and a C compiler (ring, SQLite).
set -euo pipefail
cd "$(dirname "$0")/.."

bins=(-p scim-bridge --bin scim-bridge -p bandwidth-sim --bin bandwidth-sim)

# Set by `deps` when it built from stand-ins: their artifacts are newer than the real
# sources copied in afterwards (which keep their own modification times), so the next
# build must see those sources as changed.
marker=target/.built-from-stand-ins

if [[ "${1:-}" == deps ]]; then
  profile=${SCIM_BRIDGE_BUILD_PROFILE:-${2:-release}}
  stubs=()
  for file in src/main.rs src/lib.rs bandwidth-sim/src/main.rs bandwidth-sim/src/lib.rs; do
    if [[ ! -e "$file" ]]; then
      mkdir -p "$(dirname "$file")"
      case "$file" in
        */main.rs) echo 'fn main() {}' >"$file" ;;
        *) : >"$file" ;;
      esac
      stubs+=("$file")
    fi
  done
  # sqlx's migrate! reads the folder at compile time; the stand-ins do not use it.
  cargo build --locked --profile "$profile" "${bins[@]}"
  if ((${#stubs[@]})); then
    rm -f "${stubs[@]}"
    mkdir -p target
    touch "$marker"
  fi
  exit 0
fi

profile=${SCIM_BRIDGE_BUILD_PROFILE:-${1:-release}}
out=${2:-}
if [[ -e "$marker" ]]; then
  touch src/main.rs src/lib.rs bandwidth-sim/src/main.rs bandwidth-sim/src/lib.rs
  rm -f "$marker"
fi
cargo build --locked --profile "$profile" "${bins[@]}"
if [[ -n "$out" ]]; then
  dir=$profile
  [[ "$profile" == dev ]] && dir=debug
  target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
  mkdir -p "$out"
  cp "$target/$dir/scim-bridge" "$target/$dir/bandwidth-sim" "$out/"
  "$out/scim-bridge" --version
fi
