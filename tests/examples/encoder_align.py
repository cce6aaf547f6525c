"""Does DTW on Whisper's encoder states beat the MFCC DTW warp?

Runs the encoder of a whisper.cpp GGML model (the weights store's, as
`vantage weights fetch` installs it) in numpy on each side of every case
`align-eval` dumped, aligns the two sides' states of one layer with DTW
(cosine distance, 20 ms frames) and scores that warp against the benchmark
truth beside the MFCC DTW warp. A research tool, not part of the product:

    python3 -m venv /tmp/enc && /tmp/enc/bin/pip install numpy
    DUMP=/tmp/dump cargo run --release -p vantage-e2e --example align-eval
    /tmp/enc/bin/python tests/examples/encoder_align.py /tmp/dump \
        ~/.cache/vantage/weights/tiny.en/ggml-tiny.en.bin

LAYER=N takes block N's output (default 2; -1: the encoder's output);
MFCC=w aligns at 10 ms on the encoder distance plus w times a plain
cepstral distance (c1..c7 and deltas of Whisper's log mel).
"""

import bisect
import glob
import json
import os
import statistics
import struct
import sys
import wave

import numpy as np

LAYER = int(os.environ.get("LAYER", "2"))  # -1: after ln_post
# MFCC=w: DTW at 10 ms on the encoder distance + w x a normalised MFCC distance.
MFCC = float(os.environ.get("MFCC", "-1"))


def read_ggml(path):
    """(hparams, mel filters, {name: array}) of a whisper.cpp model file."""
    data = open(path, "rb").read()
    hp = struct.unpack_from("<11i", data, 4)
    pos = 4 + 44
    n_mel, n_bins = struct.unpack_from("<2i", data, pos)
    pos += 8
    filters = np.frombuffer(data, "<f4", n_mel * n_bins, pos).reshape(n_mel, n_bins)
    pos += 4 * n_mel * n_bins
    (n_vocab,) = struct.unpack_from("<i", data, pos)
    pos += 4
    for _ in range(n_vocab):
        (n,) = struct.unpack_from("<I", data, pos)
        pos += 4 + n
    tensors = {}
    while pos < len(data):
        n_dims, name_len, ftype = struct.unpack_from("<3i", data, pos)
        pos += 12
        dims = struct.unpack_from(f"<{n_dims}i", data, pos)
        pos += 4 * n_dims
        name = data[pos:pos + name_len].decode()
        pos += name_len
        count = int(np.prod(dims))
        dtype = "<f2" if ftype == 1 else "<f4"
        arr = np.frombuffer(data, dtype, count, pos).astype(np.float32)
        pos += count * (2 if ftype == 1 else 4)
        if name.startswith("encoder."):
            tensors[name] = arr.reshape(tuple(reversed(dims)))
    return hp, filters, tensors


