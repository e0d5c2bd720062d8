"""Reading photos: every mode to the right array, upright, or a clear error."""

import hashlib
import importlib.util
import os
import struct

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageFile
from read_helpers import (
    GRAY,
    GRAY16,
    RGB,
    RGB16,
    RGBA,
    RGBA16,
    RNG,
    SRGB,
    UPRIGHT,
    cmyk_profile,
    exif,
    png16,
    read,
    refused,
    rgb_lut_profile,
    save,
)

from napari_fuzzy_people.io.icc import clean_profile
from napari_fuzzy_people.io.read import (
    ImageReadError,
    sniff_format,
)

# -- modes --------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("array", [GRAY, RGB, RGBA, GRAY16], ids=["L", "RGB", "RGBA", "I;16"])
def test_lossless_modes_round_trip(tmp_path, suffix, array):
    photo = read(save(tmp_path / f"a{suffix}", array))
    assert photo.pixels.dtype == array.dtype
    np.testing.assert_array_equal(photo.pixels, array)
    assert photo.pixels.flags.writeable and photo.pixels.flags.c_contiguous
    assert photo.format == ("PNG" if suffix == ".png" else "TIFF")
    assert photo.jpeg is None and photo.orientation == 1 and photo.icc_profile is None


def test_palette_becomes_rgb_or_rgba_with_transparency(tmp_path):
    palette = RNG.integers(0, 256, (256, 3), dtype=np.uint8)
    image = Image.frombytes("P", (7, 5), GRAY.tobytes())
    image.putpalette(palette.ravel().tolist())
    image.save(tmp_path / "p.png")
    photo = read(tmp_path / "p.png")
    assert photo.mode == "P"
    np.testing.assert_array_equal(photo.pixels, palette[GRAY])

    image.save(tmp_path / "pt.png", transparency=int(GRAY[0, 0]))
    photo = read(tmp_path / "pt.png")
    assert photo.pixels.shape == (5, 7, 4)
    np.testing.assert_array_equal(photo.pixels[..., :3], palette[GRAY])
    np.testing.assert_array_equal(photo.pixels[..., 3], np.where(GRAY == GRAY[0, 0], 0, 255))


def test_gray_alpha_becomes_rgba_with_gray_copied(tmp_path):
    la = np.stack([GRAY, RGB[..., 0]], axis=-1)
    photo = read(save(tmp_path / "la.png", la))
    assert photo.mode == "LA" and photo.pixels.dtype == np.uint8
    np.testing.assert_array_equal(photo.pixels, np.stack([GRAY, GRAY, GRAY, la[..., 1]], -1))


def test_transparent_colour_key_becomes_alpha(tmp_path):
    photo = read(save(tmp_path / "l.png", GRAY, transparency=int(GRAY[0, 0])))
    np.testing.assert_array_equal(photo.pixels[..., 3], np.where(GRAY == GRAY[0, 0], 0, 255))
    key = tuple(int(v) for v in RGB[1, 1])
    photo = read(save(tmp_path / "rgb.png", RGB, transparency=key))
    np.testing.assert_array_equal(photo.pixels[..., :3], RGB)
    assert photo.pixels[1, 1, 3] == 0


def test_bilevel_becomes_gray(tmp_path):
    Image.fromarray(GRAY > 127).save(tmp_path / "bw.png")
    photo = read(tmp_path / "bw.png")
    assert photo.mode == "1" and photo.pixels.dtype == np.uint8
    np.testing.assert_array_equal(photo.pixels, np.where(GRAY > 127, 255, 0))


@pytest.mark.parametrize("suffix", [".tif", ".jpg"])
def test_cmyk_becomes_rgb(tmp_path, suffix):
    save(tmp_path / f"c{suffix}", RGBA, "CMYK", quality=100)
    photo = read(tmp_path / f"c{suffix}")
    assert photo.mode == "CMYK" and photo.pixels.shape == (5, 7, 3)
    expected = np.asarray(Image.open(tmp_path / f"c{suffix}").convert("RGB"))
    np.testing.assert_array_equal(photo.pixels, expected)


