"""People masks: validation, growth and size-relative strengths.

A mask is either a boolean image (every ``True`` pixel is "a person") or an
integer label image (``0`` background, each other value one person), as napari
Labels layers hold them. Everything here is numpy/scipy only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from numbers import Integral, Real

import numpy as np
from scipy import ndimage as ndi

__all__ = ["MAX_LABEL", "dilate_disk", "grow", "people_boxes", "select", "size_relative"]

#: The largest person label: label images are saved as 16-bit PNG, and the
#: per-label tables used here have one entry per label value.
MAX_LABEL = 65535


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
        integer label image holding only the selected labels.

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
    if np.any(mask < 0):
        raise ValueError("label image has negative labels; people are labels >= 1")
    if labels is None:
        return mask
    wanted = np.unique(np.asarray(list(labels), dtype=np.int64))
    if np.any(wanted < 1):
        raise ValueError(f"labels must be >= 1 (0 is background), got {wanted.tolist()}")
    return np.where(np.isin(mask, wanted), mask, 0)


def _bbox_slices(box, pad, shape):
    return tuple(
        slice(max(s.start - pad, 0), min(s.stop + pad, n)) for s, n in zip(box, shape, strict=True)
    )


def labels_present(labels: np.ndarray) -> np.ndarray:
    """The nonzero labels in a label image, ascending (faster than ``np.unique``)."""
    lab = labels.view(np.uint8) if labels.dtype == bool else labels
    return _present(ndi.find_objects(lab))


def _present(boxes) -> np.ndarray:
    return np.array([i + 1 for i, b in enumerate(boxes) if b is not None], dtype=np.int64)


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
    boxes = _find_objects(lab)
    present = _present(boxes)
    margins = per_label(margin, present, "margin", minimum=0)
    out = lab.copy()
    if not any(margins.values()):
        return out.view(bool) if is_bool else out
    for label in present.tolist():
        m = margins[label]
        if m <= 0:
            continue
        # Only the person's box (padded by its margin) can change: keeps this
        # linear in the people's size, not the image's.
        sl = _bbox_slices(boxes[label - 1], int(np.ceil(m)), lab.shape)
        new = dilate_disk(lab[sl] == label, m)
        new &= out[sl] == 0
        out[sl][new] = label
    return out.view(bool) if is_bool else out


def _find_objects(lab) -> list:
    """``ndi.find_objects``, in one compiled pass where numba is in use."""
    from .methods._kernels import kernels  # here: methods imports this module

    if kernels() != "numba":
        return ndi.find_objects(lab)
    from .methods import _masks_numba as fast

    n = 1 << min(8 * lab.itemsize, 16)  # labels are 0..MAX_LABEL (checked)
    top, left = np.full(n, np.iinfo(np.int64).max), np.full(n, np.iinfo(np.int64).max)
    bottom, right = np.zeros(n, np.int64), np.zeros(n, np.int64)
    fast.boxes(lab, top, left, bottom, right)
    last = int(np.flatnonzero(bottom)[-1]) if bottom.any() else 0
    return [
        (slice(int(top[k]), int(bottom[k])), slice(int(left[k]), int(right[k])))
        if bottom[k]
        else None
        for k in range(1, last + 1)
    ]


def people_boxes(labels) -> dict[int, tuple[int, int, int, int]]:
    """Bounding box of each person as ``(row0, col0, row1, col1)``, ends exclusive.

    Examples
    --------
    >>> import numpy as np
    >>> people_boxes(np.array([[0, 2], [0, 2]]))
    {2: (0, 1, 2, 2)}
    """
    lab = _check_mask(labels)
    lab = lab.astype(np.uint8) if lab.dtype == bool else lab
    return {
        i + 1: (b[0].start, b[1].start, b[0].stop, b[1].stop)
        for i, b in enumerate(ndi.find_objects(lab))
        if b is not None
    }


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
