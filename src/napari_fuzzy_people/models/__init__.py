"""Proposing people: a person detector, Segment Anything, and their weights (torch).

>>> from napari_fuzzy_people.models import TorchvisionDetector, SamSegmenter, propose_people, run
>>> detector = TorchvisionDetector()              # doctest: +SKIP  (downloads COCO weights once)
>>> segmenter = SamSegmenter.load("vit_b")        # doctest: +SKIP
>>> proposals = run(propose_people(image, detector, segmenter))  # doctest: +SKIP
"""

import importlib

from ._triton import install as _keep_triton_out

# Before anything here imports torch: see _triton for the crash this prevents.
_keep_triton_out()

# Names resolve on first use (PEP 562), so ``models.weights`` can be used
# (e.g. to pre-download checkpoints) without importing torch.
_EXPORTS = {
    "DETECTORS": "detector",
    "PersonDetector": "detector",
    "TorchvisionDetector": "detector",
    "ModelChoice": "choice",
    "load_models": "choice",
    "propose_people": "propose",
    "run": "propose",
    "SAM_TYPES": "segmenter",
    "PersonSegmenter": "segmenter",
    "SamSegmenter": "segmenter",
    "HqSamSegmenter": "hq",
    "PAIRS": "choice",
    "CHECKPOINTS": "weights",
    "Checkpoint": "weights",
    "WeightsCorruptError": "weights",
    "WeightsUnavailableError": "weights",
    "cache_dir": "weights",
    "fetch": "weights",
    "FACE_DETECTORS": "leaks",
    "LeakCheckUnavailable": "leaks",
    "LibFaceDetector": "leaks",
    "PersonLeakDetector": "leaks",
    "YuNetFaceDetector": "leaks",
    "leak_detectors": "leaks",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__():
    return __all__