def log_mel(samples, filters):
    """Whisper's log-mel input (80 x frames, 10 ms hop), as whisper.cpp computes it."""
    n_fft, hop = 400, 160
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    padded = np.pad(samples, (n_fft // 2, n_fft // 2), mode="reflect")
    frames = len(samples) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    spec = np.abs(np.fft.rfft(padded[idx] * window, axis=1)) ** 2
    mel = np.log10(np.maximum(spec @ filters.T, 1e-10)).T
    mel = np.maximum(mel, mel.max() - 8.0)
    return (mel + 4.0) / 4.0


def gelu(x):
    return 0.5 * x * (1 + np.tanh(0.7978845608 * (x + 0.044715 * x ** 3)))


def layer_norm(x, w, b):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + 1e-5) * w + b


def conv1d(x, w, b, stride):
    """x: (C_in, T); w: (C_out, C_in, 3); padding 1."""
    xp = np.pad(x, ((0, 0), (1, 1)))
    t_out = (x.shape[1] + 2 - 3) // stride + 1
    cols = np.stack([xp[:, k:k + stride * t_out:stride] for k in range(3)], axis=1)
    return np.einsum("oik,ikt->ot", w, cols) + b.reshape(-1, 1)


def encode(mel, hp, t):
    """Encoder states (frames x state) of one window of <= 3000 mel frames."""
    n_head = hp[3]
    x = gelu(conv1d(mel, t["encoder.conv1.weight"], t["encoder.conv1.bias"], 1))
    x = gelu(conv1d(x, t["encoder.conv2.weight"], t["encoder.conv2.bias"], 2)).T
    x = x + t["encoder.positional_embedding"][: x.shape[0]]
    n, d = x.shape
    scale = (d // n_head) ** -0.25
    for i in range(hp[4]):
        p = lambda s: t[f"encoder.blocks.{i}.{s}"]
        h = layer_norm(x, p("attn_ln.weight"), p("attn_ln.bias"))
        q = (h @ p("attn.query.weight").T + p("attn.query.bias")) * scale
        k = (h @ p("attn.key.weight").T) * scale
        v = h @ p("attn.value.weight").T + p("attn.value.bias")
        q, k, v = (a.reshape(n, n_head, -1).transpose(1, 0, 2) for a in (q, k, v))
        w = q @ k.transpose(0, 2, 1)
        w = np.exp(w - w.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        a = (w @ v).transpose(1, 0, 2).reshape(n, d)
        x = x + a @ p("attn.out.weight").T + p("attn.out.bias")
        h = layer_norm(x, p("mlp_ln.weight"), p("mlp_ln.bias"))
        h = gelu(h @ p("mlp.0.weight").T + p("mlp.0.bias"))
        x = x + h @ p("mlp.2.weight").T + p("mlp.2.bias")
        if i == LAYER:
            return x
    return layer_norm(x, t["encoder.ln_post.weight"], t["encoder.ln_post.bias"])


def states(path, model):
    """Encoder states every 20 ms of a 16 kHz WAV, 30 s windows padded as Whisper pads."""
    hp, filters, t = model
    with wave.open(path) as w:
        s = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    mel = log_mel(np.concatenate([s, np.zeros(480000, np.float32)]), filters)
    frames = len(s) // 160
    out = []
    for start in range(0, frames, 3000):
        window = mel[:, start:start + 3000]
        window = np.pad(window, ((0, 0), (0, 3000 - window.shape[1])), constant_values=window.min())
        out.append(encode(window, hp, t)[: (min(3000, frames - start) + 1) // 2])
    x = np.concatenate(out)
    return x / np.linalg.norm(x, axis=1, keepdims=True), mel[:, :frames]


def cepstra(mel):
    """c1..c7 of the log mel frames and their deltas, each normalised over the side."""
    n = mel.shape[0]
    dct = np.cos(np.pi / n * (np.arange(n) + 0.5)[None, :] * np.arange(1, 8)[:, None])
    c = (dct @ mel).T
    d = np.gradient(c, axis=0)
    f = np.concatenate([c, d], axis=1)
    return (f - f.mean(0)) / (f.std(0) + 1e-6)


def dtw(cost):
    """Path (i, j) of the cheapest alignment (steps right, down, diagonal)."""
    n, m = cost.shape
    acc = np.empty((n, m), np.float32)
    acc[0] = np.cumsum(cost[0])
    for i in range(1, n):
        up = acc[i - 1]
        diag = np.concatenate([[np.inf], acc[i - 1, :-1]])
        best = np.minimum(up, diag)
        s = np.cumsum(cost[i])
        prev = np.concatenate([[0.0], s[:-1]])
        acc[i] = s + np.minimum.accumulate(best - prev)
    i, j, path = n - 1, m - 1, [(n - 1, m - 1)]
    while i > 0 or j > 0:
        options = []
        if i > 0 and j > 0:
            options.append((acc[i - 1, j - 1], i - 1, j - 1))
        if i > 0:
            options.append((acc[i - 1, j], i - 1, j))
        if j > 0:
            options.append((acc[i, j - 1], i, j - 1))
        _, i, j = min(options)
        path.append((i, j))
    return path[::-1]


def warp_of(path, hop=0.02):
    """(target s, source s) knots: each target frame at the mean source frame matched to it."""
    by_target = {}
    for i, j in path:
        by_target.setdefault(j, []).append(i)
    return [((j + 0.5) * hop, (np.mean(v) + 0.5) * hop) for j, v in sorted(by_target.items())]


def warp_at(knots, t):
    times = [k[0] for k in knots]
    k = min(max(bisect.bisect_right(times, t), 1), len(knots) - 1)
    (t0, s0), (t1, s1) = knots[k - 1], knots[k]
    return s0 + (t - t0) * (s1 - s0) / (t1 - t0)


def stats(errors_ms):
    e = sorted(abs(x) for x in errors_ms)
    return statistics.median(e), e[int(0.95 * (len(e) - 1))], e[-1]


def main(folder, model_path):
    model = read_ggml(model_path)
    for path in sorted(glob.glob(f"{folder}/*.json")):
        case = json.load(open(path))
        base = path[: -len(".json")]
        (src, src_mel), (tgt, tgt_mel) = (states(f"{base}.{s}.wav", model) for s in ("src", "tgt"))
        if MFCC < 0:
            knots = warp_of(dtw(1 - src @ tgt.T))
        else:
            # Encoder frames repeated to the 10 ms hop, beside the cepstra.
            cost = 1 - np.repeat(np.repeat(src @ tgt.T, 2, 0), 2, 1)
            n, m = min(cost.shape[0], src_mel.shape[1]), min(cost.shape[1], tgt_mel.shape[1])
            a, b = cepstra(src_mel)[:n], cepstra(tgt_mel)[:m]
            mf = np.sqrt(np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T, 0))
            cost = cost[:n, :m] / np.median(cost) + MFCC * mf / np.median(mf)
            knots = warp_of(dtw(cost.astype(np.float32)), hop=0.01)
        enc = [(warp_at(knots, t) - truth) * 1000 for t, truth, _ in case["points"]]
        mfcc = [(warp - truth) * 1000 for _, truth, warp in case["points"]]
        print(f"{case['name']:<34} encoder %5.1f %6.1f %6.1f   mfcc %5.1f %6.1f %6.1f"
              % (stats(enc) + stats(mfcc)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
