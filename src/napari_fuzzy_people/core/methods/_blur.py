"""Blur: a Gaussian blur inside each person, with a pyramid for large sigmas."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..masks import _bbox_slices
from ._common import _cell_sums, _check_finite, _check_positive, _Job, _to_dtype

__all__ = ["blur"]

# Sigmas from this many times the pyramid factor go through a pyramid.
_PYRAMID_STEP = 2.5


def _gaussian(crop, sigma):
    """Gaussian blur of a crop (channels last) as float32, ``mode="nearest"``.

    The cost of a direct blur grows with sigma. From sigma 5 on, the crop is
    averaged over ``f x f`` cells, blurred small, and linearly interpolated
    back; the cell average (variance ``(f**2 - 1) / 12``) and the
    interpolation (about ``f**2 / 6``) are taken out of the small blur, so
    the total is close to the requested sigma at a cost that does not grow.
    On photos it stays within 1/255 of the exact blur on average (10/255 at
    the 99th percentile; tested).
    """
    channel = (0,) if crop.ndim == 3 else ()
    f = int(sigma // _PYRAMID_STEP)
    if f < 2:
        crop = crop.astype(np.float32)
        return ndi.gaussian_filter(crop, (sigma, sigma, *channel), mode="nearest")
    h, w = crop.shape[:2]
    sums, counts = _cell_sums(crop, f)
    small = (sums / counts).astype(np.float32)
    rest = sigma * sigma - (f * f - 1) / 12 - f * f / 6
    s_small = np.sqrt(max(rest, 0.25)) / f
    small = ndi.gaussian_filter(small, (s_small, s_small, *channel), mode="nearest")
    return _upsample_linear(_upsample_linear(small, f, h, 0), f, w, 1)


def _upsample_linear(small, f, n, axis):
    """Linear interpolation from cell centres back to ``n`` pixels along ``axis``."""
    u = (np.arange(n, dtype=np.float32) - (f - 1) / 2) / f
    i0 = np.clip(np.floor(u).astype(np.intp), 0, small.shape[axis] - 1)
    i1 = np.minimum(i0 + 1, small.shape[axis] - 1)
    wgt = np.clip(u - i0, 0, 1).astype(np.float32)
    shape = [1] * small.ndim
    shape[axis] = n
    wgt = wgt.reshape(shape)
    a = np.take(small, i0, axis=axis)
    a *= 1 - wgt
    a += np.take(small, i1, axis=axis) * wgt
    return a


def blur(image, mask, *, sigma, margin=0, labels=None):
    """Replace each masked pixel by a Gaussian blur of the image.

    Parameters
    ----------
    image, mask, margin, labels
        As for :func:`scramble`.
    sigma : float or mapping of int to float
        Gaussian standard deviation in pixels (> 0), or ``{label: sigma}``.

    Returns
    -------
    ndarray
        New image; pixels outside the grown mask are bit-identical.

    Notes
    -----
    A blur averages the person's own pixels, so a weak blur can leave a
    person recognisable; prefer :func:`scramble` with
    ``source="background"`` for anonymization.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((9, 9)); img[4, 4] = 1.0
    >>> out = blur(img, img > 0, sigma=1)
    >>> bool(0 < out[4, 4] < 1)
    True
    """
    _check_positive(sigma, "sigma")
    job = _Job(image, mask, labels, margin)
    _check_finite(job, "blur")
    out = job.image.copy()
    for box, where, s in job.groups(sigma, "sigma", minimum=0, positive=True):
        pad = int(np.ceil(4 * s))
        big = _bbox_slices(box, pad, out.shape[:2])
        blurred = _gaussian(job.image[big], s)
        inner = tuple(
            slice(b.start - g.start, b.stop - g.start) for b, g in zip(box, big, strict=True)
        )
        target = out[box]
        target[where] = _to_dtype(blurred[inner][where], out.dtype)
    return job.finish(out)
