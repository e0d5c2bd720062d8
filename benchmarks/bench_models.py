"""What a user waits for, each step beside its reference in the same run.

Full-size architectures with random weights (as slow as the real ones;
nothing is downloaded), loaded through the product's own loaders from
temporary checkpoint files, on the astronaut photo at 1024x768:

- SAM ViT-B image embedding: stock ``segment_anything`` vs our path
  (``SamSegmenter``, fused attention), the largest difference in the
  embedding, and whether masks for 5 boxes are identical;
- Light HQ-SAM (vit_tiny) embedding against ViT-B stock;
- prompt to mask after the embedding (1 box, 10 boxes batched, 1 point),
  per segmenter, beside stock SAM's own predictor;
- the two torchvision detectors;
- "Find people" end to end (``propose_people``: detect, embed, one mask
  for each of 5 boxes) for the fast and the accurate pair.

Every row is best-of-N, candidate and reference interleaved, so that load
from other processes hits both alike.

    python benchmarks/bench_models.py [--quick] [--repeat 3] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from segment_anything import SamPredictor, sam_model_registry
from skimage.data import astronaut
from skimage.transform import resize

from napari_fuzzy_people.models import propose
from napari_fuzzy_people.models._attention import fuse_attention, restore_attention
from napari_fuzzy_people.models._device import choose_device
from napari_fuzzy_people.models.detector import TorchvisionDetector
from napari_fuzzy_people.models.segmenter import SamSegmenter

GOALS = {
    "vit_b": "goal >= 1.5x stock, same masks",
    "hq": "goal >= 6x ViT-B stock and <= 1.2 s",
    "prompt": "goal <= 0.100 s per prompt",
    "find": "goal <= 3 s with the fast pair",
}


# -- timing ---------------------------------------------------------------


def timer(device):
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def once(func):
        sync()
        t0 = time.perf_counter()
        func()
        sync()
        return time.perf_counter() - t0

    return once


def side_by_side(funcs: dict, repeat: int, once) -> dict:
    """Best-of-``repeat`` seconds for each function, run in turn each round after a
    warm-up round (first calls allocate)."""
    for func in funcs.values():
        func()
    best = dict.fromkeys(funcs, float("inf"))
    for _ in range(repeat):
        for name, func in funcs.items():
            best[name] = min(best[name], once(func))
    return best


# -- models -----------------------------------------------------------------


def trained_like(sam, seed=0):
    """Random weights with the position terms filled in (SAM starts them at zero, which
    would leave the relative-position code with nothing to get wrong)."""
    gen = torch.Generator().manual_seed(seed)
    enc = sam.image_encoder
    with torch.no_grad():
        enc.pos_embed.copy_(torch.randn(enc.pos_embed.shape, generator=gen) * 0.02)
        for block in enc.blocks:
            for table in (block.attn.rel_pos_h, block.attn.rel_pos_w):
                table.copy_(torch.randn(table.shape, generator=gen) * 0.1)
    return sam


def norms_like_trained(model, seed=0):
    """Batch norms with statistics and affine terms (a fresh one is the identity,
    which would hide a wrong fold of the norms into the convolutions)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for norm in model.modules():
            if isinstance(norm, torch.nn.BatchNorm2d):
                n = norm.num_features
                norm.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
                norm.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
                norm.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                norm.bias.copy_(torch.rand(n, generator=gen) * 0.4 - 0.2)
    return model


def save(model, folder: Path, name: str) -> Path:
    path = folder / f"{name}.pth"
    torch.save(model.state_dict(), path)
    return path


def vit_b_pair(folder: Path, device):
    """Stock SAM's predictor and our segmenter, the same random ViT-B weights."""
    torch.manual_seed(0)
    stock = trained_like(sam_model_registry["vit_b"](checkpoint=None)).eval()
    path = save(stock, folder, "sam_vit_b")
    ours = SamSegmenter.load("vit_b", checkpoint=path, device=device)
    # Until SamSegmenter.load fuses the attention itself, the bench does (the note says so).
    fused_here = fuse_attention(ours.sam)
    restore_attention(stock)  # stock means stock, whatever the package import did
    return SamPredictor(stock.to(device)), ours, fused_here


