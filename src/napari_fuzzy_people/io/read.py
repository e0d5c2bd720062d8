"""Reading photos safely: upright, decoded in full, within a size limit, or a clear error.

Only JPEG, PNG and TIFF are read, because the anonymized copy is written in the
input's format (see :mod:`napari_fuzzy_people.io.export`).
"""

from __future__ import annotations

import hashlib
import inspect
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from PIL import (
    ExifTags,
    Image,
    ImageFile,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
)

from .errors import ImageReadError
from .icc import ProfileError, clean_profile
from .source import (
    _PHOTOS,
    ENV_MAX_BYTES,
    MAX_BYTES,
    SUPPORTED_FORMATS,
    _check_size,
    _check_tiff_samples,
    _decoding,
    _limit,
    _read_bytes,
    _refuse_truncated,
    _sniff,
    _tiff_samples,
    sniff_format,
)

__all__ = [
    "ENV_MAX_BYTES",
    "MAX_BYTES",
    "SUPPORTED_FORMATS",
    "ImageReadError",
    "Photo",
    "orient",
    "read_photo",
    "sniff_format",
]


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays with == is ambiguous
class Photo:
    """A decoded photo, upright, with what export needs to write it back alike.

    Attributes
    ----------
    path : Path
        Resolved path of the file read.
    pixels : ndarray
        Upright (EXIF orientation applied): (M, N) gray, (M, N, 3) RGB or
        (M, N, 4) RGBA; uint8 or uint16.
    format : str
        ``"JPEG"``, ``"PNG"`` or ``"TIFF"``.
    mode : str
        The file's Pillow mode (``"RGB"``, ``"L"``, ``"P"``, ``"CMYK"``, ``"I;16"``, ...).
        Pillow names 16-bit colour ``"RGB"``/``"RGBA"`` too: see ``pixels.dtype``.
    sha256 : str
        Hex digest of the file's bytes, the very bytes that were decoded.
    icc_profile : bytes or None
        The file's ICC profile when it describes ``pixels`` (an sRGB profile
        for colour-managed CMYK input); None otherwise.
    jpeg : dict or None
        For JPEG: ``{"qtables": {table id: [64 ints]}, "subsampling": int}``
        as Pillow's ``save`` takes them (subsampling -1: not YCbCr, e.g. gray).
    orientation : int
        The EXIF orientation that was applied (1 if none).
    """

    path: Path
    pixels: np.ndarray
    format: str
    mode: str
    sha256: str
    icc_profile: bytes | None
    jpeg: dict | None
    orientation: int


def read_photo(path, *, max_bytes: int | None = None) -> Photo:
    """Read a JPEG, PNG or TIFF photo, upright, without touching the file.

    Conversions: ``1`` -> L (0/255); ``P`` -> RGB, or RGBA when the palette has
    transparency; ``LA`` -> RGBA (gray copied to R, G and B); 8-bit L or RGB
    with a transparent colour (PNG ``tRNS``) -> RGBA; ``CMYK`` -> RGB (colour-managed
    to sRGB when the file has a CMYK profile, else Pillow's plain formula), so
    its export is RGB. 16-bit gray PNG/TIFF -> uint16 (M, N); 16-bit RGB(A)
    PNG and TIFF -> uint16 (M, N, 3|4); 16-bit gray+alpha PNG -> uint16 RGBA.
    A multi-picture JPEG (MPO) gives its primary picture.

    Parameters
    ----------
    path : path-like
        The file. Its content, not its suffix, decides the format.
    max_bytes : int, optional
        Refuse images that decode to more bytes than this (a guard against
        decompression bombs), judged from the header before decoding: width x
        height x channels x bytes per sample of the widest array decoding
        makes (a palette image counts as RGB(A), CMYK as 4 channels).
        Default: the environment variable ``NAPARI_FUZZY_PEOPLE_MAX_BYTES``,
        else :data:`MAX_BYTES`.

    Returns
    -------
    Photo

    Raises
    ------
    ImageReadError
        Missing, unreadable, empty, damaged or truncated file; not an image;
        not JPEG/PNG/TIFF; several frames; over the byte limit; an
        unsupported pixel type (32-bit or float, say); a 16-bit colour TIFF
        whose compression (LZW, say) needs the optional ``imagecodecs``.
    ValueError
        ``max_bytes`` is not a positive integer.

    Examples
    --------
    >>> photo = read_photo("street.jpg")  # doctest: +SKIP
    >>> photo.pixels.shape, photo.format, photo.orientation  # doctest: +SKIP
    ((3024, 4032, 3), 'JPEG', 6)
    """
    shown = os.fspath(path)
    limit = _limit(max_bytes, shown)
    data = _read_bytes(path, shown)
    fmt = _sniff(data, shown)
    pixels, mode, icc, jpeg, orientation = _decode(data, fmt, shown, limit)
    return Photo(
        path=Path(path).resolve(),
        pixels=pixels,
        format=fmt,
        mode=mode,
        sha256=hashlib.sha256(data).hexdigest(),
        icc_profile=icc,
        jpeg=jpeg,
        orientation=orientation,
    )


