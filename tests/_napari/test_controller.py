"""The session's rules, driven through the controller as a script or napari's console would."""

import json

import numpy as np
import pytest
from PIL import Image

from napari_fuzzy_people.core import grow
from napari_fuzzy_people.core.review import Status
from napari_fuzzy_people.io.read import orient, read_photo
from scenes import PLUGIN, idle, street


@pytest.fixture
def session(panel, qtbot, photo_file):
    """The panel on a photo file opened by napari, its two people adopted from masks."""
    viewer, widget = panel
    path, _pixels, labels = photo_file
    viewer.open(path)
    c = widget.controller
    c.adopt(viewer.add_labels(labels, name="masks"))
    idle(qtbot, c)
    return viewer, widget, c


def test_the_photo_choices_are_photos_and_a_removed_photo_is_not_replaced(session, qtbot):
    viewer, _, c = session
    c.approve_all()
    c.set_preview(True)
    c.apply()
    idle(qtbot, c)
    assert {"street (preview)", "street (fuzzy)"} <= {layer.name for layer in viewer.layers}
    assert [layer.name for layer in c.photo_choices()] == ["street"]
    viewer.layers.remove("street")
    assert c.photo_layer is None
    assert "photo layer was removed" in c.last_notice.text
    c.apply()
    assert "Open a photo first" in c.last_notice.text


def test_the_preview_sits_under_the_people_and_says_when_it_is_updating(session, qtbot):
    viewer, _, c = session
    states = []
    c.preview_changed.connect(states.append)
    c.approve([1])
    c.set_preview(True)
    idle(qtbot, c)
    names = [layer.name for layer in viewer.layers]
    assert names.index("street (preview)") < names.index("masks")  # masks drawn on top
    assert states[0].status == "updating" and states[-1].status == "ready"


def test_removing_the_people_layer_takes_its_rows_and_buttons(session):
    viewer, widget, c = session
    assert widget.people.table.rowCount() == 2
    viewer.layers.remove("masks")
    assert c.people_layer is None and not c.review.people
    assert widget.people.table.rowCount() == 0
    assert not widget.people.approve_button.isEnabled()
    assert not widget.anonymize.export_button.isEnabled()


def test_nobody_is_approved_without_a_selection(session):
    _, widget, c = session
    c.select(None)
    c.approve()
    assert c.review.approved_labels() == [] and "Select a person first" in c.last_notice.text
    assert not widget.people.approve_button.isEnabled()


def test_choosing_a_label_to_paint_with_never_moves_the_camera(session):
    viewer, _, c = session
    c.select(1)
    scene = getattr(viewer, "scene", None)  # napari >= 0.9 moved the camera there
    camera = scene.camera if scene is not None else viewer.camera
    centre, zoom = tuple(camera.center), camera.zoom
    c.people_layer.selected_label = 2  # the label spinbox
    assert c.selected == 2  # the list follows
    assert tuple(camera.center) == centre and camera.zoom == zoom
    c.people_layer.selected_label = 7  # a new label to paint a new person
    assert c.selected is None


def test_delete_then_undo_brings_back_the_person_and_their_pixels(session, qtbot):
    _, widget, c = session
    before = np.asarray(c.people_layer.data).copy()
    c.approve([2])
    c.select(2)
    widget.people.delete_button.click()
    assert 2 not in c.review.people and not np.any(c.people_layer.data == 2)
    widget.people.undo_button.click()
    qtbot.wait(300)  # the debounced sync from the layer must not undo the undo
    assert c.review.people[2].status == Status.APPROVED
    assert c.review.people[2].area == int((before == 2).sum())
    np.testing.assert_array_equal(c.people_layer.data, before)


def big_session(panel, qtbot, tmp_path):
    viewer, widget = panel
    image, labels = street(shape=(1200, 1600))
    path = tmp_path / "big.png"
    Image.fromarray(image).save(path, compress_level=1)
    viewer.open(path)
    c = widget.controller
    c.adopt(viewer.add_labels(labels, name="masks"))
    idle(qtbot, c)
    c.approve_all()
    return viewer, widget, c


def test_cancel_during_export_writes_nothing_and_says_so(panel, qtbot, tmp_path):
    _viewer, widget, c = big_session(panel, qtbot, tmp_path)
    out, private = tmp_path / "out", tmp_path / "private"
    out.mkdir()
    seen = []
    c.job_changed.connect(seen.append)
    c.export(out, review_folder=private)
    widget.job.cancel_button.click()
    assert "cancelling" in widget.job.status.text()
    idle(qtbot, c)
    assert list(out.iterdir()) == [] and not any(private.glob("*"))
    assert widget.job.status.text() == "Export cancelled: nothing was written."
    assert seen[-1] is None and not widget.job.progress.isVisible()
    # And without Cancel the progress bar moves through the stages.
    stages = []
    c.job_changed.connect(lambda job: job and job.progress and stages.append(job.progress.stage))
    c.export(out, review_folder=private)
    idle(qtbot, c)
    assert {"read", "anonymize", "write"} <= set(stages)
    assert sorted(p.name for p in out.iterdir()) == ["big_fuzzy.png", "fuzzy-people-manifest.json"]


