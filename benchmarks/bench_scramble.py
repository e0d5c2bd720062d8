"""Speed of the anonymization methods, side by side with plain numpy.

Runs on one core (BLAS/OpenMP/numba threads pinned to 1), and the compiled
scramble also on every core (``[numba, N threads]``), and prints, for a
24-megapixel RGB photo with 30% of its pixels masked, masked pixels per
second for each method, for the obvious numpy scramble kept here as a
reference, and for a plain copy of the image; then the 1920x1080 preview case.
Scramble runs on both kernels side by side (compiled numba, and our numpy
path); "default" is ``AnonymizeSettings().apply`` on a label image of
person-shaped ellipses (background picks, per-person radius and margin),
followed by its stages on the compiled kernels; "DEFAULT but source=any" is
the same with picks from the whole window (what the background rule costs),
and scipy's chessboard distance transform with indices is the nearest-pixel
search the rule needs, alone, in C. "vs numpy ref" is the plain
numpy scramble's time over the row's; "vs our numpy" is our numpy path's
time over the compiled one's.

    python benchmarks/bench_scramble.py [--quick]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import scipy.ndimage as ndi  # noqa: E402

from _timing import best_of  # noqa: E402
from napari_fuzzy_people.core import (  # noqa: E402
    AnonymizeSettings,
    blur,
    fill,
    grow,
    pixelate,
    scramble,
    select,
)
from napari_fuzzy_people.core.masks import reuse_boxes  # noqa: E402
from napari_fuzzy_people.core.methods._kernels import set_kernels, warm_up  # noqa: E402


def people_labels(shape, fraction, seed=0):
    """Person-sized ellipses, one label each (later ones on top), until
    ``fraction`` of the image is covered."""
    h, w = shape
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.uint16)
    covered, label = 0, 0
    while covered < fraction * labels.size:
        cy, cx = rng.integers(0, h), rng.integers(0, w)
        a, b = rng.integers(h // 40, h // 7), rng.integers(w // 120, w // 20)
        y0, y1, x0, x1 = max(cy - a, 0), min(cy + a, h), max(cx - b, 0), min(cx + b, w)
        yy, xx = np.ogrid[y0:y1, x0:x1]
        label += 1
        labels[y0:y1, x0:x1][((yy - cy) / a) ** 2 + ((xx - cx) / b) ** 2 <= 1] = label
        covered = np.count_nonzero(labels)
    return labels, label


def numpy_reference(image, mask, radius, rng=None):
    """The obvious version: nonzero, random offsets, clip, fancy indexing."""
    rng = np.random.default_rng(rng)
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    sy = np.clip(ys + rng.integers(-radius, radius + 1, ys.size), 0, h - 1)
    sx = np.clip(xs + rng.integers(-radius, radius + 1, xs.size), 0, w - 1)
    out = image.copy()
    out[ys, xs] = image[sy, sx]
    return out


def on(kernels, func, threads=1):
    """``func`` on ``kernels``, the compiled ones running ``threads`` threads."""

    def call():
        set_kernels(kernels)
        os.environ["NUMBA_NUM_THREADS"] = str(threads)
        try:
            return func()
        finally:
            set_kernels(None)
            os.environ["NUMBA_NUM_THREADS"] = "1"

    return call


def default_stages(image, labels, approved, repeat):
    """Best-of seconds of each stage of ``AnonymizeSettings().apply`` as it runs it
    (one box scope): params, select, grow, then the scramble of the grown people."""
    settings = AnonymizeSettings()
    best = dict.fromkeys(("params", "select", "grow", "scramble (copy + kernel)"), float("inf"))
    for _ in range(repeat):
        with reuse_boxes():
            t0 = time.perf_counter()
            params = settings.params(labels)
            t1 = time.perf_counter()
            people = select(labels, approved)
            t2 = time.perf_counter()
            grown = grow(people, params["margin"])
            t3 = time.perf_counter()
            scramble(image, grown, radius=params["radius"], source="background")
            t4 = time.perf_counter()
        for name, t in zip(best, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            best[name] = min(best[name], t)
    return best


def run(shape, fraction, radius, repeat):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    labels, people = people_labels(shape, fraction)
    mask = labels != 0
    n = np.count_nonzero(mask)
    approved = range(1, people + 1)
    settings = AnonymizeSettings()
    any_settings = AnonymizeSettings(source="any")
    scrambles = {
        f"scramble any r={radius}": lambda: scramble(image, mask, radius=radius),
        f"scramble background r={radius}": lambda: scramble(
            image, mask, radius=radius, source="background"
        ),
        "scramble DEFAULT (panel settings)": lambda: settings.apply(image, labels, approved),
        # The default's floor without its background rule: the same margins
        # and radii, picks from anywhere in the window.
        "DEFAULT but source=any": lambda: any_settings.apply(image, labels, approved),
    }
    cases = {
        "copy (floor)": lambda: image.copy(),
        "numpy reference": lambda: numpy_reference(image, mask, radius),
        # What the nearest-pixel fallback must compute, by scipy's C code (one core).
        "scipy chessboard distance + indices": lambda: ndi.distance_transform_cdt(
            mask, metric="chessboard", return_indices=True
        ),
    }
    cores = len(os.sched_getaffinity(0))
    for name, func in scrambles.items():
        cases[f"{name} [numba]"] = on("numba", func)
        if cores > 1:
            cases[f"{name} [numba, {cores} threads]"] = on("numba", func, cores)
        cases[f"{name} [numpy]"] = on("numpy", func)
    cases.update(
        {
            f"pixelate block={radius}": lambda: pixelate(image, mask, block=radius),
            f"blur sigma={radius // 2}": lambda: blur(image, mask, sigma=radius // 2),
            "fill (ring mean)": lambda: fill(image, mask),
        }
    )
    mp = shape[0] * shape[1] / 1e6
    print(
        f"\n{shape[1]}x{shape[0]} ({mp:.1f} MP) RGB uint8, {n / mask.size:.0%} masked "
        f"({n / 1e6:.2f} M px, {people} people), best of {repeat}"
    )
    print(
        f"{'case':52s} {'ms':>9s} {'M masked px/s':>14s} {'vs numpy ref':>13s} "
        f"{'vs our numpy':>11s}"
    )
    times = {}
    for name, func in cases.items():
        func()  # compiles or warms caches; not timed
        t = times[name] = best_of(func, repeat)
        ratio = f"{times['numpy reference'] / t:12.2f}x" if "numpy reference" in times else ""
        gain = ""
        if name.endswith("[numpy]"):
            gain = f"{t / times[name.replace('[numpy]', '[numba]')]:10.2f}x"
        elif "threads]" in name:
            gain = f"{times[name.split(' [')[0] + ' [numba]'] / t:7.2f}x 1c"
        print(f"{name:52s} {t * 1e3:9.1f} {n / t / 1e6:14.1f} {ratio:>13s} {gain:>11s}")
    for threads in sorted({1, cores}):
        stages = on(
            "numba", lambda: default_stages(image, labels, list(approved), repeat), threads
        )()
        tag = "[numba]" if threads == 1 else f"[numba, {threads} threads]"
        total = times[f"scramble DEFAULT (panel settings) {tag}"]
        print(f"DEFAULT {tag} stages (best of {repeat} each; whole apply {total * 1e3:.1f} ms):")
        for name, t in stages.items():
            print(f"  {name:42s} {t * 1e3:9.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller image, one repeat")
    args = parser.parse_args()
    warm_up()
    if args.quick:
        run((1080, 1920), 0.3, 16, 1)
        return
    run((4000, 6000), 0.3, 16, 3)
    run((1080, 1920), 0.3, 16, 5)


if __name__ == "__main__":
    main()
