"""Fingerprints of the labels of a label image: tell whether a person's pixels changed.

Each label's fingerprint is its area and the sum, modulo 2**64, of a hash of
the flat index of each of its pixels (splitmix64, a bijection of 64-bit
integers), computed exactly with a few ``np.bincount`` passes. Two pixel sets
of a label share a fingerprint only if they have the same area and their
hashes sum to the same value: impossible when one pixel is added, removed, or
moved (the hash is a bijection), and about 2**-64 per edit otherwise. Such a
collision is astronomically unlikely but not impossible; it would leave the
person APPROVED. Sums of indices and of their squares, the obvious choice,
are fooled by small symmetric edits (a label losing indices 1, 5, 6 and
gaining 2, 3, 7 keeps both sums), which a hash is not.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fingerprints"]

# Pixels per pass: bounds memory, and keeps float64 sums of 32-bit halves of the
# hash exact (2**20 * 2**32 < 2**53).
_BLOCK = 1 << 20
_LOW = np.uint64(0xFFFFFFFF)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, in place: a bijection of uint64 that scatters bits."""
    z += np.uint64(0x9E3779B97F4A7C15)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def fingerprints(image: np.ndarray) -> dict[int, tuple[int, int]]:
    """``{label: (area, hash sum mod 2**64)}`` for every nonzero label in ``image``."""
    if image.dtype.kind not in "iu":
        raise TypeError(f"a label image needs an integer dtype, got {image.dtype}")
    flat = image.reshape(-1)
    # Background is most of a photo: hash only labelled pixels.
    where = np.flatnonzero(flat)
    if where.size == 0:
        return {}
    values = flat[where]
    if values.min() < 0:
        raise ValueError("a label image cannot hold negative labels")
    top = int(values.max())
    if top < max(1 << 16, 2 * where.size):
        keys, ids, n = None, values.astype(np.intp, copy=False), top + 1
    else:  # sparse huge labels: number them densely rather than allocate `top` bins
        keys, ids = np.unique(values, return_inverse=True)
        ids, n = ids.reshape(-1), len(keys)
    area = np.bincount(ids, minlength=n)
    digest = np.zeros(n, np.uint64)
    for start in range(0, where.size, _BLOCK):
        block = ids[start : start + _BLOCK]
        hashed = _mix(where[start : start + _BLOCK].astype(np.uint64))
        low = np.bincount(block, weights=(hashed & _LOW).astype(np.float64), minlength=n)
        high = np.bincount(
            block, weights=(hashed >> np.uint64(32)).astype(np.float64), minlength=n
        )
        # Wraps modulo 2**64, as intended.
        digest += low.astype(np.uint64) + (high.astype(np.uint64) << np.uint64(32))
    present = np.flatnonzero(area)
    labels = present if keys is None else keys[present]
    return {
        int(label): (int(area[i]), int(digest[i]))
        for label, i in zip(labels, present, strict=True)
    }
