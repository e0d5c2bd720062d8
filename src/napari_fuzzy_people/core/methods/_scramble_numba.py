"""Compiled scramble kernels (numba): the rule of ``_scramble.py``, in one or two passes.

The rule is the numpy reference's: each masked pixel takes the value of a
pixel drawn uniformly from its ``(2r+1)**2`` window clipped to the image,
read from the original image. With ``source="background"`` the draw is
uniform among the window's unmasked pixels (rejection sampling, then an
exact draw through a summed-area table for windows that are mostly masked);
a window with no unmasked pixel takes the nearest unmasked pixel in the
chessboard metric; among equally near ones, the first that the map's two
raster scans reach (deterministic, not random).

The map is built only over the boxes that hold whole masked regions
(:func:`clusters`), and a summed-area table only over a box that needs one.

Random numbers come from xoshiro256** seeded with 256 bits drawn from the
caller's numpy Generator, so a seed reproduces a result and ``rng=None``
(fresh OS entropy) cannot be repeated.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["clusters", "scramble_any", "scramble_background", "seed_state"]

_U32 = np.uint64(0xFFFFFFFF)


def seed_state(rng: np.random.Generator) -> np.ndarray:
    """Four 64-bit words of xoshiro256** state, drawn from ``rng``."""
    state = rng.integers(0, 2**64, size=4, dtype=np.uint64)
    if not state.any():  # the one state xoshiro cannot leave
        state[0] = 1
    return state


@njit(inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(inline="always")
def _next(s):
    """xoshiro256** (Blackman and Vigna): 64 random bits, state in ``s``."""
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    s[0], s[1], s[2], s[3] = s0, s1, s2, s3
    return result


@njit(inline="always")
def _below32(s, x, n):
    """Lemire's unbiased ``[0, n)`` from 32 random bits ``x`` (``1 <= n <= 2**32``)."""
    un = np.uint64(n)
    m = x * un
    low = m & _U32
    if low < un:
        floor = ((_U32 + np.uint64(1)) - un) % un
        while low < floor:
            x = _next(s) >> np.uint64(32)
            m = x * un
            low = m & _U32
    return np.int64(m >> np.uint64(32))


@njit
def _below64(s, n):
    """Uniform ``[0, n)`` for any ``n >= 1``, by masked rejection."""
    mask = np.uint64(1)
    while mask < np.uint64(n):
        mask = (mask << np.uint64(1)) | np.uint64(1)
    while True:
        x = _next(s) & mask
        if x < np.uint64(n):
            return np.int64(x)


@njit(inline="always")
def _below(s, n):
    if n <= 0xFFFFFFFF:
        return _below32(s, _next(s) >> np.uint64(32), n)
    return _below64(s, n)


@njit(inline="always")
def _pick(s, y0, ny, x0, nx):
    """A uniform pixel of the ``ny x nx`` rectangle at ``(y0, x0)``: one draw."""
    bits = _next(s)
    dy = _below32(s, bits >> np.uint64(32), ny)
    dx = _below32(s, bits & _U32, nx)
    return y0 + dy, x0 + dx


@njit(inline="always")
def _copy(src, out, to, frm):
    for c in range(src.shape[1]):
        out[to, c] = src[frm, c]


@njit(cache=True, nogil=True)
def scramble_any(src, out, people, lut, state):
    """``source="any"``: every pixel with ``people != 0`` from its clipped window.

    ``src``/``out`` are ``(pixels, units)`` views of the original image and
    of its copy; ``lut[label]`` is that person's radius.
    """
    h, w = people.shape
    for y in range(h):
        for x in range(w):
            label = people[y, x]
            if label == 0:
                continue
            r = lut[label]
            y0, x0 = max(y - r, 0), max(x - r, 0)
            ny, nx = min(y + r, h - 1) - y0 + 1, min(x + r, w - 1) - x0 + 1
            sy, sx = _pick(state, y0, ny, x0, nx)
            _copy(src, out, y * w + x, sy * w + sx)


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


_STEP = np.int64(1 << 32)  # one pixel farther, in a nearest-pixel key
_NONE = np.int64(1 << 61)  # the key of "no unmasked pixel seen yet"
_INDEX = np.int64((1 << 32) - 1)


@njit(inline="always")
def _row_from(key, i, t):
    """``t[x]``: the least of the three keys of row ``i`` next to ``x``, one step on."""
    bw = key.shape[1]
    if bw == 1:
        t[0] = key[i, 0] + _STEP
        return
    t[0] = min(key[i, 0], key[i, 1]) + _STEP
    for x in range(1, bw - 1):
        t[x] = min(min(key[i, x - 1], key[i, x]), key[i, x + 1]) + _STEP
    t[bw - 1] = min(key[i, bw - 2], key[i, bw - 1]) + _STEP


@njit(cache=True, nogil=True)
def _nearest_forward(people, key, t, top, left, w):
    """First raster pass of the nearest-unmasked-pixel map over the box at ``(top, left)``.

    ``key[i, j] = distance << 32 | flat index`` of the nearest unmasked pixel
    to image pixel ``(top + i, left + j)`` found so far (chessboard
    distance); an unmasked pixel is its own. Two raster passes in opposite
    directions, each taking the least key of the 3x3 neighbours already seen
    one step on, give exact chessboard distances inside the box (a
    rectangle); the least key breaks ties by the lower flat index. Written
    without branches over whole rows, which is several times faster than
    visiting only the masked pixels.
    """
    bh, bw = key.shape
    for x in range(bw):
        t[x] = _NONE
    for i in range(bh):
        if i > 0:
            _row_from(key, i - 1, t)
        prev = _NONE
        base = (top + i) * w + left
        for x in range(bw):
            v = min(t[x], prev + _STEP)
            v = v if people[top + i, left + x] != 0 else base + x
            key[i, x] = v
            prev = v


