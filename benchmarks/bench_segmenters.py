"""Segmenters side by side: Light HQ-SAM vit_tiny against SAM ViT-B, one run.

Full-size architectures with random weights (as slow as the real ones;
nothing is downloaded), a 1024x768 photo. Prints, best of ``--repeat``
rounds (the candidates take turns within each round, so a busy machine slows
them alike):

- the image embedding: HQ tiny's always; ViT-B's only with ``--vit-b-encoder``
  (about 10 s each); without it ViT-B's decoder runs on a random embedding of
  the right shape, which costs the decoder the same;
- prompt -> mask after the embedding: one box, 10 boxes in one decoder call
  and one box per call (the CPU default; per box), one point; for ViT-B, for
  HQ tiny through our segmenter, and for HQ tiny through the package's own
  ``SamPredictor.predict`` (the stock path);
- Find people with the fast pair: MobileNet detector + HQ tiny embedding + 10
  box masks.

"CPU ms" is the processor time the step took (all threads). With
``--threads 1`` it is the work itself, whatever else the machine runs: the
steady measure on a shared machine, where wall-clock times vary several-fold.

    python benchmarks/bench_segmenters.py [--repeat 5] [--vit-b-encoder] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from skimage.data import astronaut
from skimage.transform import resize

from napari_fuzzy_people.models.detector import TorchvisionDetector
from napari_fuzzy_people.models.hq import HqSamSegmenter
from napari_fuzzy_people.models.segmenter import Embedding, SamSegmenter, _pixels_key


def forget(seg):
    """Drop the segmenter's embeddings, so the next prompt embeds again."""
    seg._cache.clear()
    seg._current = None


def with_random_embedding(seg, photo):
    """Make ``photo`` current with a random embedding (the decoder's cost is the same)."""
    h, w = photo.shape[:2]
    scale = seg.sam.image_encoder.img_size / max(h, w)
    key = _pixels_key(photo)
    side = seg.sam.image_encoder.img_size // 16
    seg._cache[key] = Embedding(
        torch.randn(1, 256, side, side), (h, w), (round(h * scale), round(w * scale))
    )
    seg._current = None
    seg.set_image(photo)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--vit-b-encoder", action="store_true", help="also embed with ViT-B")
    parser.add_argument("--threads", type=int, help="torch threads (default: the usable cores)")
    args = parser.parse_args()

    photo = (resize(astronaut(), (768, 1024), anti_aliasing=True) * 255).astype(np.uint8)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x0, y0 = rng.uniform(0, 800, 10), rng.uniform(0, 500, 10)
    boxes = np.stack([x0, y0, x0 + 150, y0 + 250], axis=1).astype(np.float32)
    point = [[500, 300]]

    hq = HqSamSegmenter.load("hq_vit_tiny", checkpoint=None)
    vit_b = SamSegmenter.load("vit_b", checkpoint=None)
    detector = TorchvisionDetector("fasterrcnn_mobilenet_v3_large_fpn", checkpoint=None)
    if args.threads:
        torch.set_num_threads(args.threads)
    hq.set_image(photo)
    if args.vit_b_encoder:
        vit_b.set_image(photo)
    else:
        with_random_embedding(vit_b, photo)
    stock = hq._predictor_type(hq.sam)
    with torch.inference_mode():
        stock.set_image(photo)
    detector.detect(photo)  # first call allocates

    def stock_boxes(n, hq_token_only):
        with torch.inference_mode():
            for box in boxes[:n]:
                stock.predict(box=box, multimask_output=False, hq_token_only=hq_token_only)

    def batched(seg, per_call):
        seg.boxes_per_call = per_call
        seg.segment_boxes(photo, boxes)

    def embed(seg):
        forget(seg)
        seg.set_image(photo)

    def find_people_fast():
        detector.detect(photo)
        embed(hq)
        hq.segment_boxes(photo, boxes)

    steps = {"HQ tiny: image embedding": lambda: embed(hq)}
    if args.vit_b_encoder:
        steps["ViT-B: image embedding"] = lambda: embed(vit_b)
    for name, seg in (("ViT-B", vit_b), ("HQ tiny", hq)):
        steps[f"{name}: 1 box"] = lambda seg=seg: seg.segment_boxes(photo, boxes[:1])
        steps[f"{name}: 10 boxes in one call, per box"] = lambda seg=seg: batched(seg, 10)
        steps[f"{name}: 10 boxes one per call, per box"] = lambda seg=seg: batched(seg, 1)
        steps[f"{name}: 1 point"] = lambda seg=seg: seg.segment_points(photo, point, [1])
    steps["HQ tiny, stock predict: 1 box"] = lambda: stock_boxes(1, False)
    steps["HQ tiny, stock predict hq_token_only: 1 box"] = lambda: stock_boxes(1, True)
    steps["Find people, fast pair (detect, embed, 10 masks)"] = find_people_fast
    per = {name: 10 if "10 boxes" in name else 1 for name in steps}

    times = {name: [] for name in steps}
    cpu = {name: [] for name in steps}
    for _ in range(args.repeat):
        for name, step in steps.items():
            t0, c0 = time.perf_counter(), time.process_time()
            step()
            times[name].append((time.perf_counter() - t0) / per[name])
            cpu[name].append((time.process_time() - c0) / per[name])

    print(
        f"1024x768 photo, device {hq.device}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, best of {args.repeat} (median in brackets)"
    )
    print(f"{'step':52s} {'ms':>8s} {'(median)':>10s} {'CPU ms':>8s}")
    for name, t in times.items():
        print(
            f"{name:52s} {min(t) * 1e3:8.1f} {np.median(t) * 1e3:10.1f} "
            f"{min(cpu[name]) * 1e3:8.1f}"
        )


if __name__ == "__main__":
    main()
