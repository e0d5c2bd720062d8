"""The live preview at screen size in a real viewer: what it shows, where, and when.

The photo is larger than the preview (2000x3000), with two small people, so
the preview is computed shrunk while Apply and Export work at full size.
"""

import numpy as np
import pytest
from PIL import Image

from napari_fuzzy_people._napari._output import PREVIEW_MIN, PreviewStatus
from napari_fuzzy_people.core.preview import downscale, preview, preview_factor
from scenes import idle

SHAPE = (2000, 3000)


def big_photo():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 100, (*SHAPE, 3), dtype=np.uint8)
    labels = np.zeros(SHAPE, np.uint8)
    labels[900:1100, 1000:1060] = 1
    labels[1200:1330, 2000:2041] = 2  # 41 wide: its cells straddle the 4-pixel grid
    image[labels > 0] = 230
    return image, labels


def drawn(layer):
    """The world box a layer's pixels cover, edges included (napari's extent runs
    from the first pixel's centre to the last's)."""
    extent = layer.extent
    return extent.world + np.array([[-0.5], [0.5]]) * extent.step


@pytest.fixture
def big(panel, qtbot):
    """(viewer, panel, controller): the big photo, both people approved, preview on at
    a 750-pixel target (a factor of 4: cells fit the photo exactly)."""
    viewer, widget = panel
    image, labels = big_photo()
    viewer.add_image(image, name="photo", rgb=True)
    c = widget.controller
    c.adopt(viewer.add_labels(labels, name="masks"))
    idle(qtbot, c)
    c.approve_all()
    c.preview_target = 750
    states = []
    c.preview_changed.connect(states.append)
    c.set_preview(True)
    idle(qtbot, c)
    return viewer, widget, c, states


def test_a_change_previews_at_screen_size_over_the_whole_photo(big, qtbot):
    viewer, _, c, _ = big
    c.update_settings(method="fill", margin=8)
    idle(qtbot, c)
    layer = viewer.layers["photo (preview)"]
    photo = viewer.layers["photo"]
    assert np.shape(layer.data) == (500, 750, 3)
    assert c.preview_state.factor == 4 and c.preview_state.shape == (500, 750)
    np.testing.assert_array_equal(drawn(layer), drawn(photo))
    np.testing.assert_array_equal(drawn(photo), [[-0.5, -0.5], [1999.5, 2999.5]])
    # Each preview pixel lies over the cell it stands for.
    for cell in [(0, 0), (237, 512), (499, 749)]:
        centre = photo.data_to_world(np.array(cell) * 4 + 1.5)
        np.testing.assert_allclose(layer.world_to_data(centre), cell)
    # What it shows: the core's preview of Apply at that scale (fill is not random).
    image, labels = photo.data, np.asarray(c.people_layer.data)
    expected = preview(image, labels, [1, 2], c.settings, factor=4)
    np.testing.assert_array_equal(layer.data, expected)
    assert np.any(expected != downscale(image, 4))
    # New pixels in the photo layer: the next change previews them, not the old ones.
    photo.data = 255 - image
    c.update_settings(margin=9)
    idle(qtbot, c)
    expected = preview(photo.data, labels, [1, 2], c.settings, factor=4)
    np.testing.assert_array_equal(layer.data, expected)


def test_the_factor_follows_the_canvas_by_default(big, qtbot):
    viewer, _, c, _ = big
    c.preview_target = None
    c.update_settings(margin=6)
    idle(qtbot, c)
    target = max(PREVIEW_MIN, *viewer.canvas.size)
    assert c.preview_state.factor == preview_factor(SHAPE, target) > 1
    layer = viewer.layers["photo (preview)"]
    assert np.shape(layer.data)[:2] == tuple(-(-n // c.preview_state.factor) for n in SHAPE)


def test_updating_is_shown_then_cleared(big, qtbot):
    viewer, widget, c, states = big
    label = widget.anonymize.preview_state
    assert label.text() == "Up to date, 1/4 size" and "full-size" in label.toolTip()
    del states[:]
    c.update_settings(margin=7)
    assert c.preview_busy and c.preview_state.status == PreviewStatus.UPDATING
    assert label.text() == "Updating preview…"
    assert "photo (preview, updating…)" in viewer.layers  # marked in the layer list
    # ... and in the bar that stays in view when the panel is scrolled
    assert widget.job.preview_line.isVisibleTo(widget)
    idle(qtbot, c)
    assert not widget.job.preview_line.isVisibleTo(widget)
    assert [s.status for s in states] == ["updating", "ready"]
    assert label.text() == "Up to date, 1/4 size"
    assert "photo (preview)" in viewer.layers
    c.set_preview(False)
    assert label.text() == "" and "photo (preview)" not in viewer.layers


def test_a_newer_change_cancels_the_older_preview(big, qtbot):
    _, _, c, states = big
    del states[:]
    c.update_settings(margin=6)
    c.update_settings(margin=9)
    idle(qtbot, c)
    seen = [(s.status.value, s.settings.margin) for s in states]
    assert seen == [("updating", 6), ("cancelled", 6), ("updating", 9), ("ready", 9)]


def test_apply_and_export_work_at_full_size(big, qtbot, tmp_path):
    viewer, _, c, _ = big
    c.update_settings(method="pixelate", strength=12, relative=False)
    image, labels = viewer.layers["photo"].data, np.asarray(c.people_layer.data)
    c.apply()
    idle(qtbot, c)
    result = viewer.layers["photo (fuzzy)"].data
    full = np.asarray(result[0] if viewer.layers["photo (fuzzy)"].multiscale else result)
    assert full.shape == image.shape
    np.testing.assert_array_equal(full, c.settings.apply(image, labels, [1, 2]))
    out = tmp_path / "out"
    out.mkdir()
    c.export(out, review_folder=tmp_path / "private")
    idle(qtbot, c)
    written = np.asarray(Image.open(out / "photo_fuzzy.png"))
    assert written.shape == image.shape
    np.testing.assert_array_equal(written, full)  # what Apply showed, never the preview
    assert np.any(written[labels > 0] != image[labels > 0])
