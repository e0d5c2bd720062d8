"""Writing anonymized images: only the pixels, never over an input, never half a file.

Privacy contract
----------------
An exported file carries the pixels and nothing else a person could be traced
by: no EXIF (so no GPS, camera serial, maker notes or embedded thumbnail), no
XMP, no IPTC, no comments, no PNG text chunks, no TIFF tags beyond the pixel
layout. The one exception is the ICC colour profile, kept only when passed as
``icc_profile``: without it the colours of a wide-gamut photo display wrong.
It must be a real profile that fits the pixels (RGB or gray), and is copied
byte for byte, so it may still name the device or software that made it and
carry its creation date; pass ``icc_profile=None`` to drop it too.

Every file is read back and checked (:func:`check_clean`, and the pixels)
before it takes its name; a file that fails is deleted and the export raises.

Formats: JPEG re-encodes with the input's quantization tables and chroma
subsampling when given, so unedited areas barely change. PNG and TIFF are
lossless, 8 or 16 bits; 16-bit colour PNG, which Pillow cannot write, is
written here by the PNG specification and checked with a decoder of our own
(all bits) and Pillow's (the high bytes).

Errors
------
:class:`ExportError` (a ``ValueError``) for every refusal and failed check,
and for an encoder that breaks in a way that is not the operating system's.
``OSError`` from the operating system (full disk, read-only folder, missing
folder) keeps its class and ``errno`` but is re-raised with the target in its
message, chained to the original. In every case no file and no temporary file
is left behind.
"""

from __future__ import annotations

import os
import re
import struct
import tempfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, JpegImagePlugin, PngImagePlugin

__all__ = ["FORMATS", "ExportError", "check_clean", "export_path", "save_image"]

#: Suffixes we write, and Pillow's format name for each.
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}

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
_SUBSAMPLING = {0: 0, 1: 1, 2: 2, "4:4:4": 0, "4:2:2": 1, "4:2:0": 2}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOR = {3: 2, 4: 6}  # IHDR colour types RGB, RGBA
_IDAT_SIZE = 1 << 20
# Plugins opened directly, not by Image.open: the format is pinned, and
# Pillow's decompression-bomb limit, meant for untrusted input, cannot refuse
# a large photo we have just written ourselves.
_PILLOW = {"JPEG": JpegImagePlugin.JpegImageFile, "PNG": PngImagePlugin.PngImageFile}
# A marker after entropy-coded data: 0xFF not followed by a stuffed 0x00, a
# restart marker or another fill byte.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


class ExportError(ValueError):
    """An export that must not happen, or whose result failed its checks."""


def export_path(folder, name: str, source=None, *, force_png: bool = False) -> Path:
    """Where the anonymized copy goes: ``folder/<stem>_fuzzy<suffix>``.

    The stem is the input file's (``source``), else ``name`` with path
    separators replaced, so a layer name cannot point outside ``folder``. The
    suffix is the input's when it is a format we write, else ``.png``, and
    always ``.png`` (lossless) with ``force_png``.

    Examples
    --------
    >>> export_path("/out", "street", source="/photos/street.JPG").as_posix()
    '/out/street_fuzzy.jpg'
    >>> export_path("/out", "street", source="/photos/street.JPG", force_png=True).as_posix()
    '/out/street_fuzzy.png'
    >>> export_path("/out", "../astronaut").as_posix()
    '/out/.._astronaut_fuzzy.png'
    """
    suffix = Path(source).suffix.lower() if source else ""
    if force_png or suffix not in FORMATS:
        suffix = ".png"
    stem = Path(source).stem if source else re.sub(r"[/\\\x00]", "_", str(name))
    if stem in ("", ".", ".."):
        stem = "image"
    return Path(folder) / f"{stem}_fuzzy{suffix}"


# Read once, at import (in the main thread): os.umask can only be read by setting it.
_UMASK = os.umask(0)
os.umask(_UMASK)