@pytest.mark.parametrize("suffix", [".tif", ".jpg"])
def test_cmyk_with_profile_is_colour_managed_to_srgb(tmp_path, suffix):
    cyan = np.array([[[255, 0, 0, 0]]], np.uint8)
    save(tmp_path / f"c{suffix}", cyan, "CMYK", icc_profile=cmyk_profile(), quality=100)
    photo = read(tmp_path / f"c{suffix}")
    r, g, b = photo.pixels[0, 0].astype(int)
    assert max(r, g, b) - min(r, g, b) < 8 and 60 < r < 230  # the profile's gray, not cyan
    assert photo.icc_profile[16:20] == b"RGB "
    assert photo.icc_profile == clean_profile(SRGB, "RGB")  # sRGB, rebuilt clean


def test_cmyk_with_broken_profile_falls_back_to_plain_formula(tmp_path):
    broken = cmyk_profile()[:200]
    save(tmp_path / "c.tif", np.array([[[255, 0, 0, 0]]], np.uint8), "CMYK", icc_profile=broken)
    photo = read(tmp_path / "c.tif")
    np.testing.assert_array_equal(photo.pixels, [[[0, 255, 255]]])
    assert photo.icc_profile is None


@pytest.mark.parametrize("array", [RGB16, RGBA16], ids=["RGB", "RGBA"])
@pytest.mark.parametrize(
    "options",
    [{}, {"compression": "zlib"}, {"planarconfig": "separate"}, {"byteorder": ">"}],
    ids=["raw", "deflate", "planar", "big-endian"],
)
def test_16bit_colour_tiff_keeps_16_bits(tmp_path, array, options):
    extra = {"extrasamples": ["unassalpha"]} if array.shape[2] == 4 else {}
    stored = np.moveaxis(array, -1, 0) if options.get("planarconfig") else array
    tifffile.imwrite(tmp_path / "a.tif", stored, photometric="rgb", **extra, **options)
    photo = read(tmp_path / "a.tif")
    assert photo.pixels.dtype == np.uint16 and photo.format == "TIFF"
    np.testing.assert_array_equal(photo.pixels, array)


@pytest.mark.parametrize("array", [RGB16, RGBA16], ids=["RGB", "RGBA"])
def test_16bit_colour_png_keeps_16_bits(tmp_path, array):
    photo = read(png16(tmp_path / "a.png", array))
    assert photo.pixels.dtype == np.uint16 and photo.format == "PNG"
    np.testing.assert_array_equal(photo.pixels, array)


@pytest.mark.parametrize("orientation", [1, 6, 7])
def test_16bit_gray_alpha_png_becomes_16bit_rgba(tmp_path, orientation):
    la = RGBA16[..., :2]
    photo = read(png16(tmp_path / "la.png", la, exif_bytes=exif(orientation).tobytes()[6:]))
    g, a = la[..., 0], la[..., 1]
    assert photo.orientation == orientation and photo.pixels.flags.c_contiguous
    np.testing.assert_array_equal(photo.pixels, UPRIGHT[orientation](np.stack([g, g, g, a], -1)))


def test_primary_picture_of_multi_picture_jpeg(tmp_path):
    Image.fromarray(RGB).save(
        tmp_path / "m.jpg", "MPO", save_all=True, append_images=[Image.new("RGB", (7, 5))]
    )
    photo = read(tmp_path / "m.jpg")
    assert photo.format == "JPEG" and photo.jpeg is not None
    plain = read(save(tmp_path / "plain.jpg", RGB))  # the same encoding, alone
    np.testing.assert_array_equal(photo.pixels, plain.pixels)


# -- orientation --------------------------------------------------------------

