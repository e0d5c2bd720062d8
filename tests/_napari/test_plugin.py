"""The plugin as napari sees it: manifest, discovery, sample, panel, demo."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from napari_fuzzy_people._napari._qt.panel import FuzzyPeopleWidget
from napari_fuzzy_people._napari._sample_data import astronaut_people
from napari_fuzzy_people.core import grow
from scenes import PLUGIN, idle


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
    viewer, panel = viewer_with_sample
    assert isinstance(panel, FuzzyPeopleWidget)
    c = panel.controller
    assert c.photo_layer is viewer.layers["astronaut"]
    assert panel.photo.photo_combo.currentText() == "astronaut"
    assert panel.photo.masks_combo.currentText() == "astronaut people"
    # Privacy-first defaults.
    assert c.settings.method == "scramble" and c.settings.source == "background"
    assert c.settings.relative and panel.anonymize.background_only.isChecked()


def adopt_sample(qtbot, panel):
    viewer = panel.controller.viewer
    panel.controller.adopt(viewer.layers["astronaut people"])
    idle(qtbot, panel.controller)
    return viewer.layers["astronaut people"].data


def run_apply(qtbot, panel):
    panel.controller.apply()
    idle(qtbot, panel.controller)


@pytest.mark.parametrize("method", ["scramble", "pixelate", "blur", "fill"])
def test_apply_changes_approved_people_and_nothing_else(viewer_with_sample, qtbot, method):
    viewer, panel = viewer_with_sample
    c = panel.controller
    original = viewer.layers["astronaut"].data.copy()
    labels = adopt_sample(qtbot, panel)
    run_apply(qtbot, panel)
    assert "Nobody is approved" in panel.job.status.text()  # nothing leaves unreviewed
    assert "astronaut (fuzzy)" not in viewer.layers
    c.approve_all()
    c.update_settings(method=method)
    run_apply(qtbot, panel)
    out = viewer.layers["astronaut (fuzzy)"].data
    region = grow(labels, c.settings.params(labels)["margin"]) > 0
    np.testing.assert_array_equal(viewer.layers["astronaut"].data, original)
    np.testing.assert_array_equal(out[~region], original[~region])
    changed = np.any(out != original, axis=-1)
    assert changed[labels > 0].mean() > 0.5
    assert "1 person" in panel.job.status.text()


def test_apply_again_updates_the_result_layer(viewer_with_sample, qtbot):
    viewer, panel = viewer_with_sample
    adopt_sample(qtbot, panel)
    panel.controller.approve_all()
    run_apply(qtbot, panel)
    first = viewer.layers["astronaut (fuzzy)"].data.copy()
    run_apply(qtbot, panel)
    assert [layer.name for layer in viewer.layers].count("astronaut (fuzzy)") == 1
    assert not np.array_equal(viewer.layers["astronaut (fuzzy)"].data, first)  # fresh entropy


def test_errors_from_the_engine_reach_the_status_line(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, "Fuzzy People")
    viewer.add_image(np.zeros((20, 20), np.uint8), name="flat")
    panel.controller.adopt(viewer.add_labels(np.ones((20, 20), np.uint8), name="people"))
    idle(qtbot, panel.controller)
    panel.controller.approve_all()
    run_apply(qtbot, panel)  # the mask covers every pixel: nothing to pick from
    assert "whole image" in panel.job.status.text()
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
