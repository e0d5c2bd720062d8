"""The photo the segmenter tests prompt."""

import numpy as np
import pytest


@pytest.fixture
def photo():
    """120x160 RGB noise with one block of colour, a "person"-ish shape to prompt."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    image[30:100, 50:90] = (200, 60, 60)
    return image
