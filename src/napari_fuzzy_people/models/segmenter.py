"""Segment Anything: one mask per box or point prompt, embedding computed once."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything import SamPredictor, sam_model_registry
from segment_anything.modeling import Sam

from . import weights
from ._attention import fuse_attention
from ._device import as_rgb_uint8, choose_device

__all__ = ["SAM_TYPES", "PersonSegmenter", "SamSegmenter"]

SAM_TYPES = ("vit_b", "vit_l", "vit_h")


@runtime_checkable
class PersonSegmenter(Protocol):
    """Anything that turns prompts into masks on an image.

    ``segment_boxes(image, boxes)`` returns ``(masks (K, M, N) bool, scores
    (K,))`` for ``boxes`` (K, 4) ``x0, y0, x1, y1``;
    ``segment_points(image, points, labels, box=None)`` returns one ``(M, N)``
    mask and its score for ``points`` (P, 2) ``x, y`` with ``labels`` 1
    (person) or 0 (not person).
    """

    def segment_boxes(self, image, boxes) -> tuple[np.ndarray, np.ndarray]: ...

    def segment_points(self, image, points, labels, box=None) -> tuple[np.ndarray, float]: ...


@dataclass
class Embedding:
    """An image as the mask decoder needs it: the encoder's output and the sizes.

    ``interm`` is what HQ-SAM's decoder takes from early in the encoder; ``hq``
    its per-image mask features, computed once on first use.
    """

    features: torch.Tensor
    original_size: tuple[int, int]
    input_size: tuple[int, int]
    interm: torch.Tensor | None = None
    hq: torch.Tensor | None = None


class SamSegmenter:
    """Segment Anything behind the :class:`PersonSegmenter` protocol.

    The image embedding (the expensive part: seconds on a CPU) is computed
    once per image and kept, keyed by the image's content, for the last
    ``cache_size`` images; every later prompt on that image costs only the
    mask decoder. Use :meth:`load` to build one from a checkpoint.

    Parameters
    ----------
    sam : segment_anything.modeling.Sam
        The model (any size; tests use a tiny one).
    device : str or torch.device, optional
        Default: CUDA, then MPS, then CPU.
    cache_size : int
        Image embeddings kept in memory (4 MB each for the standard models).
    chunk_pixels : int
        Box prompts are decoded in batches whose full-size masks stay under
        this many pixels (bounds memory on large photos).
    boxes_per_call : int, optional
        At most this many boxes per decoder call. Default: 1 on a CPU, where
        a batch costs more per box than one box at a time (the decoder's
        tensors for one box fit the caches; measured in
        ``benchmarks/bench_segmenters.py``), no limit but ``chunk_pixels``
        elsewhere.
    name : str
        What the export record calls this model.
    """

    _predictor_type = SamPredictor
    #: Box prompts: SAM's three candidates, the best kept (else its single mask).
    box_multimask = True

    def __init__(
        self,
        sam: Sam,
        *,
        device=None,
        cache_size: int = 4,
        chunk_pixels=1 << 26,
        boxes_per_call: int | None = None,
        name="sam",
        store=None,
    ):
        self.name = name
        self.store = store
        self.device = choose_device(device)
        self.sam = fuse_layer_norms(sam.eval().to(self.device))
        # Same outputs to ~1e-6; the ViT-B embedding about 1.6x faster on a CPU.
        fuse_attention(self.sam)
        self.predictor = self._predictor_type(self.sam)
        self.cache_size = int(cache_size)
        self.chunk_pixels = int(chunk_pixels)
        if boxes_per_call is None:
            boxes_per_call = 1 if self.device.type == "cpu" else 1 << 30
        self.boxes_per_call = int(boxes_per_call)
        self.checkpoint_path: Path | None = None
        self._cache: OrderedDict[str, Embedding] = OrderedDict()
        self._current: str | None = None
        self._embedding: Embedding | None = None

    @classmethod
    def load(cls, model_type: str = "vit_b", *, checkpoint="default", **kwargs) -> SamSegmenter:
        """Build SAM ``model_type`` with its official weights (or a local file).

        ``checkpoint``: ``"default"`` (the official file for ``model_type``,
        downloaded and cached on first use), a registry name, a path to a
        ``.pth`` file, or ``None`` for random weights (tests, benchmarks).
        """
        if model_type not in SAM_TYPES:
            raise ValueError(f"unknown SAM type {model_type!r}; choose one of {SAM_TYPES}")
        # Resolve (and download) first: a missing file should fail before the
        # model is built, which takes seconds for the larger models.
        path = None
        if checkpoint is not None:
            path = weights.resolve(checkpoint, default=f"sam_{model_type}")
        sam = sam_model_registry[model_type](checkpoint=None)
        if path is not None:
            sam.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        segmenter = cls(sam, name=f"sam_{model_type}", **kwargs)
        segmenter.checkpoint_path = path
        return segmenter

    # -- embeddings -------------------------------------------------------

    def set_image(self, image) -> str:
        """Make ``image`` current, computing its embedding only if not cached.

        Returns the cache key (a digest of the pixels as SAM sees them).
        """
        rgb = as_rgb_uint8(image)
        key = _pixels_key(rgb)
        if key == self._current:
            return key
        if key in self._cache:
            self._cache.move_to_end(key)
            embedding = self._cache[key]
        else:
            stored = self._load_stored(self._store_key(key)) if self.store is not None else None
            if stored is None:
                with torch.inference_mode():
                    self.predictor.set_image(rgb)
                stored = self._from_predictor()
                if self.store is not None:
                    self._save_stored(self._store_key(key), stored)
            embedding = self._cache[key] = stored
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        self._embedding = embedding
        self._current = key
        return key

    def _from_predictor(self) -> Embedding:
        p = self.predictor
        return Embedding(p.features, tuple(p.original_size), tuple(p.input_size))

    def _save_stored(self, key: str, e: Embedding) -> None:
        self.store.put(key, e.features.cpu().numpy(), e.original_size, e.input_size)

    def _load_stored(self, key: str) -> Embedding | None:
        stored = self.store.get(key)
        if stored is None:
            return None
        features, original, size = stored
        features = torch.as_tensor(features, device=self.device)
        return Embedding(features, tuple(int(v) for v in original), tuple(int(v) for v in size))

    @property
    def digest(self) -> str:
        """What the weights are: the checkpoint file's SHA-256, else a hash of the
        parameters. Embeddings kept on disk are keyed by it."""
        if getattr(self, "_digest", None) is None:
            if self.checkpoint_path is not None:
                self._digest = weights.sha256_of(self.checkpoint_path)
            else:
                h = hashlib.blake2b(digest_size=16)
                for tensor in self.sam.state_dict().values():
                    h.update(tensor.detach().cpu().numpy().tobytes())
                self._digest = h.hexdigest()
        return self._digest

    def _store_key(self, key: str) -> str:
        return f"{key}|{self.name}|{self.digest}"

    def has_embedding(self, image) -> bool:
        """Whether ``image``'s embedding is cached (prompts on it are cheap)."""
        return _pixels_key(as_rgb_uint8(image)) in self._cache

    # -- prompts ----------------------------------------------------------

    def _decode(self, points, boxes, *, multimask: bool):
        """Low-resolution mask logits ``(B, 1, h, w)`` and scores ``(B,)`` for prompts
        already in the model's input frame, on the current embedding.

        With ``multimask``, SAM's three candidates are made and the one with the
        best predicted quality kept (chosen at low resolution, so only that one
        is upscaled).
        """
        sam, e = self.sam, self._embedding
        sparse, dense = sam.prompt_encoder(points=points, boxes=boxes, masks=None)
        low, quality = sam.mask_decoder(
            image_embeddings=e.features,
            image_pe=sam.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask,
        )
        best = quality.argmax(dim=1)
        pick = torch.arange(len(best), device=best.device)
        return low[pick, best][:, None], quality[pick, best]

    def _masks(self, low) -> np.ndarray:
        """Full-size boolean masks ``(B, M, N)`` from low-resolution logits."""
        e = self._embedding
        masks = self.sam.postprocess_masks(low, e.input_size, e.original_size)
        return (masks[:, 0] > self.sam.mask_threshold).cpu().numpy()

    def iter_boxes(self, image, boxes) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Yield ``(start, masks, scores)`` for batches of box prompts, one mask per box."""
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        self.set_image(image)
        h, w = self._embedding.original_size
        batch = max(1, min(self.boxes_per_call, self.chunk_pixels // (h * w)))
        for start in range(0, len(boxes), batch):
            chunk = torch.as_tensor(boxes[start : start + batch], device=self.device)
            with torch.inference_mode():
                chunk = self.predictor.transform.apply_boxes_torch(chunk, (h, w))
                low, scores = self._decode(None, chunk, multimask=self.box_multimask)
                masks = self._masks(low)
            yield start, masks, scores.float().cpu().numpy()

    def segment_boxes(self, image, boxes) -> tuple[np.ndarray, np.ndarray]:
        """One mask per box: ``(masks (K, M, N) bool, scores (K,))``."""
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        h, w = as_rgb_uint8(image).shape[:2]
        masks = np.zeros((len(boxes), h, w), bool)
        scores = np.zeros(len(boxes), np.float32)
        for start, m, s in self.iter_boxes(image, boxes):
            masks[start : start + len(m)] = m
            scores[start : start + len(s)] = s
        return masks, scores

    def segment_points(self, image, points, labels, box=None) -> tuple[np.ndarray, float]:
        """One mask from point prompts (1 = person, 0 = not), with an optional box."""
        points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if len(points) != len(labels):
            raise ValueError(f"{len(points)} points but {len(labels)} labels")
        if len(points) == 0 and box is None:
            raise ValueError("give at least one point or a box")
        if not np.isin(labels, (0, 1)).all():
            raise ValueError("point labels must be 1 (person) or 0 (not person)")
        self.set_image(image)
        size, transform = self._embedding.original_size, self.predictor.transform
        prompt = None
        if len(points):
            xy = torch.as_tensor(transform.apply_coords(points, size), device=self.device)
            prompt = (xy[None].float(), torch.as_tensor(labels[None], device=self.device).int())
        if box is not None:
            box = np.asarray(box, dtype=np.float32).reshape(1, 4)
            box = torch.as_tensor(transform.apply_boxes(box, size), device=self.device).float()
        with torch.inference_mode():
            low, score = self._decode(prompt, box, multimask=True)
            mask = self._masks(low)[0]
        return mask, float(score[0])


class ChannelLayerNorm(torch.nn.Module):
    """SAM's ``LayerNorm2d`` (over the channels of ``(B, C, H, W)``) as one fused
    :func:`~torch.nn.functional.layer_norm`, same parameters: the stock one is six
    passes over the decoder's largest tensors."""

    def __init__(self, norm: torch.nn.Module):
        super().__init__()
        self.weight, self.bias, self.eps = norm.weight, norm.bias, norm.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


# Known by name, so that SAM alone never imports HQ-SAM (and its timm warnings).
_LAYER_NORMS_2D = {
    ("segment_anything.modeling.common", "LayerNorm2d"),
    ("segment_anything_hq.modeling.common", "LayerNorm2d"),
    ("segment_anything_hq.modeling.tiny_vit_sam", "LayerNorm2d"),
}


def fuse_layer_norms(model: torch.nn.Module) -> torch.nn.Module:
    """Replace SAM's and HQ-SAM's ``LayerNorm2d`` modules in ``model`` (in place) by
    :class:`ChannelLayerNorm`; the weights and their names stay (same state dict)."""
    for name, child in list(model.named_children()):
        if (type(child).__module__, type(child).__qualname__) in _LAYER_NORMS_2D:
            setattr(model, name, ChannelLayerNorm(child))
        else:
            fuse_layer_norms(child)
    return model


def _pixels_key(rgb: np.ndarray) -> str:
    """What an image's embedding is cached under: a digest of its pixels and shape."""
    return hashlib.blake2b(rgb.data, digest_size=16).hexdigest() + str(rgb.shape)
