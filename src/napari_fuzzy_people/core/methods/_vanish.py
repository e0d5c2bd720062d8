"""Vanish: each person replaced by background that looks like it belongs there.

Exemplar-based inpainting (PatchMatch, Barnes et al. 2009, through the
``pypatchmatch`` package) fills each grown person with patches copied from
the photo's background only: every person of the label image, approved or
not, grown by the margin, is excluded as a source, so nobody's pixels are
ever copied into a hole. Unlike scramble it leaves no static and no
streaks; the person's outline goes with them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import numpy as np
from scipy import ndimage as ndi

from ..masks import grow
from ._common import _Job

__all__ = ["vanish"]

# pypatchmatch keeps its random seed in a process-wide variable: one fill at a
# time, each seeded just before it runs, keeps a seed's result reproducible.
_LOCK = threading.Lock()
#: Patch radius: 5x5 patches follow texture well, and cost a third of 7x7.
PATCH = 2


def _patchmatch():
    try:
        import patchmatch
    except ImportError as err:  # a broken install: say what to do
        raise ImportError(
            "vanish needs the pypatchmatch package: pip install pypatchmatch"
        ) from err
    if not patchmatch.patchmatch_available:
        raise ImportError(
            "vanish needs pypatchmatch's native library, which did not load; reinstall it: "
            "pip install --force-reinstall --no-deps --no-cache-dir pypatchmatch"
        )
    return patchmatch


def _others(mask, labels, margin, region) -> np.ndarray:
    """People of the label image not being filled (grown): never a source."""
    mask = np.asarray(mask)
    if labels is None or mask.dtype == bool:
        return np.zeros(region.shape, bool)
    rest = np.where(np.isin(mask, np.asarray(list(labels))), 0, mask)
    reach = max(margin.values(), default=0) if isinstance(margin, Mapping) else margin
    if reach > 0:
        rest = grow(rest, reach)
    return (rest != 0) & ~region


def _crops(region: np.ndarray, context: int) -> list[tuple[slice, slice]]:
    """Boxes around groups of holes with surroundings to copy from, merged until
    none overlap: each hole is filled once, in one search."""
    groups, _ = ndi.label(region, structure=np.ones((3, 3)))
    h, w = region.shape
    boxes = []
    for ys, xs in ndi.find_objects(groups):
        pad = max(context, ys.stop - ys.start, xs.stop - xs.start)  # a person's size
        boxes.append([max(ys.start - pad, 0), max(xs.start - pad, 0),
                      min(ys.stop + pad, h), min(xs.stop + pad, w)])  # fmt: skip
    merged = True
    while merged:
        merged = False
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    a[:] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    boxes.remove(b)
                    merged = True
                    break
            if merged:
                break
    return [(slice(y0, y1), slice(x0, x1)) for y0, x0, y1, x1 in boxes]


def vanish(image, mask, *, margin=0, labels=None, rng=None, patch=PATCH, context=32):
    """Replace each person by background, patch by patch, from background only.

    Parameters
    ----------
    image : (M, N) or (M, N, 3 or 4) uint8 array
        The photo (alpha, if any, is left untouched).
    mask, margin, labels
        As for :func:`scramble`. With a label image and ``labels``, the
        people not chosen are kept as they are, and excluded as sources.
    rng : None, int or numpy.random.Generator
        Seeds the randomized search: a seed gives the same image.
    patch : int
        Patch radius (patches are ``2 * patch + 1`` pixels wide).
    context : int
        At least this many pixels around each group of people are searched
        for patches (more for big people: their own size).

    Returns
    -------
    ndarray
        New image; pixels outside the grown mask are bit-identical.

    Raises
    ------
    ValueError
        Not an 8-bit image, or no background to take patches from.
    """
    job = _Job(image, mask, labels, margin)
    if job.image.dtype != np.uint8 or (job.image.ndim == 3 and job.image.shape[2] not in (3, 4)):
        raise ValueError(
            "vanish works on 8-bit gray, RGB or RGBA photos; use scramble for "
            f"{job.image.dtype} with shape {job.image.shape}"
        )
    if int(patch) != patch or patch < 1:
        raise ValueError(f"patch must be a whole number of pixels >= 1, got {patch!r}")
    out = job.image.copy()
    region = job.region
    if not region.any():
        return out
    excluded = _others(mask, labels, margin, region)
    if not (~region & ~excluded).any():
        raise ValueError("vanish needs background pixels to take patches from")
    pm = _patchmatch()
    rng = np.random.default_rng(rng)
    rgb = job.image if job.image.ndim == 3 else job.image[..., None]
    rgb = np.ascontiguousarray(np.broadcast_to(rgb[..., :3], (*region.shape, 3)))
    for crop in _crops(region, int(context)):
        holes, keep = region[crop], excluded[crop]
        seed = int(rng.integers(2**32))
        if not (~holes & ~keep).any():  # nothing to copy from here: look wider
            crop, holes, keep = (slice(None), slice(None)), region, excluded
        with _LOCK:
            pm.set_random_seed(seed)
            filled = pm.inpaint(
                rgb[crop],
                holes.view(np.uint8),
                global_mask=keep.view(np.uint8) if keep.any() else None,
                patch_size=int(patch),
            )
        target = out[crop]
        if out.ndim == 2:
            target[holes] = filled[..., 0][holes]
        else:
            target[..., :3][holes] = filled[holes]
    return job.finish(out)
