"""The panel's workflow in a real viewer: find, adopt, prompts, review, preview, apply, export."""

import time

import numpy as np
import pytest
from PIL import Image

from doubles import (
    GroundTruthDetectorDouble,
    GroundTruthSegmenterDouble,
    build_tiny_sam,
    coco_people,
    load_coco_photo,
)
from napari_fuzzy_people.core import grow
from napari_fuzzy_people.core.review import Status
from napari_fuzzy_people.models.segmenter import SamSegmenter

PLUGIN = "napari-fuzzy-people"


@pytest.fixture
def panel(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Fuzzy People")
    return viewer, widget


def wait_idle(qtbot, widget, timeout=60_000):
    qtbot.waitUntil(lambda: widget._worker is None, timeout=timeout)


def open_coco(viewer, index=0):
    entry = [e for e in coco_people() if len(e["people"]) >= 3][index]
    image, truth = load_coco_photo(entry)
    viewer.add_image(image, name="photo", rgb=True)
    return entry, image, truth


def test_find_review_edit_apply_export(panel, qtbot, tmp_path):
    viewer, widget = panel
    entry, image, truth = open_coco(viewer)
    people = entry["people"]
    widget.use_models(GroundTruthDetectorDouble(people), GroundTruthSegmenterDouble(truth, people))
    widget.find_people()
    wait_idle(qtbot, widget)
    layer = viewer.layers["photo people"]
    assert widget.people_layer.name == layer.name  # the panel sees layers through a proxy
    n = len(people)
    assert widget.table.rowCount() == n == len(widget.review.people)
    # Labels are numbered by detector score: the doubles rank people in file order.
    for k, p in enumerate(people, start=1):
        np.testing.assert_array_equal(layer.data == k, truth == p["label"])

    widget.select_label(1)
    widget.approve_selected()  # approves 1, moves on to 2
    assert widget.selected_labels() == [2]
    widget.reject_selected()  # 2 is not a person, says the reviewer
    widget.select_label(3)
    widget.approve_selected()
    status = {k: p.status for k, p in widget.review.people.items()}
    assert status[1] == status[3] == Status.APPROVED and status[2] == Status.REJECTED

    # Painting on an approved person sends them back for review.
    y, x = np.argwhere(layer.data == 0)[0]
    layer.paint((y, x), 3)
    qtbot.waitUntil(lambda: widget.review.people[3].status == Status.EDITED, timeout=5000)
    assert widget.review.approved_labels() == [1]
    widget.select_label(3)
    widget.approve_selected()

    # Export refuses while people are unreviewed, then writes only approved changes.
    unreviewed = widget.review.unreviewed_labels()
    out, private = tmp_path / "out", tmp_path / "private"
    out.mkdir()
    if unreviewed:
        assert widget.export(out, review_folder=private) is None
        assert "not reviewed" in widget.status.value
        assert list(tmp_path.iterdir()) == [out] and not list(out.iterdir())
        for label in unreviewed:
            widget.review.reject(label)
    widget.preview.value = True
    qtbot.waitUntil(lambda: "photo (preview)" in viewer.layers, timeout=30_000)
    widget.apply()
    wait_idle(qtbot, widget)
    widget.export(out, review_folder=private)
    wait_idle(qtbot, widget)
    written = out / "photo_fuzzy.png"
    assert written.is_file(), widget.status.value
    assert sorted(p.name for p in out.iterdir()) == ["fuzzy-people-manifest.json", written.name]
    assert sorted(p.name for p in private.iterdir()) == [
        "photo_fuzzy.png.people.png",
        "photo_fuzzy.png.record.json",
    ]
    out = np.asarray(Image.open(written))
    np.testing.assert_array_equal(viewer.layers["photo"].data, image)  # original untouched
    labels = np.asarray(layer.data)
    params = widget.parameters(labels)
    approved = np.isin(labels, [1, 3])
    region = grow(np.where(approved, labels, 0), params["margin"]) > 0
    np.testing.assert_array_equal(out[~region], image[~region])
    assert np.any(out != image, axis=-1)[approved].mean() > 0.5
    fuzzy = viewer.layers["photo (fuzzy)"].data
    np.testing.assert_array_equal(fuzzy[~region], image[~region])


def test_adopt_masks_made_elsewhere(panel):
    viewer, widget = panel
    viewer.add_image(np.zeros((40, 50, 3), np.uint8), name="photo", rgb=True)
    masks = np.zeros((40, 50), np.uint16)
    masks[5:20, 5:15] = 4
    masks[22:35, 30:45] = 9
    labels_layer = viewer.add_labels(masks, name="from another tool")
    widget.labels_choice.value = labels_layer
    widget.adopt(labels_layer)
    assert widget.people_layer.name == "from another tool"
    assert {k: (p.status, p.origin) for k, p in widget.review.people.items()} == {
        4: (Status.PROPOSED, "imported"),
        9: (Status.PROPOSED, "imported"),
    }
    assert widget.table.rowCount() == 2
    widget.review.approve(4)
    widget.undo()
    assert widget.review.people[4].status == Status.PROPOSED


def test_add_a_person_by_points_reuses_the_embedding(panel, qtbot):
    viewer, widget = panel
    image = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    viewer.add_image(image, name="photo", rgb=True)
    sam = build_tiny_sam()
    calls = []
    sam.image_encoder.register_forward_hook(lambda *a: calls.append(1))
    segmenter = SamSegmenter(sam, device="cpu")
    widget.use_models(None, segmenter)
    widget.start_prompts()
    prompts = viewer.layers["person prompts"]
    prompts.add([[60, 80]])
    widget.negative.value = True
    prompts.add([[5, 5]])
    assert list(prompts.features["person"]) == [True, False]
    widget.segment_prompt()
    wait_idle(qtbot, widget)
    layer = widget.people_layer
    label = max(widget.review.people)
    person = widget.review.people[label]
    assert person.origin == "prompt" and person.status == Status.PROPOSED
    expected, _ = segmenter.segment_points(image, [[80, 60], [5, 5]], [1, 0])
    np.testing.assert_array_equal(layer.data == label, expected)
    assert len(prompts.data) == 0
    prompts.add([[30, 30]])
    widget.segment_prompt()
    wait_idle(qtbot, widget)
    assert len(calls) == 1  # the second prompt reused the image embedding


class SlowSegmenterDouble(GroundTruthSegmenterDouble):
    """Segments in small sleeps, so the test can watch the event loop meanwhile."""

    def iter_boxes(self, image, boxes):
        for i, box in enumerate(np.asarray(boxes)):
            for _ in range(10):
                time.sleep(0.05)
            masks, scores = self.segment_boxes(image, box[None])
            yield i, masks, scores


def test_finding_people_never_blocks_napari_and_cancel_stops_it(panel, qtbot):
    from qtpy.QtCore import QTimer

    viewer, widget = panel
    entry, _, truth = open_coco(viewer)
    people = entry["people"]
    widget.use_models(GroundTruthDetectorDouble(people), SlowSegmenterDouble(truth, people))
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(20)
    widget.find_people()
    qtbot.waitUntil(lambda: "masks (1/" in widget.status.value, timeout=10_000)
    widget.cancel()
    wait_idle(qtbot, widget, timeout=10_000)
    timer.stop()
    assert "Cancelled" in widget.status.value
    assert "photo people" not in viewer.layers and not widget.review.people
    gaps = np.diff(ticks)
    assert len(ticks) > 10 and gaps.max() < 0.25, f"GUI stalled {gaps.max():.2f} s"


def test_nothing_to_do_says_so(panel):
    viewer, widget = panel
    widget.find_people()
    assert "Open a photo first" in widget.status.value
    viewer.add_image(np.zeros((3, 20, 20), np.uint8), name="stack")
    widget.find_people()
    assert "'stack' has shape (3, 20, 20)" in widget.status.value
    widget.apply()
    assert "Find people" in widget.status.value


def test_review_shortcuts_on_the_people_layer(panel):
    viewer, widget = panel
    viewer.add_image(np.zeros((40, 50, 3), np.uint8), name="photo", rgb=True)
    masks = np.zeros((40, 50), np.uint16)
    masks[5:20, 5:15] = 1
    masks[22:35, 30:45] = 2
    layer = viewer.add_labels(masks, name="people")
    widget.adopt(layer)
    widget.select_label(1)
    keys = {str(k): action for k, action in layer.keymap.items()}
    keys["A"](layer)
    assert widget.review.people[1].status == Status.APPROVED
    assert layer.selected_label == 2  # moved on to the next person
    keys["R"](layer)
    assert widget.review.people[2].status == Status.REJECTED


def test_add_a_person_with_a_box(panel, qtbot):
    viewer, widget = panel
    image = np.random.default_rng(3).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    viewer.add_image(image, name="photo", rgb=True)
    segmenter = SamSegmenter(build_tiny_sam(), device="cpu")
    widget.use_models(None, segmenter)
    widget.start_box()
    viewer.layers["person box"].add_rectangles(np.array([[20, 30], [100, 90]]))
    widget.segment_prompt()
    wait_idle(qtbot, widget)
    label = max(widget.review.people)
    expected, _ = segmenter.segment_points(image, [], [], box=[30, 20, 90, 100])
    np.testing.assert_array_equal(widget.people_layer.data == label, expected)
    assert len(viewer.layers["person box"].data) == 0  # used up


def test_detector_boxes_can_be_shown(panel, qtbot):
    viewer, widget = panel
    entry, _, truth = open_coco(viewer)
    people = entry["people"]
    widget.use_models(GroundTruthDetectorDouble(people), GroundTruthSegmenterDouble(truth, people))
    widget.show_boxes.value = True
    widget.find_people()
    wait_idle(qtbot, widget)
    boxes = viewer.layers["photo boxes"]
    assert len(boxes.data) == len(people)
    x0, y0, x1, y1 = people[0]["bbox"]
    np.testing.assert_allclose(boxes.data[0].min(axis=0), [y0, x0])
    np.testing.assert_allclose(boxes.data[0].max(axis=0), [y1, x1])


def test_offline_without_weights_says_what_to_do(panel, qtbot, monkeypatch, tmp_path):
    import dataclasses
    import socket

    from napari_fuzzy_people.models import weights

    with socket.socket() as s:  # a port nobody listens on: like being offline
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(weights.CACHE_ENV, str(tmp_path))
    for name, entry in list(weights.CHECKPOINTS.items()):
        url = f"http://127.0.0.1:{port}/{entry.filename}"
        monkeypatch.setitem(weights.CHECKPOINTS, name, dataclasses.replace(entry, url=url))
    viewer, widget = panel
    viewer.add_image(np.zeros((60, 80, 3), np.uint8), name="photo", rgb=True)
    widget.find_people()
    wait_idle(qtbot, widget, timeout=30_000)
    message = widget.status.value
    assert "Could not download" in message and str(tmp_path) in message
    assert "paint people by hand" in message
    assert "photo people" not in viewer.layers


def test_open_a_record_to_continue_the_review_and_export_again(panel, qtbot, tmp_path):
    from napari_fuzzy_people.core import AnonymizeSettings, ReviewModel
    from napari_fuzzy_people.io.read import read_photo
    from napari_fuzzy_people.io.record import export_anonymized

    viewer, widget = panel
    image = np.random.default_rng(5).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    labels = np.zeros((60, 80), np.uint16)
    labels[5:30, 5:20] = 1
    labels[10:50, 40:60] = 2
    source = tmp_path / "street.png"
    Image.fromarray(image).save(source)
    review = ReviewModel()
    review.adopt(labels)
    review.approve(1)
    out, private = tmp_path / "out", tmp_path / "private"
    out.mkdir()
    private.mkdir()
    result = export_anonymized(
        image,
        labels,
        review,
        AnonymizeSettings(method="pixelate", strength=12, margin=2, relative=False),
        out,
        name="street",
        photo=read_photo(source),
        review_folder=private,
        allow_unreviewed=True,
    )
    viewer.open(result.record, plugin=PLUGIN)
    assert "street" in viewer.layers and "street people" in viewer.layers
    np.testing.assert_array_equal(viewer.layers["street"].data, image)
    assert widget.people_layer.name == "street people"
    assert widget.image_layer.value.name == "street"
    assert {k: p.status for k, p in widget.review.people.items()} == {
        1: Status.APPROVED,
        2: Status.PROPOSED,
    }
    assert widget.method.value == "pixelate" and widget.strength.value == 12
    assert not widget.relative.value
    assert "Reopened the review" in widget.status.value

    # The reopened review exports the photo (not its record), to a new folder.
    widget.review.approve(2)
    again = tmp_path / "again"
    again.mkdir()
    widget.export(again, review_folder=tmp_path / "private2")
    wait_idle(qtbot, widget)
    written = np.asarray(Image.open(again / "street_fuzzy.png"))
    assert np.any(written != image, axis=-1)[labels > 0].mean() > 0.5
    outside = grow(labels, 2) == 0
    np.testing.assert_array_equal(written[outside], image[outside])


@pytest.mark.parametrize("method", ["scramble", "pixelate", "blur", "fill"])
def test_every_method_exports_from_the_panel(panel, qtbot, tmp_path, method):
    viewer, widget = panel
    image = np.random.default_rng(1).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    source = tmp_path / "walk.jpg"
    Image.fromarray(image).save(source, quality=90)
    viewer.open(source)
    labels = np.zeros((60, 80), np.uint8)
    labels[10:50, 20:45] = 1
    layer = viewer.add_labels(labels, name="masks")
    widget.adopt(layer)
    widget.review.approve(1)
    widget.method.value = method
    out = tmp_path / "out"
    out.mkdir()
    widget.export(out)
    wait_idle(qtbot, widget)
    assert "Exported 1 person" in widget.status.value, widget.status.value
    assert sorted(p.name for p in out.iterdir()) == [
        "fuzzy-people-manifest.json",
        "walk_fuzzy.jpg",
    ]
    # The masks and record went beside the original, not into the export folder.
    review_folder = tmp_path / "fuzzy-people-review"
    assert sorted(p.name for p in review_folder.iterdir()) == [
        "walk_fuzzy.jpg.people.png",
        "walk_fuzzy.jpg.record.json",
    ]