ASYMMETRIC = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3) * 3


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path, orientation):
    save(tmp_path / "o.png", ASYMMETRIC, exif=exif(orientation))
    photo = read(tmp_path / "o.png")
    assert photo.orientation == orientation
    np.testing.assert_array_equal(photo.pixels, UPRIGHT[orientation](ASYMMETRIC))


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_orientation_in_jpeg_and_tiff(tmp_path, orientation):
    blocks = np.kron(RNG.integers(0, 256, (2, 3, 3)), np.ones((8, 8, 1))).astype(np.uint8)
    save(tmp_path / "o.jpg", blocks, exif=exif(orientation), quality=100, subsampling=0)
    photo = read(tmp_path / "o.jpg")
    assert photo.orientation == orientation
    assert abs(photo.pixels.astype(int) - UPRIGHT[orientation](blocks)).max() < 8

    save(tmp_path / "o.tif", ASYMMETRIC, exif=exif(orientation))
    photo = read(tmp_path / "o.tif")
    np.testing.assert_array_equal(photo.pixels, UPRIGHT[orientation](ASYMMETRIC))


@pytest.mark.parametrize("orientation", [2, 5, 6, 7, 8])
def test_orientation_of_16bit_colour(tmp_path, orientation):
    tifffile.imwrite(
        tmp_path / "o.tif", RGB16, photometric="rgb", extratags=[(274, "H", 1, orientation)]
    )
    photo = read(tmp_path / "o.tif")
    assert photo.orientation == orientation
    np.testing.assert_array_equal(photo.pixels, UPRIGHT[orientation](RGB16))

    png16(tmp_path / "o.png", RGB16, exif_bytes=exif(orientation).tobytes()[6:])
    photo = read(tmp_path / "o.png")
    assert photo.orientation == orientation
    np.testing.assert_array_equal(photo.pixels, UPRIGHT[orientation](RGB16))


# -- what export needs --------------------------------------------------------


@pytest.mark.parametrize(("subsampling", "expected"), [(0, 0), (1, 1), (2, 2)])
def test_jpeg_settings(tmp_path, subsampling, expected):
    save(tmp_path / "a.jpg", RGB, quality=83, subsampling=subsampling)
    photo = read(tmp_path / "a.jpg")
    assert photo.jpeg["subsampling"] == expected
    qtables = photo.jpeg["qtables"]
    assert sorted(qtables) == [0, 1] and all(len(t) == 64 for t in qtables.values())
    # They re-encode to the same tables.
    save(tmp_path / "b.jpg", RGB, qtables=qtables, subsampling=photo.jpeg["subsampling"])
    assert read(tmp_path / "b.jpg").jpeg == photo.jpeg


def test_gray_jpeg_settings(tmp_path):
    photo = read(save(tmp_path / "g.jpg", GRAY))
    assert photo.pixels.shape == (5, 7) and photo.mode == "L"
    assert list(photo.jpeg["qtables"]) == [0] and photo.jpeg["subsampling"] == -1


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_sha256_and_path(tmp_path, suffix):
    path = save(tmp_path / f"a{suffix}", RGB)
    photo = read(path)
    assert photo.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert photo.path == path.resolve()


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_icc_profile_is_returned_rebuilt_from_its_colour_tags(tmp_path, suffix):
    photo = read(save(tmp_path / f"a{suffix}", RGB, icc_profile=SRGB))
    assert photo.icc_profile == clean_profile(SRGB, "RGB")
    if suffix != ".jpg":
        np.testing.assert_array_equal(photo.pixels, RGB)  # the colours are untouched


def test_a_marker_planted_in_the_profile_does_not_survive_reading(tmp_path):
    marker = b"SECRET-MARKER"
    planted = bytearray(SRGB)
    planted[48:52] = marker[:4]  # the header's device maker
    planted += marker * 100  # after the declared end
    photo = read(save(tmp_path / "a.png", RGB, icc_profile=bytes(planted)))
    assert photo.icc_profile == clean_profile(SRGB, "RGB")
    assert marker[:4] not in photo.icc_profile