# -- decoding -----------------------------------------------------------------

_OPENERS = {
    # The plugin classes, not Image.open: it would apply Pillow's global bomb limit
    # (warn, then fail at twice) instead of ours, and would follow MPO to other frames.
    "JPEG": JpegImagePlugin.JpegImageFile,
    "PNG": PngImagePlugin.PngImageFile,
    "TIFF": TiffImagePlugin.TiffImageFile,
}
#: Pillow modes we turn into photos, and the mode we convert each to (None: keep).
_MODES = {
    "1": "L",
    "L": None,
    "P": "RGB",
    "LA": "RGBA",
    "RGB": None,
    "RGBA": None,
    "RGBX": "RGB",
    "RGBa": "RGBA",
    "CMYK": "RGB",
    "I;16": None,
    "I;16L": None,
    "I;16B": None,
    "I;16N": None,
}
# Pillow keeps only the high byte of 16-bit colour PNG samples. Decoding the same
# stream again with an unpacker that takes the other byte of each pair (or with a
# raw 8-bit one of the same pixel size) recovers the low bytes.
_PNG16 = {"RGB;16B": "RGB;16L", "RGBA;16B": "RGBA;16L", "LA;16B": "RGBA"}


def _decode(data: bytes, fmt: str, shown: str, limit: int):
    samples = _tiff_samples(data) if fmt == "TIFF" else None
    with _decoding(shown, fmt), _open_checked(data, fmt, shown, samples) as im:
        _check_header(im, fmt, shown)
        rawmode = _tile_rawmode(im) if fmt == "PNG" else None
        tiff16 = fmt == "TIFF" and im.mode in ("RGB", "RGBA", "RGBX") and _bits(im) > 8
        _check_size(shown, im.size, *_layout(im, rawmode, tiff16), limit, "read_photo")
        mode = im.mode
        jpeg = _jpeg_settings(im) if fmt == "JPEG" else None
        if tiff16:
            pixels, orientation = _tiff16(data, im, shown)
            icc = im.info.get("icc_profile")
        elif rawmode in _PNG16:
            pixels, orientation = _png16(data, rawmode)
            icc = im.info.get("icc_profile")
        else:
            pixels, orientation, icc = _pillow(im)
    pixels, icc = _colour_profile(icc, pixels)
    return pixels, mode, icc, jpeg, orientation


def _check_header(im: ImageFile.ImageFile, fmt: str, shown: str) -> None:
    if im.mode not in _MODES:
        raise ImageReadError(f"{shown}: {fmt} pixel mode {im.mode!r} is not supported; {_PHOTOS}")
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        raise ImageReadError(
            f"{shown}: {fmt} file has {frames} frames (multi-page or animated); "
            "only single images are supported"
        )


def _layout(im: ImageFile.ImageFile, rawmode: str | None, tiff16: bool) -> tuple[int, int]:
    """Channels and bits per sample of the widest array that decoding ``im`` makes."""
    channels = max(Image.getmodebands(im.mode), Image.getmodebands(_target(im)))
    if tiff16:  # tifffile decodes every sample, extra ones too
        return max(channels, int(im.tag_v2.get(TiffImagePlugin.SAMPLESPERPIXEL, 1))), 16
    if rawmode in _PNG16 or im.mode.startswith("I;16"):
        return channels, 16
    return channels, 8


def _target(im: Image.Image) -> str:
    """The mode ``im`` is converted to (see :data:`_MODES`): RGBA if a colour is transparent."""
    transparent = "transparency" in im.info or (
        im.mode == "P" and im.palette is not None and im.palette.mode == "RGBA"
    )
    if im.mode in ("L", "RGB", "P") and transparent:
        return "RGBA"
    return _MODES[im.mode] or im.mode


