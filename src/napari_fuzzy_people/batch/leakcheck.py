"""The leak check in a batch: which detectors, made once per worker process.

A :class:`LeakCheck` is a small picklable description that travels with
each photo's job; :func:`detectors_for` builds its detectors the first time
a process needs them and keeps them. :func:`leak_check_for` turns it into
the callable that :func:`~napari_fuzzy_people.io.record.export_steps` runs
on the anonymized image.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from ..core.leaks import Dismissal, LeakReport, check_leaks, skipped_check

__all__ = ["LeakCheck", "detectors_for", "leak_check_for"]


@dataclass(frozen=True)
class LeakCheck:
    """Which detectors look at each anonymized photo, or why none do.

    Parameters
    ----------
    person, face : str
        The person detector (a torchvision registry name) and the face
        detector (``"yunet"`` or ``"libfacedetection"``).
    person_weights, face_weights : str
        ``"default"`` (the registry's file, downloaded and cached), or a
        local file.
    factory : str, optional
        ``"package.module:function"`` returning the detectors instead
        (your own, or a test's).
    skipped : str, optional
        Skip the check, for this reason (the record keeps it).
    """

    person: str = "fasterrcnn_resnet50_fpn_v2"
    person_weights: str = "default"
    face: str = "yunet"
    face_weights: str = "default"
    factory: str | None = None
    skipped: str | None = None


_BUILT: dict[LeakCheck, tuple] = {}
_BUILDING = threading.Lock()


def detectors_for(check: LeakCheck, *, progressbar=True) -> tuple:
    """The detectors of ``check``, built once per process (the last two kept).

    ``progressbar`` shows a first download's progress (as for
    :func:`~napari_fuzzy_people.models.weights.fetch`). Raises
    :class:`~napari_fuzzy_people.models.leaks.LeakCheckUnavailable` when
    their weights cannot be had (offline and not cached).
    """
    if check.skipped is not None:
        return ()
    with _BUILDING:  # two workers asking at once build them once
        if check not in _BUILT:
            if len(_BUILT) >= 2:  # other weights chosen: let the oldest models go
                del _BUILT[next(iter(_BUILT))]
            _BUILT[check] = _build(check, progressbar)
        return _BUILT[check]


def _build(check: LeakCheck, progressbar) -> tuple:
    if check.factory:
        module, _, name = check.factory.partition(":")
        return tuple(getattr(importlib.import_module(module), name)())
    from ..models.leaks import leak_detectors

    return tuple(
        leak_detectors(
            person=check.person,
            person_weights=check.person_weights,
            face=check.face,
            face_weights=check.face_weights,
            progressbar=progressbar,
        )
    )


def leak_check_for(
    check: LeakCheck,
    labels: np.ndarray,
    approved: Iterable[int],
    dismissals: Iterable[Dismissal] = (),
    *,
    progressbar=True,
) -> Callable[[np.ndarray], LeakReport]:
    """What the export runs on the anonymized image: ``check`` against these people."""
    if check.skipped is not None:
        report = skipped_check(check.skipped)
        return lambda image: report
    detectors = detectors_for(check, progressbar=progressbar)
    approved, dismissals = list(approved), list(dismissals)
    return lambda image: check_leaks(image, labels, approved, detectors, dismissals=dismissals)
