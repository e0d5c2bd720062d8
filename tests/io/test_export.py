import hashlib

import numpy as np
import pytest
from PIL import Image

from napari_fuzzy_people.io import ExportError, export_path, save_image


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def image():
    return np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_lossless_formats_round_trip(tmp_path, image, suffix):
    path = save_image(image, tmp_path / f"out{suffix}")
    np.testing.assert_array_equal(np.asarray(Image.open(path)), image)
    assert [p.name for p in tmp_path.iterdir()] == [f"out{suffix}"]  # no temporary left


def test_never_writes_over_an_input(tmp_path, image):
    original = tmp_path / "photo.png"
    Image.fromarray(image).save(original)
    before = digest(original)
    with pytest.raises(ExportError, match="refusing to write over the input"):
        save_image(image[::-1], tmp_path / "." / "photo.png", inputs=[original], overwrite=True)
    assert digest(original) == before


def test_existing_outputs_need_permission(tmp_path, image):
    path = save_image(image, tmp_path / "out.png")
    with pytest.raises(ExportError, match="already exists"):
        save_image(image[::-1], path)
    save_image(image[::-1], path, overwrite=True)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), image[::-1])


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch, image):
    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_image(image, tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


def test_unsupported_format(tmp_path, image):
    with pytest.raises(ExportError, match=r"unsupported format '\.gif'"):
        save_image(image, tmp_path / "out.gif")


def test_export_names():
    assert export_path("/o", "x", "/in/x.tiff").name == "x_fuzzy.tiff"
    assert export_path("/o", "layer name", "/in/raw.cr2").name == "raw_fuzzy.png"
