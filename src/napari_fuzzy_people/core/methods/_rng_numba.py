"""Random numbers inside compiled kernels: xoshiro256** (Blackman and Vigna).

Each independent piece of work (a band of rows) gets a stream of its own,
seeded with 256 bits drawn from the caller's numpy Generator, so a seed
reproduces a result whatever the number of threads, and ``rng=None`` (fresh
OS entropy) cannot be repeated.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["seed_states"]

_U32 = np.uint64(0xFFFFFFFF)


def seed_states(rng: np.random.Generator, n: int) -> np.ndarray:
    """``(n, 4)`` xoshiro256** states, one per stream, drawn from ``rng``."""
    state = rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64)
    state[~state.any(axis=1), 0] = 1  # the one state xoshiro cannot leave
    return state


@njit(inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(inline="always")
def _next(s):
    """64 random bits; the state is ``s`` (four uint64, updated in place)."""
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
