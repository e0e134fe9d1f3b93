# syntax=docker/dockerfile:1
# scim-bridge image: `docker build -t scim-bridge .` (the build steps are in
# scripts/build.sh, which CI also runs).

# Build stage.
FROM rust:1-bookworm AS build
WORKDIR /src
# Dependencies first, from the manifests and the lock file only: this layer is reused
# until Cargo.toml or Cargo.lock changes, so a source change rebuilds only the bridge.
COPY Cargo.toml Cargo.lock ./
COPY .cargo/ .cargo/
COPY bandwidth-sim/Cargo.toml bandwidth-sim/
COPY scripts/build.sh scripts/
RUN bash scripts/build.sh deps release
COPY . .
RUN bash scripts/build.sh release /out

# Runtime stage: the binaries on a slim base, as a non-root user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/scim-bridge --create-home scim-bridge
COPY --from=build /out/scim-bridge /out/bandwidth-sim /usr/local/bin/
COPY config/scim-bridge.example.toml /etc/scim-bridge/scim-bridge.example.toml
# The SQLite database (sqlite:///var/lib/scim-bridge/scim-bridge.db) lives here.
VOLUME ["/var/lib/scim-bridge"]
USER scim-bridge
WORKDIR /var/lib/scim-bridge
ENV SCIM_BRIDGE_CONFIG=/etc/scim-bridge/scim-bridge.toml
# mimalloc (the bridge's allocator) returns freed memory instead of keeping its arenas
# committed: an IdP's full read of a million users peaks at 30 MiB instead of 60
# (bench/RESULTS.md). It reads this before the program starts, so it is set here.
ENV MIMALLOC_ARENA_EAGER_COMMIT=0
EXPOSE 8080
# `health` asks /healthz at the configured listen address (the image has no curl).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["scim-bridge", "health"]
ENTRYPOINT ["scim-bridge"]
CMD ["serve"]
