"""Scramble: the Fuzzy People method."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import ndimage as ndi

from ..masks import _boxes_of, per_label, reuse_boxes
from ._common import _check_strength, _Job, _pixel_view
from ._kernels import kernels

__all__ = ["SOURCES", "scramble"]

SOURCES = ("any", "background")

# Rejection rounds before switching to exact sampling for the pixels whose
# window is mostly masked (source="background").
_REJECTION_ROUNDS = 8
# The compiled kernel's draws are cheap next to its exact sampler: more rounds.
_COMPILED_ROUNDS = 8


def _draw(rng, high, n):
    """``n`` uniform integers in ``[0, high)``, in the narrowest fast dtype."""
    if np.isscalar(high):
        dtype = np.uint16 if high <= 1 << 16 else np.int64
        return rng.integers(0, high, n, dtype=dtype)
    return rng.integers(0, high)


def _pick_clipped(dst, radius, shape, rng):
    """Uniform pick in each pixel's window clipped to the image (any radius)."""
    h, w = shape
    y, x = np.divmod(dst, w)
    y0 = np.maximum(y - radius, 0)
    x0 = np.maximum(x - radius, 0)
    ny = np.minimum(y + radius, h - 1) - y0 + 1
    nx = np.minimum(x + radius, w - 1) - x0 + 1
    dy, dx = np.divmod(rng.integers(0, ny * nx), nx)
    return (y0 + dy) * w + (x0 + dx)


def _picks_any(region, radius, people, rng):
    """Yield ``(dst, src, radius)`` groups of flat pixel indices."""
    h, w = region.shape
    if isinstance(radius, Mapping):
        dst = np.flatnonzero(region)
        lut = np.zeros(int(people.max()) + 1, np.int64)
        for label, r in radius.items():
            lut[label] = r
        r = lut[people.reshape(-1)[dst]]
        yield dst, _pick_clipped(dst, r, (h, w), rng), r
        return
    r = int(radius)
    if h <= 2 * r or w <= 2 * r:
        dst = np.flatnonzero(region)
        yield dst, _pick_clipped(dst, r, (h, w), rng), r
        return
    # Interior pixels: the whole window is inside the image, so one draw
    # indexes a table of flat offsets. This is the hot path.
    inner = region.copy()
    inner[:r] = inner[h - r :] = False
    inner[:, :r] = inner[:, w - r :] = False
    dst = np.flatnonzero(inner)
    del inner
    d = np.arange(-r, r + 1)
    offsets = (d[:, None] * w + d[None, :]).reshape(-1)
    yield dst, dst + offsets[_draw(rng, offsets.size, dst.size)], r
    # The border band, where windows are clipped.
    top = np.flatnonzero(region[:r])
    bottom = np.flatnonzero(region[h - r :]) + (h - r) * w
    ys, xs = np.nonzero(region[r : h - r, :r])
    left = (ys + r) * w + xs
    ys, xs = np.nonzero(region[r : h - r, w - r :])
    right = (ys + r) * w + xs + (w - r)
    dst = np.concatenate([top, bottom, left, right])
    if dst.size:
        yield dst, _pick_clipped(dst, r, (h, w), rng), r


def _exact_background(dst, radius, region, rng):
    """Uniform pick among the unmasked pixels of each window (each has some).

    A summed-area table counts unmasked pixels in any rectangle; a random rank
    ``k`` is located first in a row (binary search over the window's rows),
    then in that row (one ``searchsorted`` over all rows' prefix sums).
    """
    h, w = region.shape
    radius = np.broadcast_to(radius, dst.shape)
    y, x = np.divmod(dst, w)
    top, left = max(int((y - radius).min()), 0), max(int((x - radius).min()), 0)
    bottom = min(int((y + radius).max()) + 1, h)
    right = min(int((x + radius).max()) + 1, w)
    allowed = ~region[top:bottom, left:right]
    ch, cw = allowed.shape
    count = np.int32 if allowed.size < 2**31 else np.int64
    table = np.zeros((ch + 1, cw + 1), count)
    np.cumsum(np.cumsum(allowed, axis=0, dtype=count), axis=1, out=table[1:, 1:])
    # Per-row prefix sums, lifted so the flattened array increases throughout.
    lift = (np.arange(ch) * (cw + 1))[:, None]
    lifted = (np.diff(table, axis=0) + lift).reshape(-1)

    ly, lx = y - top, x - left
    y0, x0 = np.maximum(ly - radius, 0), np.maximum(lx - radius, 0)
    y1, x1 = np.minimum(ly + radius, ch - 1) + 1, np.minimum(lx + radius, cw - 1) + 1

    def upto(rows):  # unmasked pixels in window rows [y0, rows)
        return table[rows, x1] - table[y0, x1] - table[rows, x0] + table[y0, x0]

    k = rng.integers(0, upto(y1))
    lo, hi = y0.copy(), y1.copy()  # upto(lo) <= k < upto(hi)
    while np.any(hi - lo > 1):
        mid = (lo + hi) // 2
        below = upto(mid) <= k
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    k -= upto(lo)
    row_start = lifted[lo * (cw + 1) + x0]
    col = np.searchsorted(lifted, row_start + k + 1, side="left") - lo * (cw + 1) - 1
    return (lo + top) * w + (col + left)


