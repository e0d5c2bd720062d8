"""Fill: each person painted in one colour, by default their surroundings' mean."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..masks import _bbox_slices, dilate_disk
from ._common import _check_finite, _Job, _region_box, _to_dtype

__all__ = ["fill"]


def _fill_color(color, image):
    channels = image.shape[2] if image.ndim == 3 else 1
    c = np.asarray(color, dtype=np.float64).reshape(-1)
    if c.size == 1:
        c = np.repeat(c, channels)
    elif image.ndim == 3 and image.shape[2] == 4 and c.size == 3:
        c = np.r_[c, 0]  # alpha is restored afterwards
    if c.size != channels or not np.isfinite(c).all():
        raise ValueError(f"color must be one finite value or {channels}, got {color!r}")
    if image.dtype.kind in "ui":
        info = np.iinfo(image.dtype)
        if c.min() < info.min or c.max() > info.max:
            raise ValueError(f"color {color!r} is outside the range of {image.dtype}")
    return c if image.ndim == 3 else c[0]


def fill(image, mask, *, color=None, margin=0, labels=None, ring=5):
    """Paint each person in one colour.

    Parameters
    ----------
    image, mask, margin, labels
        As for :func:`scramble`.
    color : number or sequence, optional
        Fill value (one per channel, or one for all). ``None`` uses, per
        person, the mean colour of the background in a ``ring`` pixels wide
        band around it (per connected region for a boolean mask).
    ring : int
        Width of that band in pixels.

    Returns
    -------
    ndarray
        New image; pixels outside the grown mask are bit-identical.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((5, 5), 10, np.uint8); img[2, 2] = 200
    >>> fill(img, img == 200)[2, 2]
    np.uint8(10)
    """
    job = _Job(image, mask, labels, margin)
    out = job.image.copy()
    if color is not None:
        out[job.region] = _to_dtype(_fill_color(color, job.image), out.dtype)
        return job.finish(out)
    _check_finite(job, "fill")
    if not job.region.any():
        return out
    if job.region.all():
        raise ValueError("fill needs background pixels to take a colour from")
    if job.people.dtype != bool:
        people = job.people
    else:
        # Connected regions, labelled only inside the people's box.
        people = np.zeros(job.region.shape, np.int32)
        box = _region_box(job.region)
        people[box] = ndi.label(job.region[box])[0]
    for label, box in enumerate(ndi.find_objects(people), start=1):
        if box is None:
            continue
        big = _bbox_slices(box, ring, people.shape)
        band = dilate_disk(people[big] == label, ring)
        band &= ~job.region[big]
        values = job.image[big][band] if band.any() else job.image[~job.region]
        mean = values.mean(axis=0, dtype=np.float64)
        target = out[big]
        target[people[big] == label] = _to_dtype(mean, out.dtype)
    return job.finish(out)
