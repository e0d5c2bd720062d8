"""Reading a written file back: metadata allow-lists, and the very pixels that were meant.

:func:`check_clean` accepts a file only if it holds pixels and at most an ICC
profile, judged by content with strict allow-lists.
"""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import numpy as np
import tifffile
from PIL import JpegImagePlugin, PngImagePlugin

from .encode import read_png16
from .errors import ExportError

__all__ = ["check_clean", "verify_written"]

#: JPEG markers a clean file may hold after SOI: EOI, DQT, DHT, DRI, SOS, SOF0-2 and
#: APP0/APP2, which are further restricted to JFIF (no thumbnail) and ICC.
_JPEG_MARKERS = {0xD9, 0xDB, 0xC4, 0xDD, 0xDA, 0xC0, 0xC1, 0xC2, 0xE0, 0xE2}
#: PNG chunks that describe pixels or colour; text, time, eXIf and the rest are out.
_PNG_CHUNKS = {
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"pHYs",
    b"tRNS", b"sBIT",
}  # fmt: skip
#: TIFF tags of the pixel layout, plus the resolution tags that baseline TIFF
#: requires (tifffile always writes them, as 1/1 without a unit) and the ICC
#: profile (34675).
_TIFF_TAGS = {
    254, 256, 257, 258, 259, 262, 273, 277, 278, 279, 282, 283, 284, 296, 317, 322, 323,
    324, 325, 338, 339, 34675,
}  # fmt: skip
#: ``Image.info`` keys Pillow derives from the allowed JPEG and PNG structures.
_PIL_INFO = {
    "JPEG": {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "icc_profile"},
    "PNG": {"icc_profile", "dpi", "gamma", "srgb", "chromaticity", "transparency", "aspect"},
}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Plugins opened directly, not by Image.open: the format is pinned, and
# Pillow's decompression-bomb limit, meant for untrusted input, cannot refuse
# a large photo we have just written ourselves.
_PILLOW = {"JPEG": JpegImagePlugin.JpegImageFile, "PNG": PngImagePlugin.PngImageFile}
# A marker after entropy-coded data: 0xFF not followed by a stuffed 0x00, a
# restart marker or another fill byte.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def check_clean(path) -> None:
    """Raise :class:`ExportError` unless ``path`` holds pixels and at most an ICC profile.

    Strict allow-lists, by content rather than suffix: JPEG segments (JFIF
    APP0 without thumbnail, ICC APP2, tables, frame, scans; nothing after
    EOI), PNG chunks (``IHDR PLTE IDAT IEND iCCP sRGB gAMA cHRM pHYs tRNS
    sBIT``, valid CRCs, nothing after IEND), TIFF tags (pixel layout,
    resolution, ICC; one image, no sub-IFDs). For JPEG and PNG, Pillow must
    also find no EXIF and no ``info`` beyond what those structures give.
    """
    path = Path(path)
    try:
        _check_clean(path)
    except ExportError as err:
        raise ExportError(f"{path}: {err}") from None


# -- checks -------------------------------------------------------------------
# They raise ExportError with the reason only; the caller names the file.


def _check_clean(path: Path) -> None:
    data = path.read_bytes()
    if data.startswith(b"\xff\xd8"):
        fmt = "JPEG"
        _check_jpeg(data)
    elif data.startswith(_PNG_SIGNATURE):
        fmt = "PNG"
        _check_png(data)
    elif data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        _check_tiff(path)
        return
    else:
        raise ExportError("not a JPEG, PNG or TIFF file")
    # A second opinion on the same bytes: what Pillow would hand to anyone.
    try:
        with _PILLOW[fmt](path) as im:
            info, exif = set(im.info), len(im.getexif())
    except Exception as err:
        raise ExportError(f"unreadable {fmt} ({type(err).__name__}: {err})") from err
    if info - _PIL_INFO[fmt]:
        raise ExportError(f"carries metadata {sorted(info - _PIL_INFO[fmt])}")
    if exif:
        raise ExportError("carries EXIF")


