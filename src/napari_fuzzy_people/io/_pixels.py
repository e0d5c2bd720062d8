"""Pixels out of a decoded file: in bands, upright, and 16-bit samples in full.

Pillow keeps only the high byte of 16-bit colour samples (PNG and TIFF); the
decoders here recover all 16 bits, filling one upright array in place.
"""

from __future__ import annotations

import inspect
import io
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import tifffile
from PIL import ExifTags, Image, ImageFile, JpegImagePlugin, PngImagePlugin, TiffImagePlugin

from .errors import ImageReadError
from .source import _refuse_truncated

__all__ = ["orient"]

_OPENERS = {
    # The plugin classes, not Image.open: it would apply Pillow's global bomb limit
    # (warn, then fail at twice) instead of ours, and would follow MPO to other frames.
    "JPEG": JpegImagePlugin.JpegImageFile,
    "PNG": PngImagePlugin.PngImageFile,
    "TIFF": TiffImagePlugin.TiffImageFile,
}
# Pillow keeps only the high byte of 16-bit colour PNG samples. Decoding the same
# stream again with an unpacker that takes the other byte of each pair (or with a
# raw 8-bit one of the same pixel size) recovers the low bytes.
_PNG16 = {"RGB;16B": "RGB;16L", "RGBA;16B": "RGBA;16L", "LA;16B": "RGBA"}


def _open(data: bytes, fmt: str) -> ImageFile.ImageFile:
    return _OPENERS[fmt](io.BytesIO(data))


def _array(im: Image.Image) -> np.ndarray:
    out = None
    for rows, band in _bands(im):
        if out is None:
            out = np.empty((im.height, *band.shape[1:]), band.dtype.newbyteorder("="))
        out[rows] = band
    return out if out is not None else np.asarray(im).copy()  # no rows at all


