"""Compiled scramble from the background (numba): picks among unmasked pixels only.

The rule is the numpy reference's (``_scramble.py``): each masked pixel takes
a pixel drawn uniformly among the unmasked pixels of its ``(2r+1)**2``
window clipped to the image (rejection sampling, then an exact draw through
a summed-area table for windows that are mostly masked); a window with no
unmasked pixel takes a nearest unmasked pixel in the chessboard metric
(among equally near ones, a fixed one: deterministic, not random).

The nearest pixel is found separably, so every step splits across cores:

1. per strip of columns of each box of masked regions (:func:`clusters`),
   the vertical distance to the nearest unmasked pixel above and below,
   kept only at the edges of the bands of :data:`BAND` rows;
2. per band, those distances are carried through its rows, and each row's
   runs of masked pixels take the nearest over their columns, ``min over x'
   of max(|x - x'|, vertical(x'))``, by the linear-time lower envelope of
   Meijster, Roerdink and Hesselink (2000) for the chessboard metric, only
   for runs that hold a pixel with no unmasked pixel in its window.

Each band draws from a random stream of its own, so a seed gives the same
image on one core or many. :mod:`._threads` runs the tasks.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._rng_numba import _below_t, _pick_t, _stream, seed_states
from ._scramble_numba import BAND, _copy
from ._threads import run_tasks

__all__ = ["scramble_background"]

_INF = np.int32(1 << 30)  # "no unmasked pixel in this column of the box"
STRIP = 512  # columns per task of the vertical pass
# Windows with under one unmasked pixel in this many skip the rejection draws.
_SPARSE = 16


@njit(inline="always")
def _step(d, row):
    """One row down (or up) a vertical pass: 0 on unmasked pixels, one more elsewhere."""
    for x in range(d.size):
        d[x] = np.int32(0) if row[x] == 0 else min(d[x] + 1, _INF)


@njit(inline="always")
def _carry_view(c, cells, carry, carry_at):
    """Box ``c``'s carried distances: ``[band, 0 = from above / 1 = from below, column]``."""
    bh, bw = cells[c, 2] - cells[c, 0], cells[c, 3] - cells[c, 1]
    return carry[carry_at[c] : carry_at[c + 1]].reshape(-(-bh // BAND), 2, bw)


@njit(cache=True, nogil=True)
def _vertical(people, cells, carry, carry_at, c, xa, xb):
    """Columns ``[xa, xb)`` of box ``c``: the distance to the nearest unmasked pixel
    above the first row of each band, and below its last row, in the same column."""
    top, left, bh = cells[c, 0], cells[c, 1], cells[c, 2] - cells[c, 0]
    car = _carry_view(c, cells, carry, carry_at)
    d = np.full(xb - xa, _INF, np.int32)  # past the box's edge: only the image's edge
    for i in range(bh):
        if i % BAND == 0:
            car[i // BAND, 0, xa:xb] = d
        _step(d, people[top + i, left + xa : left + xb])
    d[:] = _INF
    for i in range(bh - 1, -1, -1):
        if i == bh - 1 or (i + 1) % BAND == 0:
            car[i // BAND, 1, xa:xb] = d
        _step(d, people[top + i, left + xa : left + xb])


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
def _table_view(c, table, sats, sat_at):
    th, tw = table[c, 2] - table[c, 0] + 1, table[c, 3] - table[c, 1] + 1
    return sats[sat_at[c] : sat_at[c + 1]].reshape(th, tw)


@njit(cache=True, nogil=True)
def _prepare(tasks, people, cells, strips, carry, carry_at, table, sats, sat_at):
    """Task ``j < len(strips)``: a strip's vertical distances; else a box's table."""
    n = strips.shape[0]
    for j in tasks:
        if j < n:
            _vertical(people, cells, carry, carry_at, strips[j, 0], strips[j, 1], strips[j, 2])
        else:
            c = j - n
            _fill_table(people, _table_view(c, table, sats, sat_at), table[c, 0], table[c, 1])


@njit(inline="always")
def _envelope(g, m, s, t, v, dist, arg):
    """``dist[x] = min over i of max(|x - i|, g[i])`` for ``x < m``, and an ``arg``.

    Meijster, Roerdink and Hesselink's second phase for the chessboard
    metric: a stack of the candidates ``s`` that win from ``t`` on, ``v``
    their value there.
    """
    q = 0
    s[0], t[0], v[0] = 0, 0, g[0]
    for u in range(1, m):
        gu = g[u]
        while q >= 0 and v[q] > max(abs(t[q] - u), gu):
            q -= 1
        if q < 0:
            q = 0
            s[0], v[0] = u, max(u, gu)  # t[0] stays 0
            continue
        i = s[q]
        gi = g[i]
        sep = max(i + gu, (i + u) >> 1) if gi <= gu else min(u - gi, (i + u) >> 1)
        if sep + 1 < m:
            q += 1
            s[q], t[q], v[q] = u, sep + 1, max(abs(sep + 1 - u), gu)
    for u in range(m - 1, -1, -1):
        i = s[q]
        arg[u] = i
        dist[u] = max(abs(u - i), g[i])
        if u == t[q]:
            q -= 1


@njit(inline="always")
def _window_count(sat, y0, x0, y1, x1):
    """Unmasked pixels in rows ``[y0, y1)``, columns ``[x0, x1)`` (table coordinates)."""
    return sat[y1, x1] - sat[y0, x1] - sat[y1, x0] + sat[y0, x0]


@njit(inline="always")
def _narrow(lo, hi, c1, c2, c3, q1, q2, q3, k):
    """One step of a four-way search: the counts at ``q1 <= q2 <= q3`` against ``k``."""
    b1, b2, b3 = c1 <= k, c2 <= k, c3 <= k
    new_lo = q3 if b3 else (q2 if b2 else (q1 if b1 else lo))
    new_hi = hi if b3 else (q3 if b2 else (q2 if b1 else q1))
    return new_lo, new_hi


@njit(inline="always")
def _exact(t, sat, y0, ny, x0, nx, count):
    """Uniform unmasked pixel of a window that holds some: rank, then row, then column.

    Four-way searches: three independent table lookups a step halve the
    chain of dependent ones of a binary search, and the steps select
    instead of branching (their direction is a coin toss, which a branch
    predictor cannot learn). Returns the pixel and the random state ``t``.
    """
    y1, x1 = y0 + ny, x0 + nx
    k, t = _below_t(t, count)
    # Rows: the last one whose rows before it hold at most k unmasked pixels.
    k += sat[y0, x1] - sat[y0, x0]
    lo, hi = y0, y1  # count(rows [0, lo)) <= k < count(rows [0, hi)), in the columns
    while hi - lo > 1:
        q2 = (lo + hi) >> 1
        q1, q3 = (lo + q2) >> 1, (q2 + hi) >> 1
        c1, c2, c3 = (
            sat[q1, x1] - sat[q1, x0],
            sat[q2, x1] - sat[q2, x0],
            sat[q3, x1] - sat[q3, x0],
        )
        lo, hi = _narrow(lo, hi, c1, c2, c3, q1, q2, q3, k)
    # Columns of row lo, the same way.
    k += sat[lo + 1, x0] - sat[lo, x0] - (sat[lo, x1] - sat[lo, x0])
    left, right = x0, x1
    while right - left > 1:
        q2 = (left + right) >> 1
        q1, q3 = (left + q2) >> 1, (q2 + right) >> 1
        c1 = sat[lo + 1, q1] - sat[lo, q1]
        c2 = sat[lo + 1, q2] - sat[lo, q2]
        c3 = sat[lo + 1, q3] - sat[lo, q3]
        left, right = _narrow(left, right, c1, c2, c3, q1, q2, q3, k)
    return lo, left, t


@njit(inline="always")
def _draw(t, people, sat, ty, tx, y, x, r, rounds):
    """A uniform unmasked pixel of the window of radius ``r`` at ``(y, x)`` (it has
    some), and the random state ``t`` after it."""
    h, w = people.shape
    y0, x0 = max(y - r, 0), max(x - r, 0)
    ny, nx = min(y + r, h - 1) - y0 + 1, min(x + r, w - 1) - x0 + 1
    count = np.int64(_window_count(sat, y0 - ty, x0 - tx, y0 - ty + ny, x0 - tx + nx))
    if count * _SPARSE >= ny * nx:  # else rejection draws would mostly miss
        for _ in range(rounds):
            sy, sx, t = _pick_t(t, y0, ny, x0, nx)
            if people[sy, sx] == 0:
                return sy, sx, t
    sy, sx, t = _exact(t, sat, y0 - ty, ny, x0 - tx, nx, count)
    return sy + ty, sx + tx, t


@njit(cache=True, nogil=True)
def _bands(
    tasks, src, out, people, lut, states, rounds, bands, bad,
    cells, carry, carry_at, table, sats, sat_at,
):  # fmt: skip
    """Every masked pixel of each band ``(box, first row, end row)`` listed."""
    w = people.shape[1]
    most = np.max(cells[:, 3] - cells[:, 1])
    below = np.empty((BAND, most), np.int32)  # each band row's distance down
    above = np.empty(most, np.int32)  # the current row's distance up
    g, s, t, v = np.empty((4, most), np.int32)  # the row pass's arrays
    dist, arg = np.empty((2, most), np.int32)
    for j in tasks:
        c, i0, i1 = bands[j, 0], bands[j, 1], bands[j, 2]
        top, left, bw = cells[c, 0], cells[c, 1], cells[c, 3] - cells[c, 1]
        car = _carry_view(c, cells, carry, carry_at)
        sat, ty, tx = _table_view(c, table, sats, sat_at), table[c, 0], table[c, 1]
        rng = _stream(states, j)
        d = above[:bw]
        d[:] = car[i0 // BAND, 1]
        for i in range(i1 - 1, i0 - 1, -1):
            _step(d, people[top + i, left : left + bw])
            below[i - i0, :bw] = d
        d[:] = car[i0 // BAND, 0]
        for i in range(i0, i1):
            y = top + i
            row = people[y, left : left + bw]
            _step(d, row)
            down = below[i - i0]
            a = 0
            while a < bw:
                if row[a] == 0:
                    a += 1
                    continue
                b = a
                while b < bw and row[b] != 0:
                    b += 1
                # The run [a, b): unmasked pixels just outside it, unless at the
                # image's edge (a box never cuts a region elsewhere).
                p0 = a - 1 if a > 0 else a
                p1 = b if b < bw else b - 1
                ready = False
                for x in range(a, b):
                    r = lut[row[x]]
                    if (
                        min(d[x], down[x]) > r
                        and (a == 0 or x - a + 1 > r)
                        and (b == bw or b - x > r)
                    ):  # maybe no unmasked pixel in the window: the exact distance
                        if not ready:
                            for u in range(p1 - p0 + 1):
                                g[u] = min(d[p0 + u], down[p0 + u])
                            _envelope(g, p1 - p0 + 1, s, t, v, dist, arg)
                            ready = True
                        far = dist[x - p0]
                        if far > r:
                            if far >= _INF:
                                bad[j] = True
                                continue
                            xs = p0 + arg[x - p0]
                            ys = y - d[xs] if d[xs] <= down[xs] else y + down[xs]
                            _copy(src, out, y * w + left + x, ys * w + left + xs)
                            continue
                    sy, sx, rng = _draw(rng, people, sat, ty, tx, y, left + x, r, rounds)
                    _copy(src, out, y * w + left + x, sy * w + sx)
                a = b


class _Layout:
    """Where each box of masked regions keeps its carried distances and its table.

    A table covers its box padded by the largest radius: every window of the
    box's pixels.
    """

    def __init__(self, cells: np.ndarray, shape: tuple[int, int], reach: int):
        h, w = shape
        self.cells = cells
        bh, bw = cells[:, 2] - cells[:, 0], cells[:, 3] - cells[:, 1]
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
        self.carry_at = np.concatenate([[0], np.cumsum(-(-bh // BAND) * 2 * bw)])
        self.sat_at = np.concatenate([[0], np.cumsum(tarea)])
        self.carry = np.empty(int(self.carry_at[-1]), np.int32)
        self.sats = np.empty(int(self.sat_at[-1]), np.int32)
        strips = [
            (c, x, min(x + STRIP, n))
            for c, n in enumerate(bw.tolist())
            for x in range(0, n, STRIP)
        ]
        self.strips = np.array(strips, np.int64).reshape(-1, 3)
        # Costliest first: strips (two passes) and tables, then bands of rows.
        cost = np.concatenate(
            [2 * bh[self.strips[:, 0]] * (self.strips[:, 2] - self.strips[:, 1]), tarea]
        )
        self.prepare_order = np.argsort(-cost, kind="stable")
        bands = [
            (c, i, min(i + BAND, n)) for c, n in enumerate(bh.tolist()) for i in range(0, n, BAND)
        ]
        self.bands = np.array(bands, np.int64).reshape(-1, 3)

    def arrays(self):
        """The arrays the band kernel takes, in its order."""
        return self.cells, self.carry, self.carry_at, self.table, self.sats, self.sat_at


def scramble_background(src, out, people, lut, rng, rounds, cells):
    """``source="background"``: picks among the window's unmasked pixels only.

    ``src``/``out`` are ``(pixels, units)`` views of the original image and
    of its copy; ``lut[label]`` is that person's radius; ``cells`` are
    :func:`~._scramble_numba.clusters`. A window still unresolved after
    ``rounds`` rejection draws is drawn from exactly through the table.
    Returns False when a masked pixel has no unmasked pixel anywhere (the
    mask is the image).
    """
    layout = _Layout(cells, people.shape, int(lut.max()))
    run_tasks(
        _prepare, layout.prepare_order, people, layout.cells, layout.strips,
        layout.carry, layout.carry_at, layout.table, layout.sats, layout.sat_at,
    )  # fmt: skip
    states = seed_states(rng, len(layout.bands))
    bad = np.zeros(len(layout.bands), np.bool_)
    run_tasks(
        _bands, np.arange(len(layout.bands)),
        src, out, people, lut, states, rounds, layout.bands, bad, *layout.arrays(),
    )  # fmt: skip
    return not bad.any()
