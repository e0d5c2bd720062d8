"""Exports carry the pixels and nothing else, and never leave half a file."""

import errno
import os
import shutil
import stat

import numpy as np
import pytest
import tifffile
from export_helpers import digest, exiftool, leftovers
from PIL import Image, JpegImagePlugin, PngImagePlugin

from napari_fuzzy_people.io import ExportError, export_path, save_image
from napari_fuzzy_people.io import check as check_module
from napari_fuzzy_people.io import export as export_module
from napari_fuzzy_people.io.export import check_clean
from napari_fuzzy_people.io.icc import clean_profile

# -- the basics ---------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_lossless_formats_round_trip(tmp_path, image, suffix):
    path = save_image(image, tmp_path / f"out{suffix}")
    np.testing.assert_array_equal(np.asarray(Image.open(path)), image)
    assert [p.name for p in tmp_path.iterdir()] == [f"out{suffix}"]  # no temporary left


@pytest.mark.parametrize(
    ("suffix", "channels"),
    [(s, c) for s in (".png", ".tif", ".jpg") for c in (0, 3, 4) if (s, c) != (".jpg", 4)],
)
def test_uint8_layouts_are_written_clean(tmp_path, suffix, channels):
    shape = (24, 32) + ((channels,) if channels else ())
    pixels = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    path = save_image(pixels, tmp_path / f"out{suffix}")
    check_clean(path)
    back = tifffile.imread(path) if suffix == ".tif" else np.asarray(Image.open(path))
    assert back.shape == pixels.shape
    if suffix != ".jpg":
        np.testing.assert_array_equal(back, pixels)


def test_large_photos_are_not_mistaken_for_bombs(tmp_path, monkeypatch, image):
    # Pillow's limit guards against untrusted input, not against our own file.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    for suffix in (".jpg", ".png", ".tif"):
        save_image(image, tmp_path / f"out{suffix}")


def test_never_writes_over_an_input(tmp_path, image):
    original = tmp_path / "photo.png"
    Image.fromarray(image).save(original)
    before = digest(original)
    with pytest.raises(ExportError, match="refusing to write over the input"):
        save_image(image[::-1], tmp_path / "." / "photo.png", inputs=[original], overwrite=True)
    (tmp_path / "link.png").symlink_to(original)
    with pytest.raises(ExportError, match="is a symbolic link"):
        save_image(image[::-1], tmp_path / "link.png", inputs=[original], overwrite=True)
    with pytest.raises(ExportError, match="refusing to write over the input"):
        save_image(image[::-1], original, inputs=str(original), overwrite=True)
    assert digest(original) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.png", "photo.png"]


def test_existing_outputs_need_permission(tmp_path, image):
    path = save_image(image, tmp_path / "out.png")
    with pytest.raises(ExportError, match="already exists"):
        save_image(image[::-1], path)
    save_image(image[::-1], path, overwrite=True)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), image[::-1])


def test_unsupported_format(tmp_path, image):
    with pytest.raises(ExportError, match=r"unsupported format '\.gif'"):
        save_image(image, tmp_path / "out.gif")


def test_export_names():
    assert export_path("/o", "x", "/in/x.tiff").name == "x_fuzzy.tiff"
    assert export_path("/o", "x", "/in/x.JPEG").name == "x_fuzzy.jpeg"
    assert export_path("/o", "x", "/in/x.png").name == "x_fuzzy.png"
    assert export_path("/o", "layer name", "/in/raw.cr2").name == "raw_fuzzy.png"
    assert export_path("/o", "x", "/in/x.jpg", force_png=True).name == "x_fuzzy.png"
    assert export_path("/o", "x", "/in/x.tif", force_png=True).name == "x_fuzzy.png"
    # A layer name is not a path: it cannot lead out of the folder.
    assert export_path("/o", "../../etc/x").parent.as_posix() == "/o"
    assert export_path("/o", "..").name == "image_fuzzy.png"


