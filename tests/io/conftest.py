"""Fixtures of the io tests."""

import numpy as np
import pytest
from PIL import ImageCms


@pytest.fixture
def image():
    return np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def srgb():
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