def test_a_lookup_table_profile_converts_8_bit_colour_to_srgb(tmp_path):
    red = np.zeros((4, 6, 3), np.uint8)
    red[..., 0] = 255
    photo = read(save(tmp_path / "a.png", red, icc_profile=rgb_lut_profile()))
    r, g, b = photo.pixels[0, 0].astype(int)
    assert max(r, g, b) - min(r, g, b) < 8  # the profile's gray: its colour was kept
    assert photo.icc_profile == clean_profile(SRGB, "RGB")
    # 16 bits: Pillow cannot convert them; the pixels stay, the profile goes.
    deep = np.full((4, 6, 3), 40000, np.uint16)
    sixteen = tmp_path / "b.tif"
    tifffile.imwrite(sixteen, deep, photometric="rgb", iccprofile=rgb_lut_profile())
    np.testing.assert_array_equal(read(sixteen).pixels, deep)
    assert read(sixteen).icc_profile is None


def test_icc_profile_that_does_not_fit_the_pixels_is_dropped(tmp_path):
    # An RGB profile cannot describe gray pixels; export would refuse it.
    assert read(save(tmp_path / "g.png", GRAY, icc_profile=SRGB)).icc_profile is None
    assert read(save(tmp_path / "n.png", RGB, icc_profile=b"not a profile")).icc_profile is None


# -- errors -------------------------------------------------------------------


def test_missing_file(tmp_path):
    refused(tmp_path / "nope.jpg", "not found")


def test_directory(tmp_path):
    refused(tmp_path, "is a directory")


def test_permission_denied(tmp_path, monkeypatch):
    path = save(tmp_path / "a.png", RGB)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    refused(path, "permission denied")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads all")
