"""Compiled scramble kernels (numba): the rule of ``_scramble.py``, on every core.

The rule is the numpy reference's: each masked pixel takes the value of a
pixel drawn uniformly from its ``(2r+1)**2`` window clipped to the image,
read from the original image. This module holds ``source="any"`` and what
both sources share; ``source="background"`` is in :mod:`._background_numba`.

Work is split into tasks that share nothing they write: bands of
:data:`BAND` rows. Each band draws from a random stream of its own
(:func:`~._rng_numba.seed_states`), so a seed gives the same image on one
core or many. :mod:`._threads` runs the tasks.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._rng_numba import _pick_t, _stream, seed_states
from ._threads import run_tasks

__all__ = ["BAND", "clusters", "scramble_any"]

BAND = 32  # rows per task and per random stream


@njit(inline="always")
def _copy(src, out, to, frm):
    for c in range(src.shape[1]):
        out[to, c] = src[frm, c]


@njit(cache=True, nogil=True)
def _any_bands(tasks, src, out, people, lut, states):
    h, w = people.shape
    for b in tasks:
        t = _stream(states, b)
        for y in range(b * BAND, min((b + 1) * BAND, h)):
            for x in range(w):
                label = people[y, x]
                if label == 0:
                    continue
                r = lut[label]
                y0, x0 = max(y - r, 0), max(x - r, 0)
                ny, nx = min(y + r, h - 1) - y0 + 1, min(x + r, w - 1) - x0 + 1
                sy, sx, t = _pick_t(t, y0, ny, x0, nx)
                _copy(src, out, y * w + x, sy * w + sx)


def scramble_any(src, out, people, lut, rng):
    """``source="any"``: every pixel with ``people != 0`` from its clipped window.

    ``src``/``out`` are ``(pixels, units)`` views of the original image and
    of its copy; ``lut[label]`` is that person's radius.
    """
    bands = -(-people.shape[0] // BAND)
    states = seed_states(rng, bands)
    run_tasks(_any_bands, np.arange(bands), src, out, people, lut, states)


@njit(cache=True, nogil=True)
def clusters(top, left, bottom, right, labels, h, w):
    """Boxes of the people (padded by 1) merged until no two overlap.

    Every 8-connected masked region lies inside one of them, and so does the
    nearest unmasked pixel of each of its pixels: for a masked pixel whose
    nearest unmasked pixel is ``d`` away, the square of radius ``d - 1``
    around it is masked, so part of its region, so the ring at ``d`` lies
    within the region's box padded by 1. Returns an ``(n, 4)`` array of
    ``top, left, bottom, right`` (ends exclusive).
    """
    n = labels.size
    box = np.empty((n, 4), np.int64)
    for i in range(n):
        k = labels[i]
        box[i, 0] = max(top[k] - 1, 0)
        box[i, 1] = max(left[k] - 1, 0)
        box[i, 2] = min(bottom[k] + 1, h)
        box[i, 3] = min(right[k] + 1, w)
    alive = np.ones(n, np.bool_)
    changed = True
    while changed:
        changed = False
        for i in range(n):
            if not alive[i]:
                continue
            for j in range(i + 1, n):
                if not alive[j]:
                    continue
                if (
                    box[i, 0] < box[j, 2]
                    and box[j, 0] < box[i, 2]
                    and box[i, 1] < box[j, 3]
                    and box[j, 1] < box[i, 3]
                ):
                    box[i, 0] = min(box[i, 0], box[j, 0])
                    box[i, 1] = min(box[i, 1], box[j, 1])
                    box[i, 2] = max(box[i, 2], box[j, 2])
                    box[i, 3] = max(box[i, 3], box[j, 3])
                    alive[j] = False
                    changed = True
    return box[alive]
