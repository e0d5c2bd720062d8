"""Reading photos safely: upright, decoded in full, within a size limit, or a clear error.

Only JPEG, PNG and TIFF are read, because the anonymized copy is written in the
input's format (see :mod:`napari_fuzzy_people.io.export`).
"""

from __future__ import annotations

import codecs
import hashlib
import io
import os
import stat
import threading
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

__all__ = [
    "ENV_MAX_PIXELS",
    "MAX_PIXELS",
    "SUPPORTED_FORMATS",
    "ImageReadError",
    "Photo",
    "read_photo",
]

#: Default decompression-bomb limit, in pixels: Pillow's own default (1 GiB of RGBA / 3).
MAX_PIXELS: int = 89_478_485
#: Environment variable that overrides :data:`MAX_PIXELS`.
ENV_MAX_PIXELS = "NAPARI_FUZZY_PEOPLE_MAX_PIXELS"
#: The formats we read, as Pillow names them.
SUPPORTED_FORMATS = ("JPEG", "PNG", "TIFF")

_SUPPORTED = "JPEG, PNG or TIFF"


class ImageReadError(ValueError):
    """A file we cannot read as a photo. The message always starts with the file path."""


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


def read_photo(path, *, max_pixels: int | None = None) -> Photo:
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
    max_pixels : int, optional
        Refuse images with more pixels than this (a guard against
        decompression bombs). Default: the environment variable
        ``NAPARI_FUZZY_PEOPLE_MAX_PIXELS``, else :data:`MAX_PIXELS`.

    Returns
    -------
    Photo

    Raises
    ------
    ImageReadError
        Missing, unreadable, empty, damaged or truncated file; not an image;
        not JPEG/PNG/TIFF; several frames; over the pixel limit; an
        unsupported pixel type (32-bit or float, say); a 16-bit colour TIFF
        whose compression (LZW, say) needs the optional ``imagecodecs``.
    ValueError
        ``max_pixels`` is not a positive integer.

    Examples
    --------
    >>> photo = read_photo("street.jpg")  # doctest: +SKIP
    >>> photo.pixels.shape, photo.format, photo.orientation  # doctest: +SKIP
    ((3024, 4032, 3), 'JPEG', 6)
    """
    if max_pixels is not None:
        _check_limit(max_pixels)
    shown = os.fspath(path)
    limit = max_pixels if max_pixels is not None else _env_limit(shown)
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


# -- the file -----------------------------------------------------------------


def _check_limit(value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"max_pixels must be a positive integer, got {value!r}")


def _env_limit(shown: str) -> int:
    raw = os.environ.get(ENV_MAX_PIXELS, "").strip()
    if not raw:
        return MAX_PIXELS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        # A typo must not silently lift (or keep) the guard the user meant to set.
        raise ImageReadError(
            f"{shown}: {ENV_MAX_PIXELS}={raw!r} is not a positive whole number of pixels"
        )
    return value


def _read_bytes(path, shown: str) -> bytes:
    # O_NONBLOCK so that a FIFO fails the regular-file check instead of hanging.
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ImageReadError(f"{shown}: file not found") from None
    except IsADirectoryError:
        raise ImageReadError(f"{shown}: is a directory, not an image file") from None
    except PermissionError:
        if Path(path).is_dir():  # Windows refuses to open folders this way
            raise ImageReadError(f"{shown}: is a directory, not an image file") from None
        raise ImageReadError(f"{shown}: permission denied, cannot read the file") from None
    except OSError as err:
        raise ImageReadError(f"{shown}: cannot open the file ({err.strerror or err})") from err
    try:
        kind = os.fstat(fd).st_mode
        if stat.S_ISDIR(kind):
            raise ImageReadError(f"{shown}: is a directory, not an image file")
        if not stat.S_ISREG(kind):
            raise ImageReadError(f"{shown}: is not a regular file (a device or pipe?)")
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        try:
            data = f.read()
        except OSError as err:
            raise ImageReadError(f"{shown}: cannot read the file ({err.strerror or err})") from err
    if not data:
        raise ImageReadError(f"{shown}: file is empty (0 bytes)")
    return data


_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),  # BigTIFF
    (b"MM\x00+", "TIFF"),
)
# Recognised only to say what a refused file is.
_OTHER_MAGIC = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"8BPS", "Photoshop (PSD)"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"%PDF", "PDF"),
)
_BMP_HEADER_SIZES = {12, 40, 52, 56, 64, 108, 124}
_FTYP = {b"heic": "HEIC", b"heix": "HEIC", b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF"}


def _sniff(data: bytes, shown: str) -> str:
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    other = None
    for magic, name in _OTHER_MAGIC:
        if data.startswith(magic):
            other = name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        other = "WebP"
    elif data[4:8] == b"ftyp" and data[8:12] in _FTYP:
        other = _FTYP[data[8:12]]
    elif data[:2] == b"BM" and len(data) > 14 and data[14] in _BMP_HEADER_SIZES:
        other = "BMP"
    if other is not None:
        raise ImageReadError(
            f"{shown}: {other} images are not supported; use {_SUPPORTED} "
            "(the anonymized copy is written in the input's format)"
        )
    if _looks_like_text(data[:1024]):
        raise ImageReadError(
            f"{shown}: not an image (it looks like a text file); use {_SUPPORTED}"
        )
    raise ImageReadError(f"{shown}: not an image in a format we read; use {_SUPPORTED}")


def _looks_like_text(head: bytes) -> bool:
    # Incremental, so a character split by the cut at 1024 bytes is no error.
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\t\n\r\f" for c in text)


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
    try:
        with _open(data, fmt) as im:
            width, height = im.size
            if width * height > limit:
                raise ImageReadError(
                    f"{shown}: image is {width} x {height} = {width * height:,} pixels, more "
                    f"than the limit of {limit:,} that guards against decompression bombs; "
                    "if you trust the file, raise the limit with read_photo(..., "
                    f"max_pixels=...) or the environment variable {ENV_MAX_PIXELS}"
                )
            frames = getattr(im, "n_frames", 1)
            if frames > 1:
                raise ImageReadError(
                    f"{shown}: {fmt} file has {frames} frames (multi-page or animated); "
                    "only single images are supported"
                )
            mode = im.mode
            if mode not in _MODES:
                raise ImageReadError(
                    f"{shown}: {fmt} pixel mode {mode!r} is not supported; photos must be "
                    "8- or 16-bit gray, RGB(A), palette or CMYK"
                )
            jpeg = _jpeg_settings(im) if fmt == "JPEG" else None
            rawmode = _tile_rawmode(im) if fmt == "PNG" else None
            if fmt == "TIFF" and mode in ("RGB", "RGBA", "RGBX") and _bits(im) > 8:
                pixels, orientation = _tiff16(data, im, shown)
                icc = im.info.get("icc_profile")
            elif rawmode in _PNG16:
                pixels, orientation = _png16(data, rawmode)
                icc = im.info.get("icc_profile")
            else:
                pixels, orientation, icc = _pillow(im, width * height)
    except ImageReadError:
        raise
    except MemoryError:
        raise ImageReadError(f"{shown}: not enough memory to decode this image") from None
    except Image.DecompressionBombError as err:  # ours is checked first; belt and braces
        raise ImageReadError(f"{shown}: refused as a possible decompression bomb ({err})") from err
    except Exception as err:
        # Pillow reports damage as OSError, SyntaxError, ValueError, struct.error, ...
        raise ImageReadError(
            f"{shown}: damaged or truncated {fmt} file, cannot decode it ({err})"
        ) from err
    return pixels, mode, _fitting_icc(icc, pixels), jpeg, orientation


def _open(data: bytes, fmt: str) -> ImageFile.ImageFile:
    return _OPENERS[fmt](io.BytesIO(data))


def _pillow(im: ImageFile.ImageFile, count: int):
    if (
        im.format == "TIFF"
        and Image.MAX_IMAGE_PIXELS is not None
        and count > Image.MAX_IMAGE_PIXELS
    ):
        # TIFF re-checks Pillow's global limit when it allocates; ours already passed,
        # so hand it the memory and let our one limit govern.
        im.im = Image.new(im.mode, im.size).im
    with _refuse_truncated():
        im.load()
    orientation = _orientation(im)
    icc = im.info.get("icc_profile")
    ImageOps.exif_transpose(im, in_place=True)
    target = _MODES[im.mode]
    transparent = "transparency" in im.info or (
        im.mode == "P" and im.palette is not None and im.palette.mode == "RGBA"
    )
    if im.mode in ("L", "RGB", "P") and transparent:
        target = "RGBA"
    if im.mode == "CMYK":
        im, icc = _cmyk_to_rgb(im, icc)
    elif target is not None:
        im = im.convert(target)
    return _array(im), orientation, icc


def _array(im: Image.Image) -> np.ndarray:
    a = np.asarray(im)
    return np.require(a, dtype=a.dtype.newbyteorder("="), requirements=["C", "W", "O"])


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
    def decode(raw: str | None) -> np.ndarray:
        with _open(data, "PNG") as im:
            if raw is not None:
                tile = im.tile[0]
                im.tile = [
                    tile._replace(args=raw) if hasattr(tile, "_replace") else (*tile[:3], raw)
                ]
            with _refuse_truncated():
                im.load()
            orientation.append(_orientation(im))
            ImageOps.exif_transpose(im, in_place=True)
            return np.asarray(im).astype(np.uint16)

    orientation: list[int] = []
    if rawmode == "LA;16B":
        # Raw RGBA bytes are gray high, gray low, alpha high, alpha low.
        b = decode("RGBA")
        gray, alpha = b[..., 0] << 8 | b[..., 1], b[..., 2] << 8 | b[..., 3]
        pixels = np.stack([gray, gray, gray, alpha], axis=-1)
    else:
        pixels = decode(None) << 8 | decode(_PNG16[rawmode])
    return pixels, orientation[0]


def _bits(im: TiffImagePlugin.TiffImageFile) -> int:
    bits = im.tag_v2.get(TiffImagePlugin.BITSPERSAMPLE, 8)
    return max(bits) if isinstance(bits, tuple) else int(bits)


def _tiff16(data: bytes, im: TiffImagePlugin.TiffImageFile, shown: str):
    # Pillow keeps only 8 bits of colour TIFF samples; tifffile keeps them all.
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages.first
        if any(
            o + n > len(data) for o, n in zip(page.dataoffsets, page.databytecounts, strict=True)
        ):
            raise ImageReadError(f"{shown}: damaged or truncated TIFF file, pixel data is missing")
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
        try:
            pixels = page.asarray()
        except Exception as err:
            if "imagecodecs" in str(err):
                raise ImageReadError(
                    f"{shown}: 16-bit colour TIFF compressed with {page.compression.name} "
                    "needs the optional 'imagecodecs' package to decode"
                ) from err
            raise
    if page.planarconfig == tifffile.PLANARCONFIG.SEPARATE:
        pixels = np.moveaxis(pixels, 0, -1)
    pixels = pixels[..., : 4 if alpha else 3]
    orientation = _orientation(im)
    return np.require(_orient(pixels, orientation), np.uint16, ["C", "W", "O"]), orientation


def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
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


def _fitting_icc(icc, pixels: np.ndarray) -> bytes | None:
    # Export embeds the profile as is, so it must be one and describe these pixels:
    # a gray profile no longer fits gray expanded to RGBA, nor a CMYK one RGB.
    if not icc or len(icc) < 132 or icc[36:40] != b"acsp":
        return None
    expected = b"GRAY" if pixels.ndim == 2 else b"RGB "
    return bytes(icc) if icc[16:20] == expected else None


# -- truncated files ----------------------------------------------------------

_truncation_lock = threading.Lock()
_truncation_users = 0
_truncation_saved = False


@contextmanager
def _refuse_truncated() -> Iterator[None]:
    """Make Pillow fail on truncated data even if another package told it not to.

    ``ImageFile.LOAD_TRUNCATED_IMAGES`` is process-wide; it is forced off while
    any of our decodes runs and restored after the last one.
    """
    global _truncation_users, _truncation_saved
    with _truncation_lock:
        if _truncation_users == 0:
            _truncation_saved = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        _truncation_users += 1
    try:
        yield
    finally:
        with _truncation_lock:
            _truncation_users -= 1
            if _truncation_users == 0:
                ImageFile.LOAD_TRUNCATED_IMAGES = _truncation_saved
