"""Writing anonymized images: never over an input, never half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["FORMATS", "ExportError", "export_path", "save_image"]

#: Suffixes we write, and Pillow's format name for each.
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}


class ExportError(ValueError):
    """An export that must not happen (it would overwrite an input, say)."""


def export_path(folder, name: str, source=None) -> Path:
    """Where the anonymized copy of ``name`` goes: ``folder/<stem>_fuzzy<suffix>``.

    The suffix follows ``source`` (the input file) when it is a format we
    write, else PNG.

    Examples
    --------
    >>> export_path("/out", "street", source="/photos/street.JPG").as_posix()
    '/out/street_fuzzy.jpg'
    >>> export_path("/out", "astronaut").as_posix()
    '/out/astronaut_fuzzy.png'
    """
    suffix = Path(source).suffix.lower() if source else ""
    suffix = suffix if suffix in FORMATS else ".png"
    stem = Path(source).stem if source else name
    return Path(folder) / f"{stem}_fuzzy{suffix}"


def save_image(image: np.ndarray, path, *, inputs=(), overwrite: bool = False) -> Path:
    """Write ``image`` to ``path`` atomically, refusing to touch any input.

    Parameters
    ----------
    image : (M, N) or (M, N, 3|4) ndarray
        uint8, or uint16 grayscale/RGB for PNG and TIFF.
    path : path-like
        Target; its suffix picks the format (see :data:`FORMATS`).
    inputs : iterable of path-like
        Files that must never be written (the originals).
    overwrite : bool
        Replace an existing target (never an input).

    Returns
    -------
    Path
        The written file. It is written to a temporary file in the same
        folder and renamed into place, so a crash leaves either no file or a
        complete one. Pillow writes no metadata unless asked.
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ExportError(
            f"{path}: unsupported format {path.suffix!r}; use one of {sorted(FORMATS)}"
        )
    target = path.resolve()
    for original in inputs:
        if original is not None and Path(original).resolve() == target:
            raise ExportError(f"{path}: refusing to write over the input file")
    if target.exists() and not overwrite:
        raise ExportError(f"{path}: already exists (choose another folder, or allow overwriting)")
    image = np.asarray(image)
    if fmt == "JPEG" and image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]  # JPEG has no alpha
    picture = Image.fromarray(image)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            options = {"quality": 95, "subsampling": 0} if fmt == "JPEG" else {}
            picture.save(f, format=fmt, **options)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target
