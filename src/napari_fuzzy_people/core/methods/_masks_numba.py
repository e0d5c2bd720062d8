"""Compiled mask kernels (numba): the same results as their scipy counterparts."""

from __future__ import annotations

from numba import njit

__all__ = ["boxes"]


@njit(cache=True, nogil=True)
def boxes(lab, top, left, bottom, right):
    """Bounding boxes of every label in one pass (ends exclusive; labels <= 0 skipped).

    ``top``/``left`` must start at a large value, ``bottom``/``right`` at 0;
    a label never seen keeps them.
    """
    h, w = lab.shape
    for y in range(h):
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
