# Build stage: the release binaries.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin scim-bridge --bin bandwidth-sim

# Runtime stage: a small image with the binaries, running as a non-root user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/scim-bridge --create-home scim-bridge
COPY --from=build /src/target/release/scim-bridge /usr/local/bin/scim-bridge
COPY --from=build /src/target/release/bandwidth-sim /usr/local/bin/bandwidth-sim
COPY config/scim-bridge.example.toml /etc/scim-bridge/scim-bridge.example.toml
USER scim-bridge
WORKDIR /var/lib/scim-bridge
EXPOSE 8080
ENTRYPOINT ["scim-bridge"]
CMD ["serve", "--config", "/etc/scim-bridge/scim-bridge.toml"]
