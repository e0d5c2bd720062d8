"""Pixelate: each person's pixels become the mean of their grid cell."""

from __future__ import annotations

import numpy as np

from ._common import _cell_sums, _check_finite, _check_strength, _Job, _pixel_view, _to_dtype

__all__ = ["pixelate"]


def pixelate(image, mask, *, block, margin=0, labels=None):
    """Replace each masked pixel by the mean of its ``block`` x ``block`` cell.

    Cells are aligned to a grid anchored at the image origin and average all
    their pixels, masked or not.

    Parameters
    ----------
    image, mask, margin, labels
        As for :func:`scramble`.
    block : int or mapping of int to int
        Cell size in pixels (>= 1), or ``{label: block}``.

    Returns
    -------
    ndarray
        New image; pixels outside the grown mask are bit-identical.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.array([[0, 2], [4, 6]], dtype=np.uint8)
    >>> pixelate(img, np.ones((2, 2), bool), block=2)
    array([[3, 3],
           [3, 3]], dtype=uint8)
    """
    _check_strength(block, "block", minimum=1, integer=True)
    job = _Job(image, mask, labels, margin)
    _check_finite(job, "pixelate")
    img = np.ascontiguousarray(job.image)
    out = img.copy()
    out_px = _pixel_view(out)
    width = out.shape[1]
    for box, where, b in job.groups(block, "block", minimum=1):
        b = int(b)
        ys, xs = box
        # Widen the box to whole cells so each cell's mean sees all its pixels.
        r0, c0 = ys.start // b * b, xs.start // b * b
        r1 = min(-(-ys.stop // b) * b, out.shape[0])
        c1 = min(-(-xs.stop // b) * b, out.shape[1])
        sums, counts = _cell_sums(img[r0:r1, c0:c1], b)
        means = _to_dtype(sums / counts, out.dtype)
        y, x = np.nonzero(where)
        y += ys.start
        x += xs.start
        cell = (y - r0) // b * means.shape[1] + (x - c0) // b
        np.put(out_px, y * width + x, np.take(_pixel_view(means), cell))
    return job.finish(out)


# Sigmas from this many times the pyramid factor go through a pyramid.
