"""A corpus of nasty inputs, made on the fly (no committed binaries).

Each :class:`Case` is a photo and a label image as a user or an attacker might
hand them to ``fuzzy-people apply``, with what must come of it: an export
(``error=None``) or one line on stderr containing ``error``. Good cases carry
planted metadata (GPS, comments, XMP, PNG text, TIFF tags, a private ICC tag)
marked with :data:`MARKER`, which must never reach an export.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import piexif
import tifffile
from PIL import Image, ImageCms, PngImagePlugin

MARKER = "SECRET-MARKER"
SHAPE = (48, 64)


@dataclass(frozen=True)
class Case:
    name: str
    image: Path
    masks: Path
    error: str | None  # None: exported; else a fragment of its one error line


def photo(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*SHAPE, 3), dtype=np.uint8)


def people(shape=SHAPE) -> np.ndarray:
    labels = np.zeros(shape, np.uint8)
    labels[8:40, 10:30] = 1
    labels[20:44, 40:58] = 2
    return labels


def png_header_only(path: Path, width: int, height: int, depth: int, colour: int) -> None:
    """A PNG whose header promises a huge image: a few hundred bytes on disk."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    idat = zlib.compress(bytes(width // 8 + 1) * 8)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def private_icc() -> bytes:
    """sRGB with a 90 KB private tag and the marker in the header's maker field."""
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    count = struct.unpack_from(">I", srgb, 128)
    payload = (MARKER.encode() * 7000)[:90_000]
    table_end = 132 + 12 * count[0]
    # A new tag entry shifts every offset by 12 bytes; the payload goes at the end.
    entries = [struct.unpack_from(">4sII", srgb, 132 + 12 * i) for i in range(count[0])]
    body = srgb[table_end:]
    new_offset = table_end + 12 + len(body) + (-len(body) % 4)
    table = b"".join(struct.pack(">4sII", s, o + 12, n) for s, o, n in entries)
    table += struct.pack(">4sII", b"zzzz", new_offset, len(payload))
    body += bytes(-len(body) % 4) + payload
    profile = bytearray(srgb[:128] + struct.pack(">I", count[0] + 1) + table + body)
    profile[0:4] = struct.pack(">I", len(profile))
    profile[48:52] = MARKER.encode()[:4]
    return bytes(profile)


def rich_exif(orientation: int = 1) -> bytes:
    marker = MARKER.encode()
    return piexif.dump(
        {
            "0th": {
                piexif.ImageIFD.Artist: marker,
                piexif.ImageIFD.Make: marker,
                piexif.ImageIFD.Orientation: orientation,
            },
            "Exif": {piexif.ExifIFD.UserComment: b"ASCII\0\0\0" + marker},
            "GPS": {
                piexif.GPSIFD.GPSLatitudeRef: b"N",
                piexif.GPSIFD.GPSLatitude: ((52, 1), (31, 1), (0, 1)),
            },
        }
    )


