"""One settings object for anonymizing people, shared by the panel, the CLI and the record."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from .defaults import PanelDefaults, method_params
from .masks import reuse_boxes
from .methods import SOURCES, anonymize, get_method

__all__ = ["AnonymizeSettings"]

_D = PanelDefaults()


@dataclass(frozen=True)
class AnonymizeSettings:
    """How approved people are anonymized, as a person chose it.

    Parameters
    ----------
    method : str
        One of :data:`~napari_fuzzy_people.core.METHODS`.
    strength : float
        Pixels (radius, block or sigma by method; unused by ``fill``). With
        ``relative`` it is a floor.
    margin : float
        Pixels each person is grown by. With ``relative`` it is a floor.
    source : {"background", "any"}
        Where scramble picks from.
    relative : bool
        Scale strength and margin with each person's height (see
        :class:`~napari_fuzzy_people.core.PanelDefaults`).

    The defaults are the privacy-first panel defaults. Invalid values raise
    ``ValueError`` at construction, so a bad setting fails before any photo
    is touched.

    Examples
    --------
    >>> s = AnonymizeSettings(method="pixelate", strength=8, margin=2, relative=False)
    >>> import numpy as np
    >>> s.params(np.ones((4, 4), np.uint8))
    {'method': 'pixelate', 'block': 8, 'margin': 2}
    >>> AnonymizeSettings.from_dict(s.to_dict()) == s
    True
    """

    method: str = _D.method
    strength: float = _D.strength_minimum
    margin: float = _D.margin_minimum
    source: str = _D.source
    relative: bool = True

    def __post_init__(self):
        m = get_method(self.method)
        for name in ("strength", "margin"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise ValueError(f"{name} must be a number of pixels, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")
        m.check_strength(self.strength)
        if self.margin < 0:
            raise ValueError(f"margin must be >= 0 pixels, got {self.margin}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        if not isinstance(self.relative, (bool, np.bool_)):
            raise ValueError(f"relative must be True or False, got {self.relative!r}")

    def params(self, labels) -> dict:
        """Keyword arguments for ``anonymize`` on this label image (per person if relative)."""
        return method_params(
            labels,
            method=self.method,
            strength=self.strength,
            margin=self.margin,
            source=self.source,
            relative=bool(self.relative),
        )

    def apply(self, image, labels, approved: Iterable[int], *, rng=None) -> np.ndarray:
        """Anonymize the ``approved`` people of ``labels`` in ``image`` (a new array).

        With nobody approved, the result is a plain copy: nothing to hide.
        """
        approved = sorted(int(v) for v in approved)
        if not approved:
            return np.array(image, copy=True)
        labels = np.asarray(labels)
        with reuse_boxes():  # the settings, select, grow and the method share one pass
            return anonymize(image, labels, labels=approved, rng=rng, **self.params(labels))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, for records and saved reviews."""
        out = asdict(self)
        out["strength"] = _plain(out["strength"])
        out["margin"] = _plain(out["margin"])
        out["relative"] = bool(out["relative"])
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnonymizeSettings:
        """The inverse of :meth:`to_dict`; missing keys take their defaults."""
        if not isinstance(data, Mapping):
            raise ValueError(f"settings must be a mapping, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown settings {unknown}; known: {sorted(names)}")
        return cls(**{k: v for k, v in data.items() if v is not None})


def _plain(value):
    value = value.item() if isinstance(value, np.generic) else value
    return int(value) if float(value).is_integer() else float(value)
