"""Compiled mask kernels (numba): the same results as their numpy/scipy counterparts."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["boxes", "boxes_bands", "grow_bands", "keep_labels"]


@njit(cache=True, nogil=True)
def boxes(lab, top, left, bottom, right):
    """Bounding boxes of every label in one pass (ends exclusive; labels <= 0 skipped).

    ``top``/``left`` must start at a large value, ``bottom``/``right`` at 0;
    a label never seen keeps them.
    """
    _boxes_in(lab, 0, lab.shape[0], top, left, bottom, right)


@njit(cache=True, nogil=True)
def boxes_bands(tasks, lab, rows, top, left, bottom, right):
    """:func:`boxes` of rows ``[task * rows, (task + 1) * rows)`` into row ``task`` of
    each ``(tasks, labels)`` table, for the caller to reduce."""
    for task in tasks:
        y0, y1 = task * rows, min((task + 1) * rows, lab.shape[0])
        _boxes_in(lab, y0, y1, top[task], left[task], bottom[task], right[task])


@njit(inline="always")
def _boxes_in(lab, y0, y1, top, left, bottom, right):
    w = lab.shape[1]
    for y in range(y0, y1):
        x = 0
        while x < w:
            label = lab[y, x]
            if label <= 0:  # negative labels are background too, as in find_objects
                x += 1
                continue
            start = x
            while x < w and lab[y, x] == label:
                x += 1
            top[label] = min(top[label], y)
            bottom[label] = max(bottom[label], y + 1)
            left[label] = min(left[label], start)
            right[label] = max(right[label], x)


@njit(cache=True, nogil=True)
def keep_labels(lab, keep, out):
    """``out = lab`` where ``keep[lab]``, else 0 (a lookup table, not ``np.isin``)."""
    h, w = lab.shape
    for y in range(h):
        for x in range(w):
            v = lab[y, x]
            out[y, x] = v if keep[v] else 0


@njit(cache=True, nogil=True)
def grow_bands(tasks, lab, out, labels, margins, top, left, bottom, right, rows):
    """Rows ``[task * rows, (task + 1) * rows)`` of ``lab`` with each of ``labels``
    (ascending) grown by a Euclidean disk, written to ``out``; tasks share no row.

    The same set as :func:`~napari_fuzzy_people.core.masks.dilate_disk` per
    person: the disk is one run per row offset ``dy`` of half-width
    ``floor(sqrt(m**2 - dy**2))``, so output row ``Y`` gets, from each run
    ``[a, e]`` of the person in row ``Y - dy``, the run ``[a - k, e + k]``.
    Those runs are counted in a difference array and written once over
    their span, only where ``out`` is still 0: a pixel several people reach
    keeps the lowest label, as in the reference. The cost is the grown
    person's area plus its row runs, not one pass per disk row.
    """
    h, w = lab.shape
    diff = np.zeros(w + 1, np.int64)
    for task in tasks:
        y0, y1 = task * rows, min((task + 1) * rows, h)
        for y in range(y0, y1):
            out[y, :] = lab[y, :]
        for i in range(labels.size):
            label = labels[i]
            m = margins[i]
            reach = np.int64(np.floor(m))
            t, b, lft, rgt = top[label], bottom[label], left[label], right[label]
            if reach <= 0 or t - reach >= y1 or b + reach <= y0:
                continue
            half = np.empty(2 * reach + 1, np.int64)
            for dy in range(-reach, reach + 1):
                half[dy + reach] = np.int64(np.floor(np.sqrt(m * m - dy * dy)))
            # The person's row runs that reach these rows, row by row (CSR).
            s0, s1 = max(t, y0 - reach), min(b, y1 + reach)
            starts = np.empty((s1 - s0) * ((rgt - lft + 1) // 2 + 1), np.int64)
            ends = np.empty_like(starts)
            ptr = np.zeros(s1 - s0 + 1, np.int64)
            n = 0
            for y in range(s0, s1):
                x = lft
                while x < rgt:
                    if lab[y, x] != label:
                        x += 1
                        continue
                    a = x
                    while x < rgt and lab[y, x] == label:
                        x += 1
                    starts[n] = a
                    ends[n] = x - 1
                    n += 1
                ptr[y - s0 + 1] = n
            for yy in range(max(t - reach, y0), min(b + reach, y1)):
                lo, hi = w, -1
                for dy in range(-reach, reach + 1):
                    y = yy - dy
                    if y < s0 or y >= s1:
                        continue
                    k = half[dy + reach]
                    for j in range(ptr[y - s0], ptr[y - s0 + 1]):
                        a = max(starts[j] - k, 0)
                        e = min(ends[j] + k, w - 1)
                        diff[a] += 1
                        diff[e + 1] -= 1
                        lo = min(lo, a)
                        hi = max(hi, e)
                c = 0
                for x in range(lo, hi + 1):
                    c += diff[x]
                    diff[x] = 0
                    if c > 0 and out[yy, x] == 0:
                        out[yy, x] = label
                if hi >= 0:
                    diff[hi + 1] = 0
