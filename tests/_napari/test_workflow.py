"""The whole review as a user drives it: clicks on the panel, keys on the canvas, dialogs.

Tiny real models (random weights) and synthetic photos: CI runs all of it.
"""

import json

import numpy as np
import pytest
from PIL import Image
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QFileDialog, QMessageBox

from napari_fuzzy_people.core import grow
from napari_fuzzy_people.core.review import Status
from napari_fuzzy_people.io.manifest import MANIFEST_NAME
from scenes import idle


def canvas(viewer):
    # napari offers no public handle on its canvas widget; keys go where a user's go.
    return viewer.window._qt_viewer.canvas.native


def press(qtbot, viewer, key):
    widget = canvas(viewer)
    widget.window().activateWindow()
    widget.setFocus()
    qtbot.keyClick(widget, key)


def rows(panel):
    table = panel.people.table
    return [int(table.item(r, 0).text()) for r in range(table.rowCount())]


def click_row(qtbot, panel, label):
    table = panel.people.table
    r = rows(panel).index(label)
    rect = table.visualRect(table.model().index(r, 1))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_find_review_edit_apply_export(
    panel, qtbot, tiny_models, photo_file, monkeypatch, tmp_path
):
    viewer, panel = panel
    path, pixels, _ = photo_file
    viewer.open(path)  # napari's own reader, as File > Open does
    c = panel.controller
    assert panel.photo.photo_combo.currentText() == "street"
    c.use_models(**tiny_models)

    qtbot.mouseClick(panel.find.find_button, Qt.MouseButton.LeftButton)
    assert not panel.find.find_button.isEnabled()  # one job at a time
    idle(qtbot, c)
    people = c.review.people
    assert len(people) >= 2, c.last_notice
    assert rows(panel) == sorted(people)
    layer = c.people_layer
    assert set(np.unique(layer.data)) - {0} == set(people)
    assert panel.job.status.text().startswith(f"Found {len(people)} people")

    # The first person is selected; A on the canvas approves and moves on.
    assert c.selected == 1 and panel.people.table.selectedItems()
    viewer.layers.selection.active = layer
    press(qtbot, viewer, Qt.Key.Key_A)
    assert c.review.people[1].status == Status.APPROVED and c.selected == 2
    press(qtbot, viewer, Qt.Key.Key_R)
    assert c.review.people[2].status == Status.REJECTED
    click_row(qtbot, panel, 1)
    assert c.selected == 1
    # Painting on an approved person sends them back for review.
    y, x = np.argwhere(layer.data == 0)[0]
    layer.paint((y, x), 1)
    qtbot.waitUntil(lambda: c.review.people[1].status == Status.EDITED, timeout=5000)
    assert "Edited after approval" in panel.job.status.text()
    qtbot.mouseClick(panel.people.approve_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.people.approve_all_button, Qt.MouseButton.LeftButton)
    assert not c.review.unreviewed_labels()
    assert panel.people.summary.text().endswith("everybody reviewed.")

    # Apply: a new layer, the photo layer untouched.
    qtbot.mouseClick(panel.anonymize.apply_button, Qt.MouseButton.LeftButton)
    idle(qtbot, c)
    fuzzy = viewer.layers["street (fuzzy)"].data
    np.testing.assert_array_equal(viewer.layers["street"].data, pixels)
    labels = np.asarray(layer.data)
    approved = np.isin(labels, c.review.approved_labels())
    region = grow(np.where(approved, labels, 0), c.settings.params(labels)["margin"]) > 0
    np.testing.assert_array_equal(fuzzy[~region], pixels[~region])

    # Export: the folder dialog starts beside the photo; a second export asks first.
    shared = tmp_path / "shared"
    shared.mkdir()
    asked = []

    def choose(parent, caption, start):
        asked.append(start)
        return str(shared)

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", choose)
    qtbot.mouseClick(panel.anonymize.export_button, Qt.MouseButton.LeftButton)
    idle(qtbot, c)
    assert asked == [str(path.parent)]
    assert sorted(p.name for p in shared.iterdir()) == [MANIFEST_NAME, "street_fuzzy.jpg"]
    review_folder = path.parent / "fuzzy-people-review"
    assert sorted(p.name for p in review_folder.iterdir()) == [
        "street_fuzzy.jpg.people.png",
        "street_fuzzy.jpg.record.json",
    ]
    assert "Exported" in panel.job.status.text() and str(review_folder) in panel.job.status.text()
    before = (shared / "street_fuzzy.jpg").read_bytes()
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.No)
    qtbot.mouseClick(panel.anonymize.export_button, Qt.MouseButton.LeftButton)
    idle(qtbot, c)
    assert (shared / "street_fuzzy.jpg").read_bytes() == before
    assert "earlier one is kept" in panel.job.status.text()
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Yes)
    qtbot.mouseClick(panel.anonymize.export_button, Qt.MouseButton.LeftButton)
    idle(qtbot, c)
    assert (shared / "street_fuzzy.jpg").read_bytes() != before  # replaced (fresh entropy)
    record = json.loads((review_folder / "street_fuzzy.jpg.record.json").read_text())
    assert record["input"]["path"] == str(path)
    assert [m["role"] for m in record["models"]] == ["detector", "segmenter"]