def test_unreadable_file(tmp_path):
    path = save(tmp_path / "a.png", RGB)
    path.chmod(0)
    try:
        refused(path, "permission denied")
    finally:
        path.chmod(0o644)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_pipe_is_not_read(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    refused(tmp_path / "pipe", "not a regular file")


def test_empty_file(tmp_path):
    (tmp_path / "e.jpg").write_bytes(b"")
    refused(tmp_path / "e.jpg", "empty")


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif"])
def test_truncated(tmp_path, suffix):
    data = save(tmp_path / f"a{suffix}", RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = data.read_bytes()
    (tmp_path / f"t{suffix}").write_bytes(data[: len(data) * 2 // 3])
    refused(tmp_path / f"t{suffix}", "damaged or truncated")


def test_truncated_16bit_colour_tiff(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", RGB16, photometric="rgb")
    data = (tmp_path / "a.tif").read_bytes()
    (tmp_path / "t.tif").write_bytes(data[:-20])
    refused(tmp_path / "t.tif", "damaged or truncated")


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif"])
def test_truncated_even_if_pillow_was_told_to_accept_it(tmp_path, monkeypatch, suffix):
    data = save(tmp_path / f"a{suffix}", RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = data.read_bytes()
    (tmp_path / f"t{suffix}").write_bytes(data[: len(data) * 2 // 3])  # cut in the pixels
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    refused(tmp_path / f"t{suffix}", "damaged or truncated")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the other package's choice is restored


def test_corrupt(tmp_path):
    (tmp_path / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    refused(tmp_path / "c.png", "damaged or truncated", "PNG")


def test_text_file(tmp_path):
    (tmp_path / "notes.jpg").write_text("Shopping list: ëggs, milk\n")
    refused(tmp_path / "notes.jpg", "not an image", "JPEG, PNG or TIFF")


def test_unknown_binary(tmp_path):
    (tmp_path / "x.png").write_bytes(bytes(range(256)))
    refused(tmp_path / "x.png", "not an image", "JPEG, PNG or TIFF")


@pytest.mark.parametrize(("fmt", "name"), [("GIF", "GIF"), ("WEBP", "WebP"), ("BMP", "BMP")])
def test_other_formats(tmp_path, fmt, name):
    path = tmp_path / "a.img"
    Image.fromarray(RGB).save(path, format=fmt)
    refused(path, f"{name} images are not supported", "JPEG, PNG or TIFF")


def test_multi_page_tiff(tmp_path):
    Image.fromarray(RGB).save(
        tmp_path / "m.tif", save_all=True, append_images=[Image.new("RGB", (7, 5))]
    )
    refused(tmp_path / "m.tif", "2 frames")


def test_animated_png(tmp_path):
    Image.fromarray(RGB).save(
        tmp_path / "a.png", save_all=True, append_images=[Image.new("RGB", (7, 5))]
    )
    refused(tmp_path / "a.png", "2 frames", "animated")


def test_float_tiff_written_by_pillow(tmp_path):
    Image.fromarray(np.zeros((5, 7), np.float32)).save(tmp_path / "f.tif")
    refused(tmp_path / "f.tif", "TIFF float (32-bit) pixels are not supported")


@pytest.mark.parametrize(
    ("dtype", "channels", "kind"),
    [
        (np.float32, 3, "float (32-bit)"),  # Pillow cannot even open it
        (np.float32, 1, "float (32-bit)"),
        (np.float64, 1, "float (64-bit)"),
        (np.float16, 1, "float (16-bit)"),
        (np.int32, 1, "signed integer (32-bit)"),
        (np.uint32, 1, "TIFF integer (32-bit)"),
        (np.uint32, 3, "TIFF integer (32-bit)"),
        (np.int16, 1, "signed integer (16-bit)"),
        (np.int16, 3, "signed integer (16-bit)"),
        (np.int8, 1, "signed integer (8-bit)"),  # Pillow would read it as unsigned
        (np.uint64, 1, "TIFF integer (64-bit)"),
        (np.complex64, 1, "complex float (64-bit)"),
    ],
)
def test_unsupported_tiff_pixel_types_are_named_not_called_damaged(
    tmp_path, dtype, channels, kind
):
    shape = (8, 8, 3) if channels == 3 else (8, 8)
    options = {"photometric": "rgb"} if channels == 3 else {}
    tifffile.imwrite(tmp_path / "x.tif", np.zeros(shape, dtype), **options)
    message = refused(
        tmp_path / "x.tif", f"{kind} pixels are not supported", "photos must be 8- or 16-bit"
    )
    assert "damaged" not in message


def test_tiff_layout_pillow_lacks_is_not_called_damaged(tmp_path):
    # Gray plus an unnamed extra sample, 16 bits: valid TIFF, no Pillow mode for it.
    two = np.zeros((8, 8, 2), np.uint16)
    tifffile.imwrite(tmp_path / "x.tif", two, photometric="minisblack", planarconfig="contig")
    message = refused(tmp_path / "x.tif", "TIFF pixel layout is not supported", "2 samples")
    assert "damaged" not in message


@pytest.mark.skipif(importlib.util.find_spec("imagecodecs") is not None, reason="can decode")
def test_16bit_colour_tiff_needing_imagecodecs(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", RGB16, photometric="rgb")
    data = bytearray((tmp_path / "a.tif").read_bytes())
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        offset = tif.pages.first.tags[259].valueoffset
    data[offset : offset + 2] = struct.pack("<H", 5)  # claim LZW
    (tmp_path / "lzw.tif").write_bytes(bytes(data))
    refused(tmp_path / "lzw.tif", "LZW", "imagecodecs")


# -- sniffing only ------------------------------------------------------------


@pytest.mark.parametrize(("suffix", "fmt"), [(".jpg", "JPEG"), (".png", "PNG"), (".tif", "TIFF")])
def test_sniff_format(tmp_path, suffix, fmt):
    path = save(tmp_path / f"a{suffix}", RGB)
    assert sniff_format(path) == fmt
    path.rename(tmp_path / "misnamed.gif")
    assert sniff_format(tmp_path / "misnamed.gif") == fmt


def test_sniff_format_refuses_as_read_photo_does(tmp_path):
    Image.fromarray(RGB).save(tmp_path / "a.gif")
    with pytest.raises(ImageReadError, match="GIF images are not supported"):
        sniff_format(tmp_path / "a.gif")
    with pytest.raises(ImageReadError, match="not found"):
        sniff_format(tmp_path / "missing.jpg")
    (tmp_path / "e.jpg").write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty"):
        sniff_format(tmp_path / "e.jpg")
