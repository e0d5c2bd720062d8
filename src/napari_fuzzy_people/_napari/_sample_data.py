"""Sample data: scikit-image's astronaut photo, with a hand-drawn person mask.

Both ship with scikit-image, so a new user has something to try offline.
Photo: Eileen Collins, NASA (public domain), via ``skimage.data.astronaut``.
"""

from __future__ import annotations

import numpy as np

# Outline of the person, (column, row) pixel corners, drawn by hand.
ASTRONAUT_OUTLINE = [
    (225, 12),
    (265, 18),
    (292, 40),
    (300, 75),
    (294, 110),
    (280, 150),
    (292, 165),
    (306, 200),
    (310, 240),
    (340, 262),
    (358, 290),
    (362, 320),
    (360, 350),
    (320, 375),
    (290, 400),
    (282, 450),
    (285, 512),
    (15, 512),
    (18, 420),
    (22, 340),
    (35, 285),
    (70, 240),
    (112, 205),
    (120, 175),
    (160, 150),
    (150, 110),
    (152, 70),
    (170, 35),
    (195, 18),
]


def astronaut_people() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut photo (512, 512, 3) uint8 and its label image (one person)."""
    from skimage import data, draw

    image = data.astronaut()
    cols, rows = np.array(ASTRONAUT_OUTLINE, dtype=float).T
    labels = np.zeros(image.shape[:2], np.uint8)
    rr, cc = draw.polygon(rows, cols, shape=labels.shape)
    labels[rr, cc] = 1
    return image, labels


def astronaut_sample():
    """npe2 sample: the photo and an editable people layer."""
    image, labels = astronaut_people()
    return [
        (image, {"name": "astronaut", "rgb": True}, "image"),
        (labels, {"name": "astronaut people", "opacity": 0.5}, "labels"),
    ]
