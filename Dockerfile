# syntax=docker/dockerfile:1
# Build a static binary, then ship it alone on scratch.
FROM rust:1.95-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked && cp target/release/gitops-promote /gitops-promote

FROM scratch
COPY --from=build /gitops-promote /gitops-promote
ENTRYPOINT ["/gitops-promote"]
