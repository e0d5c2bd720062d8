"""Segment Anything: one mask per box or point prompt, embedding computed once."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from segment_anything import SamPredictor, sam_model_registry
from segment_anything.modeling import Sam

from . import weights
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
    name : str
        What the export record calls this model.
    """

    def __init__(
        self,
        sam: Sam,
        *,
        device=None,
        cache_size: int = 4,
        chunk_pixels=1 << 26,
        name="sam",
        store=None,
    ):
        self.name = name
        self.store = store
        self.device = choose_device(device)
        self.sam = sam.eval().to(self.device)
        self.predictor = SamPredictor(self.sam)
        self.cache_size = int(cache_size)
        self.chunk_pixels = int(chunk_pixels)
        self.checkpoint_path: Path | None = None
        self._cache: OrderedDict[str, tuple] = OrderedDict()
        self._current: str | None = None

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
        key = hashlib.blake2b(rgb.data, digest_size=16).hexdigest() + str(rgb.shape)
        if key == self._current:
            return key
        if key in self._cache:
            self._cache.move_to_end(key)
            p = self.predictor
            p.features, p.original_size, p.input_size = self._cache[key]
            p.is_image_set = True
        else:
            p = self.predictor
            stored = self.store.get(self._store_key(key)) if self.store is not None else None
            if stored is not None:
                features, original, size = stored
                p.features = torch.as_tensor(features, device=self.device)
                p.original_size, p.input_size = tuple(original), tuple(size)
                p.is_image_set = True
            else:
                with torch.inference_mode():
                    p.set_image(rgb)
                if self.store is not None:
                    self.store.put(
                        self._store_key(key), p.features.cpu().numpy(), p.original_size,
                        p.input_size,
                    )  # fmt: skip
            self._cache[key] = (p.features, p.original_size, p.input_size)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        self._current = key
        return key

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
        rgb = as_rgb_uint8(image)
        key = hashlib.blake2b(rgb.data, digest_size=16).hexdigest() + str(rgb.shape)
        return key in self._cache

    # -- prompts ----------------------------------------------------------

    def iter_boxes(self, image, boxes) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Yield ``(start, masks, scores)`` for batches of box prompts.

        Each box gets SAM's three candidate masks; the one with the best
        predicted quality is kept (chosen at low resolution, so only that one
        is upscaled).
        """
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        self.set_image(image)
        p = self.predictor
        h, w = p.original_size
        batch = max(1, self.chunk_pixels // (h * w))
        for start in range(0, len(boxes), batch):
            chunk = torch.as_tensor(boxes[start : start + batch], device=self.device)
            with torch.inference_mode():
                sparse, dense = self.sam.prompt_encoder(
                    points=None, boxes=p.transform.apply_boxes_torch(chunk, (h, w)), masks=None
                )
                low, quality = self.sam.mask_decoder(
                    image_embeddings=p.features,
                    image_pe=self.sam.prompt_encoder.get_dense_pe(),
                    sparse_prompt_embeddings=sparse,
                    dense_prompt_embeddings=dense,
                    multimask_output=True,
                )
                best = quality.argmax(dim=1)
                pick = torch.arange(len(best), device=best.device)
                low = low[pick, best][:, None]
                masks = self.sam.postprocess_masks(low, p.input_size, p.original_size)
                masks = masks[:, 0] > self.sam.mask_threshold
            yield start, masks.cpu().numpy(), quality[pick, best].float().cpu().numpy()

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
        with torch.inference_mode():
            masks, quality, _ = self.predictor.predict(
                point_coords=points if len(points) else None,
                point_labels=labels if len(points) else None,
                box=None if box is None else np.asarray(box, dtype=np.float32).reshape(4),
                multimask_output=True,
            )
        best = int(np.argmax(quality))
        return masks[best], float(quality[best])
