"""The input file: read once and safely, its format told by content, its size judged first.

What :mod:`~napari_fuzzy_people.io.read` (photos) and
:mod:`~napari_fuzzy_people.io.labels` (label images) share: opening a file
without following it into a FIFO or a folder, naming the format from its
first bytes, the decompression-bomb limit in bytes, and turning whatever a
decoder raises into an :class:`ImageReadError` that names the file.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, ImageFile

from .errors import ImageReadError

__all__ = ["ENV_MAX_BYTES", "MAX_BYTES", "SUPPORTED_FORMATS", "ImageReadError", "sniff_format"]

#: Default decompression-bomb limit, in bytes of decoded pixels (512 MiB): a
#: 100-megapixel 8-bit RGB photo (286 MiB) fits, a 16-bit RGB one up to 89 megapixels.
MAX_BYTES: int = 512 * 2**20
#: Environment variable that overrides :data:`MAX_BYTES`: bytes, or with a binary
#: suffix (``"2G"``, ``"768MiB"``).
ENV_MAX_BYTES = "NAPARI_FUZZY_PEOPLE_MAX_BYTES"
#: The formats we read, as Pillow names them.
SUPPORTED_FORMATS = ("JPEG", "PNG", "TIFF")

_SUPPORTED = "JPEG, PNG or TIFF"
_PHOTOS = "photos must be 8- or 16-bit gray, RGB(A), palette or CMYK"


def sniff_format(path) -> str:
    """Tell a photo's format from its first bytes, as :func:`read_photo` does.

    Parameters
    ----------
    path : path-like
        The file; only its first KiB is read.

    Returns
    -------
    str
        ``"JPEG"``, ``"PNG"`` or ``"TIFF"``.

    Raises
    ------
    ImageReadError
        Missing, unreadable, empty or not a regular file; not JPEG/PNG/TIFF.
    """
    shown = os.fspath(path)
    return _sniff(_read_bytes(path, shown, 1024), shown)


# -- the file -----------------------------------------------------------------


def _limit(max_bytes, shown: str) -> int:
    """The byte limit: ``max_bytes`` if given (checked), else the environment's."""
    if max_bytes is None:
        return _env_limit(shown)
    if (
        isinstance(max_bytes, bool)
        or not isinstance(max_bytes, (int, np.integer))
        or max_bytes < 1
    ):
        raise ValueError(f"max_bytes must be a positive integer, got {max_bytes!r}")
    return int(max_bytes)


# A whole number of bytes, or of KiB, MiB, GiB: "536870912", "512M", "2GiB", "1 gb".
_BYTES = re.compile(r"([0-9]+) *(?:([kmg])(?:i?b)?|b)?", re.IGNORECASE)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}


def _env_limit(shown: str) -> int:
    raw = os.environ.get(ENV_MAX_BYTES, "").strip()
    if not raw:
        return MAX_BYTES
    match = _BYTES.fullmatch(raw)
    value = int(match[1]) * _UNITS[(match[2] or "").lower()] if match else 0
    if value < 1:
        # A typo must not silently lift (or keep) the guard the user meant to set.
        raise ImageReadError(
            f"{shown}: {ENV_MAX_BYTES}={raw!r} is not a positive whole number of bytes "
            "(like 536870912, 512M or 2G)"
        )
    return value


def _check_size(shown: str, size, channels: int, bits: int, limit: int, reader: str) -> None:
    """Refuse, before decoding, an image of ``size`` (width, height) that decodes too big."""
    width, height = size
    need = width * height * channels * ((bits + 7) // 8)
    if need > limit:
        raise ImageReadError(
            f"{shown}: image is {width} x {height} with {channels} channel"
            f"{'s' if channels > 1 else ''} of {bits} bits, {_mib(need)} decoded, more than "
            f"the limit of {_mib(limit)} that guards against decompression bombs; if you "
            f"trust the file, raise the limit with {reader}(..., max_bytes=...) or the "
            f"environment variable {ENV_MAX_BYTES} (e.g. {ENV_MAX_BYTES}=2G)"
        )


def _mib(n: int) -> str:
    if n < 2**20:
        return f"{n:,} bytes"
    text = f"{n / 2**20:,.1f}"
    return f"{text[:-2] if n % 2**20 == 0 else text} MiB"


def _read_bytes(path, shown: str, size: int = -1) -> bytes:
    """The file's bytes (its first ``size`` ones if given), read once, or a clear error."""
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
            data = f.read(size)
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
    fmt = _identify(data)
    if fmt in SUPPORTED_FORMATS:
        return fmt
    raise _not_ours(
        shown, fmt, _SUPPORTED, " (the anonymized copy is written in the input's format)"
    )


_TEXT = "text"


def _identify(data: bytes) -> str | None:
    """Name a file's format from its first bytes: one we read, one we only name, or text."""
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
    if other is None and _looks_like_text(data[:1024]):
        other = _TEXT
    return other


def _not_ours(shown: str, fmt: str | None, use: str, why: str = "") -> ImageReadError:
    if fmt == _TEXT:
        return ImageReadError(f"{shown}: not an image (it looks like a text file); use {use}")
    if fmt is None:
        return ImageReadError(f"{shown}: not an image in a format we read; use {use}")
    return ImageReadError(f"{shown}: {fmt} images are not supported; use {use}{why}")


def _looks_like_text(head: bytes) -> bool:
    # Incremental, so a character split by the cut at 1024 bytes is no error.
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\t\n\r\f" for c in text)


@contextmanager
def _decoding(shown: str, fmt: str) -> Iterator[None]:
    """Turn whatever decoding raises into an :class:`ImageReadError` naming the file."""
    try:
        yield
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


# TIFF SampleFormat values, named when we refuse them.
_SAMPLE_KINDS = {
    1: "integer",
    2: "signed integer",
    3: "float",
    4: "untyped",
    5: "complex integer",
    6: "complex float",
}


def _tiff_samples(data: bytes) -> tuple[int, int, int, str] | None:
    """SampleFormat, BitsPerSample, SamplesPerPixel and photometric of the first page.

    None when tifffile cannot parse the file: Pillow will then report the damage.
    """
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            photometric = getattr(page.photometric, "name", str(page.photometric))
            return (
                int(page.sampleformat),
                int(page.bitspersample),
                int(page.samplesperpixel),
                photometric,
            )
    except Exception:
        return None


def _check_tiff_samples(samples: tuple[int, int, int, str], shown: str) -> None:
    # Pillow opens some of these (float gray as 'F', int8 as if unsigned) and fails
    # to open others as "unknown pixel mode"; name the pixel type instead.
    kind, bits = samples[:2]
    if kind not in (1, 4) or bits > 16:
        name = _SAMPLE_KINDS.get(kind, f"sample format {kind}")
        raise ImageReadError(
            f"{shown}: TIFF {name} ({bits}-bit) pixels are not supported; {_PHOTOS}"
        )
