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

__all__ = [
    "PAIRS",
    "SEGMENTERS",
    "ModelChoice",
    "build_detector",
    "build_segmenter",
    "load_models",
    "pair_of",
]

#: Segmenters by name: Segment Anything's sizes and Light HQ-SAM (weights
#: ``sam_<name>`` in ``weights.CHECKPOINTS``).
SEGMENTERS = ("vit_b", "vit_l", "vit_h", "hq_vit_tiny")


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
        One of :data:`SEGMENTERS`: Segment Anything ``"vit_b"`` (the accurate
        default), ``"vit_l"``, ``"vit_h"``, or Light HQ-SAM ``"hq_vit_tiny"``
        (fast: 6-10 times quicker to embed a photo on a CPU).
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

    def __post_init__(self):
        if self.factory is None and self.segmenter not in SEGMENTERS:
            raise ValueError(f"unknown segmenter {self.segmenter!r}; choose one of {SEGMENTERS}")

    def describe(self) -> list[dict]:
        """What the record says about these models (files' hashes are added there)."""
        if self.factory:
            return [{"role": "models", "name": self.factory}]
        return [
            {"role": "detector", "name": self.detector, "path": self.detector_file},
            {"role": "segmenter", "name": f"sam_{self.segmenter}", "path": self.segmenter_file},
        ]


#: The pairs the panel and the command line offer: (what it is, the models).
PAIRS = {
    "fast": (
        "MobileNet + Light HQ-SAM: about 3 s a photo on a 2-core CPU; recommended without a GPU",
        ModelChoice(detector="fasterrcnn_mobilenet_v3_large_fpn", segmenter="hq_vit_tiny"),
    ),
    "accurate": (
        "ResNet-50 + SAM ViT-B (the default): finds more people; "
        "about 15 s a photo on a 2-core CPU, the pair to use with a GPU",
        ModelChoice(),
    ),
}


def pair_of(choice: ModelChoice) -> str | None:
    """The name of the pair in :data:`PAIRS` that ``choice``'s models make, if any."""
    for name, (_, pair) in PAIRS.items():
        if (choice.detector, choice.segmenter) == (pair.detector, pair.segmenter):
            return name
    return None


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
    """Segment Anything or Light HQ-SAM, downloading its weights on first use."""
    from . import weights

    if choice.segmenter.startswith("hq_"):
        from .hq import HqSamSegmenter as Segmenter
    else:
        from .segmenter import SamSegmenter as Segmenter

    name = f"sam_{choice.segmenter}"
    if choice.segmenter_file is None:
        weights.resolve(name, default=name, progressbar=progressbar)
    checkpoint = choice.segmenter_file or "default"
    return Segmenter.load(choice.segmenter, checkpoint=checkpoint, store=store)


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
