"""The work folder: one photo's state at a time, saved whole, and what its status says."""

import json

import numpy as np
import pytest

from napari_fuzzy_people.core import ReviewModel
from napari_fuzzy_people.core.people import Proposals, ProposedPerson
from napari_fuzzy_people.io.errors import ExportError
from napari_fuzzy_people.io.manifest import MANIFEST_NAME
from napari_fuzzy_people.io.workfolder import EmbeddingStore, PhotoStatus, WorkFolder


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    (folder / "2024").mkdir(parents=True)
    (folder / ".thumbs").mkdir()
    (folder / "shared").mkdir()
    for path in ("a.jpg", "2024/b.PNG", ".thumbs/t.jpg", "shared/a_fuzzy.jpg", "notes.txt"):
        (folder / path).write_bytes(b"x")
    (folder / "shared" / MANIFEST_NAME).write_text("{}")
    return folder


def proposals():
    labels = np.zeros((20, 30), np.uint8)
    labels[2:10, 3:9] = 1
    labels[12:18, 20:28] = 2
    people = [ProposedPerson(k, (0, 0, 5, 5), 0.9, 0.8, int((labels == k).sum())) for k in (1, 2)]
    return Proposals(labels, people)


def test_a_folder_of_photos_and_what_is_skipped(photos, tmp_path):
    work = WorkFolder.create(photos / "work", photos)  # inside the photo folder: skipped
    assert work.scan() == ["2024/b.PNG", "a.jpg"]
    assert (work.path.stat().st_mode & 0o777) == 0o700
    assert WorkFolder.open(work.path).source == photos.resolve()
    with pytest.raises(ExportError, match=r"reviews .* not "):
        WorkFolder.open_or_create(work.path, tmp_path)
    with pytest.raises(ExportError, match="not a work folder"):
        WorkFolder.open(tmp_path)
    with pytest.raises(ExportError, match="not empty and not a work folder"):
        WorkFolder.create(photos, photos)


def test_a_photo_goes_from_new_to_exported(photos):
    work = WorkFolder.create(photos / "work", photos)
    rel = "a.jpg"
    assert work.state(rel).status == PhotoStatus.NEW
    info = {"sha256": "abc", "height": 20, "width": 30}
    state = work.save_proposals(rel, info, proposals(), models=[{"role": "detector"}])
    assert state.status == PhotoStatus.PROPOSED and state.people == 2
    np.testing.assert_array_equal(work.labels(rel), proposals().labels)
    np.testing.assert_array_equal(work.labels(rel, "proposals"), proposals().labels)
    review = ReviewModel.from_dict(work.state(rel).data["review"])
    review.approve(1)
    labels = proposals().labels.copy()
    labels[0, 0] = 1  # an edit, saved with the review
    assert work.save_review(rel, review, labels).status == PhotoStatus.IN_REVIEW
    review.reject(2)
    assert work.save_review(rel, review, labels).status == PhotoStatus.DONE
    np.testing.assert_array_equal(work.labels(rel), labels)
    np.testing.assert_array_equal(work.labels(rel, "proposals"), proposals().labels)
    assert work.save_export(rel, {"file": "a_fuzzy.jpg"}).status == PhotoStatus.EXPORTED
    assert work.save_review(rel, review, labels).status == PhotoStatus.DONE  # changed since
    events = [h["event"] for h in work.state(rel).data["history"]]
    assert events == ["proposed", "edited", "edited", "exported", "edited"]
    assert work.is_current(rel, "abc") and not work.is_current(rel, "abd")


def test_no_people_is_a_sign_off_and_failures_are_kept(photos):
    work = WorkFolder.create(photos / "work", photos)
    empty = Proposals(np.zeros((20, 30), np.uint8), [])
    assert work.save_proposals("a.jpg", {"sha256": "1"}, empty).status == PhotoStatus.PROPOSED
    assert work.sign_off_no_people("a.jpg").status == PhotoStatus.NO_PEOPLE
    state = work.save_failure("2024/b.PNG", None, "2024/b.PNG: damaged")
    assert state.status == PhotoStatus.FAILED and state.data["failed"]["error"].endswith("damaged")
    assert work.counts()[PhotoStatus.FAILED] == 1
    # Proposing again starts the photo over, the leak check's dismissals too.
    work.save_leak_dismissals("2024/b.PNG", [{"kind": "face", "box": [0, 0, 5, 5], "reason": "x"}])
    assert work.leak_dismissals("2024/b.PNG")[0]["reason"] == "x"
    assert work.save_proposals("2024/b.PNG", {"sha256": "2"}, proposals()).status == "proposed"
    assert "failed" not in work.state("2024/b.PNG").data
    assert work.leak_dismissals("2024/b.PNG") == []


FILES = ["people.png", "proposals.png", "state.json"]


def test_each_change_is_saved_whole(photos):
    work = WorkFolder.create(photos / "work", photos)
    work.save_proposals("a.jpg", {"sha256": "1"}, proposals())
    folder = work.path / "photos" / work.state("a.jpg").id
    assert sorted(p.name for p in folder.iterdir()) == [
        "people.png",
        "proposals.png",
        "state.json",
    ]
    assert json.loads((folder / "state.json").read_text())["relative"] == "a.jpg"
    # A kill mid-save leaves temporaries that the next save of that photo removes.
    (folder / ".fuzzy-people-0123456789ab-0.part").write_bytes(b"half")
    work.sign_off_no_people("a.jpg")
    assert sorted(p.name for p in folder.iterdir()) == [
        "people.png",
        "proposals.png",
        "state.json",
    ]


def test_seeds_come_from_the_photo_and_the_folder(photos, tmp_path):
    work = WorkFolder.create(photos / "work", photos)
    other = WorkFolder.create(tmp_path / "other", photos)
    assert work.seed("abc") == WorkFolder.open(work.path).seed("abc")
    assert work.seed("abc") != work.seed("abd")
    assert work.seed("abc") != other.seed("abc")  # a salt of its own


def test_embeddings_are_kept_under_their_whole_key(tmp_path):
    store = EmbeddingStore(tmp_path / "cache")
    features = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    store.put("pixels|sam|weights", features, (20, 30), (16, 24))
    got = store.get("pixels|sam|weights")
    np.testing.assert_array_equal(got[0], features)
    assert got[1:] == ((20, 30), (16, 24))
    assert store.get("pixels|sam|other weights") is None
    next(store.folder.iterdir()).write_bytes(b"damaged")
    assert store.get("pixels|sam|weights") is None  # recomputed, never used
