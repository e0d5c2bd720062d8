"""What every method shares: checking inputs, growing people, per-person groups."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
from scipy import ndimage as ndi

from ..masks import grow, labels_present, per_label, select


def _check_image(image) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(
            f"image must be 2-D (M, N) or 3-D (M, N, channels), got shape {image.shape}"
        )
    if image.dtype.kind not in "uif":
        raise ValueError(f"image dtype must be integer or float, got {image.dtype}")
    if image.size == 0:
        raise ValueError(f"image is empty, shape {image.shape}")
    return image


def _check_strength(value, name, *, minimum, integer):
    """Scalar checks; a ``minimum`` of 0 with ``integer=False`` means "> 0"."""
    if isinstance(value, Mapping):
        return value
    ok_type = isinstance(value, Integral) if integer else isinstance(value, Real)
    if isinstance(value, bool) or not ok_type or not np.isfinite(value):
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {kind} or a {{label: value}} mapping, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return value


def _check_positive(value, name):
    _check_strength(value, name, minimum=0, integer=False)
    if not isinstance(value, Mapping) and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


class _Job:
    """Image, grown people and per-person parameters, validated once."""

    def __init__(self, image, mask, labels, margin):
        self.image = _check_image(image)
        people = select(mask, labels, shape=self.image.shape[:2])
        if isinstance(margin, Mapping) and people.dtype == bool:
            raise ValueError("per-person margin needs an integer label image, not a boolean mask")
        _check_strength(margin, "margin", minimum=0, integer=False)
        if isinstance(margin, Mapping) or margin > 0:
            people = grow(people, margin)
        self.people = people
        self.alpha = self.image.ndim == 3 and self.image.shape[2] == 4

    @functools.cached_property
    def region(self) -> np.ndarray:
        """Where the (grown) people are, as a boolean mask; built on first use."""
        return self.people if self.people.dtype == bool else self.people != 0

    def present(self) -> np.ndarray:
        return labels_present(self.people)

    def groups(self, value, name, *, minimum, positive=False):
        """Yield ``(slices, where, value)``: one group, or one per person."""
        if not isinstance(value, Mapping):
            box = _region_box(self.region)
            if box is not None:
                yield box, self.region[box], value
            return
        if self.people.dtype == bool:
            raise ValueError(f"per-person {name} needs an integer label image")
        values = per_label(value, self.present(), name, minimum=minimum, positive=positive)
        boxes = ndi.find_objects(self.people)
        for label, v in values.items():
            box = boxes[label - 1]
            yield box, self.people[box] == label, v

    def finish(self, out: np.ndarray) -> np.ndarray:
        if self.alpha:
            out[..., 3] = self.image[..., 3]
        return out


def _region_box(region):
    rows = np.flatnonzero(region.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(region[rows[0] : rows[-1] + 1].any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _to_dtype(values, dtype):
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    return values.astype(dtype, copy=False)


def _check_finite(job, method):
    if job.image.dtype.kind == "f" and np.isnan(job.image).any():
        raise ValueError(
            f"image contains NaN: {method} averages pixel values, and NaN would "
            "spread over the person; replace NaN first"
        )


def _pixel_view(a: np.ndarray) -> np.ndarray:
    """A 1-D view with one element per pixel (all channels), for fast gathers."""
    nbytes = a.itemsize * (a.shape[2] if a.ndim == 3 else 1)
    flat = a.reshape(-1)
    if nbytes in (1, 2, 4, 8):
        return flat.view(f"u{nbytes}")
    return flat.view(np.dtype((np.void, nbytes)))


def _cell_sums(crop, block):
    """Sums and pixel counts of each ``block x block`` cell of ``crop``.

    Cells start at the crop's origin; partial cells at the far edges count
    only the pixels they have. Sums go through reshapes, which numpy reduces
    far faster than ``reduceat`` with a cast.
    """
    h, w = crop.shape[:2]
    ph, pw = -h % block, -w % block
    if ph or pw:
        crop = np.pad(crop, ((0, ph), (0, pw)) + ((0, 0),) * (crop.ndim - 2))
    small_ints = crop.dtype.kind in "ui" and crop.itemsize <= 2 and block <= 256
    acc = np.uint32 if small_ints else np.float64
    hb, wb, rest = crop.shape[0] // block, crop.shape[1] // block, crop.shape[2:]
    sums = crop.reshape(hb, block, wb * block, *rest).sum(axis=1, dtype=acc)
    sums = sums.reshape(hb, wb, block, *rest).sum(axis=2, dtype=acc)
    ny = np.full(hb, block)
    ny[-1] -= ph
    nx = np.full(wb, block)
    nx[-1] -= pw
    counts = np.multiply.outer(ny, nx)
    return sums, counts[..., None] if rest else counts
