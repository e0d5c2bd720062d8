"""Compiled scramble kernels (numba): the rule of ``_scramble.py``, on every core.

The rule is the numpy reference's: each masked pixel takes the value of a
pixel drawn uniformly from its ``(2r+1)**2`` window clipped to the image,
read from the original image. With ``source="background"`` the draw is
uniform among the window's unmasked pixels (rejection sampling, then an
exact draw through a summed-area table for windows that are mostly masked);
a window with no unmasked pixel takes the nearest unmasked pixel in the
chessboard metric (among equally near ones, the first that the map's two
raster scans reach: deterministic, not random).

Work is split into tasks that share nothing they write: bands of
:data:`BAND` rows for the draws, and for "background" first one
nearest-pixel map and one summed-area table per box of masked regions
(:func:`clusters`). Each band draws from a random stream of its own
(:func:`~._rng_numba.seed_states`), so a seed gives the same image on one
core or many. :mod:`._threads` runs the tasks.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._rng_numba import _below, _pick, seed_states
from ._threads import run_tasks

__all__ = ["BAND", "clusters", "scramble_any", "scramble_background"]

BAND = 32  # rows per task and per random stream


@njit(inline="always")
def _copy(src, out, to, frm):
    for c in range(src.shape[1]):
        out[to, c] = src[frm, c]


@njit(cache=True, nogil=True)
def _any_bands(tasks, src, out, people, lut, states):
    h, w = people.shape
    for b in tasks:
        s = states[b].copy()  # a stream of its own, off the shared cache lines
        for y in range(b * BAND, min((b + 1) * BAND, h)):
            for x in range(w):
                label = people[y, x]
                if label == 0:
                    continue
                r = lut[label]
                y0, x0 = max(y - r, 0), max(x - r, 0)
                ny, nx = min(y + r, h - 1) - y0 + 1, min(x + r, w - 1) - x0 + 1
                sy, sx = _pick(s, y0, ny, x0, nx)
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


_STEP = np.int64(1 << 32)  # one pixel farther, in a nearest-pixel key
_NONE = np.int64(1 << 61)  # the key of "no unmasked pixel seen yet"
_INDEX = np.int64((1 << 32) - 1)


@njit(inline="always")
def _cover(key, lo, hi, i, a, b, base):
    """Widen row ``i``'s computed key range ``[lo[i], hi[i])`` to hold ``[a, b)``.

    Pixels outside a row's masked span are unmasked, so their key is their
    own index (distance 0), in either pass.
    """
    if lo[i] >= hi[i]:
        for x in range(a, b):
            key[i, x] = base + x
        lo[i], hi[i] = a, b
        return
    for x in range(a, lo[i]):
        key[i, x] = base + x
    for x in range(hi[i], b):
        key[i, x] = base + x
    lo[i], hi[i] = min(lo[i], a), max(hi[i], b)


@njit(inline="always")
def _pass_row(people, key, i, j, lo, hi, t, y, left, base, backward):
    """Row ``i`` of a raster pass, from row ``j`` (the one before it in the pass).

    ``t[x]`` is the least key of row ``j`` next to ``x``, one step on; then
    the row is swept, each pixel taking the least of ``t``, its
    predecessor's key one step on and (backwards) its own key so far.
    Written without branches over the row's masked span.
    """
    bw = key.shape[1]
    a, b = lo[i], hi[i]
    if a == 0:
        t[0] = (min(key[j, 0], key[j, 1]) if bw > 1 else key[j, 0]) + _STEP
    for x in range(max(a, 1), min(b, bw - 1)):  # no branch: vectorizes
        t[x] = min(min(key[j, x - 1], key[j, x]), key[j, x + 1]) + _STEP
    if b == bw and bw > 1:
        t[bw - 1] = min(key[j, bw - 2], key[j, bw - 1]) + _STEP
    prev = _NONE
    if not backward:
        for x in range(a, b):
            v = min(t[x], prev + _STEP)
            v = v if people[y, left + x] != 0 else base + x
            key[i, x] = v
            prev = v
        return
    for x in range(b - 1, a - 1, -1):
        v = min(min(t[x], prev + _STEP), key[i, x])
        v = v if people[y, left + x] != 0 else base + x
        key[i, x] = v
        prev = v


@njit(cache=True, nogil=True)
def _nearest_map(people, key, lo, hi, top, left, w):
    """Nearest-unmasked-pixel map of the box at ``(top, left)``, over masked spans.

    ``key[i, j] = distance << 32 | flat index`` of the nearest unmasked pixel
    to image pixel ``(top + i, left + j)`` (chessboard distance). Two raster
    passes in opposite directions, each taking the least key of the 3x3
    neighbours already seen one step on, give exact distances inside the
    box (a rectangle). Only each row's masked span, padded by one, is
    computed (``[lo[i], hi[i])``, widened where the next row needs more):
    the rest of the box is unmasked, each pixel its own nearest.
    """
    bh, bw = key.shape
    t = np.empty(bw, np.int64)
    for i in range(bh):
        y = top + i
        a = 0
        while a < bw and people[y, left + a] == 0:
            a += 1
        lo[i], hi[i] = 0, 0
        if a == bw:
            continue
        b = bw - 1
        while people[y, left + b] == 0:
            b -= 1
        lo[i], hi[i] = max(a - 1, 0), min(b + 2, bw)
        base = y * w + left
        if i == 0:
            prev = _NONE
            for x in range(lo[i], hi[i]):
                v = prev + _STEP
                v = v if people[y, left + x] != 0 else base + x
                key[i, x] = v
                prev = v
            continue
        _cover(key, lo, hi, i - 1, max(lo[i] - 1, 0), min(hi[i] + 1, bw), base - w)
        _pass_row(people, key, i, i - 1, lo, hi, t, y, left, base, False)
    for i in range(bh - 1, -1, -1):
        if lo[i] >= hi[i]:
            continue
        y = top + i
        base = y * w + left
        if i == bh - 1:
            prev = _NONE
            for x in range(hi[i] - 1, lo[i] - 1, -1):
                v = min(prev + _STEP, key[i, x])
                v = v if people[y, left + x] != 0 else base + x
                key[i, x] = v
                prev = v
            continue
        _cover(key, lo, hi, i + 1, max(lo[i] - 1, 0), min(hi[i] + 1, bw), base + w)
        _pass_row(people, key, i, i + 1, lo, hi, t, y, left, base, True)


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


class _Layout:
    """Where each box of masked regions keeps its map, spans and summed-area table.

    Boxes never overlap, so their maps together hold at most the image's
    pixels; ``np.empty`` commits only the pages a map writes (its rows'
    masked spans). A table covers its box padded by the largest radius:
    every window of the box's pixels.
    """

    def __init__(self, cells: np.ndarray, shape: tuple[int, int], reach: int):
        h, w = shape
        self.cells = cells
        bh = cells[:, 2] - cells[:, 0]
        area = bh * (cells[:, 3] - cells[:, 1])
        self.table = np.stack(
            [
                np.maximum(cells[:, 0] - reach, 0),
                np.maximum(cells[:, 1] - reach, 0),
                np.minimum(cells[:, 2] + reach, h),
                np.minimum(cells[:, 3] + reach, w),
            ],
            axis=1,
        )
        tab = self.table
        tarea = (tab[:, 2] - tab[:, 0] + 1) * (tab[:, 3] - tab[:, 1] + 1)
        self.key_at = np.concatenate([[0], np.cumsum(area)])
        self.row_at = np.concatenate([[0], np.cumsum(bh)])
        self.sat_at = np.concatenate([[0], np.cumsum(tarea)])
        self.keys = np.empty(int(self.key_at[-1]), np.int64)
        self.lo = np.zeros(int(self.row_at[-1]), np.int64)
        self.hi = np.zeros_like(self.lo)
        self.sats = np.empty(int(self.sat_at[-1]), np.int32)
        # Costliest first: maps (two passes) and tables, then bands of rows.
        self.prepare_order = np.argsort(-np.concatenate([2 * area, tarea]), kind="stable")
        bands = [
            (c, i, min(i + BAND, n)) for c, n in enumerate(bh.tolist()) for i in range(0, n, BAND)
        ]
        self.bands = np.array(bands, np.int64).reshape(-1, 3)

    def arrays(self):
        """The arrays the kernels take, in their order."""
        return (
            self.cells, self.table, self.keys, self.key_at, self.lo, self.hi,
            self.row_at, self.sats, self.sat_at,
        )  # fmt: skip


@njit(inline="always")
def _views(c, cells, table, keys, key_at, lo, hi, row_at, sats, sat_at):
    """Box ``c``'s map, span bounds and table (2-D views of the flat stores)."""
    bh, bw = cells[c, 2] - cells[c, 0], cells[c, 3] - cells[c, 1]
    th, tw = table[c, 2] - table[c, 0] + 1, table[c, 3] - table[c, 1] + 1
    key = keys[key_at[c] : key_at[c + 1]].reshape(bh, bw)
    sat = sats[sat_at[c] : sat_at[c + 1]].reshape(th, tw)
    return key, lo[row_at[c] : row_at[c + 1]], hi[row_at[c] : row_at[c + 1]], sat