def _open(data: bytes, fmt: str) -> ImageFile.ImageFile:
    return _OPENERS[fmt](io.BytesIO(data))


def _open_checked(data: bytes, fmt: str, shown: str, samples) -> ImageFile.ImageFile:
    if samples is not None:
        _check_tiff_samples(samples, shown)
    try:
        return _open(data, fmt)
    except Exception as err:
        if samples is None:
            raise  # damage, or not TIFF: _decoding says so
        # tifffile parsed what Pillow refuses: a layout Pillow lacks, not damage.
        _kind, bits, count, photometric = samples
        raise ImageReadError(
            f"{shown}: TIFF pixel layout is not supported ({photometric}, {count} "
            f"sample{'s' if count > 1 else ''} of {bits} bits: {err}); {_PHOTOS}"
        ) from err


def _pillow(im: ImageFile.ImageFile):
    if (
        im.format == "TIFF"
        and Image.MAX_IMAGE_PIXELS is not None
        and im.width * im.height > Image.MAX_IMAGE_PIXELS
    ):
        # TIFF re-checks Pillow's global limit when it allocates; ours already passed,
        # so hand it the memory and let our one limit govern.
        im.im = Image.new(im.mode, im.size).im
    with _refuse_truncated():
        im.load()
    orientation = _orientation(im)
    icc = im.info.get("icc_profile")
    ImageOps.exif_transpose(im, in_place=True)
    target = _target(im)
    if im.mode == "CMYK":
        im, icc = _cmyk_to_rgb(im, icc)
    elif target != im.mode:
        im = im.convert(target)
    return _array(im), orientation, icc


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


def _jpeg_settings(im: ImageFile.ImageFile) -> dict:
    qtables = {int(k): [int(v) for v in table] for k, table in im.quantization.items()}
    return {"qtables": qtables, "subsampling": JpegImagePlugin.get_sampling(im)}


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


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None):
    if icc is not None and icc[16:20] == b"CMYK":
        try:
            from PIL import ImageCms  # Pillow may be built without LittleCMS
        except ImportError:
            return im.convert("RGB"), None
        srgb = ImageCms.createProfile("sRGB")
        try:
            rgb = ImageCms.profileToProfile(
                im, ImageCms.ImageCmsProfile(io.BytesIO(icc)), srgb, outputMode="RGB"
            )
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: fall back to the plain formula below
        else:
            return rgb, ImageCms.ImageCmsProfile(srgb).tobytes()
    return im.convert("RGB"), None


def _colour_profile(icc, pixels: np.ndarray) -> tuple[np.ndarray, bytes | None]:
    """The pixels and a profile that keeps their colour and nothing else (see :mod:`.icc`).

    A matrix/TRC profile (nearly every camera and editor profile) is rebuilt
    from its colour tags; the pixels stay as they are. Another profile of the
    pixels' colour space (built on lookup tables) cannot be rebuilt: 8-bit
    colour is converted to sRGB through it, and 16-bit or gray pixels lose
    it, since Pillow cannot convert them. A profile that does not describe
    the pixels (gray expanded to RGBA, say) is dropped, as before.
    """
    if not icc or len(icc) < 132 or icc[36:40] != b"acsp":
        return pixels, None
    colorspace = "GRAY" if pixels.ndim == 2 else "RGB"
    if icc[16:20] != colorspace.ljust(4).encode():
        return pixels, None
    try:
        return pixels, clean_profile(bytes(icc), colorspace)
    except ProfileError:
        pass
    if pixels.dtype != np.uint8 or pixels.ndim != 3:
        return pixels, None
    try:
        from PIL import ImageCms  # Pillow may be built without LittleCMS

        srgb = ImageCms.createProfile("sRGB")
        rgb = ImageCms.profileToProfile(
            Image.fromarray(np.ascontiguousarray(pixels[..., :3])),
            ImageCms.ImageCmsProfile(io.BytesIO(icc)),
            srgb,
            outputMode="RGB",
        )
    except Exception:  # no LittleCMS, or it refuses the profile (PyCMSError, OSError)
        return pixels, None
    out = pixels.copy()
    out[..., :3] = np.asarray(rgb)
    return out, clean_profile(ImageCms.ImageCmsProfile(srgb).tobytes(), "RGB")
