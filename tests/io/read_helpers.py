"""Photos to read in the reading tests: arrays, writers, profiles, the reader checked."""

import struct
import zlib

import numpy as np
from PIL import Image, ImageCms

from napari_fuzzy_people.io.read import (
    Photo,
    read_photo,
)
from reading import read_untouched, refused_by

RNG = np.random.default_rng(7)
GRAY = RNG.integers(0, 256, (5, 7), dtype=np.uint8)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)
RGBA = RNG.integers(0, 256, (5, 7, 4), dtype=np.uint8)
GRAY16 = RNG.integers(0, 65536, (5, 7), dtype=np.uint16)
RGB16 = RNG.integers(0, 65536, (5, 7, 3), dtype=np.uint16)
RGBA16 = RNG.integers(0, 65536, (5, 7, 4), dtype=np.uint16)
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()

#: What each EXIF orientation means for the stored pixels, as numpy sees it.
UPRIGHT = {
    1: lambda a: a,
    2: np.fliplr,
    3: lambda a: np.rot90(a, 2),
    4: np.flipud,
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


def read(path, **kwargs) -> Photo:
    return read_untouched(read_photo, path, **kwargs)


def refused(path, *phrases, **kwargs) -> str:
    return refused_by(read_photo, path, *phrases, **kwargs)


def save(path, array, mode=None, **options):
    """Write ``array`` with Pillow; ``mode`` reads its bytes as that mode (P, CMYK)."""
    size = array.shape[1], array.shape[0]
    image = Image.frombytes(mode, size, array.tobytes()) if mode else Image.fromarray(array)
    image.save(path, **options)
    return path


def exif(orientation: int) -> Image.Exif:
    tags = Image.Exif()
    tags[0x0112] = orientation
    return tags


def png16(path, array: np.ndarray, *, exif_bytes: bytes | None = None):
    """A 16-bit PNG (Pillow cannot write colour ones), rows cycling through all 5 filters."""
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[1 if array.ndim == 2 else array.shape[2]]
    height, width = array.shape[:2]
    raw = array.astype(">u2").reshape(height, -1).view(np.uint8).astype(int)
    bpp = 2 * (1 if array.ndim == 2 else array.shape[2])
    rows, prev = [], np.zeros(raw.shape[1], int)
    for y, row in enumerate(raw):
        left = np.concatenate([np.zeros(bpp, int), row[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, int), prev[:-bpp]])
        pa, pb, pc = abs(prev - upleft), abs(left - upleft), abs(left + prev - 2 * upleft)
        paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
        predictor = [0, left, prev, (left + prev) // 2, paeth][y % 5]
        rows.append(bytes([y % 5]) + ((row - predictor) % 256).astype(np.uint8).tobytes())
        prev = row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    extra = chunk(b"eXIf", exif_bytes) if exif_bytes else b""
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + extra
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )
    return path


def cmyk_profile() -> bytes:
    """A tiny CMYK printer profile (lut8 A2B0) in which any ink makes neutral gray."""
    ink = np.array(np.meshgrid(*[[0, 1]] * 4, indexing="ij")).reshape(4, -1).T.max(axis=1)
    return lut_profile(b"prtrCMYKLab ", 4, 255 - 100 * ink)


def rgb_lut_profile() -> bytes:
    """An RGB display profile built on a lookup table (lut8 A2B0, Lab): every colour is gray."""
    corners = np.array(np.meshgrid(*[[0, 1]] * 3, indexing="ij")).reshape(3, -1).T
    return lut_profile(b"mntrRGB Lab ", 3, 40 + 60 * corners.sum(axis=1))


def lut_profile(kind: bytes, channels: int, lightness: np.ndarray) -> bytes:
    def s15(x: float) -> bytes:
        return struct.pack(">i", round(x * 65536))

    n = 2**channels
    clut = np.stack([lightness, np.full(n, 128), np.full(n, 128)], -1).astype(np.uint8)
    ramp = bytes(range(256))
    identity = b"".join(s15(float(i == j)) for i in range(3) for j in range(3))
    a2b0 = b"mft1" + bytes(4) + bytes([channels, 3, 2, 0]) + identity
    a2b0 += ramp * channels + clut.tobytes()
    d50 = s15(0.9642) + s15(1.0) + s15(0.8249)
    tags = [(b"A2B0", a2b0 + ramp * 3), (b"wtpt", b"XYZ " + bytes(4) + d50)]
    offset, table, body = 128 + 4 + 12 * len(tags), b"", b""
    for sig, data in tags:
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data + bytes(-len(data) % 4)
    header = (
        struct.pack(">I", offset + len(body))
        + bytes(4)
        + bytes([2, 0x10, 0, 0])
        + kind
        + bytes(12)
        + b"acsp"
        + bytes(28)
        + d50
        + bytes(48)
    )
    return header + struct.pack(">I", len(tags)) + table + body