@njit(cache=True, nogil=True)
def _prepare(tasks, people, cells, table, keys, key_at, lo, hi, row_at, sats, sat_at):
    """Task ``c < n``: box ``c``'s nearest map; task ``n + c``: its summed-area table."""
    n, w = cells.shape[0], people.shape[1]
    for task in tasks:
        c = task % n
        key, lo_c, hi_c, sat = _views(c, cells, table, keys, key_at, lo, hi, row_at, sats, sat_at)
        if task < n:
            _nearest_map(people, key, lo_c, hi_c, cells[c, 0], cells[c, 1], w)
        else:
            _fill_table(people, sat, table[c, 0], table[c, 1])


@njit(cache=True, nogil=True)
def _background_bands(
    tasks, src, out, people, lut, states, rounds, bands, bad,
    cells, table, keys, key_at, lo, hi, row_at, sats, sat_at,
):  # fmt: skip
    """Draw every masked pixel of each band ``(box, first row, end row)`` listed."""
    h, w = people.shape
    for j in tasks:
        c, i0, i1 = bands[j, 0], bands[j, 1], bands[j, 2]
        s = states[j].copy()
        key, lo_c, hi_c, sat = _views(c, cells, table, keys, key_at, lo, hi, row_at, sats, sat_at)
        top, left, ty, tx = cells[c, 0], cells[c, 1], table[c, 0], table[c, 1]
        for i in range(i0, i1):
            y = top + i
            for x in range(left + lo_c[i], left + hi_c[i]):
                label = people[y, x]
                if label == 0:
                    continue
                r = lut[label]
                k = key[i, x - left]
                if k >> 32 > r:  # no unmasked pixel in the window: the nearest one
                    if k >= _NONE:
                        bad[j] = True
                        continue
                    _copy(src, out, y * w + x, k & _INDEX)
                    continue
                y0, x0 = max(y - r, 0), max(x - r, 0)
                ny, nx = min(y + r, h - 1) - y0 + 1, min(x + r, w - 1) - x0 + 1
                found = False
                for _ in range(rounds):
                    sy, sx = _pick(s, y0, ny, x0, nx)
                    if people[sy, sx] == 0:
                        found = True
                        break
                if not found:
                    sy, sx = _exact(s, sat, y0 - ty, ny, x0 - tx, nx)
                    sy, sx = sy + ty, sx + tx
                _copy(src, out, y * w + x, sy * w + sx)


def scramble_background(src, out, people, lut, rng, rounds, cells):
    """``source="background"``: picks among the window's unmasked pixels only.

    ``cells`` are :func:`clusters`. First, in parallel, each box's
    nearest-unmasked-pixel map and summed-area table; then the bands of
    rows: a window still unresolved after ``rounds`` rejection draws is
    drawn from exactly through the table. Returns False when a masked pixel
    has no unmasked pixel anywhere (the mask is the image).
    """
    layout = _Layout(cells, people.shape, int(lut.max()))
    run_tasks(_prepare, layout.prepare_order, people, *layout.arrays())
    states = seed_states(rng, len(layout.bands))
    bad = np.zeros(len(layout.bands), np.bool_)
    run_tasks(
        _background_bands, np.arange(len(layout.bands)),
        src, out, people, lut, states, rounds, layout.bands, bad, *layout.arrays(),
    )  # fmt: skip
    return not bad.any()
