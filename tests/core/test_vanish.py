"""Vanish: people filled with background, from background only, with its texture."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_fuzzy_people.core import AnonymizeSettings, anonymize, grow
from napari_fuzzy_people.core.methods import vanish

pytest.importorskip("patchmatch")

RED, GREEN = (255, 0, 0), (0, 255, 0)


def texture(h, w, seed=0):
    """Grass-like background: smoothed noise, in three channels."""
    rng = np.random.default_rng(seed)
    noise = ndi.gaussian_filter(rng.normal(size=(h, w, 3)), (1.2, 1.2, 0))
    return np.clip(128 + 40 * noise / noise.std(), 0, 255).astype(np.uint8)


@pytest.fixture
def scene():
    image = texture(160, 240)
    labels = np.zeros((160, 240), np.uint16)
    labels[30:130, 40:80] = 1
    labels[20:140, 150:200] = 2
    image[labels == 1] = RED
    image[labels == 2] = GREEN
    return image, labels


def colour_share(pixels, colour):
    return np.all(pixels == colour, axis=-1).mean()


def test_a_person_vanishes_with_patches_of_background_only(scene):
    image, labels = scene
    out = vanish(image, labels, labels=[1], margin=2, rng=0)
    hole = grow(labels == 1, 2)
    assert colour_share(out[hole], RED) == 0  # the person is gone
    assert colour_share(out[hole], GREEN) == 0  # nobody else was copied in
    np.testing.assert_array_equal(out[~hole], image[~hole])  # the rest untouched
    np.testing.assert_array_equal(out[labels == 2], image[labels == 2])


def test_the_filled_texture_matches_its_surroundings(scene):
    # The measure: high-pass standard deviation inside the filled region
    # against a ring outside it, at least 0.8 (a flat fill gives 0).
    image, labels = scene
    hole = grow(labels == 1, 2)
    out = vanish(image, labels, labels=[1], margin=2, rng=0)

    def high_pass_ratio(img):
        g = img.astype(np.float32).mean(axis=-1)
        hp = g - ndi.gaussian_filter(g, 2)
        inside = ndi.binary_erosion(hole, iterations=3)
        ring = ndi.binary_dilation(hole, iterations=15) & ~ndi.binary_dilation(hole, iterations=3)
        ring &= labels == 0
        return hp[inside].std() / hp[ring].std()

    assert high_pass_ratio(out) >= 0.8
    flat = anonymize(image, labels, labels=[1], method="fill", margin=2)
    assert high_pass_ratio(flat) < 0.1


def test_a_seed_reproduces_and_fresh_entropy_does_not(scene):
    image, labels = scene
    a = vanish(image, labels, labels=[1, 2], rng=5)
    assert np.array_equal(a, vanish(image, labels, labels=[1, 2], rng=5))
    assert not np.array_equal(a, vanish(image, labels, labels=[1, 2], rng=6))


def test_gray_and_alpha_photos(scene):
    image, labels = scene
    gray = vanish(image[..., 1], labels, labels=[2], rng=0)
    assert gray.shape == labels.shape and not (gray[labels == 2] == 255).all()
    rgba = np.dstack([image, np.arange(160 * 240).reshape(160, 240) % 256]).astype(np.uint8)
    out = vanish(rgba, labels, labels=[1], rng=0)
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])


def test_what_vanish_cannot_do_is_said(scene):
    image, labels = scene
    with pytest.raises(ValueError, match="8-bit"):
        vanish(image.astype(np.uint16) * 257, labels, labels=[1])
    with pytest.raises(ValueError, match="background"):
        vanish(image, np.ones(labels.shape, bool))


def test_the_settings_and_the_panel_offer_it(scene):
    image, labels = scene
    settings = AnonymizeSettings(method="vanish")
    assert settings.params(labels)["method"] == "vanish"
    out = settings.apply(image, labels, [1, 2], rng=1)
    assert colour_share(out, RED) == 0 and colour_share(out, GREEN) == 0
