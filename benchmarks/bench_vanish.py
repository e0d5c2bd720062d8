"""Vanish against its goals: seconds per megapixel at 15% masked, and texture.

Side by side in one run, on one photo: vanish (PatchMatch from background
only, the product's ``core.methods.vanish``) on one worker process and on
all (``threads()``: ``NUMBA_NUM_THREADS`` or the usable cores), vanish as it
was before it was cut into pieces (one search per group of people, in a
crop padded by the person's size), OpenCV's Telea inpainting (smooth, the
baseline the issue measured), and the default scramble. Each case runs once
untimed first (that starts vanish's worker processes), then the best of
``--repeat``. The texture measure is the issue's: the standard deviation of
the high-pass image (minus a Gaussian blur of sigma 2) inside the filled
region, over that of a ring 3-15 px outside it; a natural fill is near 1, a
smooth one near 0.

By default the photo is synthetic (smoothed-noise texture, person-shaped
ellipses covering 15%); ``--coco PATH`` also runs every coco-people photo
whose people (grown by 3 px) cover 8-25% of it, scaling the time to 15%.

    python benchmarks/bench_vanish.py [--coco ../shared/data/coco-people] [--size 1000]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from unittest import mock

import numpy as np
from scipy import ndimage as ndi

from _timing import best_of
from napari_fuzzy_people.core import AnonymizeSettings, grow
from napari_fuzzy_people.core.methods import _vanish, vanish
from napari_fuzzy_people.core.methods._threads import threads


def high_pass_ratio(image, hole):
    g = image.astype(np.float32).mean(axis=-1)
    hp = g - ndi.gaussian_filter(g, 2)
    inside = ndi.binary_erosion(hole, iterations=3)
    ring = ndi.binary_dilation(hole, iterations=15) & ~ndi.binary_dilation(hole, iterations=3)
    return float(hp[inside].std() / hp[ring].std())


def synthetic(side, fraction=0.15, seed=0):
    rng = np.random.default_rng(seed)
    noise = ndi.gaussian_filter(rng.normal(size=(side, side, 3)), (1.5, 1.5, 0))
    image = np.clip(120 + 45 * noise / noise.std(), 0, 255).astype(np.uint8)
    labels = np.zeros((side, side), np.uint16)
    yy, xx = np.mgrid[:side, :side]
    label = 0
    while np.count_nonzero(labels) < fraction * labels.size:
        cy, cx = rng.integers(side // 8, 7 * side // 8, 2)
        a, b = rng.integers(side // 10, side // 5), rng.integers(side // 30, side // 14)
        label += 1
        labels[((yy - cy) / a) ** 2 + ((xx - cx) / b) ** 2 <= 1] = label
    image[labels > 0] = (250, 30, 30)  # people in red: any left in the fill would show
    return image, labels


def vanish_before(image, labels, approved):
    """Vanish as it was: one piece, crops padded by a person's size, in this process."""
    with mock.patch.multiple(_vanish, MAX_PIECES=1, CONTEXT_SHARE=1.0):
        return vanish(image, labels, labels=approved, margin=3, rng=0, context=32, workers=1)


def row(name, image, labels, repeat):
    import cv2

    approved = sorted(set(np.unique(labels).tolist()) - {0})
    hole = grow(labels, 3) > 0
    fraction = hole.mean()
    mp = labels.size / 1e6
    per_mp_at_15 = 0.15 / fraction / mp
    n = threads()
    cases = {
        "vanish before": lambda: vanish_before(image, labels, approved),
        "vanish, 1 worker": lambda: vanish(
            image, labels, labels=approved, margin=3, rng=0, workers=1
        ),
        f"vanish, {n} workers": lambda: vanish(
            image, labels, labels=approved, margin=3, rng=0, workers=n
        ),
        "telea (cv2.inpaint)": lambda: cv2.inpaint(
            image, hole.view(np.uint8), 5, cv2.INPAINT_TELEA
        ),
        "scramble (defaults)": lambda: AnonymizeSettings().apply(image, labels, approved, rng=0),
    }
    print(f"\n{name}: {labels.shape[1]}x{labels.shape[0]} ({mp:.2f} MP), "
          f"{fraction:.0%} masked, {len(approved)} people")  # fmt: skip
    print(f"  {'method':22s} {'s':>7s} {'s/MP at 15%':>12s} {'texture ratio':>14s}")
    out = {}
    for case, func in cases.items():
        result = func()
        t = best_of(func, repeat)
        out[case] = (t * per_mp_at_15, high_pass_ratio(result, hole))
        print(f"  {case:22s} {t:7.2f} {out[case][0]:12.2f} {out[case][1]:14.2f}")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000, help="synthetic photo side (px)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--coco-repeat", type=int, default=1)
    parser.add_argument("--coco", type=Path, help="the coco-people folder")
    args = parser.parse_args()
    row("synthetic", *synthetic(args.size), args.repeat)
    if args.coco is None:
        return
    from PIL import Image

    results = []
    for entry in json.loads((args.coco / "annotations.json").read_text())["images"]:
        image = np.asarray(Image.open(args.coco / entry["image"]).convert("RGB"))
        labels = np.asarray(Image.open(args.coco / entry["mask"])).astype(np.uint16)
        if not 0.08 <= (grow(labels, 3) > 0).mean() <= 0.25:
            continue
        results.append(row(Path(entry["image"]).name, image, labels, args.coco_repeat))
    print(f"\nmedians over {len(results)} coco-people photos:")
    for case in results[0]:
        times, ratios = zip(*(r[case] for r in results), strict=True)
        print(
            f"  {case:22s} s/MP at 15% {np.median(times):6.2f}   texture {np.median(ratios):5.2f}"
        )


if __name__ == "__main__":  # vanish's workers are spawned: they import this file too
    main()