def test_cancel_during_apply_keeps_no_result(panel, qtbot, tmp_path):
    viewer, widget, c = big_session(panel, qtbot, tmp_path)
    c.apply()
    c.cancel()
    idle(qtbot, c)
    assert "big (fuzzy)" not in viewer.layers
    assert widget.job.status.text().startswith("Cancelled")


def test_a_phone_photo_opened_by_napari_exports_upright_with_its_masks(panel, qtbot, tmp_path):
    viewer, widget = panel
    stored, labels = street(shape=(240, 320))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    path = tmp_path / "phone.png"
    Image.fromarray(stored).save(path, exif=exif)
    viewer.open(path)  # napari's reader shows the pixels as stored
    c = widget.controller
    np.testing.assert_array_equal(viewer.layers["phone"].data, stored)
    qtbot.waitUntil(lambda: c.photo_problem is not None, timeout=10_000)
    assert "EXIF orientation 6" in c.photo_problem
    assert widget.photo.upright_button.isVisibleTo(widget)
    c.adopt(viewer.add_labels(labels, name="masks"))  # drawn on the stored pixels
    idle(qtbot, c)
    c.approve_all()
    (tmp_path / "out").mkdir()
    c.export(tmp_path / "out", review_folder=tmp_path / "private")
    idle(qtbot, c)
    upright = read_photo(path).pixels
    written = np.asarray(Image.open(tmp_path / "out" / "phone_fuzzy.png"))
    assert written.shape == upright.shape == (320, 240, 3)
    masks = np.asarray(Image.open(tmp_path / "private" / "phone_fuzzy.png.people.png"))
    np.testing.assert_array_equal(masks, orient(labels, 6))  # turned with the photo
    outside = grow(masks, 4) == 0
    np.testing.assert_array_equal(written[outside], upright[outside])

    widget.photo.upright_button.click()
    np.testing.assert_array_equal(viewer.layers["phone"].data, upright)
    np.testing.assert_array_equal(viewer.layers["masks"].data, orient(labels, 6))
    assert c.photo_problem is None and not widget.photo.upright_button.isVisibleTo(widget)


def test_closing_the_panel_lets_go_and_keeps_the_review(session, qtbot):
    viewer, widget, c = session
    c.approve([1])
    c.reject([2])
    c.set_preview(True)
    idle(qtbot, c)
    layer = c.people_layer
    assert set(layer.keymap) >= {"A", "R", "N"} or len(layer.keymap) >= 3
    viewer.window.remove_dock_widget(widget)  # what the panel's close button does
    assert c.people_layer is None
    assert len(layer.keymap) == 0  # A, R and N no longer act on an invisible review
    assert "street (preview)" not in viewer.layers
    approved_before = c.review.approved_labels()
    viewer.add_labels(np.zeros_like(layer.data), name="other")
    assert c.people_layer is None  # no longer listening to the viewer
    # Reopened, the panel continues the review.
    _, again = viewer.window.add_plugin_dock_widget(PLUGIN, "Fuzzy People")
    again.controller.adopt(layer)
    idle(qtbot, again.controller)
    assert again.controller.review.approved_labels() == approved_before == [1]
    assert again.controller.review.people[2].status == Status.REJECTED


def test_a_reopened_review_exports_the_photo_not_its_record(panel, qtbot, tmp_path):
    from napari_fuzzy_people.core import AnonymizeSettings, ReviewModel
    from napari_fuzzy_people.io.record import export_anonymized

    viewer, widget = panel
    image, labels = street()
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
    c = widget.controller
    idle(qtbot, c)
    assert c.photo_layer is viewer.layers["street"]
    assert c.people_layer is viewer.layers["street people"]
    assert {k: p.status for k, p in c.review.people.items()} == {
        1: Status.APPROVED,
        2: Status.PROPOSED,
    }
    assert c.settings.method == "pixelate" and c.settings.strength == 12
    assert "Reopened the review" in widget.job.status.text()
    c.approve([2])
    again = tmp_path / "again"
    again.mkdir()
    c.export(again, review_folder=tmp_path / "private2")
    idle(qtbot, c)
    written = np.asarray(Image.open(again / "street_fuzzy.png"))
    assert np.any(written != image, axis=-1)[labels > 0].mean() > 0.5
    record = json.loads((tmp_path / "private2" / "street_fuzzy.png.record.json").read_text())
    assert record["input"]["path"] == str(source)
