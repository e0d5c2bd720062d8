"""What a user waits for: SAM embedding and prompts, and each detector.

Builds the full-size architectures with random weights (as slow as the real
ones; nothing is downloaded) and times, on a 1024x768 photo, SAM ViT-B's
image embedding, one box prompt, 10 box prompts batched, and each torchvision
person detector. Prints seconds and each step as a ratio of the embedding.

    python benchmarks/bench_models.py [--sam vit_b] [--repeat 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from skimage.data import astronaut
from skimage.transform import resize

from napari_fuzzy_people.models.detector import DETECTORS, TorchvisionDetector
from napari_fuzzy_people.models.segmenter import SamSegmenter


def best_of(func, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sam", default="vit_b", choices=["vit_b", "vit_l", "vit_h"])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    photo = (resize(astronaut(), (768, 1024), anti_aliasing=True) * 255).astype(np.uint8)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x0, y0 = rng.uniform(0, 800, 10), rng.uniform(0, 500, 10)
    boxes = np.stack([x0, y0, x0 + 150, y0 + 250], axis=1).astype(np.float32)

    rows = []
    seg = SamSegmenter.load(args.sam, checkpoint=None)

    def embed():
        seg._cache.clear()
        seg._current = None
        seg.set_image(photo)

    rows.append((f"SAM {args.sam}: image embedding", best_of(embed, args.repeat)))
    rows.append(("SAM: 1 box prompt", best_of(lambda: seg.segment_boxes(photo, boxes[:1]), 3)))
    rows.append(
        ("SAM: 10 box prompts, batched", best_of(lambda: seg.segment_boxes(photo, boxes), 3))
    )
    rows.append(
        ("SAM: 1 point prompt", best_of(lambda: seg.segment_points(photo, [[500, 300]], [1]), 3))
    )
    for name in DETECTORS:
        det = TorchvisionDetector(name, checkpoint=None)
        det.detect(photo)  # warm-up: first call allocates
        rows.append((f"detector {name}", best_of(lambda det=det: det.detect(photo), args.repeat)))

    base = rows[0][1]
    print(
        f"1024x768 photo, device {seg.device}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, best of {args.repeat}"
    )
    print(f"{'step':46s} {'seconds':>8s} {'x embedding':>12s}")
    for name, t in rows:
        print(f"{name:46s} {t:8.3f} {t / base:12.3f}")


if __name__ == "__main__":
    main()
