"""Writing anonymized images: only the pixels, never over an input, never half a file.

Privacy contract
----------------
An exported file carries the pixels and nothing else a person could be traced
by: no EXIF (so no GPS, camera serial, maker notes or embedded thumbnail), no
XMP, no IPTC, no comments, no PNG text chunks, no TIFF tags beyond the pixel
layout. The one exception is the colour profile, and only its colour: a
profile passed as ``icc_profile`` is rebuilt from its colour tags alone (see
:mod:`napari_fuzzy_people.io.icc`), so no name, date, device or private tag
it carried survives.

Every file is read back and checked (:func:`~napari_fuzzy_people.io.check.check_clean`,
and the pixels) before it takes its name; a file that fails is deleted and
the export raises. Files are written under temporary names and renamed into
place by a :class:`~napari_fuzzy_people.io.transaction.Transaction`; nothing
is written through a symbolic link.

Formats: JPEG re-encodes with the input's quantization tables and chroma
subsampling when given, so unedited areas barely change. PNG and TIFF are
lossless, 8 or 16 bits; 16-bit colour PNG, which Pillow cannot write, is
written here by the PNG specification and checked with a decoder of our own
(all bits) and Pillow's (the high bytes).

Errors
------
:class:`ExportError` (a ``ValueError``) for every refusal and failed check,
and for an encoder that breaks in a way that is not the operating system's.
``OSError`` from the operating system (full disk, read-only folder) keeps its
class and ``errno`` but is re-raised with the target in its message, chained
to the original. In every case no file and no temporary file is left behind.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .check import check_clean, verify_written
from .encode import WRITERS, check_pixels, jpeg_options
from .errors import ExportError
from .icc import ProfileError, clean_profile
from .transaction import Transaction

__all__ = [
    "FORMATS",
    "SUFFIXES",
    "ExportError",
    "check_clean",
    "export_path",
    "save_image",
    "stage_image",
]

#: Suffixes we write, and the format of each.
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}
#: The suffix an output gets when the input's own does not name its format.
SUFFIXES = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif"}


def export_path(
    folder,
    name: str,
    source=None,
    *,
    fmt: str | None = None,
    force_png: bool = False,
    stem: str | None = None,
) -> Path:
    """Where the anonymized copy goes: ``folder/<stem>_fuzzy<suffix>``.

    The stem is ``stem`` if given, else the input file's (``source``), else
    ``name``; path separators are replaced, so no name points outside
    ``folder``. The
    suffix follows the format: ``fmt`` (what the input really is, e.g.
    :attr:`Photo.format <napari_fuzzy_people.io.read.Photo>`), else the
    input's suffix. The input's own spelling is kept when it names that
    format; ``.png`` with ``force_png`` or for anything else.

    Examples
    --------
    >>> export_path("/out", "street", source="/photos/street.JPG").as_posix()
    '/out/street_fuzzy.jpg'
    >>> export_path("/out", "x", source="/photos/street.jpg", fmt="PNG").as_posix()
    '/out/street_fuzzy.png'
    >>> export_path("/out", "street", source="/photos/street.JPG", force_png=True).as_posix()
    '/out/street_fuzzy.png'
    >>> export_path("/out", "../astronaut").as_posix()
    '/out/.._astronaut_fuzzy.png'
    """
    suffix = Path(source).suffix.lower() if source else ""
    if fmt is not None and FORMATS.get(suffix) != fmt:
        suffix = SUFFIXES.get(fmt, ".png")
    if force_png or suffix not in FORMATS:
        suffix = ".png"
    if stem is None:
        stem = Path(source).stem if source else str(name)
    stem = re.sub(r"[/\\\x00]", "_", stem)
    if stem in ("", ".", ".."):
        stem = "image"
    return Path(folder) / f"{stem}_fuzzy{suffix}"


def save_image(
    image: np.ndarray,
    path,
    *,
    inputs=(),
    overwrite: bool = False,
    icc_profile: bytes | None = None,
    jpeg: Mapping | None = None,
) -> Path:
    """Write the pixels of ``image``, and no metadata, to ``path`` atomically.

    Parameters
    ----------
    image : (M, N) or (M, N, 3|4) ndarray
        uint8, or uint16 for PNG and TIFF. JPEG takes neither uint16 nor
        alpha (flattening it would change the picture). Float pixels are
        refused everywhere: their scaling is the caller's choice.
    path : path-like
        Target; its suffix picks the format (see :data:`FORMATS`). A symbolic
        link there is refused, never followed.
    inputs : iterable of path-like
        Files that must never be written (the originals).
    overwrite : bool
        Replace an existing target (never an input).
    icc_profile : bytes, optional
        ICC colour profile; only its colour tags are embedded.
    jpeg : dict, optional
        The input JPEG's ``{"qtables": ..., "subsampling": ...}`` (as Pillow's
        ``im.quantization`` and ``JpegImagePlugin.get_sampling`` give them).
        Re-encoding with the same tables keeps unedited areas nearly
        unchanged; without them JPEG is written at quality 95, 4:4:4.

    Returns
    -------
    Path
        The written file (its folder resolved).

    Raises
    ------
    ExportError
        On a refusal (input, existing file, link, format, pixels, settings) or
        when the file read back carries metadata or other pixels.
    OSError
        When the system fails to write (full disk, read-only folder); the
        message names the target.
    """
    with Transaction() as tx:
        stage_image(
            tx, image, path, inputs=inputs, overwrite=overwrite, icc_profile=icc_profile, jpeg=jpeg
        )
        return tx.commit()[0]


def stage_image(
    tx: Transaction,
    image: np.ndarray,
    path,
    *,
    inputs=(),
    overwrite: bool = False,
    icc_profile: bytes | None = None,
    jpeg: Mapping | None = None,
) -> Path:
    """Like :func:`save_image`, as one file of the transaction ``tx``; returns its final path."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ExportError(
            f"{path}: unsupported format {path.suffix!r}; use one of {sorted(FORMATS)}"
        )
    if isinstance(inputs, (str, os.PathLike)):  # one path, not its characters
        inputs = [inputs]
    inputs = [Path(p) for p in inputs if p is not None]
    pixels = check_pixels(image, fmt, path)
    icc = _icc(icc_profile, pixels, path)
    options = jpeg_options(jpeg, pixels, path) if fmt == "JPEG" else {}
    return tx.stage(
        path,
        lambda f: WRITERS[fmt](f, pixels, icc, options),
        verify=lambda tmp: verify_written(tmp, fmt, pixels, icc, tmp.with_name(path.name)),
        check=lambda final: refuse_target(final, inputs, overwrite),
    )


def refuse_target(target: Path, inputs, overwrite: bool) -> None:
    """Raise :class:`ExportError` if writing ``target`` would replace an input or another file."""
    for original in inputs:
        original = Path(original)
        # samefile also catches another spelling on case-insensitive systems
        if original.resolve() == target or (
            target.exists() and original.exists() and os.path.samefile(original, target)
        ):
            raise ExportError(f"{target}: refusing to write over the input file")
    if target.exists() and not overwrite:
        raise ExportError(
            f"{target}: already exists (choose another folder, or allow overwriting)"
        )


def _icc(profile, pixels: np.ndarray, target: Path) -> bytes | None:
    if profile is None:
        return None
    try:
        return clean_profile(bytes(profile), "GRAY" if pixels.ndim == 2 else "RGB")
    except ProfileError as err:
        raise ExportError(f"{target}: ICC profile refused ({err}); pass icc_profile=None") from err
