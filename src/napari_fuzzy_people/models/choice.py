"""Which models find people: one picklable choice for the panel, the CLI and batch workers.

A :class:`ModelChoice` names the detector and Segment Anything and where
their weights are (downloaded once, or local files), or a function of your
own that builds both (``factory="package.module:function"``). It travels to
Dask workers as it is; each process builds the models once
(:func:`load_models`) and keeps them.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass

__all__ = ["ModelChoice", "build_detector", "build_segmenter", "load_models"]


@dataclass(frozen=True)
class ModelChoice:
    """The detector and segmenter to use, and where their weights are.

    Parameters
    ----------
    detector : str
        A torchvision detector (see ``models.DETECTORS``).
    detector_file, segmenter_file : str, optional
        Local weights files (offline sites); default: download once, cached.
    min_score : float
        Detections below this score are dropped.
    segmenter : str
        Segment Anything's size: ``"vit_b"``, ``"vit_l"`` or ``"vit_h"``.
    factory : str, optional
        ``"package.module:function"``: a function returning ``(detector,
        segmenter)``, used instead of all the above (your own models).
    """

    detector: str = "fasterrcnn_resnet50_fpn_v2"
    detector_file: str | None = None
    min_score: float = 0.5
    segmenter: str = "vit_b"
    segmenter_file: str | None = None
    factory: str | None = None

    def describe(self) -> list[dict]:
        """What the record says about these models (files' hashes are added there)."""
        if self.factory:
            return [{"role": "models", "name": self.factory}]
        return [
            {"role": "detector", "name": self.detector, "path": self.detector_file},
            {"role": "segmenter", "name": f"sam_{self.segmenter}", "path": self.segmenter_file},
        ]


def build_detector(choice: ModelChoice, progressbar=None):
    """The person detector, downloading its weights on first use."""
    from . import weights
    from .detector import TorchvisionDetector

    if choice.detector_file is None:
        weights.resolve(choice.detector, default=choice.detector, progressbar=progressbar)
    return TorchvisionDetector(
        choice.detector,
        checkpoint=choice.detector_file or "default",
        score_threshold=choice.min_score,
    )


def build_segmenter(choice: ModelChoice, progressbar=None, store=None):
    """Segment Anything, downloading its weights on first use."""
    from . import weights
    from .segmenter import SamSegmenter

    name = f"sam_{choice.segmenter}"
    if choice.segmenter_file is None:
        weights.resolve(name, default=name, progressbar=progressbar)
    return SamSegmenter.load(
        choice.segmenter, checkpoint=choice.segmenter_file or "default", store=store
    )


_loaded: dict[ModelChoice, tuple] = {}
_lock = threading.Lock()


def load_models(choice: ModelChoice, store=None) -> tuple:
    """``(detector, segmenter)`` for ``choice``, built once per process and kept.

    ``store`` (an :class:`~napari_fuzzy_people.io.workfolder.EmbeddingStore`)
    keeps Segment Anything's image embeddings on disk.
    """
    with _lock:
        if choice not in _loaded:
            if choice.factory:
                module, _, name = choice.factory.partition(":")
                detector, segmenter = getattr(importlib.import_module(module), name)()
            else:
                detector, segmenter = build_detector(choice), build_segmenter(choice)
            _loaded[choice] = (detector, segmenter)
        detector, segmenter = _loaded[choice]
    if hasattr(segmenter, "store"):
        segmenter.store = store
    return detector, segmenter
