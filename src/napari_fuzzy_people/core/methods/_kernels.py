"""Which kernels run: compiled (numba) or the numpy reference.

The numpy code is the reference and always works; the numba kernels compute
the same results (bit-identical for deterministic steps such as growing
masks, the same distribution for random ones) several times faster. numba
is imported on first use, not with the package, and if it cannot be
imported the numpy path runs silently (logged at debug level).

``NAPARI_FUZZY_PEOPLE_KERNELS=numpy`` forces the reference; so does
:func:`set_kernels` (for tests and benchmarks).
"""

from __future__ import annotations

import logging
import os

__all__ = ["ENV_KERNELS", "KERNELS", "kernels", "set_kernels", "warm_up"]

ENV_KERNELS = "NAPARI_FUZZY_PEOPLE_KERNELS"
KERNELS = ("numba", "numpy")

_log = logging.getLogger(__name__)
_forced: str | None = None
_numba_ok: bool | None = None


def set_kernels(name: str | None) -> None:
    """Force ``"numba"`` or ``"numpy"`` kernels; ``None`` goes back to the default.

    ``"numba"`` still falls back to numpy where numba cannot be imported.
    """
    global _forced
    if name is not None and name not in KERNELS:
        raise ValueError(f"kernels must be one of {KERNELS} or None, got {name!r}")
    _forced = name


def kernels() -> str:
    """The kernels in use now: ``"numba"`` or ``"numpy"``.

    Examples
    --------
    >>> kernels() in KERNELS
    True
    """
    choice = _forced or os.environ.get(ENV_KERNELS, "numba").strip().lower()
    if choice == "numpy":
        return "numpy"
    return "numba" if _have_numba() else "numpy"


def _have_numba() -> bool:
    global _numba_ok
    if _numba_ok is None:
        try:
            import numba  # noqa: F401
        except Exception as error:  # ImportError, or a broken llvmlite
            _log.debug("numba unavailable, using the numpy kernels: %s", error)
            _numba_ok = False
        else:
            _numba_ok = True
    return _numba_ok


def warm_up() -> bool:
    """Compile (or load from numba's cache) the kernels the panel uses, on tiny arrays.

    Costs seconds the first time on a machine, well under one after; call it
    in a worker thread so the first preview does not pay it. Returns whether
    compiled kernels are in use.
    """
    if kernels() != "numba":
        return False
    import numpy as np

    from ._scramble import scramble

    image = np.zeros((8, 8, 3), np.uint8)
    labels = np.zeros((8, 8), np.uint16)
    labels[2:6, 2:6] = 1
    labels[6:, 6:] = 2
    for people in (labels, labels != 0):
        for source in ("any", "background"):
            scramble(image, people, radius=2, margin=1, source=source, rng=0)
    scramble(image, labels, labels=[2], radius=2, source="background", rng=0)  # select
    return True