def make_corpus(folder: Path) -> list[Case]:
    """Write the corpus into ``folder``; returns its cases in command-line order."""
    folder.mkdir(parents=True, exist_ok=True)
    good_masks = folder / "people.png"
    Image.fromarray(people()).save(good_masks)
    cases: list[Case] = []

    def add(name, error=None, masks=good_masks, image=None):
        cases.append(Case(name, image or folder / name, masks, error))

    # -- photos that must be refused, each with its reason -------------------
    (folder / "empty.jpg").write_bytes(b"")
    add("empty.jpg", "file is empty")
    buffer = io.BytesIO()
    Image.fromarray(photo()).save(buffer, "JPEG")
    (folder / "truncated.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    add("truncated.jpg", "damaged or truncated")
    buffer = io.BytesIO()
    Image.fromarray(photo()).save(buffer, "PNG")
    (folder / "truncated.png").write_bytes(buffer.getvalue()[:-40])
    add("truncated.png", "damaged or truncated")
    (folder / "notes.jpg").write_text("these are not the pixels you are looking for\n")
    add("notes.jpg", "looks like a text file")
    Image.fromarray(photo()).save(folder / "anim.gif")
    add("anim.gif", "GIF images are not supported")
    Image.fromarray(photo()).save(folder / "photo.webp")
    add("photo.webp", "WebP images are not supported")
    (folder / "folder.jpg").mkdir()
    add("folder.jpg", "is a directory")
    os.mkfifo(folder / "fifo.png")
    add("fifo.png", "not a regular file")
    (folder / "zero.jpg").symlink_to("/dev/zero")
    add("zero.jpg", "not a regular file")
    add("missing.jpg", "file not found")
    png_header_only(folder / "bomb.png", 100_000, 100_000, 8, 2)
    add("bomb.png", "guards against decompression bombs")
    png_header_only(folder / "bomb16.png", 9400, 9400, 16, 6)  # 674 MiB decoded
    add("bomb16.png", "4 channels of 16 bits")
    tifffile.imwrite(folder / "float.tif", photo().astype(np.float32), photometric="rgb")
    add("float.tif", "float (32-bit) pixels are not supported")
    tifffile.imwrite(folder / "int32.tif", np.zeros(SHAPE, np.int32))
    add("int32.tif", "pixels are not supported")
    tifffile.imwrite(folder / "pages.tif", np.stack([photo(), photo(1)]), photometric="rgb")
    add("pages.tif", "multi-page or animated")
    frames = [Image.fromarray(photo(i)) for i in range(2)]
    frames[0].save(folder / "anim.png", save_all=True, append_images=frames[1:])
    add("anim.png", "multi-page or animated")
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(folder / "tiny.png")
    Image.fromarray(np.ones((1, 1), np.uint8)).save(folder / "tiny.labels.png")
    add("tiny.png", "needs unmasked pixels", masks=folder / "tiny.labels.png")

    # -- masks that must be refused -------------------------------------------
    def bad_masks(name, error, write):
        path = folder / name
        write(path)
        stem = Path(name).stem.replace(".", "_")
        Image.fromarray(photo()).save(folder / f"for_{stem}.png")
        add(f"for_{stem}.png", error, masks=path)

    labels32 = people().astype(np.uint32)
    for name, error, write in [
        ("small.labels.png", "masks are 32x16 but the photo is 64x48",
         lambda p: Image.fromarray(np.zeros((16, 32), np.uint8)).save(p)),
        ("rgb.labels.png", "a label image is 2-D integers",
         lambda p: Image.fromarray(photo()).save(p)),
        ("lossy.labels.jpg", "JPEG is lossy", lambda p: Image.fromarray(people()).save(p)),
        ("negative.labels.tif", "holds negative labels",
         lambda p: tifffile.imwrite(p, -people().astype(np.int16))),
        ("huge.labels.tif", "largest label is 2000000000",
         lambda p: tifffile.imwrite(p, labels32 * 1_000_000_000)),
        ("big.labels.tif", "largest label is 70000",
         lambda p: tifffile.imwrite(p, labels32 * 35_000)),
        ("bomb.labels.png", "guards against decompression bombs",
         lambda p: png_header_only(p, 200_000, 200_000, 16, 0)),
        ("float.labels.tif", "label image", lambda p: tifffile.imwrite(p, people() * 0.5)),
    ]:  # fmt: skip
        bad_masks(name, error, write)
    bad_masks("empty.labels.png", "file is empty", lambda p: p.write_bytes(b""))

    # -- photos that must export, whatever they carry -------------------------
    exif_photo = Image.fromarray(photo(2))
    exif_photo.save(folder / "phone.jpg", exif=rich_exif(orientation=6),
                    comment=MARKER.encode(), icc_profile=private_icc())  # fmt: skip
    Image.fromarray(people((64, 48))).save(folder / "phone.labels.png")  # upright: 48 wide
    add("phone.jpg", masks=folder / "phone.labels.png")
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", MARKER)
    info.add_itxt("Description", MARKER)
    Image.fromarray(photo(3)).save(folder / "text.png", pnginfo=info, exif=rich_exif())
    add("text.png")
    tifffile.imwrite(
        folder / "tags.tif",
        photo(4),
        photometric="rgb",
        description=MARKER,
        extratags=[(315, "s", 0, MARKER, True)],
    )  # fmt: skip  (315: Artist)
    add("tags.tif")
    Image.fromarray(photo(5)).save(folder / "pretends.jpg", format="PNG")
    add("pretends.jpg")
    Image.fromarray(photo(6)).convert("CMYK").save(folder / "print.jpg")
    add("print.jpg")
    tifffile.imwrite(folder / "deep.tif", photo(7).astype(np.uint16) * 257, photometric="rgb")
    add("deep.tif")
    palette = Image.fromarray(photo(8)).convert("P", palette=Image.Palette.ADAPTIVE)
    palette.save(folder / "palette.png", transparency=0)
    add("palette.png")
    Image.fromarray(photo(9)[..., 0]).save(folder / "gray.png")
    add("gray.png")
    Image.fromarray(photo(10)).save(folder / "nobody.png")
    Image.fromarray(np.zeros(SHAPE, np.uint8)).save(folder / "nobody.labels.png")
    add("nobody.png", masks=folder / "nobody.labels.png")
    return cases
