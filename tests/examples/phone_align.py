"""Does phone-level forced alignment beat the DTW warp on the accuracy benchmark?

Aligns each side of every case to its text with pocketsphinx (its PyPI wheel
bundles the CMU en-us acoustic model and dictionary), matches the two sides'
phones in order (word by word; a word pronounced differently on the two sides
keeps only its edges) and scores that warp against the benchmark truth, beside
the DTW warp `align-eval` dumped. A research tool, not part of the product:

    python3 -m venv /tmp/ps && /tmp/ps/bin/pip install pocketsphinx==5.1.1
    DUMP=/tmp/dump ANCHORS=tiny.en cargo run --release -p vantage-e2e --example align-eval
    /tmp/ps/bin/python tests/examples/phone_align.py /tmp/dump      # FRATE=200: 5 ms frames
"""

import bisect
import glob
import json
import os
import re
import statistics
import sys
import wave

from pocketsphinx import Decoder

FRATE = int(os.environ.get("FRATE", "100"))
FILLERS = ("<sil>", "<s>", "</s>", "[NOISE]")


def words(wav, text):
    """[(word, [(phone, start_s, end_s)])] of `wav` forced to `text`."""
    with wave.open(wav) as w:
        raw = w.readframes(w.getnframes())
    d = Decoder(samprate=16000, lm=None, frate=FRATE, beam=1e-120, wbeam=1e-100,
                pbeam=1e-120, bestpath=False, loglevel="FATAL")
    d.set_align_text(re.sub(r"[^a-z' ]", " ", text.lower()))
    for _ in range(2):  # the word pass, then the phone pass inside it
        d.start_utt()
        d.process_raw(raw, full_utt=True)
        d.end_utt()
        if _ == 0:
            d.set_alignment()
    out = []
    for word in d.get_alignment():
        if word.name in FILLERS or word.name.startswith("+"):
            continue
        phones = [(p.name, p.start / FRATE, (p.start + p.duration) / FRATE) for p in word]
        out.append((re.sub(r"\(\d+\)$", "", word.name), phones))
    return out


def knots(source, target):
    """(target s, source s) at every matched phone edge, increasing."""
    pairs = []
    for (_, sp), (_, tp) in zip(source, target):
        if [p[0] for p in sp] != [p[0] for p in tp]:
            sp, tp = [(None, sp[0][1], sp[-1][2])], [(None, tp[0][1], tp[-1][2])]
        for (_, s0, s1), (_, t0, t1) in zip(sp, tp):
            pairs += [(t0, s0), (t1, s1)]
    out = []
    for k in sorted(pairs):
        if not out or k[0] > out[-1][0]:
            out.append(k)
    return out


def warp_at(knots, t):
    times = [k[0] for k in knots]
    k = bisect.bisect_right(times, t)
    if k == 0:
        return knots[0][1] + t - knots[0][0]
    if k == len(knots):
        return knots[-1][1] + t - knots[-1][0]
    (t0, s0), (t1, s1) = knots[k - 1], knots[k]
    return s0 + (t - t0) * (s1 - s0) / (t1 - t0)


def stats(errors_ms):
    e = sorted(abs(x) for x in errors_ms)
    return statistics.median(e), e[int(0.95 * (len(e) - 1))], e[-1]


def main(folder):
    for path in sorted(glob.glob(f"{folder}/*.json")):
        case = json.load(open(path))
        base = path[:-len(".json")]
        try:
            source = words(f"{base}.src.wav", case["source_text"])
            target = words(f"{base}.tgt.wav", case["target_text"])
        except RuntimeError as e:
            print(f"{case['name']:<34} failed: {e}")
            continue
        if [w for w, _ in source] != [w for w, _ in target]:
            print(f"{case['name']:<34} the word sequences differ")
            continue
        k = knots(source, target)
        phones = [(warp_at(k, t) - truth) * 1000 for t, truth, _ in case["points"]]
        dtw = [(warp - truth) * 1000 for _, truth, warp in case["points"]]
        print(f"{case['name']:<34} phones %5.1f %6.1f %6.1f   dtw %5.1f %6.1f %6.1f"
              % (stats(phones) + stats(dtw)))


if __name__ == "__main__":
    main(sys.argv[1])
