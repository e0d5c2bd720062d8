"""People masks: validation, growth and size-relative strengths.

A mask is either a boolean image (every ``True`` pixel is "a person") or an
integer label image (``0`` background, each other value one person), as napari
Labels layers hold them. Everything here is numpy/scipy only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from numbers import Integral, Real

import numpy as np
from scipy import ndimage as ndi

__all__ = ["MAX_LABEL", "dilate_disk", "grow", "people_boxes", "select", "size_relative"]

#: The largest person label: label images are saved as 16-bit PNG, and the
#: per-label tables used here have one entry per label value.
MAX_LABEL = 65535


def _compiled() -> bool:
    from .methods._kernels import kernels  # here: methods imports this module

    return kernels() == "numba"


def _check_mask(mask, shape=None) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (rows, columns), got shape {mask.shape}")
    if shape is not None and mask.shape != tuple(shape):
        raise ValueError(f"mask shape {mask.shape} differs from the image's {tuple(shape)}")
    if mask.dtype != bool and not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(f"mask must be boolean or an integer label image, got dtype {mask.dtype}")
    if mask.dtype.itemsize > 2 and mask.size and mask.max() > MAX_LABEL:
        # Refused, not allocated: a label of 2e9 would cost gigabytes of tables.
        raise ValueError(
            f"label image holds label {int(mask.max())}; people labels are 1..{MAX_LABEL}"
        )
    return mask


def select(mask, labels: Iterable[int] | None = None, *, shape=None) -> np.ndarray:
    """Return the people to use as a label image (0 = leave alone).

    Parameters
    ----------
    mask : (M, N) bool or integer ndarray
        Boolean mask (one region, label 1) or label image (0 background).
    labels : iterable of int, optional
        Labels to keep; others become 0. ``None`` keeps every nonzero label.
        Not allowed with a boolean mask.
    shape : tuple, optional
        Expected ``(M, N)``; a mismatch raises ``ValueError``.

    Returns
    -------
    ndarray
        Boolean mask (unchanged, not copied) when ``mask`` is boolean, else an
        integer label image holding only the selected labels (``mask`` itself,
        not copied, when every label present is selected).

    Examples
    --------
    >>> import numpy as np
    >>> select(np.array([[0, 1], [2, 3]]), labels=[1, 3])
    array([[0, 1],
           [0, 3]])
    """
    mask = _check_mask(mask, shape)
    if mask.dtype == bool:
        if labels is not None:
            raise ValueError("labels= needs an integer label image, not a boolean mask")
        return mask
    if mask.dtype.kind == "i" and mask.size and mask.min() < 0:
        raise ValueError("label image has negative labels; people are labels >= 1")
    if labels is None:
        return mask
    wanted = np.unique(np.asarray(list(labels), dtype=np.int64))
    if np.any(wanted < 1):
        raise ValueError(f"labels must be >= 1 (0 is background), got {wanted.tolist()}")
    present = _boxes_of(mask).present
    if np.isin(present, wanted).all():
        return mask  # everyone is kept: nothing to copy
    keep = np.zeros(int(present[-1]) + 1, bool)  # present is not empty here
    keep[wanted[wanted <= present[-1]]] = True
    if _compiled():
        from .methods import _masks_numba as fast

        out = np.empty_like(mask)
        fast.keep_labels(mask, keep, out)
        return out
    return np.where(keep[mask], mask, 0)


def _bbox_slices(box, pad, shape):
    return tuple(
        slice(max(s.start - pad, 0), min(s.stop + pad, n)) for s, n in zip(box, shape, strict=True)
    )


def labels_present(labels: np.ndarray) -> np.ndarray:
    """The nonzero labels in a label image, ascending (faster than ``np.unique``)."""
    return _boxes_of(labels).present


class _Boxes:
    """Every person's box in one table: ``top[k]:bottom[k], left[k]:right[k]``.

    ``present`` lists the labels found, ascending. ``exact`` is False for
    boxes known to hold the person but possibly larger (a grown mask's).
    """

    def __init__(self, top, left, bottom, right, present, exact=True):
        self.top, self.left, self.bottom, self.right = top, left, bottom, right
        self.present, self.exact = present, exact

    def slices(self, label) -> tuple[slice, slice]:
        return (
            slice(int(self.top[label]), int(self.bottom[label])),
            slice(int(self.left[label]), int(self.right[label])),
        )


# One apply or scramble call finds each label image's boxes once: the
# settings, select, grow and the kernels all ask for them. Keyed on the array
# object (kept alive by the entry), for the length of the ``with`` block only,
# so an array edited between calls is never served stale boxes.
_SCOPE: ContextVar[dict | None] = ContextVar("napari_fuzzy_people_boxes", default=None)


@contextmanager
def reuse_boxes():
    """Within this block, each label array's boxes are computed once.

    The arrays must not be written while the block runs (callers pass
    snapshots, as the panel does): a person painted in meanwhile could fall
    outside the boxes and be left as it is.
    """
    if _SCOPE.get() is not None:
        yield
        return
    token = _SCOPE.set({})
    try:
        yield
    finally:
        _SCOPE.reset(token)


def _boxes_of(mask: np.ndarray) -> _Boxes:
    cache = _SCOPE.get()
    if cache is not None:
        hit = cache.get(id(mask))
        if hit is not None and hit[0] is mask:
            return hit[1]
    boxes = _find_boxes(mask.view(np.uint8) if mask.dtype == bool else mask)
    _remember(mask, boxes)
    return boxes


def _remember(mask, boxes) -> None:
    cache = _SCOPE.get()
    if cache is not None:
        cache[id(mask)] = (mask, boxes)


# Pixels from which the boxes are found on every core.
_PARALLEL_BOXES = 1 << 22


def _find_boxes(lab) -> _Boxes:
    """Every label's box: one compiled pass with numba, else ``ndi.find_objects``."""
    if _compiled():
        from .methods import _masks_numba as fast
        from .methods._threads import run_tasks, threads

        # One pass for the highest label costs less than faulting in 65536-row tables.
        n = 1 << (8 * lab.itemsize)
        if lab.itemsize > 1 and lab.size:
            n = max(int(lab.max()) + 1, 1)
        big = np.iinfo(np.int64).max
        # Big images in one band per thread: the tables to reduce cost far less.
        parts = threads() if lab.size >= _PARALLEL_BOXES else 1
        rows = -(-lab.shape[0] // parts)
        parts = -(-lab.shape[0] // rows) if lab.shape[0] else 1
        top, left = np.full((parts, n), big), np.full((parts, n), big)
        bottom, right = np.zeros((parts, n), np.int64), np.zeros((parts, n), np.int64)
        if parts == 1:
            fast.boxes(lab, top[0], left[0], bottom[0], right[0])
            top, left, bottom, right = top[0], left[0], bottom[0], right[0]
        else:
            run_tasks(fast.boxes_bands, np.arange(parts), lab, rows, top, left, bottom, right)
            top, left = top.min(axis=0), left.min(axis=0)
            bottom, right = bottom.max(axis=0), right.max(axis=0)
        present = np.flatnonzero(bottom)
        return _Boxes(top, left, bottom, right, present.astype(np.int64))
    found = ndi.find_objects(lab)
    n = len(found) + 1
    top, left = np.zeros(n, np.int64), np.zeros(n, np.int64)
    bottom, right = np.zeros(n, np.int64), np.zeros(n, np.int64)
    for i, b in enumerate(found):
        if b is not None:
            top[i + 1], bottom[i + 1] = b[0].start, b[0].stop
            left[i + 1], right[i + 1] = b[1].start, b[1].stop
    present = np.array([i + 1 for i, b in enumerate(found) if b is not None], dtype=np.int64)
    return _Boxes(top, left, bottom, right, present)


def per_label(
    value, present: np.ndarray, name: str, *, minimum: float, positive: bool = False
) -> dict:
    """Resolve a scalar or ``{label: value}`` parameter for the labels present.

    Raises ``ValueError`` when a value is below ``minimum`` or a present label
    has no value (failing closed: no person is silently left untouched).
    """
    if isinstance(value, Mapping):
        wanted = set(present.tolist())
        missing = sorted(wanted - {int(k) for k in value})
        if missing:
            raise ValueError(f"{name} has no value for labels {missing}")
        out = {int(k): value[k] for k in value if int(k) in wanted}
    else:
        out = {int(k): value for k in present}
    for k, v in out.items():
        if isinstance(v, bool) or not isinstance(v, Real) or not np.isfinite(v):
            raise ValueError(f"{name} must be a number, got {v!r} for label {k}")
        if v < minimum or (positive and v <= 0):
            bound = "> 0" if positive else f">= {minimum}"
            raise ValueError(f"{name} must be {bound}, got {v!r} for label {k}")
    return out


def dilate_disk(mask: np.ndarray, radius: float) -> np.ndarray:
    """Dilate a boolean mask by a Euclidean disk (pixels within ``radius``).

    The disk is split into horizontal runs: each row offset ``dy`` adds the
    mask dilated sideways by ``floor(sqrt(radius**2 - dy**2))``, so the cost
    is a few passes over the mask instead of a distance transform.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((3, 3), bool); m[1, 1] = True
    >>> dilate_disk(m, 1).astype(int)
    array([[0, 1, 0],
           [1, 1, 1],
           [0, 1, 0]])
    """
    mask = np.asarray(mask, dtype=bool)
    reach = int(np.floor(radius))
    h, _w = mask.shape
    if reach <= 0:
        return mask.copy()
    half = {
        dy: int(np.floor(np.sqrt(radius * radius - dy * dy))) for dy in range(-reach, reach + 1)
    }
    if reach > 8:
        # Many runs: a running-max filter costs the same for any width.
        u8 = mask.view(np.uint8)
        sideways = {
            k: ndi.maximum_filter1d(u8, 2 * k + 1, axis=1, mode="constant").view(bool)
            for k in set(half.values())
        }
    else:
        sideways = [mask]
        for k in range(1, reach + 1):
            nxt = sideways[-1].copy()
            nxt[:, k:] |= mask[:, :-k]
            nxt[:, :-k] |= mask[:, k:]
            sideways.append(nxt)
    out = np.zeros_like(mask)
    for dy, k in half.items():
        if abs(dy) >= h:
            continue
        row = sideways[k]
        if dy >= 0:
            out[dy:] |= row[: h - dy]
        else:
            out[:dy] |= row[-dy:]
    return out


def grow(mask, margin) -> np.ndarray:
    """Grow each person by ``margin`` pixels (a Euclidean disk).

    Parameters
    ----------
    mask : (M, N) bool or integer ndarray
        Boolean mask or label image.
    margin : int or mapping of int to int
        Pixels to add around each person; a mapping gives one value per label.
        A pixel within reach of several people goes to the lowest label.

    Returns
    -------
    ndarray
        New mask of the same kind (bool in, bool out; labels in, labels out).
        People's own pixels keep their labels.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((5, 5), bool); m[2, 2] = True
    >>> grow(m, 1).astype(int)
    array([[0, 0, 0, 0, 0],
           [0, 0, 1, 0, 0],
           [0, 1, 1, 1, 0],
           [0, 0, 1, 0, 0],
           [0, 0, 0, 0, 0]])
    """
    mask = _check_mask(mask)
    is_bool = mask.dtype == bool
    lab = mask.view(np.uint8) if is_bool else mask
    if is_bool and isinstance(margin, Mapping):
        raise ValueError("per-person margin needs an integer label image, not a boolean mask")
    boxes = _boxes_of(mask)
    present = boxes.present
    margins = per_label(margin, present, "margin", minimum=0)
    if not any(margins.values()):
        out = lab.copy()
        _remember(out.view(bool) if is_bool else out, boxes)
        return out.view(bool) if is_bool else out
    if _compiled() and all(type(m) in _PLAIN for m in margins.values()):
        out = _grow_numba(lab, margins, boxes)
    else:
        out = lab.copy()
        for label in present.tolist():
            m = margins[label]
            if m <= 0:
                continue
            # Only the person's box (padded by its margin) can change: keeps this
            # linear in the people's size, not the image's.
            sl = _bbox_slices(boxes.slices(label), int(np.ceil(m)), lab.shape)
            new = dilate_disk(lab[sl] == label, m)
            new &= out[sl] == 0
            out[sl][new] = label
    out = out.view(bool) if is_bool else out
    _remember(out, _grown_boxes(boxes, margins, lab.shape))
    return out


# Margins the compiled grow computes exactly as ``dilate_disk`` does (float64).
_PLAIN = (int, float, np.int64, np.int32, np.float64)


def _grow_numba(lab, margins, boxes) -> np.ndarray:
    """The compiled grow, in bands of rows on every core (the copy of ``lab`` too)."""
    from .methods import _masks_numba as fast
    from .methods._threads import run_tasks

    labels = np.array(sorted(k for k, m in margins.items() if m > 0), np.int64)
    values = np.array([float(margins[k]) for k in labels.tolist()], np.float64)
    out = np.empty_like(lab)
    rows = _GROW_ROWS
    run_tasks(
        fast.grow_bands, np.arange(-(-lab.shape[0] // rows)),
        lab, out, labels, values, boxes.top, boxes.left, boxes.bottom, boxes.right, rows,
    )  # fmt: skip
    return out


# Rows per task of the compiled grow: a task re-reads its people's rows
# within the margin above and below, so not much fewer than that.
_GROW_ROWS = 64


def _grown_boxes(boxes, margins, shape) -> _Boxes:
    """Boxes that hold each grown person (its box padded by its reach), not exact."""
    reach = np.zeros(boxes.top.size, np.int64)
    for k, m in margins.items():
        reach[k] = max(int(np.floor(m)), 0)
    h, w = shape
    return _Boxes(
        np.maximum(boxes.top - reach, 0),
        np.maximum(boxes.left - reach, 0),
        np.minimum(boxes.bottom + reach, h),
        np.minimum(boxes.right + reach, w),
        boxes.present,
        exact=False,
    )


def people_boxes(labels) -> dict[int, tuple[int, int, int, int]]:
    """Bounding box of each person as ``(row0, col0, row1, col1)``, ends exclusive.

    Examples
    --------
    >>> import numpy as np
    >>> people_boxes(np.array([[0, 2], [0, 2]]))
    {2: (0, 1, 2, 2)}
    """
    boxes = _boxes_of(_check_mask(labels))
    if not boxes.exact:
        boxes = _find_boxes(_lab_view(labels))
    t, lft, b, r = boxes.top, boxes.left, boxes.bottom, boxes.right
    return {k: (int(t[k]), int(lft[k]), int(b[k]), int(r[k])) for k in boxes.present.tolist()}


def _lab_view(labels) -> np.ndarray:
    lab = np.asarray(labels)
    return lab.view(np.uint8) if lab.dtype == bool else lab


def size_relative(
    labels, *, fraction: float, minimum: int = 1, maximum: int | None = None
) -> dict[int, int]:
    """Per-person strength from each person's size: ``fraction`` of box height.

    Use it for ``radius``, ``block``, ``sigma`` or ``margin``: a person 20 px
    tall and one filling the frame need different strengths.

    Parameters
    ----------
    labels : (M, N) integer ndarray
        Label image, one label per person.
    fraction : float
        Strength as a fraction of the person's bounding-box height (> 0).
    minimum, maximum : int, optional
        Floor and optional ceiling, in pixels.

    Returns
    -------
    dict of int to int
        ``{label: pixels}`` for every label present.

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.zeros((200, 50), int); lab[0:200, 0:10] = 1; lab[0:20, 20:30] = 2
    >>> size_relative(lab, fraction=0.1, minimum=4)
    {1: 20, 2: 4}
    """
    if not (isinstance(fraction, Real) and fraction > 0):
        raise ValueError(f"fraction must be > 0, got {fraction!r}")
    if not isinstance(minimum, Integral) or minimum < 0:
        raise ValueError(f"minimum must be an integer >= 0, got {minimum!r}")
    out = {}
    for label, (r0, _, r1, _) in people_boxes(labels).items():
        value = max(round(fraction * (r1 - r0)), minimum)
        out[label] = value if maximum is None else min(value, maximum)
    return out
