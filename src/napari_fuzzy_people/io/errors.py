"""The errors of writing files."""

from __future__ import annotations

__all__ = ["ExportError"]


class ExportError(ValueError):
    """An export that must not happen, or whose result failed its checks."""


class ImageReadError(ValueError):
    """A file we cannot read as a photo. The message always starts with the file path."""
