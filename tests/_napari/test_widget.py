"""The plugin as napari sees it: manifest, discovery, sample, panel, demo."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from napari_fuzzy_people._napari._sample_data import astronaut_people
from napari_fuzzy_people._napari._widget import FuzzyPeopleWidget
from napari_fuzzy_people.core import grow

PLUGIN = "napari-fuzzy-people"


def test_manifest_validates():
    npe2 = Path(sys.executable).with_name("npe2")
    result = subprocess.run([npe2, "validate", PLUGIN], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_napari_discovers_the_plugin():
    from npe2 import PluginManager

    pm = PluginManager.instance()
    pm.discover()
    manifest = pm.get_manifest(PLUGIN)
    assert [w.display_name for w in manifest.contributions.widgets] == ["Fuzzy People"]
    assert [s.key for s in manifest.contributions.sample_data] == ["astronaut"]


@pytest.fixture
def viewer_with_sample(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "astronaut")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Fuzzy People")
    return viewer, widget


def test_sample_opens_a_photo_and_a_people_layer(viewer_with_sample):
    viewer, _ = viewer_with_sample
    image, labels = astronaut_people()
    assert viewer.layers["astronaut"].rgb
    np.testing.assert_array_equal(viewer.layers["astronaut"].data, image)
    np.testing.assert_array_equal(viewer.layers["astronaut people"].data, labels)
    assert 0.2 < (labels == 1).mean() < 0.6  # a person, not a speck or the frame


def test_panel_docks_and_picks_the_layers(viewer_with_sample):
    viewer, widget = viewer_with_sample
    assert isinstance(widget, FuzzyPeopleWidget)
    assert widget.image_layer.value is viewer.layers["astronaut"]
    assert widget.labels_choice.value is viewer.layers["astronaut people"]
    # Privacy-first defaults.
    assert widget.method.value == "scramble"
    assert widget.background_only.value and widget.relative.value


def run_apply(qtbot, widget):
    widget.apply()
    qtbot.waitUntil(lambda: widget._worker is None, timeout=30_000)


@pytest.mark.parametrize("method", ["scramble", "pixelate", "blur", "fill"])
def test_apply_changes_approved_people_and_nothing_else(viewer_with_sample, qtbot, method):
    viewer, widget = viewer_with_sample
    original = viewer.layers["astronaut"].data.copy()
    widget.adopt(viewer.layers["astronaut people"])
    labels = viewer.layers["astronaut people"].data
    run_apply(qtbot, widget)
    assert "Nobody is approved" in widget.status.value  # nothing leaves unreviewed
    assert "astronaut (fuzzy)" not in viewer.layers
    widget.review.approve_all()
    widget.method.value = method
    run_apply(qtbot, widget)
    out = viewer.layers["astronaut (fuzzy)"].data
    margin = widget.parameters(labels)["margin"]
    region = grow(labels, margin) > 0
    np.testing.assert_array_equal(viewer.layers["astronaut"].data, original)
    np.testing.assert_array_equal(out[~region], original[~region])
    changed = np.any(out != original, axis=-1)
    assert changed[labels > 0].mean() > 0.5
    assert "1 person" in widget.status.value


def test_apply_again_updates_the_result_layer(viewer_with_sample, qtbot):
    viewer, widget = viewer_with_sample
    widget.adopt(viewer.layers["astronaut people"])
    widget.review.approve_all()
    run_apply(qtbot, widget)
    first = viewer.layers["astronaut (fuzzy)"].data.copy()
    run_apply(qtbot, widget)
    assert [layer.name for layer in viewer.layers].count("astronaut (fuzzy)") == 1
    assert not np.array_equal(viewer.layers["astronaut (fuzzy)"].data, first)  # fresh entropy


def test_method_choice_shows_its_own_strength(viewer_with_sample):
    _, widget = viewer_with_sample
    widget.method.value = "pixelate"
    assert widget.strength.label == "Block (px)" and not widget.background_only.visible
    widget.method.value = "fill"
    assert not widget.strength.visible


def test_errors_from_the_engine_reach_the_status_line(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Fuzzy People")
    viewer.add_image(np.zeros((20, 20), np.uint8), name="flat")
    widget.adopt(viewer.add_labels(np.ones((20, 20), np.uint8), name="people"))
    widget.review.approve_all()
    run_apply(qtbot, widget)  # the mask covers every pixel: nothing to pick from
    assert "whole image" in widget.status.value
    assert "flat (fuzzy)" not in viewer.layers


def demo(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "napari_fuzzy_people._napari.demo", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_demo_without_a_display_says_so_in_one_line():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = demo(env=env)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "needs a display" in result.stderr and "Traceback" not in result.stderr


def test_demo_opens_napari_with_the_panel(tmp_path):
    # pytest-xvfb gives this process a display; the demo inherits it.
    shot = tmp_path / "demo.png"
    result = demo("--screenshot", str(shot), "--apply")
    assert result.returncode == 0, result.stderr
    from PIL import Image

    with Image.open(shot) as im:
        assert im.width > 600 and im.height > 400
