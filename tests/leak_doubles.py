"""Test doubles for the leak check's detector protocol (numpy only).

:class:`MarkerDetectorDouble` "detects" each intact block of pure magenta: a
stand-in for a face that anonymizing really destroys, so tests see the
check react to the pixels that would be written, not to a script.
"""

import numpy as np
from scipy import ndimage as ndi

from napari_fuzzy_people.core.leaks import Detection

MAGENTA = (255, 0, 255)
MIN_AREA = 64


def put_marker(image, y, x, size=12):
    """Paint a marker (a magenta square) into an RGB image, in place."""
    image[y : y + size, x : x + size] = MAGENTA
    return image


class MarkerDetectorDouble:
    """Finds every 8-connected blob of at least 64 magenta pixels, as ``kind``."""

    def __init__(self, kind="face"):
        self.kind = kind

    def find(self, image):
        rgb = np.asarray(image)[..., :3]
        hit = np.all(rgb == MAGENTA, axis=-1)
        blobs, _ = ndi.label(hit, structure=np.ones((3, 3)))
        found = []
        for i, where in enumerate(ndi.find_objects(blobs), start=1):
            if where is not None and np.count_nonzero(blobs[where] == i) >= MIN_AREA:
                ys, xs = where
                box = (xs.start, ys.start, xs.stop, ys.stop)
                found.append(Detection(self.kind, box, 0.99, "marker-double"))
        return found

    def describe(self):
        return {"name": "marker-double", "kind": self.kind}


def marker_detectors():
    """For ``--leak-detectors leak_doubles:marker_detectors``."""
    return [MarkerDetectorDouble("face")]


def person_marker_detectors():
    """For tests where the markers stand for whole people (a person detector)."""
    return [MarkerDetectorDouble("person")]
