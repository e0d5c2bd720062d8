"""The leak check: who can still be found in an anonymized image (numpy only).

After anonymizing and before writing, detectors look at the *output*: a
person or face detection on an approved person means that person is still
detectable (anonymize harder, or grow the mask); one in nobody's mask is a
person the review missed. Either is a :class:`Finding`, and an export with
an open finding is refused. A reviewer may dismiss a finding with a reason
(a poster, a statue), which the record keeps.

The detectors themselves (torch, OpenCV) live in
:mod:`napari_fuzzy_people.models.leaks`; here is what they must do
(:class:`LeakDetector`) and what their detections mean.

>>> import numpy as np
>>> labels = np.zeros((100, 100), np.uint16)
>>> labels[10:60, 10:40] = 1
>>> hits = [Detection("face", (12, 12, 30, 30), 0.9, "test"),
...         Detection("person", (60, 50, 90, 95), 0.8, "test")]
>>> [(f.problem.value, f.label) for f in find_leaks(hits, labels, approved=[1])]
[('still detectable', 1), ("in nobody's mask", None)]
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "KINDS",
    "Detection",
    "Dismissal",
    "Finding",
    "LeakDetector",
    "LeakReport",
    "LeakReview",
    "Problem",
    "check_leaks",
    "find_leaks",
    "iou",
    "skipped_check",
]

KINDS = ("person", "face")
#: A detection belongs to a person when their mask covers at least this much of its box.
COVER = 0.2
#: A dismissal still applies to a finding whose box overlaps its own this much (IoU).
SAME_PLACE = 0.5


@dataclass(frozen=True)
class Detection:
    """One thing a detector found: ``kind`` ("person" or "face"), box, score, detector.

    ``box`` is ``x0, y0, x1, y1`` in pixels (``x1``, ``y1`` exclusive).
    """

    kind: str
    box: tuple[float, float, float, float]
    score: float
    detector: str

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"detection kind must be one of {KINDS}, got {self.kind!r}")
        box = tuple(float(v) for v in self.box)
        if len(box) != 4 or not all(math.isfinite(v) for v in box):
            raise ValueError(f"a box is four finite numbers x0, y0, x1, y1, got {self.box!r}")
        object.__setattr__(self, "box", box)
        object.__setattr__(self, "score", float(self.score))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "box": [round(v, 1) for v in self.box],
            "score": round(self.score, 4),
            "detector": self.detector,
        }


@runtime_checkable
class LeakDetector(Protocol):
    """Anything that finds people or faces in an image.

    ``find(image)`` takes what a napari image layer holds ((M, N) gray,
    (M, N, 3) RGB or (M, N, 4) RGBA, any dtype) and returns
    :class:`Detection` objects; ``describe()`` says what it is for the
    record (``{"name", "kind", "weights": {"file", "sha256"}, ...}``).
    """

    def find(self, image) -> list[Detection]: ...

    def describe(self) -> dict[str, Any]: ...


class Problem(str, enum.Enum):
    """Why a detection is a finding."""

    STILL_DETECTABLE = "still detectable"  # on an approved person
    NOT_MASKED = "in nobody's mask"  # a person the review missed


@dataclass(frozen=True)
class Finding:
    """A detection in the anonymized image that must be fixed or dismissed."""

    detection: Detection
    problem: Problem
    label: int | None = None  # the approved person it is on

    @property
    def kind(self) -> str:
        return self.detection.kind

    @property
    def box(self) -> tuple[float, float, float, float]:
        return self.detection.box

    def describe(self) -> str:
        """One line for people: ``face still detectable on person 3 (score 0.91)``."""
        where = f" on person {self.label}" if self.label is not None else ""
        x0, y0, x1, y1 = (round(v) for v in self.box)
        return (
            f"{self.kind} {self.problem.value}{where} at x {x0}-{x1}, y {y0}-{y1} "
            f"(score {self.detection.score:.2f}, {self.detection.detector})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**self.detection.to_dict(), "problem": self.problem.value, "label": self.label}


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``x0, y0, x1, y1`` boxes (0 when either is empty)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Dismissal:
    """A reviewer's decision that a finding is not a person (or may stay), and why."""

    kind: str
    box: tuple[float, float, float, float]
    reason: str

    def __post_init__(self):
        if not self.reason.strip():
            raise ValueError("dismissing a finding needs a reason (it goes into the record)")
        object.__setattr__(self, "box", tuple(float(v) for v in self.box))

    @classmethod
    def of(cls, finding: Finding, reason: str) -> Dismissal:
        return cls(finding.kind, finding.box, reason.strip())

    def matches(self, finding: Finding) -> bool:
        """Whether this dismissal covers ``finding``: same kind, about the same place.

        Detections move by a few pixels when settings change; a dismissal
        follows them, not a finding somewhere else.
        """
        return finding.kind == self.kind and iou(self.box, finding.box) >= SAME_PLACE

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "box": [round(v, 1) for v in self.box], "reason": self.reason}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Dismissal:
        return cls(str(data["kind"]), tuple(data["box"]), str(data["reason"]))


def _pixel_box(box, shape) -> tuple[int, int, int, int]:
    h, w = shape
    x0, y0, x1, y1 = box
    return (
        min(max(math.floor(y0), 0), h),
        min(max(math.floor(x0), 0), w),
        min(max(math.ceil(y1), 0), h),
        min(max(math.ceil(x1), 0), w),
    )