# -- refusals -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("pixels", "suffix", "message"),
    [
        (np.zeros((8, 8, 4), np.uint8), ".jpg", "JPEG has no transparency.*export as PNG"),
        (np.zeros((8, 8, 3), np.uint16), ".jpg", "JPEG is 8-bit only"),
        (np.zeros((8, 8), np.uint16), ".jpeg", "JPEG is 8-bit only"),
        (np.zeros((8, 8, 3), np.float32), ".png", "cannot write float pixels"),
        (np.zeros((8, 8), np.float64), ".tif", "cannot write float pixels"),
        (np.zeros((8, 8), np.int32), ".png", "cannot write int32 pixels"),
        (np.zeros((8, 8), bool), ".png", "cannot write bool pixels"),
        (np.zeros((8, 8, 2), np.uint8), ".png", r"shape \(8, 8, 2\)"),
        (np.zeros((2, 8, 8, 3), np.uint8), ".tif", r"shape \(2, 8, 8, 3\)"),
        (np.zeros((0, 8), np.uint8), ".png", r"shape \(0, 8\)"),
    ],
)
def test_refusals(tmp_path, pixels, suffix, message):
    with pytest.raises(ExportError, match=message):
        save_image(pixels, tmp_path / f"out{suffix}")
    assert list(tmp_path.iterdir()) == []


def test_refuses_what_is_not_a_fitting_icc_profile(tmp_path, image, srgb):
    with pytest.raises(ExportError, match="ICC profile refused"):
        save_image(image, tmp_path / "out.png", icc_profile=b"Exif\0\0" + bytes(200))
    with pytest.raises(ExportError, match="does not describe GRAY"):
        save_image(image[..., 0], tmp_path / "out.png", icc_profile=srgb)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "settings",
    [
        {"qtables": [[1] * 63], "subsampling": 0},
        {"qtables": [[0] * 64], "subsampling": 0},
        {"qtables": [[1.5] * 64], "subsampling": 0},
        {"qtables": [[2] * 64] * 5, "subsampling": 0},
        {"qtables": [[2] * 64], "subsampling": "4:1:1"},
        "quality=100",
    ],
)
def test_refuses_bad_jpeg_settings(tmp_path, image, settings):
    with pytest.raises(ExportError, match=r"(?i)jpeg"):
        save_image(image, tmp_path / "out.jpg", jpeg=settings)
    assert list(tmp_path.iterdir()) == []


# -- 16 bits ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "suffix"),
    [((20, 30), ".png"), ((20, 30), ".tif"), ((20, 30, 3), ".tif"), ((20, 30, 4), ".tiff")],
)
def test_16_bit_round_trips(tmp_path, shape, suffix):
    pixels = np.random.default_rng(2).integers(0, 65536, shape, dtype=np.uint16)
    pixels.flat[:2] = [0, 65535]
    path = save_image(pixels.astype(">u2"), tmp_path / f"out{suffix}")  # any byte order
    check_clean(path)
    if suffix == ".png":
        assert path.read_bytes()[24] == 16  # IHDR bit depth: truly 16-bit, not scaled
        back = np.asarray(Image.open(path))
    else:
        back = tifffile.imread(path)
        assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, pixels)


@pytest.mark.parametrize("channels", [3, 4])
def test_16_bit_colour_png(tmp_path, srgb, channels):
    # Pillow cannot write these; export writes them itself, so check with libpng.
    cv2 = pytest.importorskip("cv2", reason="OpenCV (libpng) checks our 16-bit PNG writer")
    pixels = np.random.default_rng(5).integers(0, 65536, (37, 53, channels), dtype=np.uint16)
    pixels[:5] = 40000  # flat rows, as in real photos
    path = save_image(pixels, tmp_path / "out.png", icc_profile=srgb if channels == 3 else None)
    check_clean(path)
    data = path.read_bytes()
    assert data[24:26] == bytes([16, {3: 2, 4: 6}[channels]])  # 16-bit RGB / RGBA
    back = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    back = back[..., [2, 1, 0, 3][:channels]]  # OpenCV's BGR(A)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, pixels)
    with Image.open(path) as im:
        kept = clean_profile(srgb, "RGB") if channels == 3 else None
        assert im.info.get("icc_profile") == kept
        np.testing.assert_array_equal(np.asarray(im), pixels >> 8)  # Pillow: high bytes
    if shutil.which("exiftool"):
        assert leftovers(exiftool(path), ".png", icc=channels == 3) == {}