def make_shareable(fd: int) -> None:
    """Give a temporary file (created 0600) the permissions a new file normally gets."""
    if hasattr(os, "fchmod"):
        os.fchmod(fd, 0o666 & ~_UMASK)


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
        Target; its suffix picks the format (see :data:`FORMATS`).
    inputs : iterable of path-like
        Files that must never be written (the originals).
    overwrite : bool
        Replace an existing target (never an input).
    icc_profile : bytes, optional
        ICC colour profile to embed: the only metadata ever written.
    jpeg : dict, optional
        The input JPEG's ``{"qtables": ..., "subsampling": ...}`` (as Pillow's
        ``im.quantization`` and ``JpegImagePlugin.get_sampling`` give them).
        Re-encoding with the same tables keeps unedited areas nearly
        unchanged; without them JPEG is written at quality 95, 4:4:4.

    Returns
    -------
    Path
        The written file, resolved.

    Raises
    ------
    ExportError
        On a refusal (input, existing file, format, pixels, settings) or when
        the file read back carries metadata or other pixels.
    OSError
        When the system fails to write (full disk, read-only folder); the
        message names the target.

    Notes
    -----
    The file is written to a temporary file in the target folder, flushed to
    disk, read back and checked, then renamed into place, and the folder is
    flushed too on POSIX: a crash or a failure leaves the old state (no file,
    or the previous file) and never a partial one.
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ExportError(
            f"{path}: unsupported format {path.suffix!r}; use one of {sorted(FORMATS)}"
        )
    target = path.resolve()
    if isinstance(inputs, (str, os.PathLike)):  # one path, not its characters
        inputs = [inputs]
    inputs = [Path(p) for p in inputs if p is not None]
    _refuse_target(target, inputs, overwrite)
    pixels = _pixels(image, fmt, target)
    icc = _icc(icc_profile, pixels, target)
    options = _jpeg_options(jpeg, pixels, target) if fmt == "JPEG" else {}

    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as err:
        raise _naming(err, target) from err
    tmp = Path(name)
    try:
        make_shareable(fd)
        with os.fdopen(fd, "wb") as f:
            _WRITERS[fmt](f, pixels, icc, options)
            f.flush()
            os.fsync(f.fileno())
        _verify(tmp, fmt, pixels, icc, target)
        # Writing and checking a large photo takes a while: look again.
        _refuse_target(target, inputs, overwrite)
        os.replace(tmp, target)
    except BaseException as err:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # the error that got us here matters more
        if isinstance(err, ExportError) or not isinstance(err, Exception):
            raise
        if isinstance(err, OSError):
            raise _naming(err, target) from err
        raise ExportError(
            f"{target}: writing failed ({type(err).__name__}: {err}); nothing was written"
        ) from err
    _fsync_folder(target.parent)
    return target


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


def _verify(tmp: Path, fmt: str, pixels: np.ndarray, icc: bytes | None, target: Path) -> None:
    """Read the written file back: clean, the same profile, the same pixels."""
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
            if _png16(pixels):
                # Pillow reads only the high bytes: it checks those, and our own
                # decoder checks all of them.
                if not np.array_equal(back, pixels >> 8):
                    raise ExportError("Pillow reads other pixels")
                back = _read_png16(tmp.read_bytes(), pixels.shape)
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


# -- inputs -------------------------------------------------------------------


def _refuse_target(target: Path, inputs: list[Path], overwrite: bool) -> None:
    for original in inputs:
        # samefile also catches another spelling on case-insensitive systems
        if original.resolve() == target or (
            target.exists() and original.exists() and os.path.samefile(original, target)
        ):
            raise ExportError(f"{target}: refusing to write over the input file")
    if target.exists() and not overwrite:
        raise ExportError(
            f"{target}: already exists (choose another folder, or allow overwriting)"
        )


def _pixels(image, fmt: str, target: Path) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype.kind == "f":
        raise ExportError(f"{target}: cannot write float pixels; convert to uint8 or uint16 first")
    if image.dtype.kind != "u" or image.dtype.itemsize > 2:
        raise ExportError(f"{target}: cannot write {image.dtype} pixels; use uint8 or uint16")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))) or not image.size:
        raise ExportError(
            f"{target}: cannot write an image of shape {image.shape}; "
            "expected (M, N), (M, N, 3) or (M, N, 4)"
        )
    if fmt == "JPEG" and image.dtype == np.uint16:
        raise ExportError(f"{target}: JPEG is 8-bit only; export as PNG or TIFF to keep 16 bits")
    if fmt == "JPEG" and image.ndim == 3 and image.shape[2] == 4:
        raise ExportError(
            f"{target}: JPEG has no transparency and flattening it would change the "
            "picture; export as PNG"
        )
    return np.ascontiguousarray(image, dtype=image.dtype.newbyteorder("="))


def _icc(profile, pixels: np.ndarray, target: Path) -> bytes | None:
    if profile is None:
        return None
    profile = bytes(profile)
    # Only a real profile may use the one metadata slot we keep open.
    declared = struct.unpack(">I", profile[:4])[0] if len(profile) >= 4 else -1
    if len(profile) < 132 or profile[36:40] != b"acsp" or declared != len(profile):
        raise ExportError(f"{target}: icc_profile is not an ICC profile")
    space = profile[16:20]
    expected = b"GRAY" if pixels.ndim == 2 else b"RGB "
    if space != expected:
        raise ExportError(
            f"{target}: ICC profile for {space.decode('latin-1').strip()!r} pixels does "
            f"not fit {'gray' if pixels.ndim == 2 else 'RGB'} ones; pass icc_profile=None"
        )
    return profile


