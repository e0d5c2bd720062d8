"""Encoding pixels as JPEG, PNG or TIFF with nothing but the pixels (and a clean profile)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from .errors import ExportError

__all__ = ["WRITERS", "check_pixels", "jpeg_options", "read_png16"]

_SUBSAMPLING = {0: 0, 1: 1, 2: 2, "4:4:4": 0, "4:2:2": 1, "4:2:0": 2}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOR = {3: 2, 4: 6}  # IHDR colour types RGB, RGBA
_IDAT_SIZE = 1 << 20


def check_pixels(image, fmt: str, target: Path) -> np.ndarray:
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


def jpeg_options(jpeg, pixels: np.ndarray, target: Path) -> dict:
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


def read_png16(data: bytes, shape: tuple) -> np.ndarray:
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


WRITERS = {"JPEG": _write_pillow("JPEG"), "PNG": _write_png, "TIFF": _write_tiff}
