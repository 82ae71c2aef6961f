# calm in a container: `calm node` as the entrypoint, running as an unprivileged user.
#
#   docker build -t calm .
#   docker run --rm -p 8000:8000 calm programs/kvs.dl --http 0.0.0.0:8000 --insecure
#
# Settings come from flags or from CALM_* environment variables (docs/deploy.md).

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p calm-cli \
    && install -Dm755 target/release/calm /out/calm

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/calm --create-home calm
COPY --from=build /out/calm /usr/local/bin/calm
COPY programs /usr/share/calm/programs
USER calm
WORKDIR /usr/share/calm
# Peers, the client API (HTTP) and Redis clients (with --resp).
EXPOSE 7000 8000 6380
ENV CALM_LISTEN=0.0.0.0:7000 \
    CALM_HTTP=0.0.0.0:8000
VOLUME ["/var/lib/calm"]
ENTRYPOINT ["calm", "node"]
CMD ["programs/kvs.dl"]