def _jpeg_options(jpeg, pixels: np.ndarray, target: Path) -> dict:
    if jpeg is not None and not isinstance(jpeg, Mapping):
        raise ExportError(f"{target}: jpeg must be a dict of 'qtables' and 'subsampling'")
    if jpeg is None or jpeg.get("qtables") is None:
        return {"quality": 95, "subsampling": 0}
    qtables = jpeg["qtables"]
    if isinstance(qtables, Mapping):
        qtables = [qtables[k] for k in sorted(qtables)]
    try:
        tables = [np.asarray(t).reshape(64) for t in qtables]
    except (TypeError, ValueError) as err:
        raise ExportError(f"{target}: JPEG qtables must be 1 to 4 tables of 64") from err
    if not 1 <= len(tables) <= 4 or any(t.dtype.kind not in "iu" or t.min() < 1 for t in tables):
        raise ExportError(f"{target}: JPEG qtables must be 1 to 4 tables of 64 integers >= 1")
    # Baseline JPEG stores 8-bit steps; a finer step only raises the quality.
    tables = [np.minimum(t, 255).astype(int).tolist() for t in tables]
    if pixels.ndim == 3 and len(tables) == 1:
        tables *= 2  # a grayscale input's table for the colour channels too
    subsampling = jpeg.get("subsampling")
    if subsampling in (None, -1):  # unknown (Pillow's -1, or gray): keep all colour
        subsampling = 0
    if not isinstance(subsampling, (int, str)) or subsampling not in _SUBSAMPLING:
        raise ExportError(f"{target}: unknown JPEG subsampling {subsampling!r}")
    return {"qtables": tables, "subsampling": _SUBSAMPLING[subsampling]}


# -- writing ------------------------------------------------------------------


def _write_pillow(fmt: str):
    def write(f, pixels, icc, options):
        # A fresh image has an empty ``info``, so Pillow has nothing to copy.
        picture = Image.fromarray(pixels)
        if icc is not None:
            options = {**options, "icc_profile": icc}
        picture.save(f, format=fmt, **options)

    return write


def _write_tiff(f, pixels, icc, options) -> None:
    # tifffile writes 16-bit colour, which Pillow cannot; metadata=None and
    # software=False stop its own ImageDescription and Software tags.
    rgb = pixels.ndim == 3
    # A file opened from a descriptor has no name, which tifffile wants.
    with tifffile.FileHandle(f, "wb", name="export.tif") as handle:
        tifffile.imwrite(
            handle,
            pixels,
            photometric="rgb" if rgb else "minisblack",
            extrasamples=["unassalpha"] if rgb and pixels.shape[2] == 4 else None,
            metadata=None,
            software=False,
            iccprofile=icc,
        )


def _png16(pixels: np.ndarray) -> bool:
    return pixels.dtype == np.uint16 and pixels.ndim == 3


def _write_png(f, pixels, icc, options) -> None:
    if not _png16(pixels):
        _write_pillow("PNG")(f, pixels, icc, options)
        return
    # Pillow has no 16-bit colour mode, and PNG is simple enough to write by
    # its specification (ISO/IEC 15948): IHDR, iCCP, IDAT, IEND, nothing else.
    height, width, channels = pixels.shape
    rows = pixels.astype(">u2").view(np.uint8).reshape(height, -1)
    filtered = np.empty((height, 1 + rows.shape[1]), np.uint8)
    filtered[:, 0] = 2  # filter "Up": minus the byte above, modulo 256; compresses photos well
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    f.write(_PNG_SIGNATURE)
    _png_chunk(
        f, b"IHDR", struct.pack(">IIBBBBB", width, height, 16, _PNG_COLOR[channels], 0, 0, 0)
    )
    if icc is not None:
        _png_chunk(f, b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc))
    data = zlib.compress(filtered.data, 6)
    for start in range(0, len(data), _IDAT_SIZE):
        _png_chunk(f, b"IDAT", data[start : start + _IDAT_SIZE])
    _png_chunk(f, b"IEND", b"")


def _png_chunk(f, kind: bytes, body: bytes) -> None:
    f.write(struct.pack(">I", len(body)) + kind)
    f.write(body)
    f.write(struct.pack(">I", zlib.crc32(kind + body)))


def _read_png16(data: bytes, shape: tuple) -> np.ndarray:
    """Decode what :func:`_write_png` wrote for 16-bit colour (only that)."""
    idat, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            idat.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    height, width, channels = shape
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8)
    if raw.size != height * (1 + width * channels * 2):
        raise ExportError("PNG image data has the wrong size")
    raw = raw.reshape(height, -1)
    if np.any(raw[:, 0] != 2):
        raise ExportError("PNG rows use another filter than written")
    rows = np.cumsum(raw[:, 1:], axis=0, dtype=np.uint8)  # undoes "Up", modulo 256
    return rows.view(">u2").reshape(shape).astype(np.uint16)


_WRITERS = {"JPEG": _write_pillow("JPEG"), "PNG": _write_png, "TIFF": _write_tiff}


def _naming(err: OSError, target: Path) -> OSError:
    """The same kind of OSError, saying which export it broke."""
    reason = err.strerror or str(err) or type(err).__name__
    message = f"could not write {target}: {reason}; nothing was written"
    if err.errno is None:
        return OSError(message)
    return OSError(err.errno, message)  # picks the subclass (PermissionError, ...)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable, where the system can (POSIX)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # the file is complete and in place; only durability is not assured
    finally:
        os.close(fd)
