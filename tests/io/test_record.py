"""Export with a record: a shareable export folder, a private review folder, reopening."""

import errno
import json
import os
import stat

import numpy as np
import pytest
from PIL import Image

from napari_fuzzy_people import __version__
from napari_fuzzy_people.core import AnonymizeSettings, ReviewModel, Status
from napari_fuzzy_people.io import encode
from napari_fuzzy_people.io.export import ExportError
from napari_fuzzy_people.io.manifest import MANIFEST_NAME
from napari_fuzzy_people.io.read import read_photo
from napari_fuzzy_people.io.record import (
    default_review_folder,
    export_anonymized,
    load_review,
    sha256_file,
)

DEFAULTS = AnonymizeSettings()


@pytest.fixture
def scene(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    labels = np.zeros((60, 80), np.uint16)
    labels[5:30, 5:20] = 1
    labels[10:50, 40:60] = 2
    labels[45:58, 5:15] = 3
    source = tmp_path / "in" / "street.png"
    source.parent.mkdir()
    Image.fromarray(image).save(source)
    out, private = tmp_path / "out", tmp_path / "private"
    out.mkdir()
    private.mkdir()
    review = ReviewModel()
    review.adopt(labels)
    return image, labels, review, read_photo(source), out, private


def export(scene, settings=DEFAULTS, **options):
    image, labels, review, photo, out, private = scene
    options.setdefault("review_folder", private)
    return export_anonymized(
        image, labels, review, settings, out, name="x", photo=photo, **options
    )


def names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_the_export_folder_holds_only_photos_and_the_manifest(scene):
    image, labels, review, photo, out, private = scene
    before = sha256_file(photo.path)
    review.approve(1, 2)
    review.reject(3)
    weights = photo.path.parent / "model.pth"
    weights.write_bytes(b"not really weights")
    result = export(
        scene, models=[{"role": "segmenter", "name": "sam_vit_b", "path": weights}], seed=5
    )
    assert sha256_file(photo.path) == before  # the original is never written
    assert names(out) == [MANIFEST_NAME, "street_fuzzy.png"]
    assert names(private) == ["street_fuzzy.png.people.png", "street_fuzzy.png.record.json"]
    written = np.asarray(Image.open(result.image))
    assert not np.array_equal(written[labels == 1], image[labels == 1])
    np.testing.assert_array_equal(written[labels == 3], image[labels == 3])  # rejected

    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["software"] == {"name": "napari-fuzzy-people", "version": __version__}
    assert set(manifest) == {"format", "version", "software", "outputs"}
    item = manifest["outputs"]["street_fuzzy.png"]
    assert item == {
        "method": "scramble",
        "parameters": {"source": "background", "radius": {"1": 16, "2": 16, "3": 16},
                       "margin": {"1": 4, "2": 4, "3": 4}},
    }  # fmt: skip
    # Nothing private: no source path or hash, no seed, no silhouettes.
    text = (out / MANIFEST_NAME).read_text()
    assert str(photo.path.parent) not in text and before not in text and "seed" not in text

    record = json.loads(result.record.read_text())
    assert record["input"] == {
        "path": str(photo.path),
        "sha256": before,
        "format": "PNG",
        "orientation": 1,
    }
    assert record["output"] == {
        "folder": str(out.resolve()),
        "file": "street_fuzzy.png",
        "sha256": sha256_file(result.image),
    }
    assert record["masks"]["sha256"] == sha256_file(result.masks)
    np.testing.assert_array_equal(np.asarray(Image.open(result.masks)), labels)
    assert record["settings"] == DEFAULTS.to_dict()
    people = {p["label"]: p for p in record["people"]}
    assert people[1]["status"] == "approved" and people[1]["anonymized"]
    assert people[3]["status"] == "rejected" and not people[3]["anonymized"]
    assert record["models"][0]["sha256"] == sha256_file(weights)
    assert record["seed"] == 5 and record["started"] <= record["finished"]


def test_without_a_review_folder_no_masks_or_record_are_kept(scene):
    scene[2].approve(1, 2, 3)
    result = export(scene, review_folder=None)
    assert result.masks is None and result.record is None
    assert names(scene[4]) == [MANIFEST_NAME, "street_fuzzy.png"]
    assert names(scene[5]) == []


def test_the_manifest_lists_every_export_of_the_folder(scene, tmp_path):
    image, labels, review, _photo, out, _private = scene
    review.approve(1)
    review.reject(2, 3)
    export(scene, settings=AnonymizeSettings(method="blur", strength=3, relative=False))
    other = tmp_path / "in" / "b.png"
    Image.fromarray(image).save(other)
    export_anonymized(
        image, labels, review, DEFAULTS, out, name="b", photo=read_photo(other)
    )  # fmt: skip
    outputs = json.loads((out / MANIFEST_NAME).read_text())["outputs"]
    assert outputs["street_fuzzy.png"] == {
        "method": "blur",
        "parameters": {"sigma": 3.0, "margin": 4},
    }
    assert sorted(outputs) == ["b_fuzzy.png", "street_fuzzy.png"]


@pytest.mark.parametrize("inside", [".", "private"])
def test_a_review_folder_in_the_export_folder_is_refused(scene, inside):
    scene[2].approve(1, 2, 3)
    review_folder = scene[4] / inside
    review_folder.mkdir(exist_ok=True)
    with pytest.raises(ExportError, match="must not be the export folder"):
        export(scene, review_folder=review_folder)
    assert names(scene[4]) == ([] if inside == "." else ["private"])


def test_a_fixed_seed_reproduces(scene, tmp_path):
    scene[2].approve(1, 2, 3)
    a = export(scene, seed=7)
    other = tmp_path / "other"
    other.mkdir()
    b = export_anonymized(
        scene[0], scene[1], scene[2], DEFAULTS, other, name="x", photo=scene[3], seed=7
    )
    assert sha256_file(a.image) == sha256_file(b.image)


def test_unreviewed_people_block_the_export(scene):
    image, labels, review, _photo, out, private = scene
    review.approve(1)
    with pytest.raises(ExportError, match=r"2 people not reviewed \(labels \[2, 3\]\)"):
        export(scene)
    assert names(out) == [] and names(private) == []
    result = export(scene, allow_unreviewed=True)
    written = np.asarray(Image.open(result.image))
    np.testing.assert_array_equal(written[labels == 2], image[labels == 2])
    assert json.loads(result.record.read_text())["exported_unreviewed"] == [2, 3]


def test_existing_exports_are_kept_unless_asked(scene):
    scene[2].approve(1, 2, 3)
    first = export(scene)
    digests = [sha256_file(p) for p in (first.image, first.masks, first.record)]
    with pytest.raises(ExportError, match="already exists"):
        export(scene)
    assert [sha256_file(p) for p in (first.image, first.masks, first.record)] == digests
    export(scene, overwrite=True)


@pytest.mark.parametrize(("value", "shown"), [(70000, "0..70000"), (-3, "-3..")])
def test_labels_that_do_not_fit_16_bits_are_refused_before_writing(scene, value, shown):
    image, labels, review, photo, out, private = scene
    bad = labels.astype(np.int32)
    bad[0, 0] = value
    review.approve(1, 2, 3)
    with pytest.raises(ExportError, match=rf"street_fuzzy\.png: people labels must be.*{shown}"):
        export_anonymized(image, bad, review, DEFAULTS, out, name="x", photo=photo)
    assert names(out) == [] and names(private) == []


def test_a_full_disk_while_writing_the_masks_leaves_nothing(scene, monkeypatch):
    scene[2].approve(1, 2, 3)
    real = encode.WRITERS["PNG"]
    calls = []

    def full_second_time(f, *args):
        calls.append(1)
        if len(calls) == 2:  # the photo went through; its masks do not
            raise OSError(errno.ENOSPC, "No space left on device")
        real(f, *args)

    monkeypatch.setitem(encode.WRITERS, "PNG", full_second_time)
    with pytest.raises(OSError, match=r"people\.png: No space left.*nothing was written"):
        export(scene)
    assert names(scene[4]) == [] and names(scene[5]) == []


def test_a_manifest_that_is_not_ours_is_never_replaced(scene, tmp_path):
    scene[2].approve(1, 2, 3)
    (scene[4] / MANIFEST_NAME).write_text('{"someone": "else"}')
    with pytest.raises(ExportError, match="is not a Fuzzy People manifest"):
        export(scene)
    (scene[4] / MANIFEST_NAME).unlink()
    secret = tmp_path / "secret.json"
    secret.write_text("{}")
    (scene[4] / MANIFEST_NAME).symlink_to(secret)
    with pytest.raises(ExportError, match="is not a Fuzzy People manifest"):
        export(scene)
    assert secret.read_text() == "{}"
    assert names(scene[4]) == [MANIFEST_NAME] and names(scene[5]) == []


def test_reopen_a_review_from_the_review_folder(scene):
    _image, labels, review, photo, _out, _private = scene
    review.approve(1)
    review.reject(3)
    settings = AnonymizeSettings(method="pixelate", strength=9)
    result = export(scene, settings=settings, allow_unreviewed=True)
    saved = load_review(result.record)
    np.testing.assert_array_equal(saved.labels, labels)
    assert saved.input_path == photo.path
    assert {k: p.status for k, p in saved.review.people.items()} == {
        1: Status.APPROVED,
        2: Status.PROPOSED,
        3: Status.REJECTED,
    }
    assert saved.review.sync(saved.labels) == ()  # nothing changed since
    assert AnonymizeSettings.from_dict(saved.settings) == settings


def test_reopen_refuses_what_no_longer_fits(scene):
    image, _labels, review, photo, _out, _private = scene
    review.approve(1, 2, 3)
    result = export(scene)
    other = result.masks.with_name("other.json")
    other.write_text("{}")
    with pytest.raises(ValueError, match="not a napari-fuzzy-people record"):
        load_review(other)
    Image.fromarray(image[::-1]).save(photo.path)  # the original changed
    with pytest.raises(ValueError, match="changed since the export"):
        load_review(result.record)
    photo.path.unlink()
    with pytest.raises(ValueError, match="is not there any more"):
        load_review(result.record)


def test_exports_get_ordinary_file_permissions(scene):
    scene[2].approve(1, 2, 3)
    result = export(scene)
    umask = os.umask(0)
    os.umask(umask)
    for path in (result.image, result.manifest, result.masks, result.record):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_the_default_review_folder_is_beside_the_original(tmp_path):
    photos, out = tmp_path / "photos", tmp_path / "out"
    assert default_review_folder(out, photos / "a.jpg") == photos / "fuzzy-people-review"
    assert default_review_folder(photos, photos / "a.jpg") == tmp_path / "photos-review"
    assert default_review_folder(out) == tmp_path / "out-review"
