"""Synthetic photos for the panel's tests, waiting for the panel's work, choosing in it."""

import numpy as np

PLUGIN = "napari-fuzzy-people"


def street(seed=0, shape=(240, 320)):
    """A photo with two 'people' (bright upright blobs) on a textured street, and their
    label image."""
    rng = np.random.default_rng(seed)
    h, w = shape
    image = rng.integers(60, 120, (h, w, 3), dtype=np.uint8)
    labels = np.zeros((h, w), np.uint8)
    labels[h // 5 : 4 * h // 5, w // 8 : w // 8 + w // 8] = 1
    labels[h // 4 : 9 * h // 10, w // 2 : w // 2 + w // 10] = 2
    # Textured, as clothes and faces are: every method visibly changes them.
    for label, colour in ((1, (200, 160, 140)), (2, (60, 60, 190))):
        where = labels == label
        noise = rng.integers(-50, 50, (int(where.sum()), 3))
        image[where] = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
    return image, labels


def idle(qtbot, controller, timeout=60_000):
    """Wait until the session's job and preview are done."""
    qtbot.waitUntil(lambda: not controller.busy and not controller.preview_busy, timeout=timeout)


def choose(box, data):
    """Pick the item of a combo box holding ``data``, as a user does (``activated`` too)."""
    index = box.findData(data)
    box.setCurrentIndex(index)
    box.activated.emit(index)