def _bands(im: Image.Image) -> Iterator[tuple[slice, np.ndarray]]:
    """``im``'s pixels as arrays of a few rows each.

    ``np.asarray(im)`` would go through ``im.tobytes()``, which briefly holds two
    full-size copies; bands keep the peak near the Pillow image plus our array.
    """
    step = max(1, 2**20 // max(1, 4 * im.width))  # about 1 MiB: Pillow has <= 4 bytes/pixel
    for top in range(0, im.height, step):
        bottom = min(top + step, im.height)
        yield slice(top, bottom), np.asarray(im.crop((0, top, im.width, bottom)))


def _orientation(im: Image.Image) -> int:
    value = im.getexif().get(ExifTags.Base.Orientation, 1)
    # Pillow's exif_transpose ignores anything else, so nothing else was applied.
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _tile_rawmode(im: ImageFile.ImageFile) -> str | None:
    if len(im.tile) == 1 and isinstance(im.tile[0][3], str):
        return im.tile[0][3]
    return None


def _png16(data: bytes, rawmode: str):
    # The final array is allocated once, upright, and filled in place through a
    # view in the stored orientation: high bytes, then the low ones ORed in.
    if rawmode == "LA;16B":
        return _png16_gray_alpha(data)
    with _png_decoded(data, None) as im:
        pixels, stored, orientation = _upright_empty(im, 4 if rawmode == "RGBA;16B" else 3)
        for rows, band in _bands(im):
            stored[rows] = band
    pixels <<= 8
    with _png_decoded(data, _PNG16[rawmode]) as im:
        for rows, band in _bands(im):
            np.bitwise_or(stored[rows], band, out=stored[rows])
    return pixels, orientation


def _png16_gray_alpha(data: bytes):
    with _png_decoded(data, "RGBA") as im:
        pixels, stored, orientation = _upright_empty(im, 4)
        for rows, raw in _bands(im):  # gray high, gray low, alpha high, alpha low
            out = stored[rows]
            for channel, high in ((0, 0), (3, 2)):
                np.left_shift(raw[..., high], 8, out=out[..., channel], dtype=np.uint16)
                out[..., channel] |= raw[..., high + 1]
    stored[..., 1] = stored[..., 0]
    stored[..., 2] = stored[..., 0]
    return pixels, orientation


@contextmanager
def _png_decoded(data: bytes, rawmode: str | None) -> Iterator[ImageFile.ImageFile]:
    """The PNG loaded as stored (no orientation applied), with another unpacker if given."""
    with _open(data, "PNG") as im:
        if rawmode is not None:
            tile = im.tile[0]
            im.tile = [
                tile._replace(args=rawmode) if hasattr(tile, "_replace") else (*tile[:3], rawmode)
            ]
        with _refuse_truncated():
            im.load()
        yield im


# EXIF orientations 6 and 8 undo each other; each of the others undoes itself.
_UNDO = {6: 8, 8: 6}


def _upright_empty(im: Image.Image, channels: int):
    """An empty uint16 array for ``im`` upright, and a view of it as ``im`` is stored."""
    orientation = _orientation(im)
    width, height = im.size
    if orientation >= 5:  # the upright picture is turned a quarter
        width, height = height, width
    pixels = np.empty((height, width, channels), np.uint16)
    return pixels, orient(pixels, _UNDO.get(orientation, orientation)), orientation


def _bits(im: TiffImagePlugin.TiffImageFile) -> int:
    bits = im.tag_v2.get(TiffImagePlugin.BITSPERSAMPLE, 8)
    return max(bits) if isinstance(bits, tuple) else int(bits)


def _tiff16(data: bytes, im: TiffImagePlugin.TiffImageFile, shown: str):
    # Pillow keeps only 8 bits of colour TIFF samples; tifffile keeps them all.
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages.first
        extra = tuple(page.extrasamples)
        alpha = extra[:1] == (tifffile.EXTRASAMPLE.UNASSALPHA,)
        if (
            page.photometric != tifffile.PHOTOMETRIC.RGB
            or page.dtype.kind != "u"
            or page.dtype.itemsize != 2
            or extra[:1] == (tifffile.EXTRASAMPLE.ASSOCALPHA,)
        ):
            raise ImageReadError(
                f"{shown}: 16-bit TIFF colour layout is not supported (photometric "
                f"{page.photometric.name}, {page.dtype}, extra samples {extra}); "
                "use plain RGB or RGB with unassociated alpha"
            )
        pixels = _tiff_pixels(page, len(data), shown, "16-bit colour TIFF")
    if page.planarconfig == tifffile.PLANARCONFIG.SEPARATE:
        pixels = np.moveaxis(pixels, 0, -1)
    if pixels.shape[-1] > (keep := 4 if alpha else 3):
        pixels = pixels[..., :keep]  # a view: copied below, so the extra samples go
    orientation = _orientation(im)
    # Copies only when it must: planar, turned, sliced or big-endian data.
    return np.require(orient(pixels, orientation), np.uint16, ["C", "W", "O"]), orientation


def _tiff_pixels(page: tifffile.TiffPage, size: int, shown: str, what: str) -> np.ndarray:
    """Decode a tifffile page of a file of ``size`` bytes, or say why not."""
    if any(o + n > size for o, n in zip(page.dataoffsets, page.databytecounts, strict=True)):
        # Plainer than what tifffile says (a short read, or a codec error).
        raise ImageReadError(f"{shown}: damaged or truncated TIFF file, pixel data is missing")
    try:
        return page.asarray(**_TIFF_READ)
    except Exception as err:
        if "imagecodecs" in str(err):
            raise ImageReadError(
                f"{shown}: {what} compressed with {page.compression.name} "
                "needs the optional 'imagecodecs' package to decode"
            ) from err
        raise


# A small read buffer: tifffile otherwise holds up to 256 MB of compressed data
# twice (read, then sliced into segments) next to the decoded image.
_TIFF_READ = (
    {"buffersize": 2**20}
    if "buffersize" in inspect.signature(tifffile.TiffPage.asarray).parameters
    else {}
)


def orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation to an array, as Pillow's ``exif_transpose`` does."""
    if orientation == 2:
        return a[:, ::-1]
    if orientation == 3:
        return a[::-1, ::-1]
    if orientation == 4:
        return a[::-1]
    if orientation == 5:
        return a.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(a, -1)
    if orientation == 7:
        return a[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:
        return np.rot90(a, 1)
    return a
