"""A preview of an anonymization at screen size: what Apply does, at a smaller scale.

A live preview that anonymizes the full photo on every change of settings
costs seconds on a phone photo; a screen shows a fraction of its pixels
anyway. Here the photo is shrunk by a whole ``factor`` (each preview pixel is
a ``factor`` x ``factor`` cell of photo pixels), and so are the people and the
settings, so that the preview shows what Apply will do to the full photo:

- the photo: each cell's mean (:func:`downscale`);
- the people: a cell belongs to a person if any of its pixels does (no person
  pixel is lost: it fails closed), to the lowest label when several people
  share it, as :func:`~napari_fuzzy_people.core.grow` gives overlaps to the
  lowest label (:func:`downscale_labels`);
- the settings: each person's strength and margin as Apply computes them on the
  full-resolution people (``settings.params(labels)``, floors included),
  divided by ``factor`` (:func:`scale_params`).

Apply and Export never use any of this: they anonymize the full photo.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping

import numpy as np

from .masks import MAX_LABEL
from .methods import anonymize, fill, get_method
from .people import Progress

__all__ = [
    "PREVIEW_MAX",
    "downscale",
    "downscale_labels",
    "preview",
    "preview_factor",
    "preview_steps",
    "scale_params",
]

#: The longest side a preview is ever computed at, whatever the screen.
PREVIEW_MAX = 2048

_FILL_RING = inspect.signature(fill).parameters["ring"].default


def preview_factor(shape, target: int) -> int:
    """The whole factor that shrinks ``shape`` to fit ``target`` pixels on its long side.

    Parameters
    ----------
    shape : tuple of int
        The photo's shape (rows, columns, ...).
    target : int
        The long side wanted, in pixels (the canvas's, say); capped at
        :data:`PREVIEW_MAX`.

    Returns
    -------
    int
        ``1`` when the photo already fits (a preview never upscales).

    Examples
    --------
    >>> preview_factor((2656, 3984, 3), 1366)
    3
    >>> preview_factor((2656, 3984, 3), 4000)  # capped at PREVIEW_MAX
    2
    >>> preview_factor((480, 640), 1366)
    1
    """
    target = max(1, min(int(target), PREVIEW_MAX))
    return max(1, -(-max(shape[:2]) // target))


def _fold(a: np.ndarray, factor: int, axis: int, ufunc, dtype) -> np.ndarray:
    """Combine every ``factor`` consecutive entries along ``axis`` with ``ufunc``.

    Strided slices, one per offset in the cell, keep each pass a plain
    elementwise ufunc: several times faster than reducing a reshaped array.
    A last, partial cell combines the entries it has.
    """

    def along(s):
        return (slice(None),) * axis + (s,)

    out = np.array(a[along(slice(0, None, factor))], dtype=dtype)
    for i in range(1, factor):
        part = a[along(slice(i, None, factor))]
        if part.shape[axis]:
            view = out[along(slice(0, part.shape[axis]))]
            ufunc(view, part, out=view)
    return out


def _counts(n: int, factor: int) -> np.ndarray:
    return np.minimum(factor, n - np.arange(-(-n // factor)) * factor)


def downscale(image, factor: int) -> np.ndarray:
    """Each ``factor`` x ``factor`` cell of ``image`` as its mean, in the same dtype.

    Parameters
    ----------
    image : (M, N) or (M, N, C) ndarray
        Integer (means rounded half up) or floating point.
    factor : int
        Cell size; ``1`` returns a copy. Cells at the bottom and right edge
        may be partial (``M`` or ``N`` not a multiple): they average the pixels
        they have.

    Returns
    -------
    ndarray
        Shape ``(ceil(M / factor), ceil(N / factor), ...)``.

    Examples
    --------
    >>> img = np.array([[0, 1, 9], [2, 3, 9]], np.uint8)
    >>> downscale(img, 2)
    array([[2, 9]], dtype=uint8)
    """
    image = np.asarray(image)
    factor = _check_factor(factor)
    if factor == 1:
        return image.copy()
    kind = image.dtype.kind
    if kind == "u" and image.dtype.itemsize == 1 and factor <= 128:
        row_acc, acc = np.uint16, np.uint32  # narrow sums: less memory traffic
    elif kind in "ub":
        row_acc = acc = np.uint64
    elif kind == "i":
        row_acc = acc = np.int64
    else:
        row_acc = acc = np.float64
    sums = _fold(image, factor, 0, np.add, row_acc)
    sums = _fold(sums, factor, 1, np.add, acc)
    counts = np.multiply.outer(_counts(image.shape[0], factor), _counts(image.shape[1], factor))
    counts = counts.reshape(counts.shape + (1,) * (image.ndim - 2)).astype(acc)
    if kind in "uib":
        return ((sums + counts // 2) // counts).astype(image.dtype)
    return (sums / counts).astype(image.dtype)


def downscale_labels(labels, factor: int, *, keep: Iterable[int] | None = None) -> np.ndarray:
    """Each ``factor`` x ``factor`` cell of a label image as the lowest person in it.

    A cell is a person if any of its pixels is one (no person pixel is lost);
    of several people in a cell, the lowest label wins (as overlaps do in
    :func:`~napari_fuzzy_people.core.grow`).

    Parameters
    ----------
    labels : (M, N) bool or integer ndarray
        People, 0 for background (a boolean mask counts as label 1).
    factor : int
        Cell size; ``1`` returns the people kept, unshrunk.
    keep : iterable of int, optional
        Only these labels count (the others become background first, so they
        never take a cell from a kept person). ``None`` keeps every label.

    Returns
    -------
    ndarray
        Shape ``(ceil(M / factor), ceil(N / factor))``, same dtype as
        ``labels`` (bool in, bool out).

    Examples
    --------
    >>> lab = np.array([[0, 0, 0, 0], [0, 2, 0, 0], [0, 0, 3, 1], [0, 0, 1, 0]], np.uint8)
    >>> downscale_labels(lab, 2)
    array([[2, 0],
           [0, 1]], dtype=uint8)
    >>> downscale_labels(lab, 2, keep=[3])
    array([[0, 0],
           [0, 3]], dtype=uint8)
    """
    labels = np.asarray(labels)
    factor = _check_factor(factor)
    if labels.ndim != 2:
        raise ValueError(f"labels must be 2-D, got shape {labels.shape}")
    if labels.dtype == bool:
        if keep is not None:
            raise ValueError("keep= needs an integer label image, not a boolean mask")
        return downscale_labels(labels.view(np.uint8), factor).view(bool)
    if labels.dtype.kind not in "ui":
        raise ValueError(f"labels must be boolean or integer, got dtype {labels.dtype}")
    unsigned = np.dtype(f"u{labels.dtype.itemsize}")
    if labels.size and (labels.min() < 0 or labels.max() > MAX_LABEL):
        raise ValueError(f"labels must be 0..{MAX_LABEL}")
    lab = labels.view(unsigned)
    if keep is not None:
        table = np.zeros(MAX_LABEL + 1 if unsigned.itemsize > 1 else 256, unsigned)
        kept = np.unique(np.asarray(list(keep), np.int64))
        kept = kept[(kept >= 1) & (kept < table.size)]
        table[kept] = kept
        lab = table[lab]
    # Minus one wraps background to the dtype's largest value, so the cell's
    # minimum is its lowest person, and plus one wraps an empty cell back to 0.
    one = unsigned.type(1)
    low = _fold(_fold(lab - one, factor, 0, np.minimum, unsigned), factor, 1, np.minimum, unsigned)
    low += one
    return low.view(labels.dtype)


def scale_params(params: Mapping, factor: int) -> dict:
    """Keyword arguments for ``anonymize`` scaled down by ``factor``.

    The strength (``radius``, ``block``, ``sigma``) and ``margin``, scalars or
    ``{label: pixels}``, are divided by ``factor``. Whole-pixel strengths round
    to the nearest whole pixel, at least 1; ``sigma`` stays exact; a margin
    rounds too and is at least 1 unless it was 0. ``fill`` also gets its
    colour band (``ring``) scaled. Anything else is unchanged; ``factor`` 1
    returns ``params`` as they are.

    Examples
    --------
    >>> scale_params({"method": "scramble", "source": "background",
    ...               "radius": {1: 100, 2: 16}, "margin": {1: 25, 2: 4}}, 4)
    {'method': 'scramble', 'source': 'background', 'radius': {1: 25, 2: 4}, 'margin': {1: 6, 2: 1}}
    >>> scale_params({"method": "blur", "sigma": 3.0, "margin": 0}, 2)
    {'method': 'blur', 'sigma': 1.5, 'margin': 0}
    """
    factor = _check_factor(factor)
    out = dict(params)
    if factor == 1:
        return out
    m = get_method(out.get("method", "scramble"))

    def whole(v):
        return max(1, round(v / factor))

    def margin(v):
        return 0 if v == 0 else max(1, round(v / factor))

    scalers = {"margin": margin}
    if m.strength is not None:
        scalers[m.strength] = whole if m.integer else (lambda v: v / factor)
    for key, scaler in scalers.items():
        if key in out:
            v = out[key]
            out[key] = (
                {k: scaler(x) for k, x in v.items()} if isinstance(v, Mapping) else scaler(v)
            )
    if m.name == "fill":
        out["ring"] = whole(out.get("ring", _FILL_RING))
    return out


def preview_steps(
    image, labels, approved: Iterable[int], settings, *, factor: int, rng=None, small=None
):
    """:func:`preview` as a generator: it yields :class:`Progress` between its
    steps (a worker can stop it there) and returns the preview.

    ``small``: ``downscale(image, factor)`` if the caller has it already (the
    photo does not change when the settings do).
    """
    approved = sorted(int(v) for v in approved)
    yield Progress("preview", 0, 3)
    if small is None:
        small = downscale(image, factor)
    if not approved:
        return small
    yield Progress("preview", 1, 3)
    people = downscale_labels(labels, factor, keep=approved)
    # Per person as Apply sees them: measured on the full-resolution people.
    params = scale_params(settings.params(labels), factor)
    if params.get("method") == "vanish":
        # Vanish never copies from anybody: the others must be there too,
        # where no approved pixel is (an approved one still wins its cell).
        others = downscale_labels(labels, factor)
        people = np.where(people != 0, people, others)
    yield Progress("preview", 2, 3)
    return anonymize(small, people, labels=approved, rng=rng, **params)


def preview(image, labels, approved: Iterable[int], settings, *, factor: int, rng=None):
    """What ``settings.apply(image, labels, approved)`` does, at ``1 / factor`` the size.

    Parameters
    ----------
    image : (M, N) or (M, N, C) ndarray
        The photo, full resolution.
    labels : (M, N) integer ndarray
        People, full resolution.
    approved : iterable of int
        The people to anonymize (none: the shrunk photo, untouched).
    settings : AnonymizeSettings
        As Apply uses them; strengths and margins are scaled here.
    factor : int
        From :func:`preview_factor`; ``1`` gives exactly what Apply gives.
    rng : None, int or numpy.random.Generator
        For scramble.

    Returns
    -------
    ndarray
        Shape ``(ceil(M / factor), ceil(N / factor), ...)``, the image's dtype.

    Examples
    --------
    >>> from napari_fuzzy_people.core import AnonymizeSettings
    >>> img = np.arange(64, dtype=np.uint8).reshape(8, 8)
    >>> lab = np.zeros((8, 8), np.uint8); lab[2:6, 2:4] = 1
    >>> s = AnonymizeSettings(method="fill", margin=0, relative=False)
    >>> preview(img, lab, [1], s, factor=2)
    array([[ 5,  7,  9, 11],
           [21, 32, 25, 27],
           [37, 32, 41, 43],
           [53, 55, 57, 59]], dtype=uint8)
    """
    gen = preview_steps(image, labels, approved, settings, factor=factor, rng=rng)
    while True:
        try:
            next(gen)
        except StopIteration as done:
            return done.value


def _check_factor(factor) -> int:
    if isinstance(factor, bool) or int(factor) != factor or factor < 1:
        raise ValueError(f"factor must be a whole number >= 1, got {factor!r}")
    return int(factor)
