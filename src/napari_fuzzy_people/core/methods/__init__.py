"""Anonymization methods: scramble (the Fuzzy People method), pixelate, blur, fill, vanish.

Every function takes an image and a people mask and returns a new image in
which only the (grown) masked pixels differ; the input is never modified.

Images are ``(M, N)`` grayscale or ``(M, N, C)`` with channels last, of any
integer or floating dtype. With ``C == 4`` the last channel is alpha and is
left untouched. Masks are boolean or integer label images (see
:mod:`napari_fuzzy_people.core.masks`); ``labels=`` picks people from a label
image. Strengths (``radius``, ``block``, ``sigma``) and ``margin`` are pixels,
or ``{label: pixels}`` for a label image (see
:func:`~napari_fuzzy_people.core.masks.size_relative`).

:data:`REGISTRY` describes each method once (its strength keyword, whether
that is an integer, its label, whether it takes a random generator); the
panel, the command line and the export record all read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

from ._blur import blur
from ._fill import fill
from ._kernels import kernels, set_kernels, warm_up
from ._pixelate import pixelate
from ._scramble import SOURCES, scramble
from ._vanish import vanish

__all__ = [
    "METHODS",
    "REGISTRY",
    "SOURCES",
    "Method",
    "anonymize",
    "blur",
    "fill",
    "get_method",
    "kernels",
    "pixelate",
    "scramble",
    "set_kernels",
    "vanish",
    "warm_up",
]


@dataclass(frozen=True)
class Method:
    """One anonymization method, as the panel, the CLI and the record see it.

    Attributes
    ----------
    name : str
        The name used everywhere (``"scramble"``).
    function : callable
        ``function(image, mask, **params)``.
    label : str
        For people: ``"Scramble"``.
    strength : str or None
        The keyword that carries the strength (``"radius"``), or None.
    strength_label : str
        For people: ``"Radius (px)"``.
    integer : bool
        Whether the strength is a whole number of pixels.
    minimum : float
        The smallest strength allowed (strictly more than it when not ``integer``).
    takes_rng : bool
        Whether the method is random (and takes ``rng=``).
    takes_source : bool
        Whether it takes ``source=`` (where picks come from).
    """

    name: str
    function: Callable
    label: str
    strength: str | None
    strength_label: str
    integer: bool
    minimum: float
    takes_rng: bool
    takes_source: bool

    def check_strength(self, value) -> None:
        """Raise ``ValueError`` unless ``value`` is a valid scalar strength."""
        if self.strength is None:
            return
        if self.integer and int(value) != value:
            raise ValueError(f"{self.strength} must be a whole number of pixels, got {value}")
        too_small = value < self.minimum if self.integer else value <= self.minimum
        if too_small:
            bound = f">= {self.minimum:g}" if self.integer else f"> {self.minimum:g}"
            raise ValueError(f"{self.strength} must be {bound}, got {value}")


#: Every method, by name.
REGISTRY = MappingProxyType(
    {
        m.name: m
        for m in (
            Method("scramble", scramble, "Scramble", "radius", "Radius (px)", True, 1, True, True),
            Method("pixelate", pixelate, "Pixelate", "block", "Block (px)", True, 1, False, False),
            Method("blur", blur, "Blur", "sigma", "Sigma (px)", False, 0, False, False),
            Method("fill", fill, "Fill", None, "", True, 0, False, False),
            Method("vanish", vanish, "Vanish", None, "", True, 0, True, False),
        )
    }
)
#: The method names, in the order the panel lists them.
METHODS = tuple(REGISTRY)


def get_method(name: str) -> Method:
    """The :class:`Method` called ``name``; ``ValueError`` naming the choices if none."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown method {name!r}; choose one of {METHODS}") from None


def anonymize(image, mask, *, method="scramble", rng=None, **params):
    """Apply one of :data:`METHODS` by name.

    Parameters
    ----------
    image, mask
        As for :func:`scramble`.
    method : {"scramble", "pixelate", "blur", "fill", "vanish"}
        The method; ``params`` are its keyword arguments.
    rng : None, int or numpy.random.Generator
        For random methods (see :attr:`Method.takes_rng`); the others ignore it.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((4, 4), np.uint8)
    >>> anonymize(img, img == 0, method="fill", color=7, rng=0)[0, 0]
    np.uint8(7)
    """
    m = get_method(method)
    if m.takes_rng:
        params["rng"] = rng
    return m.function(image, mask, **params)