def find_leaks(
    detections: Iterable[Detection],
    labels: np.ndarray,
    approved: Iterable[int],
    *,
    cover: float = COVER,
) -> list[Finding]:
    """The detections that are findings, and why.

    A detection belongs to the person whose mask covers most of its box,
    if that is at least ``cover`` of it. On an approved person it is a
    finding (:attr:`Problem.STILL_DETECTABLE`); on a person not approved
    (rejected, or kept as they are) it is not, the reviewer decided; on
    nobody's mask it is a finding (:attr:`Problem.NOT_MASKED`).

    Parameters
    ----------
    detections : iterable of Detection
        What the detectors found in the anonymized image.
    labels : (M, N) integer array
        The people, one label each (0 is nobody).
    approved : iterable of int
        The labels that were anonymized.
    cover : float
        Share of a detection's box a mask must cover to own it.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be 2-D, got shape {labels.shape}")
    approved = {int(v) for v in approved}
    findings = []
    for det in detections:
        y0, x0, y1, x1 = _pixel_box(det.box, labels.shape)
        crop = labels[y0:y1, x0:x1]
        if crop.size == 0:
            continue  # entirely outside the image
        found, counts = np.unique(crop[crop > 0], return_counts=True)
        owner, share = None, 0.0
        if found.size:
            best = int(np.argmax(counts))
            owner, share = int(found[best]), counts[best] / crop.size
        if share < cover:
            findings.append(Finding(det, Problem.NOT_MASKED))
        elif owner in approved:
            findings.append(Finding(det, Problem.STILL_DETECTABLE, owner))
    return findings


@dataclass(frozen=True)
class LeakReport:
    """The outcome of one leak check, as the record keeps it.

    ``skipped`` is the reason when the check did not run (asked explicitly);
    then there are no findings, and :attr:`open` is empty, but the record
    says so.
    """

    findings: tuple[Finding, ...] = ()
    detectors: tuple[dict[str, Any], ...] = ()
    dismissals: tuple[Dismissal, ...] = ()
    skipped: str | None = None
    seen: int = 0  # detections in all, findings or not
    extra: dict[str, Any] = field(default_factory=dict)

    def dismissal_of(self, finding: Finding) -> Dismissal | None:
        return next((d for d in self.dismissals if d.matches(finding)), None)

    @property
    def open(self) -> list[Finding]:
        """Findings no dismissal covers: each one blocks the export."""
        return [f for f in self.findings if self.dismissal_of(f) is None]

    def to_dict(self) -> dict[str, Any]:
        if self.skipped is not None:
            return {"run": False, "skipped": self.skipped}
        findings = []
        for f in self.findings:
            dismissal = self.dismissal_of(f)
            findings.append({**f.to_dict(), "dismissed": dismissal and dismissal.reason})
        return {
            "run": True,
            "detectors": [dict(d) for d in self.detectors],
            "detections": self.seen,
            "findings": findings,
            **self.extra,
        }


def check_leaks(
    image: np.ndarray,
    labels: np.ndarray,
    approved: Iterable[int],
    detectors: Sequence[LeakDetector],
    *,
    dismissals: Iterable[Dismissal] = (),
    cover: float = COVER,
) -> LeakReport:
    """Run every detector on the anonymized ``image`` and judge what they find.

    Raises ``ValueError`` without detectors: a check that looks with nothing
    must not pass (use :func:`skipped_check` to skip one, on the record).
    """
    if not detectors:
        raise ValueError("the leak check needs at least one detector")
    detections = [d for det in detectors for d in det.find(image)]
    return LeakReport(
        findings=tuple(find_leaks(detections, labels, approved, cover=cover)),
        detectors=tuple(det.describe() for det in detectors),
        dismissals=tuple(dismissals),
        seen=len(detections),
    )


def skipped_check(reason: str) -> LeakReport:
    """A check that did not run, and why (the record says so)."""
    if not reason.strip():
        raise ValueError("skipping the leak check needs a reason")
    return LeakReport(skipped=reason.strip())


class LeakReview:
    """One photo's leak check in a review: the last report, and the reviewer's dismissals.

    The panel shows :attr:`report`'s findings and keeps the dismissals here
    (not in widgets); an export checks afresh and applies them. Dismissals
    outlive a new check (a finding in the same place stays dismissed);
    :meth:`forget` starts over, for another photo.
    """

    def __init__(self, dismissals: Iterable[Dismissal] = ()):
        self.report: LeakReport | None = None
        self.dismissals: list[Dismissal] = list(dismissals)
        self.unavailable: str | None = None  # why the check cannot run, when it cannot

    @property
    def open(self) -> list[Finding]:
        """The last check's findings that no dismissal covers."""
        if self.report is None or self.report.skipped is not None:
            return []
        return [f for f in self.report.findings if self.dismissal_of(f) is None]

    def dismissal_of(self, finding: Finding) -> Dismissal | None:
        return next((d for d in self.dismissals if d.matches(finding)), None)

    def checked(self, report: LeakReport) -> None:
        """Keep a new check's report (its dismissals are this review's)."""
        self.report = report
        self.unavailable = None

    def dismiss(self, finding: Finding, reason: str) -> Dismissal:
        """Dismiss ``finding`` for ``reason`` (required; the record keeps it)."""
        dismissal = Dismissal.of(finding, reason)
        self.dismissals.append(dismissal)
        return dismissal

    def undismiss(self, finding: Finding) -> None:
        """Take back every dismissal covering ``finding``."""
        self.dismissals = [d for d in self.dismissals if not d.matches(finding)]

    def still_detectable(self) -> dict[int, int]:
        """Open findings per approved person: ``{label: count}``."""
        counts: dict[int, int] = {}
        for f in self.open:
            if f.label is not None:
                counts[f.label] = counts.get(f.label, 0) + 1
        return counts

    def forget(self) -> None:
        """Another photo: no report, no dismissals."""
        self.report, self.unavailable = None, None
        self.dismissals = []

    def to_list(self) -> list[dict[str, Any]]:
        """The dismissals, for a work folder."""
        return [d.to_dict() for d in self.dismissals]
