"""The errors of writing files."""

from __future__ import annotations

__all__ = ["ExportError", "ImageReadError", "LeaksFound"]


class ExportError(ValueError):
    """An export that must not happen, or whose result failed its checks."""


class ImageReadError(ValueError):
    """A file we cannot read as a photo. The message always starts with the file path."""


class LeaksFound(ExportError):
    """The leak check found people in the anonymized image: nothing was written.

    ``report`` is the :class:`~napari_fuzzy_people.core.leaks.LeakReport`;
    its ``open`` findings are what must be fixed or dismissed.
    """

    def __init__(self, name: str, report):
        self.report = report
        found = report.open
        lines = "; ".join(f.describe() for f in found)
        super().__init__(
            f"{name}: held back by the leak check, {len(found)} finding"
            f"{'' if len(found) == 1 else 's'}: {lines}"
        )