@njit(inline="always")
def _window_count(sat, y0, x0, y1, x1):
    """Unmasked pixels in rows ``[y0, y1)``, columns ``[x0, x1)`` (table coordinates)."""
    return sat[y1, x1] - sat[y0, x1] - sat[y1, x0] + sat[y0, x0]


@njit(cache=True, nogil=True)
def _fill_table(people, sat, top, left):
    """Summed-area table of the unmasked pixels of the box at ``(top, left)``."""
    bh, bw = sat.shape[0] - 1, sat.shape[1] - 1
    for x in range(bw + 1):
        sat[0, x] = 0
    for y in range(bh):
        run = 0
        sat[y + 1, 0] = 0
        for x in range(bw):
            run += people[top + y, left + x] == 0
            sat[y + 1, x + 1] = sat[y, x + 1] + run


@njit(inline="always")
def _exact(s, sat, y0, ny, x0, nx):
    """Uniform unmasked pixel of a window that holds some: rank, then row, then column.

    The binary searches select instead of branching: their direction is a
    coin toss each step, which a branch predictor cannot learn.
    """
    y1, x1 = y0 + ny, x0 + nx
    k = _below(s, np.int64(_window_count(sat, y0, x0, y1, x1)))
    lo, hi = y0, y1  # count(rows [y0, lo)) <= k < count(rows [y0, hi))
    while hi - lo > 1:
        mid = (lo + hi) // 2
        below = _window_count(sat, y0, x0, mid, x1) <= k
        lo = mid if below else lo
        hi = hi if below else mid
    k -= _window_count(sat, y0, x0, lo, x1)
    left, right = x0, x1  # count(row lo, [x0, left)) <= k < count(row lo, [x0, right))
    while right - left > 1:
        mid = (left + right) // 2
        below = _window_count(sat, lo, x0, lo + 1, mid) <= k
        left = mid if below else left
        right = right if below else mid
    return lo, left


@njit(cache=True, nogil=True)
def scramble_background(src, out, people, lut, state, rounds, boxes, scratch):
    """``source="background"``: picks among the window's unmasked pixels only.

    ``boxes`` are :func:`clusters`; the nearest-unmasked-pixel map is built
    inside them only, one box at a time, in ``scratch`` (int64, the largest
    box's pixels; pages never touched cost nothing). A window
    still unresolved after ``rounds`` rejection draws is drawn from exactly,
    through a summed-area table of its box padded by the largest radius,
    built the first time the box needs it. Returns False when a masked pixel
    has no unmasked pixel anywhere (the mask is the image).
    """
    h, w = people.shape
    widest, reach = 1, 0
    for b in range(boxes.shape[0]):
        widest = max(widest, boxes[b, 3] - boxes[b, 1])
    for k in range(lut.size):
        reach = max(reach, lut[k])
    t = np.empty(widest, np.int64)
    for b in range(boxes.shape[0]):
        top, left, bottom, right = boxes[b, 0], boxes[b, 1], boxes[b, 2], boxes[b, 3]
        bh, bw = bottom - top, right - left
        key = scratch[: bh * bw].reshape(bh, bw)
        _nearest_forward(people, key, t, top, left, w)
        for x in range(bw):
            t[x] = _NONE
        # The table's box: every window of this box's pixels.
        ty, tx = max(top - reach, 0), max(left - reach, 0)
        sat = np.empty((0, 0), np.int32)
        # The second raster pass, backwards, finishes a row; its pixels are
        # then scrambled at once, while the rows around them are in cache.
        for i in range(bh - 1, -1, -1):
            if i < bh - 1:
                _row_from(key, i + 1, t)
            prev = _NONE
            y = top + i
            base = y * w + left
            for x in range(bw - 1, -1, -1):
                v = min(min(t[x], prev + _STEP), key[i, x])
                v = v if people[y, left + x] != 0 else base + x
                key[i, x] = v
                prev = v
            for x in range(left, right):
                label = people[y, x]
                if label == 0:
                    continue
                r = lut[label]
                k = key[i, x - left]
                if k >> 32 > r:  # no unmasked pixel in the window: the nearest one
                    if k >= _NONE:
                        return False
                    _copy(src, out, y * w + x, k & _INDEX)
                    continue
                y0, x0 = max(y - r, 0), max(x - r, 0)
                ny, nx = min(y + r, h - 1) - y0 + 1, min(x + r, w - 1) - x0 + 1
                found = False
                for _ in range(rounds):
                    sy, sx = _pick(state, y0, ny, x0, nx)
                    if people[sy, sx] == 0:
                        found = True
                        break
                if not found:
                    if sat.size == 0:
                        sh = min(bottom + reach, h) - ty
                        sw = min(right + reach, w) - tx
                        sat = np.empty((sh + 1, sw + 1), np.int32)
                        _fill_table(people, sat, ty, tx)
                    sy, sx = _exact(state, sat, y0 - ty, ny, x0 - tx, nx)
                    sy, sx = sy + ty, sx + tx
                _copy(src, out, y * w + x, sy * w + sx)
    return True