def _check_jpeg(data: bytes) -> None:
    pos = 2  # after SOI
    while True:
        if data[pos : pos + 1] != b"\xff":
            raise ExportError(f"malformed JPEG at byte {pos}")
        while data[pos + 1 : pos + 2] == b"\xff":  # fill bytes
            pos += 1
        marker = data[pos + 1] if pos + 1 < len(data) else None
        if marker == 0xD9:
            if pos + 2 != len(data):
                raise ExportError(f"{len(data) - pos - 2} bytes after the JPEG's end")
            return
        if marker not in _JPEG_MARKERS:
            name = "end of file" if marker is None else f"marker 0x{marker:02X}"
            raise ExportError(f"JPEG {name} at byte {pos} is not allowed")
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4].rjust(2, b"\0"))
        body = data[pos + 4 : pos + 2 + length]
        if length < 2 or len(body) != length - 2:
            raise ExportError(f"truncated JPEG segment at byte {pos}")
        if marker == 0xE0 and not (
            body[:5] == b"JFIF\0" and len(body) == 14 and body[12:] == b"\0\0"
        ):
            raise ExportError("APP0 other than a JFIF header without thumbnail")
        if marker == 0xE2 and not body.startswith(b"ICC_PROFILE\0"):
            raise ExportError("APP2 other than an ICC profile")
        pos += 2 + length
        if marker == 0xDA:  # entropy-coded data runs to the next real marker
            found = _NEXT_MARKER.search(data, pos)
            if found is None:
                raise ExportError("JPEG ends inside its image data")
            pos = found.start()


def _check_png(data: bytes) -> None:
    pos = 8
    while pos + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length].rjust(4, b"\0"))
        if len(body) != length or zlib.crc32(kind + body) != crc:
            raise ExportError(f"damaged PNG chunk {kind!r} at byte {pos}")
        if kind not in _PNG_CHUNKS:
            raise ExportError(f"PNG chunk {kind.decode('latin-1')!r} is not allowed")
        pos += 12 + length
        if kind == b"IEND":
            if pos != len(data):
                raise ExportError(f"{len(data) - pos} bytes after the PNG's end")
            return
    raise ExportError("PNG without IEND")


def _check_tiff(path: Path) -> None:
    try:
        with tifffile.TiffFile(path) as tif:
            if len(tif.pages) != 1:
                raise ExportError(f"TIFF holds {len(tif.pages)} images, not one")
            extra = sorted(set(tif.pages[0].tags.keys()) - _TIFF_TAGS)
    except ExportError:
        raise
    except Exception as err:  # tifffile raises many kinds on a damaged file
        raise ExportError(f"unreadable TIFF ({err})") from err
    if extra:
        raise ExportError(f"TIFF tags {extra} are not allowed")


def verify_written(
    tmp: Path, fmt: str, pixels: np.ndarray, icc: bytes | None, target: Path
) -> None:
    """Read the file ``tmp`` (to be named ``target``) back: clean, same profile, same pixels."""
    try:
        _check_clean(tmp)
        if fmt == "TIFF":
            with tifffile.TiffFile(tmp) as tif:
                tag = tif.pages[0].tags.get(34675)
                found_icc = None if tag is None else bytes(tag.value)
                back = tif.pages[0].asarray()
        else:
            with _PILLOW[fmt](tmp) as im:
                found_icc = im.info.get("icc_profile")
                back = np.asarray(im)
            if pixels.dtype == np.uint16 and pixels.ndim == 3:
                # Pillow reads only the high bytes: it checks those, and our own
                # decoder checks all of them.
                if not np.array_equal(back, pixels >> 8):
                    raise ExportError("Pillow reads other pixels")
                back = read_png16(tmp.read_bytes(), pixels.shape)
    except ExportError as err:
        raise ExportError(f"{target}: the written file failed its check ({err})") from err
    except Exception as err:
        raise ExportError(
            f"{target}: the written file could not be read back ({type(err).__name__}: {err})"
        ) from err
    if found_icc != icc:
        raise ExportError(f"{target}: the written file holds another ICC profile than given")
    if back.shape != pixels.shape:
        raise ExportError(f"{target}: read back as shape {back.shape}, wrote {pixels.shape}")
    if fmt != "JPEG" and not np.array_equal(back, pixels):
        raise ExportError(f"{target}: the pixels read back differ from those written")
