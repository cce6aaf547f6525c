#!/usr/bin/env bash
# The CUDA build on a machine without a GPU (CI's): assemble the toolkit from
# PyPI, build `--features cuda` (the CLI and the GPU bench tools), then check
# that this binary refuses `--device cuda` with a clear message before any
# work, and gives on the CPU exactly what the CPU build gives.
#
# Needs what scripts/test.sh sets up first (ffmpeg, espeak-ng, the test
# weights, the CPU build in target/debug). Usage: scripts/cuda-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/cuda-toolkit.sh)"
# whisper.cpp's kernels for sm_90 only: the compute_80 PTX of a release
# build is the same sources compiled a second time, which CI's 2 cores and
# time limit are better spent without.
export CMAKE_CUDA_ARCHITECTURES=90-real
export CARGO_TARGET_DIR=target/cuda VANTAGE_WEIGHTS="$PWD/target/test-weights"
start=$(date +%s)
cargo build --release --features cuda -p vantage-cli -p vantage-rife -p vantage-transcribe --bins --examples
echo "cuda build: $(($(date +%s) - start)) s"
gpu=target/cuda/release/vantage cpu=target/debug/vantage
[ -x "$cpu" ] || cargo build -q --target-dir target -p vantage-cli

# No GPU here, and no NVIDIA driver: the driver's library is the toolkit's
# link stub, which answers every call with CUDA_ERROR_STUB_LIBRARY, as a
# driver that finds no GPU answers with an error of its own.
export LD_LIBRARY_PATH="$CUDA_ROOT/lib:$CUDA_ROOT/lib/stubs"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "cuda-check: $*" >&2; exit 1; }

ffmpeg -loglevel error -f lavfi -i testsrc2=size=320x180:rate=10 -frames:v 2 "$work/f%d.png"
ffmpeg -loglevel error -f lavfi -i testsrc2=size=320x180:rate=25 -f lavfi -i sine=frequency=300 -t 2 \
    -c:v libx264 -pix_fmt yuv420p -c:a aac "$work/clip.mp4"
espeak-ng -w "$work/speech.wav" "The quick brown fox jumps over the lazy dog near the river bank."

# --device cuda: refused, with what to do, and nothing written.
expect_refusal() {
    local code=0
    "$gpu" "$@" 2>"$work/err" >/dev/null || code=$?
    [ "$code" -ne 0 ] || fail "'$*' succeeded without a GPU"
    grep -q "no usable CUDA device" "$work/err" || fail "'$*' said: $(cat "$work/err")"
    grep -q "use device cpu" "$work/err" || fail "'$*' gave no remedy: $(cat "$work/err")"
    echo "refused as it should ($code): $*"
}
expect_refusal interpolate "$work/f1.png" "$work/f2.png" -o "$work/gpu.png" --device cuda
expect_refusal transcribe "$work/speech.wav" --device cuda
expect_refusal sync "$work/clip.mp4" "$work/speech.wav" -o "$work/out.mp4" --device cuda --mode precision
[ ! -e "$work/out.mp4" ] && [ ! -e "$work/gpu.png" ] || fail "a refused run left an output"

# The CPU paths of the CUDA build are the CPU build's, to the byte.
for bin in gpu cpu; do
    "${!bin}" interpolate "$work/f1.png" "$work/f2.png" -o "$work/$bin.png" --device cpu
    "${!bin}" transcribe "$work/speech.wav" --device cpu --json >"$work/$bin.json"
done
cmp "$work/gpu.png" "$work/cpu.png" || fail "RIFE on the CPU differs between the builds"
cmp "$work/gpu.json" "$work/cpu.json" || fail "Whisper on the CPU differs between the builds"
python3 -c 'import json, sys; assert len(json.load(open(sys.argv[1]))["words"]) >= 8' "$work/gpu.json" ||
    fail "the transcript lost its words: $(cat "$work/gpu.json")"
echo "cuda-check: the CUDA build refuses a missing GPU clearly and matches the CPU build on the CPU"
