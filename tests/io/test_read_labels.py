"""Reading label images made by other tools: 2-D integers in range, or a clear error."""

import importlib.util
import os
import struct
import time
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_fuzzy_people.io.labels import MAX_LABEL, read_labels
from napari_fuzzy_people.io.read import ENV_MAX_BYTES
from reading import read_untouched, refused_by

RNG = np.random.default_rng(11)
LABELS = RNG.integers(0, 4, (5, 7), dtype=np.uint8)


def read(path, **kwargs) -> np.ndarray:
    return read_untouched(read_labels, path, **kwargs)


def refused(path, *phrases, **kwargs) -> str:
    return refused_by(read_labels, path, *phrases, **kwargs)


def tiff(path, array, **options):
    tifffile.imwrite(path, array, **options)
    return path


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(path, ihdr: bytes, raw_rows: bytes):
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw_rows))
        + chunk(b"IEND", b"")
    )
    return path


# -- what is read -------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64])
@pytest.mark.parametrize("dtype_signed", [False, True])
def test_tiff_integers(tmp_path, dtype, dtype_signed):
    if dtype_signed:
        dtype = np.dtype(dtype).str.replace("u", "i")
    labels = read(tiff(tmp_path / "l.tif", LABELS.astype(dtype)))
    assert labels.dtype == np.uint8 and labels.shape == (5, 7)
    np.testing.assert_array_equal(labels, LABELS)
    assert labels.flags.writeable and labels.flags.c_contiguous


def test_uint32_tiff_with_labels_up_to_max_label_becomes_uint16(tmp_path):
    big = LABELS.astype(np.uint32) * 21845  # up to 65535
    labels = read(tiff(tmp_path / "l.tif", big))
    assert labels.dtype == np.uint16 and labels.max() == MAX_LABEL
    np.testing.assert_array_equal(labels, big)


def test_tiff_of_shape_m_n_1(tmp_path):
    path = tiff(tmp_path / "l.tif", LABELS[..., None], photometric="minisblack")
    np.testing.assert_array_equal(read(path), LABELS)


def test_bool_tiff_becomes_0_1(tmp_path):
    labels = read(tiff(tmp_path / "b.tif", LABELS > 1))
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, (LABELS > 1).astype(np.uint8))


def test_compressed_tiff(tmp_path):
    path = tiff(tmp_path / "z.tif", LABELS.astype(np.uint16) * 300, compression="zlib")
    np.testing.assert_array_equal(read(path), LABELS.astype(np.uint16) * 300)


@pytest.mark.parametrize("array", [LABELS, LABELS.astype(np.uint16) * 1000], ids=["L", "I;16"])
def test_gray_png(tmp_path, array):
    Image.fromarray(array).save(tmp_path / "l.png")
    labels = read(tmp_path / "l.png")
    assert labels.dtype == (np.uint8 if array.max() <= 255 else np.uint16)
    np.testing.assert_array_equal(labels, array)


def test_palette_png_indices_are_the_labels(tmp_path):
    image = Image.frombytes("P", (7, 5), LABELS.tobytes())
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])  # colours are irrelevant
    image.save(tmp_path / "p.png")
    np.testing.assert_array_equal(read(tmp_path / "p.png"), LABELS)


def test_one_bit_png(tmp_path):
    Image.fromarray(LABELS > 1).save(tmp_path / "b.png")
    labels = read(tmp_path / "b.png")
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, (LABELS > 1).astype(np.uint8))


def test_two_bit_gray_png_is_not_scaled(tmp_path):
    Image.fromarray(LABELS * 85).save(tmp_path / "g.png", bits=2)  # stored as 0..3
    np.testing.assert_array_equal(read(tmp_path / "g.png"), LABELS)


def test_exif_orientation_is_not_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(LABELS).save(tmp_path / "o.png", exif=exif)
    np.testing.assert_array_equal(read(tmp_path / "o.png", shape=(5, 7)), LABELS)


def test_content_not_suffix_decides(tmp_path):
    path = tiff(tmp_path / "masks.png", LABELS)
    np.testing.assert_array_equal(read(path), LABELS)


# -- what is refused ----------------------------------------------------------


def test_shape_must_match_the_upright_photo(tmp_path):
    path = tiff(tmp_path / "l.tif", LABELS)
    assert read(path, shape=(5, 7)).shape == (5, 7)
    assert read(path, shape=np.zeros((5, 7, 3)).shape[:2]).shape == (5, 7)
    refused(
        path,
        "masks are 7x5 but the photo is 5x7 (upright, after its EXIF orientation)",
        shape=(7, 5),
    )


@pytest.mark.parametrize("shape", [(5,), (5, 7, 3), "57", (5.0, 7.0), 5])
def test_bad_shape_argument(tmp_path, shape):
    with pytest.raises(ValueError, match="shape"):
        read_labels(tiff(tmp_path / "l.tif", LABELS), shape=shape)


def test_negative_labels(tmp_path):
    path = tiff(tmp_path / "n.tif", np.where(LABELS == 2, -3, LABELS.astype(np.int16)))
    refused(
        path,
        "label image holds negative labels (min -3); "
        "labels are 0 for background and 1..65535 for people",
    )


@pytest.mark.parametrize("dtype", [np.int32, np.uint32])
def test_huge_label_is_refused_quickly_without_allocating_per_label(tmp_path, dtype):
    path = tiff(tmp_path / "h.tif", np.where(LABELS == 2, 2_000_000_000, LABELS.astype(dtype)))
    start = time.perf_counter()
    refused(path, "largest label is 2000000000; labels must be 0..65535")
    assert time.perf_counter() - start < 1


