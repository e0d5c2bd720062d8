"""A folder in the panel: the queue, work ahead, saving as you go, sign-off, export, resume."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QFileDialog

from doubles import tiny_detector, tiny_segmenter
from napari_fuzzy_people.io.workfolder import PhotoStatus, WorkFolder
from scenes import PLUGIN, idle, street

HERE = Path(__file__).parent


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(4):
        image, _ = street(seed=i)
        Image.fromarray(image).save(folder / f"p{i}.png")
    return folder


class Counting:
    """The tiny real detector, counting its calls (a wrapper at the protocol boundary)."""

    def __init__(self):
        self.calls = 0
        self.detector = tiny_detector()

    def detect(self, image):
        self.calls += 1
        return self.detector.detect(image)


def wait_ahead(qtbot, c):
    qtbot.waitUntil(lambda: not c.ahead_busy and not c.busy, timeout=120_000)


def wait_saved(qtbot, c):
    qtbot.waitUntil(lambda: not c.saving, timeout=30_000)


def test_a_folder_reviewed_photo_by_photo(panel, qtbot, photos, monkeypatch, tmp_path):
    viewer, widget = panel
    c = widget.controller
    detector = Counting()
    c.use_models(detector=detector, segmenter=tiny_segmenter)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a: str(photos))
    qtbot.mouseClick(widget.folder.open_button, Qt.MouseButton.LeftButton)
    idle(qtbot, c)
    assert c.queue == ["p0.png", "p1.png", "p2.png", "p3.png"] and c.position == 0
    assert widget.folder.list.count() == 4
    assert c.photo_layer.name == "p0.png" and c.people_layer is not None
    # While the first photo waits for the reviewer, the next ones get their proposals.
    wait_ahead(qtbot, c)
    assert [c.statuses[r] for r in c.queue] == ["new", "proposed", "proposed", "proposed"]
    assert widget.folder.ahead.text() == "Next 3 ready."
    calls = detector.calls
    assert calls == 3

    c.find_people()  # the first one, by hand
    idle(qtbot, c)
    wait_saved(qtbot, c)
    assert c.statuses["p0.png"] == PhotoStatus.PROPOSED
    viewer.layers.selection.active = c.people_layer
    c.approve_all()
    wait_saved(qtbot, c)
    assert c.statuses["p0.png"] == PhotoStatus.DONE
    assert WorkFolder.open(photos / "fuzzy-people-work").state("p0.png").status == "done"

    # Next: the photo comes with its proposals, without running the models again.
    qtbot.mouseClick(widget.folder.next_button, Qt.MouseButton.LeftButton)
    idle(qtbot, c)
    assert c.position == 1 and c.photo_layer.name == "p1.png"
    assert len(c.review.people) > 0 and detector.calls == calls + 1
    np.testing.assert_array_equal(
        c.people_layer.data, WorkFolder.open(photos / "fuzzy-people-work").labels("p1.png")
    )
    # Nobody in this one after all: delete them, then sign off.
    for label in list(c.review.people):
        c.select(label, focus=False)
        c.delete()
    qtbot.mouseClick(widget.folder.no_people_button, Qt.MouseButton.LeftButton)
    wait_saved(qtbot, c)
    assert c.statuses["p1.png"] == PhotoStatus.NO_PEOPLE

    # Back to the first: it is as it was left.
    qtbot.mouseClick(widget.folder.previous_button, Qt.MouseButton.LeftButton)
    idle(qtbot, c)
    assert c.position == 0 and not c.review.unreviewed_labels() and c.review.approved_labels()

    # Export the done ones: p0 (approved people) and p1 (no people).
    out = tmp_path / "shared"
    out.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a: str(out))
    qtbot.mouseClick(widget.folder.export_button, Qt.MouseButton.LeftButton)
    idle(qtbot, c)
    assert sorted(p.name for p in out.iterdir()) == [
        "fuzzy-people-manifest.json",
        "p0_fuzzy.png",
        "p1_fuzzy.png",
    ]
    assert c.statuses["p0.png"] == c.statuses["p1.png"] == PhotoStatus.EXPORTED
    assert "Exported 2 of 2 done photos" in widget.job.status.text()


def test_the_gui_keeps_up_while_photos_are_prepared_ahead(panel, qtbot, photos):
    from _napari.test_desktop import GuiWatch

    _, widget = panel
    c = widget.controller
    c.use_models(detector=tiny_detector, segmenter=tiny_segmenter)
    c.open_folder(photos)  # napari makes the photo's two layers: its own pause
    idle(qtbot, c)
    watch = GuiWatch()
    wait_ahead(qtbot, c)
    watch.stop()
    assert c.counts()[PhotoStatus.PROPOSED] == 3
    assert watch.longest < 0.1, watch.longest


def test_open_a_work_folder_with_napari_and_the_panel_takes_it_up(
    make_napari_viewer, qtbot, photos
):
    work = WorkFolder.create(photos / "fuzzy-people-work", photos)
    work.sign_off_no_people("p0.png")
    viewer = make_napari_viewer()
    viewer.open(work.path / "fuzzy-people-work.json", plugin=PLUGIN)
    assert viewer.layers[0].name == "p1.png"  # the first still to review
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Fuzzy People")
    c = widget.controller
    idle(qtbot, c)
    assert c.work is not None and c.work.path == work.path
    assert c.position == 1 and c.statuses["p0.png"] == PhotoStatus.NO_PEOPLE


def test_killed_mid_review_reopening_loses_at_most_the_last_edit(photos, tmp_path):
    # A subprocess reviews with the panel and is killed right after an edit.
    script = HERE / "review_then_die.py"
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    result = subprocess.run(
        [sys.executable, str(script), str(photos)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == -signal.SIGKILL, result.stdout + result.stderr[-2000:]
    assert "approved and saved" in result.stdout
    work = WorkFolder.open(photos / "fuzzy-people-work")
    work.tidy()  # what reopening in the panel (or any command) does first
    state = work.state("p0.png")
    assert state.status == PhotoStatus.DONE  # the saved decisions are all there
    labels = work.labels("p0.png")
    assert labels is not None and labels.shape == (240, 320)
    assert not list(work.path.rglob(".fuzzy-people-*"))


def test_page_down_and_up_on_the_canvas_move_through_the_folder(panel, qtbot, photos):
    from _napari.test_workflow import press

    viewer, widget = panel
    c = widget.controller
    c.use_models(detector=tiny_detector, segmenter=tiny_segmenter)
    c.open_folder(photos)
    idle(qtbot, c)
    wait_ahead(qtbot, c)
    c.set_preview(True)
    idle(qtbot, c)
    assert "p0.png (preview)" in viewer.layers
    viewer.layers.selection.active = c.people_layer
    press(qtbot, viewer, Qt.Key.Key_PageDown)
    idle(qtbot, c)
    assert c.position == 1 and c.photo_layer.name == "p1.png"
    # The preview follows the photo: the last one's is not left showing.
    names = [layer.name for layer in viewer.layers]
    assert "p0.png (preview)" not in names and "p1.png (preview)" in names
    press(qtbot, viewer, Qt.Key.Key_PageUp)
    idle(qtbot, c)
    assert c.position == 0
    # The list follows, and a click on a photo goes there.
    item = widget.folder.list.item(3)
    widget.folder.list.itemClicked.emit(item)
    idle(qtbot, c)
    assert c.position == 3 and "▶ p3.png" in widget.folder.list.item(3).text()