def _window_has_no_background(dst, radius, region):
    """For each pixel, whether its whole (clipped) window is masked.

    A square erosion, separable into two running-min passes over the band of
    rows around the pixels; full-width rows keep flat indices valid.
    """
    h, w = region.shape
    out = np.empty(dst.size, bool)
    scalar = np.isscalar(radius)
    for r in [radius] if scalar else np.unique(radius).tolist():
        sel = slice(None) if scalar else np.flatnonzero(radius == r)
        flat = dst[sel]
        top = max(int(flat.min()) // w - r, 0)
        bottom = min(int(flat.max()) // w + r + 1, h)
        # Every window lies inside this band, so the filters only read past
        # its edges outside the image, where nothing may be picked: cval=1.
        band = region[top:bottom].view(np.uint8)
        eroded = ndi.minimum_filter1d(band, 2 * r + 1, axis=0, mode="constant", cval=1)
        eroded = ndi.minimum_filter1d(eroded, 2 * r + 1, axis=1, mode="constant", cval=1)
        out[sel] = eroded.reshape(-1)[flat - top * w].view(bool)
    return out


def _nearest_background(dst, region, start):
    """Flat index of the nearest unmasked pixel, in the window's own metric.

    Distances are chessboard (L-infinity), the metric of the square window,
    so "nearest" means "in the smallest window that holds one".
    """
    h, w = region.shape
    y, x = np.divmod(dst, w)
    pad = 4 * max(int(start), 1)
    far = h + w
    while True:
        top, left = max(int(y.min()) - pad, 0), max(int(x.min()) - pad, 0)
        bottom, right = min(int(y.max()) + pad + 1, h), min(int(x.max()) + pad + 1, w)
        crop = region[top:bottom, left:right]
        whole = (top, left, bottom, right) == (0, 0, h, w)
        if not crop.all():
            dist, (iy, ix) = ndi.distance_transform_cdt(
                crop, metric="chessboard", return_indices=True
            )
            ly, lx = y - top, x - left
            # A pixel outside the box is at least as far as the box's edge, so
            # the answer is exact wherever the edge is no nearer than the hit.
            reach = np.minimum.reduce(
                [
                    ly + 1 if top else np.full_like(ly, far),
                    lx + 1 if left else np.full_like(lx, far),
                    bottom - ly if bottom < h else np.full_like(ly, far),
                    right - lx if right < w else np.full_like(lx, far),
                ]
            )
            if whole or np.all(dist[ly, lx] <= reach):
                return (iy[ly, lx] + top) * w + (ix[ly, lx] + left)
        elif whole:
            raise ValueError("no unmasked pixel to take values from")
        pad = h + w  # the second try is the whole image


def _resolve_background(dst, src, radius, region, rng):
    """Replace every pick that landed on a masked pixel (in place)."""
    flat = region.reshape(-1)
    todo = np.flatnonzero(flat[src])
    if todo.size == 0:
        return src
    r = radius if np.isscalar(radius) else radius[todo]
    # Windows with no background at all: the nearest unmasked pixel.
    deep = _window_has_no_background(dst[todo], r, region)
    if deep.any():
        start = r if np.isscalar(r) else int(r[deep].min())
        src[todo[deep]] = _nearest_background(dst[todo[deep]], region, start)
        todo = todo[~deep]
    # The rest: rejection sampling, then exact sampling for stubborn windows.
    for _ in range(_REJECTION_ROUNDS):
        if todo.size == 0:
            return src
        r = radius if np.isscalar(radius) else radius[todo]
        src[todo] = _pick_clipped(dst[todo], r, region.shape, rng)
        todo = todo[flat[src[todo]]]
    if todo.size:
        r = radius if np.isscalar(radius) else radius[todo]
        src[todo] = _exact_background(dst[todo], r, region, rng)
    return src


def scramble(image, mask, *, radius, source="any", margin=0, labels=None, rng=None):
    """Replace each masked pixel by a random pixel from its neighbourhood.

    The Fuzzy People method: every masked pixel takes the value of a pixel
    picked uniformly at random from the ``(2*radius+1)**2`` window centred on
    it (clipped at the image border), always read from the original image.

    Parameters
    ----------
    image : (M, N) or (M, N, C) ndarray
        Integer or float image; with ``C == 4`` alpha is left untouched.
    mask : (M, N) bool or integer ndarray
        People to scramble: boolean mask or label image (0 = background).
    radius : int or mapping of int to int
        Window half-size in pixels (>= 1), or ``{label: radius}``.
    source : {"any", "background"}
        ``"any"`` picks from the whole window (the original method).
        ``"background"`` picks only unmasked pixels, so clothing colours do
        not survive; where a window has none, the nearest unmasked pixel is
        used.
    margin : int or mapping of int to int
        Grow each person by this many pixels first (segmenter masks miss hair
        and fingers).
    labels : iterable of int, optional
        With a label image, the labels to scramble (default: all nonzero).
    rng : None, int or numpy.random.Generator
        ``None`` draws fresh OS entropy, so a scramble cannot be repeated by
        someone who guesses a seed. Pass a seed only for reproducible tests.

    Returns
    -------
    ndarray
        New image; pixels outside the grown mask are bit-identical.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.arange(25, dtype=np.uint8).reshape(5, 5)
    >>> mask = np.zeros((5, 5), bool); mask[2, 2] = True
    >>> out = scramble(img, mask, radius=1, source="background", rng=0)
    >>> bool(out[2, 2] in img[1:4, 1:4]), bool(out[2, 2] != 12)
    (True, True)
    >>> bool((out[~mask] == img[~mask]).all())
    True
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    _check_strength(radius, "radius", minimum=1, integer=True)
    with reuse_boxes():  # select, grow and the kernel find the people's boxes once
        return _scramble(image, mask, radius, source, margin, labels, rng)


def _scramble(image, mask, radius, source, margin, labels, rng):
    job = _Job(image, mask, labels, margin)
    rng = np.random.default_rng(rng)
    h, w = job.image.shape[:2]
    if kernels() == "numba" and h * w < 2**31:  # the kernels' tables are int32
        return _scramble_numba(job, radius, source, rng)
    if isinstance(radius, Mapping):
        if job.people.dtype == bool:
            raise ValueError("per-person radius needs an integer label image")
        radius = per_label(radius, job.present(), "radius", minimum=1)
        radius = {k: int(v) for k, v in radius.items()}
    img = np.ascontiguousarray(job.image)
    out = img.copy()
    if source == "background" and not job.region.any():
        return out
    if source == "background" and job.region.all():
        raise ValueError(_WHOLE_IMAGE)
    src_px, out_px = _pixel_view(img), _pixel_view(out)
    picks = list(_picks_any(job.region, radius, job.people, rng))
    if source == "background" and picks:
        # One pass over all groups: the masks and tables it builds are shared.
        dst = np.concatenate([p[0] for p in picks])
        src = np.concatenate([p[1] for p in picks])
        r = radius if np.isscalar(picks[0][2]) else np.concatenate([p[2] for p in picks])
        picks = [(dst, _resolve_background(dst, src, r, job.region, rng), r)]
    for dst, src, _ in picks:
        np.put(out_px, dst, np.take(src_px, src))
    return job.finish(out)


_WHOLE_IMAGE = 'source="background" needs unmasked pixels, but the mask covers the whole image'


def _units(a: np.ndarray) -> np.ndarray:
    """``(pixels, units)`` view of a C-contiguous image: one row per pixel, in the
    widest unsigned integers that tile it, so a kernel copies a pixel in one or a
    few moves whatever its dtype and channels."""
    nbytes = a.itemsize * (a.shape[2] if a.ndim == 3 else 1)
    unit = next(u for u in (8, 4, 2, 1) if nbytes % u == 0)
    return a.reshape(-1).view(f"u{unit}").reshape(a.shape[0] * a.shape[1], nbytes // unit)


def _people_view(people: np.ndarray) -> np.ndarray:
    return people.view(np.uint8) if people.dtype == bool else people


def _scramble_numba(job, radius, source, rng):
    """The compiled path: same rule as the numpy one; the boxes come from the scope."""
    from . import _scramble_numba as fast
    from ._background_numba import scramble_background

    if job.people.dtype == bool and source == "any":
        # No boxes needed: one person, and the kernel skips unmasked pixels.
        boxes, present = None, np.arange(1, 2 if job.people.any() else 1)
    else:
        boxes = _boxes_of(job.people)
        present = boxes.present
    if isinstance(radius, Mapping):
        if job.people.dtype == bool:
            raise ValueError("per-person radius needs an integer label image")
        radius = per_label(radius, present, "radius", minimum=1)
    img = np.ascontiguousarray(job.image)
    out = img.copy()
    if present.size == 0:
        return job.finish(out)
    people = _people_view(job.people)
    lut = np.zeros(int(present[-1]) + 1, np.int64)
    if isinstance(radius, Mapping):
        for label, r in radius.items():
            if label <= present[-1]:
                lut[label] = int(r)
    else:
        lut[1:] = int(radius)
    src_u, out_u = _units(img), _units(out)
    h, w = people.shape
    if source == "any":
        fast.scramble_any(src_u, out_u, people, lut, rng)
        return job.finish(out)
    cells = fast.clusters(boxes.top, boxes.left, boxes.bottom, boxes.right, present, h, w)
    if not scramble_background(src_u, out_u, people, lut, rng, _COMPILED_ROUNDS, cells):
        raise ValueError(_WHOLE_IMAGE)
    return job.finish(out)
