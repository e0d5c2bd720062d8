"""Privacy-first defaults shared by the panel and the command line.

The core functions keep the original Fuzzy People definition as their default
(``source="any"``, no margin). What users get from the panel and the CLI is
stronger: background-only picks, a margin, and strengths that grow with each
person's size. See ``docs/methods.md`` for the trade-off and its figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .masks import people_boxes, reuse_boxes, size_relative
from .methods import REGISTRY, get_method

__all__ = ["STRENGTH_PARAM", "PanelDefaults", "default_params", "method_params"]

#: The keyword that carries each method's strength.
STRENGTH_PARAM = {name: m.strength for name, m in REGISTRY.items()}


@dataclass(frozen=True)
class PanelDefaults:
    """Defaults for interactive and batch use.

    Strength and margin are fractions of each person's bounding-box height,
    with floors: at the floors (radius 16, margin 4) a person up to 320 px
    tall gets the setting measured on 640 px photos; taller people get
    proportionally more.
    """

    method: str = "scramble"
    source: str = "background"
    strength_fraction: float = 0.05
    strength_minimum: int = 16
    margin_fraction: float = 0.0125
    margin_minimum: int = 4


def default_params(labels, defaults: PanelDefaults = PanelDefaults()) -> dict:
    """Keyword arguments for :func:`~napari_fuzzy_people.core.anonymize`.

    Parameters
    ----------
    labels : (M, N) integer ndarray
        Label image, one label per person.
    defaults : PanelDefaults
        The fractions and floors to use.

    Returns
    -------
    dict
        ``method`` plus that method's options, with per-person strengths.

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.zeros((400, 100), np.uint8); lab[:400, :50] = 1
    >>> default_params(lab)
    {'method': 'scramble', 'source': 'background', 'radius': {1: 20}, 'margin': {1: 5}}
    """
    return method_params(
        labels,
        method=defaults.method,
        strength=defaults.strength_minimum,
        margin=defaults.margin_minimum,
        source=defaults.source,
        defaults=defaults,
    )


def method_params(
    labels,
    *,
    method: str,
    strength: float,
    margin: float,
    source: str = "background",
    relative: bool = True,
    defaults: PanelDefaults = PanelDefaults(),
) -> dict:
    """Keyword arguments for ``anonymize`` from the panel's or CLI's settings.

    Parameters
    ----------
    labels : (M, N) integer ndarray
        Label image, one label per person.
    method : str
        One of :data:`~napari_fuzzy_people.core.METHODS`.
    strength, margin : float
        Pixels. With ``relative`` they are floors, and each person gets
        ``defaults.strength_fraction`` (``margin_fraction``) of its height
        when that is more.
    source : {"any", "background"}
        Where scramble picks from; ignored by other methods.
    relative : bool
        Scale strength and margin with each person's size.

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.zeros((800, 100), np.uint8); lab[:, :40] = 1
    >>> method_params(lab, method="pixelate", strength=8, margin=2)
    {'method': 'pixelate', 'block': {1: 40}, 'margin': {1: 10}}
    >>> method_params(lab, method="pixelate", strength=8, margin=2, relative=False)
    {'method': 'pixelate', 'block': 8, 'margin': 2}
    """
    m = get_method(method)
    params: dict = {"method": method}
    if m.takes_source:
        params["source"] = source
    key, integer = m.strength, m.integer
    if relative:
        with reuse_boxes():  # strength and margin: one pass over the labels for both
            _relative_params(params, labels, key, integer, strength, margin, defaults)
    else:
        if key is not None:
            params[key] = int(strength) if integer else float(strength)
        params["margin"] = margin
    return params


def _relative_params(params, labels, key, integer, strength, margin, defaults):
    if key is not None:
        strength_floor = int(np.ceil(strength)) if integer else strength
        params[key] = _relative(labels, defaults.strength_fraction, strength_floor, integer)
    params["margin"] = _relative(labels, defaults.margin_fraction, margin, True)


def _relative(labels, fraction, floor, integer):
    if integer:
        return size_relative(labels, fraction=fraction, minimum=int(np.ceil(floor)))
    heights = {k: b[2] - b[0] for k, b in people_boxes(labels).items()}
    return {k: max(fraction * h, float(floor)) for k, h in heights.items()}
