"""Reading label images (masks made by other tools) safely: 2-D integers or a clear error.

The same guards as :func:`napari_fuzzy_people.io.read.read_photo`: the file is
opened once, read-only; its content decides the format; the byte limit is
checked from the header before anything is decoded.
"""

from __future__ import annotations

import io
import operator
import os

import numpy as np
import tifffile
from PIL import PngImagePlugin

from ..core.masks import MAX_LABEL
from ._pixels import _array, _tiff_pixels, _tile_rawmode
from .errors import ImageReadError
from .source import (
    _check_size,
    _decoding,
    _identify,
    _limit,
    _not_ours,
    _read_bytes,
    _refuse_truncated,
)

__all__ = ["MAX_LABEL", "read_labels"]


_LABELS = f"labels are 0 for background and 1..{MAX_LABEL} for people"


def read_labels(path, *, shape=None, max_bytes=None) -> np.ndarray:
    """Read a label image (one integer label per person, 0 = background) safely.

    PNG (modes ``1``, ``L``, ``P`` -- the palette indices are the labels --,
    ``I;16`` and ``I``) or single-page TIFF (unsigned or signed integers up to
    64 bits, or bool; (M, N) or (M, N, 1)), told apart by content. The EXIF
    orientation is *not* applied: label images written by tools have no
    orientation of their own, their pixels are the masks of the upright photo.

    Parameters
    ----------
    path : path-like
        The file; it is read once and never written.
    shape : (int, int), optional
        The upright photo's (height, width): a label image of another size
        is refused.
    max_bytes : int, optional
        Refuse label images that decode to more bytes than this, judged from
        the header. Default as for :func:`~napari_fuzzy_people.io.read.read_photo`:
        ``NAPARI_FUZZY_PEOPLE_MAX_BYTES``, else its ``MAX_BYTES``.

    Returns
    -------
    (M, N) ndarray
        uint8 when the largest label is at most 255, else uint16; bool and
        1-bit images give 0/1.

    Raises
    ------
    ImageReadError
        The file cannot be read, is not PNG or TIFF (JPEG is lossy), is not
        2-D integers, has several pages or frames, is over the byte limit or
        of another ``shape``, or holds negative labels or labels over
        :data:`MAX_LABEL`. The message starts with the file's path.
    ValueError
        ``max_bytes`` is not a positive integer, or ``shape`` not two.
    """
    shown = os.fspath(path)
    limit = _limit(max_bytes, shown)
    expected = _expected_shape(shape)
    data = _read_bytes(path, shown)
    fmt = _identify(data)
    if fmt == "JPEG":
        raise ImageReadError(
            f"{shown}: JPEG is lossy: save label images as PNG or TIFF "
            "(JPEG blurs labels into stray values along every edge)"
        )
    if fmt not in ("PNG", "TIFF"):
        raise _not_ours(shown, fmt, "PNG or TIFF for label images")
    decode = _png_labels if fmt == "PNG" else _tiff_labels
    with _decoding(shown, fmt):
        labels = decode(data, shown, limit, expected)
    return _checked(labels, shown)


def _expected_shape(shape) -> tuple[int, int] | None:
    if shape is None:
        return None
    try:
        height, width = (operator.index(n) for n in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be (height, width), got {shape!r}") from None
    return height, width


def _check_shape(shown: str, width: int, height: int, expected) -> None:
    if expected is not None and (height, width) != expected:
        raise ImageReadError(
            f"{shown}: masks are {width}x{height} but the photo is "
            f"{expected[1]}x{expected[0]} (upright, after its EXIF orientation)"
        )


def _two_d(shown: str, got: str) -> ImageReadError:
    return ImageReadError(f"{shown}: a label image is 2-D integers, got {got}")


# Pillow modes whose values are labels, and the bits per pixel of each decoded.
_PNG_BITS = {"1": 8, "L": 8, "P": 8, "I;16": 16, "I;16B": 16, "I;16L": 16, "I": 32}
# Pillow scales 2- and 4-bit gray to 0..255; these undo it.
_PNG_SCALE = {"L;2": 85, "L;4": 17}


def _png_labels(data: bytes, shown: str, limit: int, expected) -> np.ndarray:
    with PngImagePlugin.PngImageFile(io.BytesIO(data)) as im:
        if im.mode not in _PNG_BITS:
            raise _two_d(shown, f"a PNG of mode {im.mode!r} ({len(im.getbands())} channels)")
        frames = getattr(im, "n_frames", 1)
        if frames > 1:
            raise _two_d(shown, f"an animated PNG of {frames} frames")
        _check_size(shown, im.size, 1, _PNG_BITS[im.mode], limit, "read_labels")
        _check_shape(shown, *im.size, expected)
        scale = _PNG_SCALE.get(_tile_rawmode(im))  # the tile is gone once loaded
        with _refuse_truncated():
            im.load()
        labels = _array(im)
    if scale is not None:
        labels //= scale
    return labels


def _tiff_labels(data: bytes, shown: str, limit: int, expected) -> np.ndarray:
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        pages = len(tif.pages)
        if pages > 1:
            raise _two_d(shown, f"a TIFF of {pages} pages (a stack?)")
        page = tif.pages.first
        shape, dtype = page.shape, page.dtype
        if (
            dtype is None
            or dtype.kind not in "uib"
            or len(shape) not in (2, 3)
            or shape[2:] not in ((), (1,))
        ):
            raise _two_d(shown, f"{shape} {dtype} pixels in a TIFF")
        _check_size(shown, shape[1::-1], 1, 8 * dtype.itemsize, limit, "read_labels")
        _check_shape(shown, shape[1], shape[0], expected)
        labels = _tiff_pixels(page, len(data), shown, "label TIFF")
    return labels.reshape(shape[:2])


def _checked(labels: np.ndarray, shown: str) -> np.ndarray:
    """Labels as uint8 or uint16, after checking their range cheaply (min and max)."""
    if labels.size == 0:
        raise ImageReadError(f"{shown}: label image has no pixels")
    if labels.dtype == bool:
        return labels.astype(np.uint8)
    low, high = labels.min(), labels.max()
    if low < 0:
        raise ImageReadError(f"{shown}: label image holds negative labels (min {low}); {_LABELS}")
    if high > MAX_LABEL:
        raise ImageReadError(
            f"{shown}: largest label is {high}; labels must be 0..{MAX_LABEL} "
            f"(they are saved in 16-bit exports): {_LABELS}"
        )
    dtype = np.uint8 if high <= 255 else np.uint16
    return np.require(labels.astype(dtype, copy=False), requirements=["C", "W"])
