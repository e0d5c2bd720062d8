"""Export with a record: what it writes, what it records, and reopening it."""

import json

import numpy as np
import pytest
from PIL import Image

from napari_fuzzy_people import __version__
from napari_fuzzy_people.core import ReviewModel, Status, default_params
from napari_fuzzy_people.io.export import ExportError
from napari_fuzzy_people.io.record import export_anonymized, load_review, sha256_file


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
    out = tmp_path / "out"
    out.mkdir()
    review = ReviewModel()
    review.adopt(labels)
    return image, labels, review, source, out


def test_export_writes_image_masks_and_record(scene):
    image, labels, review, source, out = scene
    before = sha256_file(source)
    review.approve(1, 2)
    review.reject(3)
    weights = source.parent / "model.pth"
    weights.write_bytes(b"not really weights")
    result = export_anonymized(
        image,
        labels,
        review,
        default_params(labels),
        out,
        name="street",
        source=source,
        settings={"method": "scramble"},
        models=[{"role": "segmenter", "name": "sam_vit_b", "path": weights}],
    )
    assert sha256_file(source) == before  # the original is never written
    assert result.image == out / "street_fuzzy.png"
    written = np.asarray(Image.open(result.image))
    assert not np.array_equal(written[labels == 1], image[labels == 1])
    np.testing.assert_array_equal(written[labels == 3], image[labels == 3])  # rejected
    np.testing.assert_array_equal(np.asarray(Image.open(result.masks)), labels)
    record = json.loads(result.record.read_text())
    assert record["software"] == {"name": "napari-fuzzy-people", "version": __version__}
    assert record["input"] == {"path": str(source.resolve()), "sha256": before}
    assert record["output"]["sha256"] == sha256_file(result.image)
    assert record["image"] == {"height": 60, "width": 80}
    assert record["method"]["method"] == "scramble" and record["method"]["radius"] == {
        "1": 16,
        "2": 16,
        "3": 16,
    }
    people = {p["label"]: p for p in record["people"]}
    assert people[1]["status"] == "approved" and people[1]["anonymized"]
    assert people[1]["approved_at"] is not None and people[1]["origin"] == "imported"
    assert people[3]["status"] == "rejected" and not people[3]["anonymized"]
    assert record["models"] == [
        {
            "role": "segmenter",
            "name": "sam_vit_b",
            "path": str(weights),
            "sha256": sha256_file(weights),
        }
    ]
    assert "seed" not in record  # fresh entropy is never written down
    assert record["started"] <= record["finished"]
    assert sorted(p.name for p in out.iterdir()) == [
        "street_fuzzy.png",
        "street_fuzzy.png.people.png",
        "street_fuzzy.png.record.json",
    ]


def test_a_fixed_seed_is_recorded_and_reproduces(scene, tmp_path):
    image, labels, review, source, out = scene
    review.approve(1, 2, 3)
    a = export_anonymized(
        image, labels, review, default_params(labels), out, name="x", source=source, seed=7
    )
    other = tmp_path / "other"
    other.mkdir()
    b = export_anonymized(
        image, labels, review, default_params(labels), other, name="x", source=source, seed=7
    )
    assert json.loads(a.record.read_text())["seed"] == 7
    assert sha256_file(a.image) == sha256_file(b.image)


def test_unreviewed_people_block_the_export(scene):
    image, labels, review, source, out = scene
    review.approve(1)
    with pytest.raises(ExportError, match=r"2 people not reviewed \(labels \[2, 3\]\)"):
        export_anonymized(
            image, labels, review, default_params(labels), out, name="x", source=source
        )
    assert list(out.iterdir()) == []
    result = export_anonymized(
        image,
        labels,
        review,
        default_params(labels),
        out,
        name="x",
        source=source,
        allow_unreviewed=True,
    )
    written = np.asarray(Image.open(result.image))
    np.testing.assert_array_equal(written[labels == 2], image[labels == 2])


def test_existing_exports_are_kept_unless_asked(scene):
    image, labels, review, source, out = scene
    review.approve(1, 2, 3)
    first = export_anonymized(
        image, labels, review, default_params(labels), out, name="x", source=source
    )
    digest = sha256_file(first.image)
    with pytest.raises(ExportError, match="already exists"):
        export_anonymized(
            image, labels, review, default_params(labels), out, name="x", source=source
        )
    assert sha256_file(first.image) == digest
    export_anonymized(
        image, labels, review, default_params(labels), out, name="x", source=source, overwrite=True
    )


def test_reopen_a_review(scene):
    image, labels, review, source, out = scene
    review.approve(1)
    review.reject(3)
    result = export_anonymized(
        image,
        labels,
        review,
        default_params(labels),
        out,
        name="x",
        source=source,
        allow_unreviewed=True,
        settings={"method": "pixelate", "strength": 9},
    )
    saved = load_review(result.record)
    np.testing.assert_array_equal(saved.labels, labels)
    assert saved.input_path == source.resolve()
    assert {k: p.status for k, p in saved.review.people.items()} == {
        1: Status.APPROVED,
        2: Status.PROPOSED,
        3: Status.REJECTED,
    }
    assert saved.review.sync(saved.labels) == ()  # nothing changed since
    assert saved.settings == {"method": "pixelate", "strength": 9}


def test_reopen_refuses_what_no_longer_fits(scene):
    image, labels, review, source, out = scene
    review.approve(1, 2, 3)
    result = export_anonymized(
        image, labels, review, default_params(labels), out, name="x", source=source
    )
    other = result.masks.with_name("other.json")
    other.write_text("{}")
    with pytest.raises(ValueError, match="not a napari-fuzzy-people record"):
        load_review(other)
    Image.fromarray(image[::-1]).save(source)  # the original changed
    with pytest.raises(ValueError, match="changed since the export"):
        load_review(result.record)
    source.unlink()
    with pytest.raises(ValueError, match="is not there any more"):
        load_review(result.record)


def test_exports_get_ordinary_file_permissions(scene):
    import os
    import stat

    image, labels, review, source, out = scene
    review.approve(1, 2, 3)
    result = export_anonymized(
        image, labels, review, default_params(labels), out, name="x", source=source
    )
    umask = os.umask(0)
    os.umask(umask)
    for path in (result.image, result.masks, result.record):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
