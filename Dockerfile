# The action's image: a static musl binary and a CA bundle on an empty base, nothing else.
#
# Base images are pinned by digest (the tag is kept for readers; dependabot's docker updater
# bumps both). With Cargo.lock (--locked), the pinned toolchain and SOURCE_DATE_EPOCH set by
# release.yml, a rebuild of the same commit yields the same binary and layers.

# xx cross-compiles from the builder's own platform: linux/arm64 is built on an amd64 runner at
# native speed instead of under QEMU emulation.
FROM --platform=$BUILDPLATFORM tonistiigi/xx:1.9.0@sha256:c64defb9ed5a91eacb37f96ccc3d4cd72521c4bd18d5442905b95e2226b0e707 AS xx

FROM --platform=$BUILDPLATFORM rust:1.95.0-alpine3.23@sha256:606fd313a0f49743ee2a7bd49a0914bab7deedb12791f3a846a34a4711db7ed2 AS build
# The xx image is only its scripts (xx-cargo, xx-apk, xx-verify, ...) in /usr/bin.
COPY --from=xx /usr/bin/ /usr/bin/
# Package versions are not pinned: the base image digest fixes the Alpine release, and Alpine
# drops superseded package builds from its mirrors, so an exact pin would break later rebuilds.
# hadolint ignore=DL3018
RUN apk add --no-cache clang lld musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# Cargo.toml declares the benchmark target, so cargo wants its file even for a build.
COPY benches ./benches
# Fetched once for the build platform, before the per-target part below.
RUN cargo fetch --locked

# TARGETPLATFORM (linux/amd64 or linux/arm64; TARGETARCH is its arch part) picks the target:
# x86_64-unknown-linux-musl or aarch64-unknown-linux-musl. xx-cargo adds the Rust target and
# points cargo's linker and the C compiler (for crates with C parts) at it.
ARG TARGETPLATFORM
# hadolint ignore=DL3018
RUN xx-apk add --no-cache musl-dev gcc
RUN xx-cargo build --release --locked --offline --target-dir /build \
    && cp "/build/$(xx-cargo --print-target-triple)/release/gitops-promote" /gitops-promote \
    && xx-verify --static /gitops-promote

FROM scratch
# TLS (AWS STS and ECR, the GitHub API) needs CA roots; scratch has none. The bundle is
# Alpine's (ca-certificates-bundle, part of the pinned base).
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
COPY --from=build /gitops-promote /gitops-promote
# No USER: the action runs as root, deliberately. GitHub runs Docker actions as the image's
# user and documents that they must run as the default user (root), because the workspace it
# mounts at /github/workspace, with /github/file_commands (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY)
# and /github/home, belongs to the runner's account (uid 1001 on GitHub-hosted runners, any uid
# on self-hosted ones), so no fixed non-root uid could write the kustomization files or the
# outputs. Nothing else is in the image for root to use: no shell, no package manager.
ENTRYPOINT ["/gitops-promote"]
