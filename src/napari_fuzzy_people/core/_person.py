"""One person under review, and where they stand in it."""

from __future__ import annotations

import enum
import operator
from dataclasses import dataclass
from typing import Any

__all__ = ["Person", "Status"]


class Status(str, enum.Enum):
    """Where a person stands in the review. Only APPROVED people are anonymized."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"
    EDITED = "edited"  # approved, then its pixels changed: needs a new look


@dataclass(frozen=True)
class Person:
    """One person under review.

    ``origin`` is ``"detector"``, ``"prompt"``, ``"manual"`` (painted) or
    ``"imported"``; ``box`` is ``(x0, y0, x1, y1)`` from the detector or
    prompt; ``score`` the detector's confidence and ``mask_score`` the
    segmenter's; ``area`` the pixels the label had at the last sync;
    ``approved_at`` the ISO 8601 UTC time of the last approval, kept through
    later status changes as history.

    Examples
    --------
    >>> Person(3, status="approved", box=[1, 2, 3, 4])
    Person(label=3, status=<Status.APPROVED: 'approved'>, origin='detector', box=(1.0, 2.0, 3.0, 4.0), score=None, mask_score=None, area=0, approved_at=None)
    """  # noqa: E501

    label: int
    status: Status = Status.PROPOSED
    origin: str = "detector"
    box: tuple[float, float, float, float] | None = None
    score: float | None = None
    mask_score: float | None = None
    area: int = 0
    approved_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The person as JSON-able values (the status as its string)."""
        return _person_to_dict(self)

    def __post_init__(self):
        # Coerce numpy scalars and JSON values so that equality and to_dict are exact.
        put = object.__setattr__
        put(self, "label", _as_label(self.label))
        put(self, "status", Status(self.status))
        if self.box is not None:
            box = tuple(float(v) for v in self.box)
            if len(box) != 4:
                raise ValueError(f"box needs 4 values (x0, y0, x1, y1), got {self.box!r}")
            put(self, "box", box)
        for name in ("score", "mask_score"):
            if getattr(self, name) is not None:
                put(self, name, float(getattr(self, name)))
        area = operator.index(self.area)
        if area < 0:
            raise ValueError(f"area must be >= 0, got {area}")
        put(self, "area", area)


def _as_label(value) -> int:
    label = operator.index(value)
    if label < 1:
        raise ValueError(f"labels are positive integers, got {label}")
    return label


def _person_to_dict(person: Person) -> dict[str, Any]:
    return {
        "label": person.label,
        "status": person.status.value,
        "origin": person.origin,
        "box": None if person.box is None else list(person.box),
        "score": person.score,
        "mask_score": person.mask_score,
        "area": person.area,
        "approved_at": person.approved_at,
    }