def test_only_the_colour_of_an_icc_profile_is_kept(tmp_path, image, srgb):
    for suffix in (".jpg", ".png", ".tif"):
        path = save_image(image, tmp_path / f"out{suffix}", icc_profile=srgb)
        check_clean(path)
        if suffix == ".tif":
            with tifffile.TiffFile(path) as tif:
                kept = tif.pages[0].tags[34675].value
        else:
            kept = Image.open(path).info["icc_profile"]
        assert bytes(kept) == clean_profile(srgb, "RGB")


# -- JPEG re-encoding ---------------------------------------------------------


def test_jpeg_reencoding_barely_changes_unedited_areas(tmp_path):
    skdata = pytest.importorskip("skimage.data")
    source = tmp_path / "astronaut.jpg"
    Image.fromarray(skdata.astronaut()).save(source, quality=85, subsampling=2)  # 4:2:0
    before = digest(source)
    with Image.open(source) as im:
        decoded = np.asarray(im)
        settings = {"qtables": im.quantization, "subsampling": JpegImagePlugin.get_sampling(im)}
    edited = decoded.copy()
    edited[200:232, 240:272] = 0
    far = np.ones(decoded.shape[:2], bool)
    far[200 - 48 : 232 + 48, 240 - 48 : 272 + 48] = False  # well past any 16x16 block

    changes = {}
    for name, jpeg in [("same settings", settings), ("quality 95, 4:4:4", None)]:
        out = save_image(edited, tmp_path / f"{name}.jpg", inputs=[source], jpeg=jpeg)
        with Image.open(out) as im:
            back = np.asarray(im).astype(int)
            if jpeg is settings:
                assert im.quantization == settings["qtables"]
                assert JpegImagePlugin.get_sampling(im) == 2
            else:
                assert JpegImagePlugin.get_sampling(im) == 0
        changes[name] = np.abs(back - decoded)[far].mean()
        assert np.abs(back - decoded)[~far].max() > 50  # the edit is there
    print(f"mean |change| far from the edit, grey levels: {changes}")
    # Measured (Pillow 13, libjpeg-turbo): about 0.22 with the input's tables, 0.48 at q95.
    assert changes["same settings"] < 0.5
    assert changes["quality 95, 4:4:4"] < 1.0
    assert digest(source) == before


def test_jpeg_settings_from_a_grayscale_input(tmp_path, image):
    gray = tmp_path / "gray.jpg"
    Image.fromarray(image[..., 0]).save(gray, quality=70)
    with Image.open(gray) as im:
        settings = {"qtables": im.quantization, "subsampling": JpegImagePlugin.get_sampling(im)}
    assert settings["subsampling"] == -1 and len(settings["qtables"]) == 1
    save_image(image[..., 0], tmp_path / "a.jpg", jpeg=settings)
    save_image(image, tmp_path / "b.jpg", jpeg=settings)  # one table serves all channels
    assert Image.open(tmp_path / "a.jpg").quantization == settings["qtables"]


# -- faults: each leaves no file, no temporary, and says which export ---------


def _only(folder, *names):
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch, image):
    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_image(image, tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_encoder_crash_leaves_nothing(tmp_path, monkeypatch, image, suffix):
    def crash(file, *args, **kwargs):
        file.write(b"half a file")
        raise RuntimeError("encoder bug")

    monkeypatch.setattr(Image.Image, "save", lambda self, fp, **kw: crash(fp))
    monkeypatch.setattr(tifffile, "imwrite", crash)
    with pytest.raises(ExportError, match=rf"out\{suffix}: writing failed.*encoder bug"):
        save_image(image, tmp_path / f"out{suffix}")
    _only(tmp_path)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_full_disk_while_writing(tmp_path, monkeypatch, image, suffix):
    def full(file, *args, **kwargs):
        file.write(b"\x89PNG half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", lambda self, fp, **kw: full(fp))
    monkeypatch.setattr(tifffile, "imwrite", full)
    with pytest.raises(OSError, match=rf"out\{suffix}.*No space left") as caught:
        save_image(image, tmp_path / f"out{suffix}")
    assert caught.value.errno == errno.ENOSPC and not isinstance(caught.value, ExportError)
    _only(tmp_path)


def test_full_disk_at_fsync_keeps_the_previous_file(tmp_path, monkeypatch, image):
    previous = save_image(image, tmp_path / "out.jpg")
    before = digest(previous)

    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError, match=r"out\.jpg") as caught:
        save_image(image[::-1], previous, overwrite=True)
    assert caught.value.errno == errno.ENOSPC
    _only(tmp_path, "out.jpg")
    assert digest(previous) == before