def test_unreviewed_people_need_a_yes(panel, qtbot, photo_file, monkeypatch, tmp_path):
    viewer, panel = panel
    path, _, labels = photo_file
    viewer.open(path)
    c = panel.controller
    viewer.add_labels(labels, name="masks")
    qtbot.mouseClick(panel.photo.adopt_button, Qt.MouseButton.LeftButton)
    idle(qtbot, c)
    c.approve([1])
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a: str(tmp_path))
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: QMessageBox.StandardButton.No)
    qtbot.mouseClick(panel.anonymize.export_button, Qt.MouseButton.LeftButton)
    idle(qtbot, c)
    assert not (tmp_path / "street_fuzzy.jpg").exists()
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: QMessageBox.StandardButton.Yes)
    qtbot.mouseClick(panel.anonymize.export_button, Qt.MouseButton.LeftButton)
    idle(qtbot, c)
    written = np.asarray(Image.open(tmp_path / "street_fuzzy.jpg")).astype(int)
    original = np.asarray(Image.open(path)).astype(int)
    # Person 2 was not reviewed: left as it was (up to JPEG re-encoding).
    assert np.abs(written - original)[labels == 2].mean() < 4
    assert np.abs(written - original)[labels == 1].mean() > 10


def test_add_a_missed_person_with_points_and_a_box(panel, qtbot, tiny_models, photo_file):
    viewer, panel = panel
    path, _, _ = photo_file
    viewer.open(path)
    c = panel.controller
    calls = []

    def detector():
        calls.append("detector")
        raise AssertionError("a prompt needs only Segment Anything")

    c.use_models(detector=detector, segmenter=tiny_models["segmenter"])
    qtbot.mouseClick(panel.prompts.points_button, Qt.MouseButton.LeftButton)
    points = viewer.layers.selection.active
    assert points.mode == "add"
    points.add([120, 60])
    qtbot.mouseClick(panel.prompts.box_button, Qt.MouseButton.LeftButton)
    box = viewer.layers.selection.active
    box.add_rectangles(np.array([[40, 30], [200, 90]]))
    qtbot.mouseClick(panel.prompts.segment_button, Qt.MouseButton.LeftButton)
    idle(qtbot, c)
    assert calls == []
    assert list(c.review.people) == [1], c.last_notice
    assert c.review.people[1].origin == "prompt" and c.selected == 1
    assert len(points.data) == 0 and len(box.data) == 0  # prompts used up
    # Refine the selected person from a new box: same label, new pixels.
    box.add_rectangles(np.array([[100, 200], [220, 300]]))
    qtbot.mouseClick(panel.prompts.refine_button, Qt.MouseButton.LeftButton)
    idle(qtbot, c)
    assert list(c.review.people) == [1]


@pytest.mark.parametrize(
    ("method", "label", "source_shown"),
    [("scramble", "Radius (px)", True), ("pixelate", "Block (px)", False),
     ("blur", "Sigma (px)", False), ("fill", "", False)],
)  # fmt: skip
def test_each_method_shows_its_own_settings(panel, qtbot, method, label, source_shown):
    _, panel = panel
    view = panel.anonymize
    view.method.setCurrentIndex(view.method.findData(method))
    view.method.activated.emit(view.method.currentIndex())
    assert panel.controller.settings.method == method
    assert view.strength_label.text() == label
    assert view.strength.isVisibleTo(panel) == (method != "fill")
    assert view.background_only.isVisibleTo(panel) == source_shown


def test_a_setting_out_of_range_is_refused_not_kept(panel):
    _, panel = panel
    c = panel.controller
    view = panel.anonymize
    assert not c.update_settings(margin=-1)
    assert c.settings.margin == 4 and "Setting not changed" in panel.job.status.text()
    view.margin.setValue(9)
    view.margin.editingFinished.emit()
    assert c.settings.margin == 9


@pytest.mark.parametrize("method", ["scramble", "pixelate", "blur", "fill"])
def test_every_method_exports_from_the_panel(panel, qtbot, photo_file, tmp_path, method):
    viewer, panel = panel
    path, pixels, labels = photo_file
    viewer.open(path)
    c = panel.controller
    c.adopt(viewer.add_labels(labels, name="masks"))
    idle(qtbot, c)
    c.approve_all()
    view = panel.anonymize
    view.method.setCurrentIndex(view.method.findData(method))
    view.method.activated.emit(view.method.currentIndex())
    out = tmp_path / "out"
    out.mkdir()
    c.export(out, review_folder=tmp_path / "private")
    idle(qtbot, c)
    assert "Exported 2 people" in panel.job.status.text(), panel.job.status.text()
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST_NAME, "street_fuzzy.jpg"]
    item = json.loads((out / MANIFEST_NAME).read_text())["outputs"]["street_fuzzy.jpg"]
    assert item["method"] == method
    written = np.asarray(Image.open(out / "street_fuzzy.jpg")).astype(int)
    assert np.abs(written - pixels)[labels > 0].mean() > 10  # the people are gone
