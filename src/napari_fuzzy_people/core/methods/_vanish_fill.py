"""One PatchMatch fill, callable in this process or in a worker process.

Kept apart from :mod:`._vanish` so that a worker needs only numpy and
pypatchmatch to run it (its own imports, not the planning's).
"""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["fill"]

# pypatchmatch keeps its random seed in a process-wide variable that each call
# reads as it starts (the generator itself is per thread): one fill at a time
# per process, each seeded just before it runs, keeps a seed's result
# reproducible.
_LOCK = threading.Lock()


def fill(rgb: np.ndarray, holes: np.ndarray, keep: np.ndarray, seed: int, patch: int):
    """Fill ``holes`` of one crop with patches from its other pixels.

    Parameters
    ----------
    rgb : (M, N, 3) uint8 array
        The crop.
    holes : (M, N) bool array
        Pixels to fill.
    keep : (M, N) bool array
        Pixels that are neither filled nor copied from (other people, other
        pieces' holes); they stay as they are.
    seed : int
        Seeds the randomized search (``0 <= seed < 2**32``).
    patch : int
        Patch radius.

    Returns
    -------
    (K, 3) uint8 array
        The filled values of the ``K`` hole pixels, in ``rgb[holes]`` order.
    """
    import patchmatch  # the caller checked that it loads (and says what to do if not)

    with _LOCK:
        patchmatch.set_random_seed(seed)
        filled = patchmatch.inpaint(
            np.ascontiguousarray(rgb),
            holes.view(np.uint8),
            global_mask=keep.view(np.uint8) if keep.any() else None,
            patch_size=int(patch),
        )
    return filled[holes]