def test_read_only_folder(tmp_path, image):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        try:
            (folder / "probe").touch()
        except PermissionError:
            pass
        else:
            (folder / "probe").unlink()
            pytest.skip("running as root: a read-only folder does not stop writes here")
        with pytest.raises(PermissionError, match=r"locked/out\.png"):
            save_image(image, folder / "out.png")
        _only(folder)
    finally:
        folder.chmod(0o700)


def test_unwritable_target_gives_a_real_os_error(tmp_path, image):
    # A folder that is a file: a real OSError even as root.
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(NotADirectoryError, match=r"file/out\.png"):
        save_image(image, tmp_path / "file" / "out.png")
    with pytest.raises(FileNotFoundError, match=r"missing/out\.png"):
        save_image(image, tmp_path / "missing" / "out.png")
    _only(tmp_path, "file")


@pytest.mark.parametrize(
    ("suffix", "sneak"),
    [
        (".jpg", {"comment": "Jane Doe"}),
        (".jpg", {"exif": b"Exif\0\0MM\0*\0\0\0\x08\0\0"}),
        (".png", {"pnginfo": "text"}),
        (".png", {"exif": b"Exif\0\0MM\0*\0\0\0\x08\0\0"}),
    ],
)
def test_an_encoder_that_sneaks_in_metadata_fails_the_export(tmp_path, monkeypatch, sneak, suffix):
    if sneak.get("pnginfo") == "text":
        sneak = {"pnginfo": PngImagePlugin.PngInfo()}
        sneak["pnginfo"].add_text("Author", "Jane Doe")
    real_save = Image.Image.save

    def leaky_save(self, fp, format=None, **options):
        real_save(self, fp, format=format, **{**options, **sneak})

    monkeypatch.setattr(Image.Image, "save", leaky_save)
    pixels = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ExportError, match=rf"out\{suffix}: the written file failed its check"):
        save_image(pixels, tmp_path / f"out{suffix}")
    _only(tmp_path)


def test_other_pixels_read_back_fail_the_export(tmp_path, monkeypatch, image):
    real_imwrite = tifffile.imwrite
    monkeypatch.setattr(tifffile, "imwrite", lambda f, data, **kw: real_imwrite(f, data ^ 1, **kw))
    with pytest.raises(ExportError, match="pixels read back differ"):
        save_image(image, tmp_path / "out.tif")
    _only(tmp_path)


def test_a_crash_in_the_read_back_leaves_nothing(tmp_path, monkeypatch, image):
    def crash(path):
        raise MemoryError  # anything, not only our own checks

    monkeypatch.setattr(check_module, "_check_clean", crash)
    with pytest.raises(ExportError, match="could not be read back"):
        save_image(image, tmp_path / "out.png")
    _only(tmp_path)

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(check_module, "_check_clean", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_image(image, tmp_path / "out.png")
    _only(tmp_path)


def test_a_target_that_appears_meanwhile_is_not_replaced(tmp_path, monkeypatch, image):
    real_verify = export_module.verify_written

    def slow_verify(tmp, fmt, pixels, icc, target):
        target.write_bytes(b"someone else's")
        real_verify(tmp, fmt, pixels, icc, target)

    monkeypatch.setattr(export_module, "verify_written", slow_verify)
    with pytest.raises(ExportError, match="already exists"):
        save_image(image, tmp_path / "out.png")
    assert (tmp_path / "out.png").read_bytes() == b"someone else's"
    _only(tmp_path, "out.png")


def test_the_folder_is_flushed_after_the_rename(tmp_path, monkeypatch, image):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(
        os, "fsync", lambda fd: (synced.append(os.fstat(fd).st_mode), real_fsync(fd))
    )
    save_image(image, tmp_path / "out.png")
    assert [stat.S_ISREG(m) for m in synced] == [True, False]
    assert stat.S_ISDIR(synced[-1]) or os.name != "posix"
