"""Proposed people: records, progress events, and the overlap rule."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["OverlapResolver", "Progress", "Proposals", "ProposedPerson"]


@dataclass(frozen=True)
class Progress:
    """A step of long work: ``done`` of ``total`` in ``stage``."""

    stage: str
    done: int
    total: int


@dataclass(frozen=True)
class ProposedPerson:
    """One person as proposed: where, how sure, and where it came from.

    ``box`` is ``(x0, y0, x1, y1)`` in pixels as the detector gave it;
    ``score`` the detector's confidence, ``mask_score`` the segmenter's
    predicted mask quality, ``area`` the pixels the person owns in the label
    image (after overlaps are resolved).
    """

    label: int
    box: tuple[float, float, float, float]
    score: float
    mask_score: float
    area: int
    origin: str = "detector"


@dataclass
class Proposals:
    """A label image (0 background, one label per person) and its people."""

    labels: np.ndarray
    people: list[ProposedPerson] = field(default_factory=list)


class OverlapResolver:
    """Builds a label image from masks that may overlap, one mask at a time.

    Rule, for a pixel claimed by several masks: the mask with the higher
    predicted quality wins; at equal quality the smaller mask wins (it is
    more specific); at equal size, the lower label. The result does not
    depend on the order masks arrive in.

    Examples
    --------
    >>> import numpy as np
    >>> r = OverlapResolver((1, 4))
    >>> r.add(1, np.array([[1, 1, 1, 0]], bool), quality=0.8)
    >>> r.add(2, np.array([[0, 1, 1, 1]], bool), quality=0.9)
    >>> r.labels
    array([[1, 2, 2, 2]], dtype=uint16)
    """

    def __init__(self, shape, dtype=np.uint16):
        self.labels = np.zeros(shape, dtype)
        self._quality = np.full(shape, -np.inf, np.float32)
        self._size = np.full(shape, np.iinfo(np.int64).max, np.int64)

    def add(self, label: int, mask: np.ndarray, quality: float) -> None:
        """Offer ``mask`` as person ``label`` (labels must increase)."""
        if label < 1 or label > np.iinfo(self.labels.dtype).max:
            raise ValueError(f"label {label} does not fit {self.labels.dtype}")
        size = int(np.count_nonzero(mask))
        q = np.float32(quality)
        wins = mask & ((q > self._quality) | ((q == self._quality) & (size < self._size)))
        self.labels[wins] = label
        self._quality[wins] = q
        self._size[wins] = size

    def areas(self) -> np.ndarray:
        """Pixels owned per label (index = label)."""
        return np.bincount(self.labels.reshape(-1))
