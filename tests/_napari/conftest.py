"""A viewer with the docked panel, tiny real models, and synthetic street photos."""

import numpy as np
import pytest
from PIL import Image

from doubles import tiny_detector, tiny_segmenter
from napari_fuzzy_people.batch.leakcheck import LeakCheck
from scenes import PLUGIN, street

#: The leak check with the marker double (tests/leak_doubles.py) as its detector: it
#: runs on every export, and finds nothing in a photo without pure magenta.
MARKER_CHECK = LeakCheck(factory="leak_doubles:marker_detectors")


@pytest.fixture
def panel(make_napari_viewer):
    """(viewer, panel): napari with the Fuzzy People panel docked, as a user opens it.

    Its leak check uses the marker double (:data:`MARKER_CHECK`), not the real
    detectors (weights to download): tests about the check choose their own.
    """
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Fuzzy People")
    widget.controller.leak_check = MARKER_CHECK
    return viewer, widget


@pytest.fixture
def tiny_models():
    """Functions that build the tiny real models (called in the panel's worker)."""
    return {"detector": tiny_detector, "segmenter": tiny_segmenter}


@pytest.fixture
def photo_file(tmp_path):
    """A street photo saved as a JPEG in its own folder; returns (path, pixels, labels)."""
    image, labels = street()
    path = tmp_path / "photos" / "street.jpg"
    path.parent.mkdir()
    Image.fromarray(image).save(path, quality=95)
    with Image.open(path) as im:
        decoded = np.asarray(im)
    return path, decoded, labels
