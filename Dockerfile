# Builds the release site with cargo-leptos, then runs the binary on a slim image.
FROM rust:1.95-bookworm AS build
RUN rustup target add wasm32-unknown-unknown \
 && apt-get update && apt-get install -y --no-install-recommends nodejs npm \
 && cargo install cargo-leptos --version 0.3.10 --locked \
 && cargo install wasm-bindgen-cli --version 0.2.130
WORKDIR /src
COPY end2end/package.json end2end/package-lock.json end2end/
RUN cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
ENV PATH="/src/end2end/node_modules/.bin:${PATH}"
COPY . .
RUN cargo leptos build --release --precompress

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* && useradd --system --home /app sessionboard
WORKDIR /app
COPY --from=build /src/target/release/sessionboard /app/sessionboard
# The content-hashed names of the files in site/pkg; read from next to the binary.
COPY --from=build /src/target/release/hash.txt /app/hash.txt
COPY --from=build /src/target/site /app/site
COPY Leptos.toml /app/Leptos.toml
ENV LEPTOS_SITE_ROOT=/app/site \
    LEPTOS_OUTPUT_NAME=sessionboard \
    LEPTOS_SITE_ADDR=0.0.0.0:3000 \
    LEPTOS_ENV=PROD \
    SESSIONBOARD_DATA_DIR=/app/data
USER sessionboard
EXPOSE 3000
CMD ["/app/sessionboard"]
