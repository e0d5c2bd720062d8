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
def _stream(states, j):
    """Stream ``j`` of :func:`seed_states`, as the tuple state the draws take."""
    return states[j, 0], states[j, 1], states[j, 2], states[j, 3]


@njit(inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(inline="always")
def _advance(t):
    """64 random bits and the next state.

    The state is a tuple of four uint64, not an array: in a hot loop it stays
    in registers, where an array's would be stored and loaded again on every
    draw (measured: 8% of the default scramble).
    """
    s0, s1, s2, s3 = t
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    u = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= u
    s3 = _rotl(s3, 45)
    return result, (s0, s1, s2, s3)


@njit(inline="always")
def _below32_t(t, x, n):
    """Lemire's unbiased ``[0, n)`` from 32 random bits ``x`` (``1 <= n <= 2**32``),
    and the state ``t`` (a tuple, see :func:`_advance`) after any redraws."""
    un = np.uint64(n)
    m = x * un
    low = m & _U32
    if low < un:
        floor = ((_U32 + np.uint64(1)) - un) % un
        while low < floor:
            bits, t = _advance(t)
            m = (bits >> np.uint64(32)) * un
            low = m & _U32
    return np.int64(m >> np.uint64(32)), t


@njit
def _below64_t(t, n):
    """Uniform ``[0, n)`` for any ``n >= 1``, by masked rejection; and the state."""
    mask = np.uint64(1)
    while mask < np.uint64(n):
        mask = (mask << np.uint64(1)) | np.uint64(1)
    while True:
        bits, t = _advance(t)
        if bits & mask < np.uint64(n):
            return np.int64(bits & mask), t


@njit(inline="always")
def _below_t(t, n):
    """Uniform ``[0, n)`` for any ``n >= 1``; and the state."""
    if n <= 0xFFFFFFFF:
        bits, t = _advance(t)
        return _below32_t(t, bits >> np.uint64(32), n)
    return _below64_t(t, n)


@njit(inline="always")
def _pick_t(t, y0, ny, x0, nx):
    """A uniform pixel of the ``ny x nx`` rectangle at ``(y0, x0)`` (one draw),
    and the state."""
    bits, t = _advance(t)
    dy, t = _below32_t(t, bits >> np.uint64(32), ny)
    dx, t = _below32_t(t, bits & _U32, nx)
    return y0 + dy, x0 + dx, t