def hq_tiny(folder: Path, device):
    """Light HQ-SAM through the product's loader, and the package's own predictor
    on the same random weights (norms given trained-like statistics)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # timm deprecation and registry notes
        from segment_anything_hq import sam_model_registry as hq_registry

        from napari_fuzzy_people.models.hq import HqSamSegmenter

        torch.manual_seed(0)
        path = save(norms_like_trained(hq_registry["vit_tiny"](checkpoint=None)), folder, "hq")
        ours = HqSamSegmenter.load("hq_vit_tiny", checkpoint=path, device=device)
        return ours, DirectHq(path, device)


class DirectHq:
    """HQ-SAM's own predictor on the package's model: the reference for ours."""

    name = "hq_vit_tiny (package)"

    def __init__(self, path, device):
        from segment_anything_hq import SamPredictor as HqPredictor
        from segment_anything_hq import sam_model_registry as hq_registry

        sam = hq_registry["vit_tiny"](checkpoint=None)
        sam.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.predictor = HqPredictor(sam.eval().to(device))
        self._cache, self._current = {}, None

    def set_image(self, image):
        with torch.inference_mode():
            self.predictor.set_image(image)

    def segment_boxes(self, image, boxes):
        p = self.predictor
        with torch.inference_mode():
            b = p.transform.apply_boxes_torch(
                torch.as_tensor(boxes, device=p.device), image.shape[:2]
            )
            masks, scores, _ = p.predict_torch(None, None, boxes=b, multimask_output=False)
        return masks[:, 0].cpu().numpy(), scores[:, 0].cpu().numpy()

    def segment_points(self, image, points, labels, box=None):
        with torch.inference_mode():
            masks, scores, _ = self.predictor.predict(
                point_coords=np.asarray(points, np.float32), point_labels=np.asarray(labels),
                multimask_output=True,
            )  # fmt: skip
        return masks[int(np.argmax(scores))], float(scores.max())


class FiveBoxes:
    """A real detector, timed in full, whose random-weight boxes (often none) are
    replaced by 5 fixed ones, so that each "Find people" run masks 5 people."""

    def __init__(self, detector, boxes):
        self.detector, self.boxes = detector, boxes

    def detect(self, image):
        self.detector.detect(image)
        return self.boxes, np.linspace(0.9, 0.5, len(self.boxes)).astype(np.float32)


def forget(segmenter):
    """Drop the cached embeddings: the next prompt pays for the encoder again."""
    segmenter._cache.clear()
    segmenter._current = None


# -- report -------------------------------------------------------------------


def machine(device) -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    load = ""
    if hasattr(os, "getloadavg"):
        load = " load average {:.1f} {:.1f} {:.1f},".format(*os.getloadavg())
    return (
        f"{cpu}{gpu}, {cores} usable cores,{load} torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads ({torch.get_num_interop_threads()} inter-op), "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
    )


def row(name, seconds, ref=None, ref_name="", note=""):
    ratio = f"{ref / seconds:7.2f}x {ref_name}" if ref is not None else ""
    print(f"  {name:44s} {seconds:8.3f} s  {ratio:30s} {note}".rstrip(), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds (best of)")
    parser.add_argument("--quick", action="store_true", help="one timed round")
    parser.add_argument("--device", default=None, help="cpu, cuda (default: as the product)")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat

    device = choose_device(args.device)  # also sets torch's threads as the product does
    once = timer(device)
    photo = (resize(astronaut(), (768, 1024), anti_aliasing=True) * 255).astype(np.uint8)
    rng = np.random.default_rng(0)
    x0, y0 = rng.uniform(0, 800, 10), rng.uniform(0, 500, 10)
    boxes = np.stack([x0, y0, x0 + 150, y0 + 250], axis=1).astype(np.float32)

    print(f"{machine(device)}\n1024x768 photo, device {device}, best of {repeat}, random weights")
    folder = Path(tempfile.mkdtemp(prefix="bench_models_"))
    stock, vit_b, fused_here = vit_b_pair(folder, device)
    hq, hq_stock = hq_tiny(folder, device)

    def stock_embed():
        with torch.inference_mode():
            stock.set_image(photo)

    def embed(segmenter):
        return lambda: (forget(segmenter), segmenter.set_image(photo))

    print("\nImage embedding (once per photo)")
    t = side_by_side(
        {
            "stock": stock_embed,
            "ours": embed(vit_b),
            "hq": embed(hq),
            "hq stock": lambda: hq_stock.set_image(photo),
        },
        repeat,
        once,
    )
    vit_b.set_image(photo)
    stock_embed()
    diff = float((features(vit_b) - stock.features).abs().max())
    masks = mask_checks(stock, vit_b, photo, boxes[:5])
    note = "" if not fused_here else f"(attention fused by this bench: {fused_here} blocks)"
    row("SAM ViT-B, stock segment_anything", t["stock"])
    row("SAM ViT-B, ours", t["ours"], t["stock"], "stock", f"{GOALS['vit_b']} {note}")
    print(f"  {'':44s} embedding max |diff| {diff:.1e}\n  {'':44s} {masks}")
    hq.set_image(photo)
    hq_stock.set_image(photo)
    hq_diff = float((features(hq) - hq_stock.predictor.features).abs().max())
    row("Light HQ-SAM vit_tiny, the package's own", t["hq stock"], t["stock"], "ViT-B stock")
    row("Light HQ-SAM vit_tiny, ours", t["hq"], t["stock"], "ViT-B stock", GOALS["hq"])
    print(f"  {'':44s} {t['hq stock'] / t['hq']:.2f}x the package's, max |diff| {hq_diff:.1e}")

    print("\nPrompt -> mask after the embedding (per prompt)")
    prompts(stock, vit_b, hq, photo, boxes, repeat, once)

    print("\nDetectors")
    detectors = {
        name: TorchvisionDetector(name, checkpoint=None, device=device)
        for name in ("fasterrcnn_resnet50_fpn_v2", "fasterrcnn_mobilenet_v3_large_fpn")
    }
    t = side_by_side(
        {n: (lambda d=d: d.detect(photo)) for n, d in detectors.items()}, repeat, once
    )
    row("fasterrcnn_resnet50_fpn_v2", t["fasterrcnn_resnet50_fpn_v2"])
    row(
        "fasterrcnn_mobilenet_v3_large_fpn",
        t["fasterrcnn_mobilenet_v3_large_fpn"],
        t["fasterrcnn_resnet50_fpn_v2"],
        "resnet50",
    )

    print('\n"Find people" end to end: detect, embed, mask 5 boxes (propose_people)')
    pairs = {
        "fast": (FiveBoxes(detectors["fasterrcnn_mobilenet_v3_large_fpn"], boxes[:5]), hq),
        "accurate": (FiveBoxes(detectors["fasterrcnn_resnet50_fpn_v2"], boxes[:5]), vit_b),
    }

    def find(detector, segmenter):
        def go():
            forget(segmenter)
            proposals = propose.run(propose.propose_people(photo, detector, segmenter))
            assert len(proposals.people) > 0

        return go

    t = side_by_side({n: find(*p) for n, p in pairs.items()}, repeat, once)
    row("accurate: resnet50 + SAM ViT-B (ours)", t["accurate"])
    row("fast: mobilenet + Light HQ-SAM", t["fast"], t["accurate"], "accurate", GOALS["find"])


def features(segmenter):
    """The current image embedding (kept on the segmenter, or on its predictor)."""
    embedding = getattr(segmenter, "_embedding", None)
    return embedding.features if embedding is not None else segmenter.predictor.features


def best_masks(predictor, boxes):
    """SAM's own predictor, best of three per box (the product's choice)."""
    out = []
    for box in boxes:
        with torch.inference_mode():
            masks, quality, _ = predictor.predict(box=box, multimask_output=True)
        out.append(masks[int(np.argmax(quality))])
    return np.stack(out)


def mask_checks(stock, ours, photo, boxes) -> str:
    """Masks for ``boxes`` against stock SAM's: from our segmenter, and from stock SAM
    with only the attention fused (the product path may carry other changes too)."""
    ref = best_masks(stock, boxes)
    product, _ = ours.segment_boxes(photo, boxes)
    kept = stock.features, stock.original_size, stock.input_size
    fuse_attention(stock.model)
    with torch.inference_mode():
        stock.set_image(photo)
    alone = best_masks(stock, boxes)
    restore_attention(stock.model)
    stock.features, stock.original_size, stock.input_size = kept

    def verdict(masks):
        differ = int((masks != ref).sum())
        return "identical" if differ == 0 else f"{differ} of {ref.size} pixels differ"

    return (
        f"masks for {len(boxes)} boxes ({ref.mean():.0%} of pixels set): "
        f"our segmenter {verdict(product)}; fused attention alone {verdict(alone)}"
    )


def prompts(stock, vit_b, hq, photo, boxes, repeat, once):
    point = np.array([[500, 300]], np.float32)

    def stock_box():
        with torch.inference_mode():
            stock.predict(box=boxes[0], multimask_output=True)

    def stock_boxes():
        with torch.inference_mode():
            b = stock.transform.apply_boxes_torch(
                torch.as_tensor(boxes, device=stock.device), photo.shape[:2]
            )
            stock.predict_torch(None, None, boxes=b, multimask_output=True)

    def stock_point():
        with torch.inference_mode():
            stock.predict(point_coords=point, point_labels=np.array([1]), multimask_output=True)

    for segmenter in (vit_b, hq):
        segmenter.set_image(photo)
    with torch.inference_mode():
        stock.set_image(photo)
    funcs = {"stock 1": stock_box, "stock 10": stock_boxes, "stock pt": stock_point}
    for name, seg in (("vit_b", vit_b), ("hq", hq)):
        funcs[f"{name} 1"] = lambda s=seg: s.segment_boxes(photo, boxes[:1])
        funcs[f"{name} 10"] = lambda s=seg: s.segment_boxes(photo, boxes)
        funcs[f"{name} pt"] = lambda s=seg: s.segment_points(photo, point, [1])
    t = side_by_side(funcs, max(3, repeat), once)
    for kind, label, count in (
        ("1", "1 box", 1),
        ("10", "10 boxes batched", 10),
        ("pt", "1 point", 1),
    ):
        ref = t[f"stock {kind}"] / count
        row(f"stock SAM predictor: {label}", ref)
        row(
            f"SAM ViT-B (ours): {label}", t[f"vit_b {kind}"] / count, ref, "stock", GOALS["prompt"]
        )
        row(f"Light HQ-SAM: {label}", t[f"hq {kind}"] / count, ref, "stock", GOALS["prompt"])


if __name__ == "__main__":
    sys.exit(main())