def test_jpeg_is_refused_as_lossy(tmp_path):
    Image.fromarray(LABELS * 60).save(tmp_path / "l.jpg")
    refused(tmp_path / "l.jpg", "JPEG is lossy: save label images as PNG or TIFF")


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "LA"])
def test_colour_png_is_refused(tmp_path, mode):
    Image.new(mode, (7, 5)).save(tmp_path / "c.png")
    refused(tmp_path / "c.png", "a label image is 2-D integers, got a PNG of mode", repr(mode))


def test_rgb_tiff_is_refused(tmp_path):
    path = tiff(tmp_path / "c.tif", np.zeros((5, 7, 3), np.uint8), photometric="rgb")
    refused(path, "a label image is 2-D integers, got (5, 7, 3) uint8")


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64])
def test_float_tiff_is_refused(tmp_path, dtype):
    refused(tiff(tmp_path / "f.tif", np.zeros((5, 7), dtype)), "2-D integers, got (5, 7)", "float")


def test_multi_page_tiff_is_refused(tmp_path):
    path = tiff(tmp_path / "m.tif", np.zeros((4, 5, 7), np.uint8), photometric="minisblack")
    refused(path, "a label image is 2-D integers, got a TIFF of 4 pages")


def test_volume_in_one_tiff_page_is_refused(tmp_path):
    stack = np.zeros((2, 16, 16), np.uint8)
    path = tiff(tmp_path / "v.tif", stack, volumetric=True, tile=(16, 16))
    refused(path, "a label image is 2-D integers, got (2, 16, 16) uint8")


def test_animated_png_is_refused(tmp_path):
    Image.fromarray(LABELS).save(
        tmp_path / "a.png", save_all=True, append_images=[Image.fromarray(LABELS + 1)]
    )
    refused(tmp_path / "a.png", "2-D integers, got an animated PNG of 2 frames")


def test_other_formats_and_non_images(tmp_path):
    Image.fromarray(LABELS).save(tmp_path / "l.gif")
    refused(tmp_path / "l.gif", "GIF images are not supported; use PNG or TIFF for label images")
    (tmp_path / "l.txt").write_text("1,2,3\n")
    refused(tmp_path / "l.txt", "not an image (it looks like a text file)")
    (tmp_path / "e.png").write_bytes(b"")
    refused(tmp_path / "e.png", "empty")
    refused(tmp_path / "missing.png", "not found")
    refused(tmp_path, "is a directory")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_pipe_is_not_read(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    refused(tmp_path / "pipe", "not a regular file")


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_truncated(tmp_path, suffix):
    big = RNG.integers(0, 65536, (64, 64), dtype=np.uint16)
    if suffix == ".png":
        Image.fromarray(big).save(tmp_path / "a.png")
    else:
        tiff(tmp_path / "a.tif", big)
    data = (tmp_path / f"a{suffix}").read_bytes()
    (tmp_path / f"t{suffix}").write_bytes(data[: len(data) * 2 // 3])
    refused(tmp_path / f"t{suffix}", "damaged or truncated")


# -- the byte limit -----------------------------------------------------------


def test_a_mask_that_is_a_decompression_bomb_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_MAX_BYTES, raising=False)
    # 16-bit gray, 20000 x 20000 = 763 MiB decoded, from a file of a few hundred bytes.
    path = png(tmp_path / "bomb.png", struct.pack(">IIBBBBB", 20000, 20000, 16, 0, 0, 0, 0), b"")
    refused(
        path,
        "image is 20000 x 20000 with 1 channel of 16 bits, 762.9 MiB decoded",
        "limit of 512 MiB",
        "read_labels(..., max_bytes=...)",
        ENV_MAX_BYTES,
    )


def test_a_tiff_bomb_is_refused_before_decoding(tmp_path, monkeypatch):
    path = tiff(tmp_path / "t.tif", np.zeros((5, 7), np.int64))  # 280 bytes decoded

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded")

    monkeypatch.setattr(tifffile.TiffPage, "asarray", no_decoding)
    refused(path, "7 x 5 with 1 channel of 64 bits, 280 bytes decoded", max_bytes=279)


def test_limit_parameter_and_environment(tmp_path, monkeypatch):
    path = tiff(tmp_path / "l.tif", LABELS.astype(np.uint16))  # 70 bytes
    refused(path, "limit of 69 bytes", max_bytes=69)
    assert read(path, max_bytes=70).shape == (5, 7)
    monkeypatch.setenv(ENV_MAX_BYTES, "69")
    refused(path, "limit of 69 bytes", ENV_MAX_BYTES)
    monkeypatch.setenv(ENV_MAX_BYTES, "nope")
    refused(path, ENV_MAX_BYTES, "not a positive whole number of bytes")
    with pytest.raises(ValueError, match="max_bytes"):
        read_labels(path, max_bytes=0)


@pytest.mark.skipif(importlib.util.find_spec("imagecodecs") is not None, reason="can decode")
def test_tiff_needing_imagecodecs(tmp_path):
    path = tiff(tmp_path / "l.tif", LABELS)
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages.first.tags[259].valueoffset
    data[offset : offset + 2] = struct.pack("<H", 5)  # claim LZW
    (tmp_path / "lzw.tif").write_bytes(bytes(data))
    refused(tmp_path / "lzw.tif", "label TIFF compressed with LZW", "imagecodecs")
