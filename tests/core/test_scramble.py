"""Properties of scramble: where every replaced pixel comes from, and what never changes.

Every test runs twice: on the compiled (numba) kernels and on the numpy reference.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage as ndi
from scipy.stats import chisquare

from napari_fuzzy_people.core import grow, scramble
from napari_fuzzy_people.core.methods import _scramble as methods_module
from napari_fuzzy_people.core.methods._kernels import kernels, set_kernels

DTYPES = [np.uint8, np.uint16, np.float32, np.float64]


@pytest.fixture(autouse=True, params=["numba", "numpy"])
def backend(request):
    set_kernels(request.param)
    assert kernels() == request.param
    yield request.param
    set_kernels(None)


def coordinate_image(h, w, dtype=np.uint16):
    """Channel 0 holds each pixel's row, channel 1 its column, channel 2 a constant."""
    yy, xx = np.mgrid[:h, :w]
    return np.stack([yy, xx, np.full_like(yy, 7)], axis=-1).astype(dtype)


@st.composite
def image_and_mask(draw, min_side=1, max_side=40):
    h = draw(st.integers(min_side, max_side))
    w = draw(st.integers(min_side, max_side))
    mask = draw(arrays(bool, (h, w)))
    return coordinate_image(h, w), mask


def sources(out, mask):
    """Row and column each masked pixel's new value came from."""
    return out[..., 0][mask].astype(int), out[..., 1][mask].astype(int)


@settings(deadline=None, max_examples=150)
@given(
    data=image_and_mask(),
    radius=st.integers(1, 6),
    margin=st.integers(0, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_source_picks_inside_the_window(data, radius, margin, seed):
    image, mask = data
    before = image.copy()
    out = scramble(image, mask, radius=radius, margin=margin, rng=seed)
    region = grow(mask, margin)
    np.testing.assert_array_equal(image, before)  # input untouched
    np.testing.assert_array_equal(out[~region], image[~region])
    ys, xs = np.nonzero(region)
    sy, sx = sources(out, region)
    assert np.all(np.abs(sy - ys) <= radius)
    assert np.all(np.abs(sx - xs) <= radius)
    assert np.all(out[region][:, 2] == 7)  # channels move together


def chebyshev_to_background(region):
    """L-infinity distance from each pixel to the nearest unmasked pixel."""
    return ndi.distance_transform_cdt(region, metric="chessboard")


@settings(deadline=None, max_examples=150)
@given(
    data=image_and_mask(min_side=2),
    radius=st.integers(1, 6),
    margin=st.integers(0, 2),
    seed=st.integers(0, 2**32 - 1),
)
def test_background_source_never_picks_a_person(data, radius, margin, seed):
    image, mask = data
    region = grow(mask, margin)
    if region.all():
        with pytest.raises(ValueError, match="whole image"):
            scramble(image, mask, radius=radius, margin=margin, source="background")
        return
    out = scramble(image, mask, radius=radius, margin=margin, source="background", rng=seed)
    np.testing.assert_array_equal(out[~region], image[~region])
    ys, xs = np.nonzero(region)
    sy, sx = sources(out, region)
    assert not region[sy, sx].any(), "a value was taken from a masked pixel"
    depth = chebyshev_to_background(region)[ys, xs]
    reach = np.maximum(np.abs(sy - ys), np.abs(sx - xs))
    in_window = depth <= radius
    # Windows holding background pick inside the window; others the nearest.
    assert np.all(reach[in_window] <= radius)
    np.testing.assert_array_equal(reach[~in_window], depth[~in_window])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", [None, 1, 3, 4, 5])
@pytest.mark.parametrize("source", ["any", "background"])
def test_dtypes_and_channels(dtype, channels, source):
    rng = np.random.default_rng(0)
    shape = (30, 40) if channels is None else (30, 40, channels)
    if np.issubdtype(dtype, np.integer):
        image = rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    else:
        image = rng.random(shape).astype(dtype)
    mask = np.zeros((30, 40), bool)
    mask[5:20, 10:25] = True
    out = scramble(image, mask, radius=3, source=source, rng=1)
    assert out.dtype == image.dtype and out.shape == image.shape
    assert out[mask].tobytes() != image[mask].tobytes()
    np.testing.assert_array_equal(out[~mask], image[~mask])
    if channels == 4:
        np.testing.assert_array_equal(out[..., 3], image[..., 3])  # alpha untouched
    # Every new colour is one of the image's own pixels' colours.
    colour = image if channels != 4 else image[..., :3]
    new = out if channels != 4 else out[..., :3]
    pixels = {p.tobytes() for p in colour.reshape(30 * 40, -1)}
    assert all(p.tobytes() in pixels for p in new[mask].reshape(mask.sum(), -1))


def test_label_image_and_label_subset():
    image = coordinate_image(40, 40)
    labels = np.zeros((40, 40), np.int32)
    labels[5:15, 5:15] = 1
    labels[20:35, 20:35] = 2
    labels[2:4, 30:38] = 3
    out = scramble(image, labels, labels=[2, 3], radius=4, rng=0)
    untouched = ~np.isin(labels, [2, 3])
    np.testing.assert_array_equal(out[untouched], image[untouched])
    assert (out[labels == 2] != image[labels == 2]).any()


def test_per_person_radius():
    image = coordinate_image(60, 60)
    labels = np.zeros((60, 60), np.int32)
    labels[10:30, 10:30] = 1
    labels[35:55, 35:55] = 2
    out = scramble(image, labels, radius={1: 1, 2: 9}, rng=3)
    for label, radius in [(1, 1), (2, 9)]:
        ys, xs = np.nonzero(labels == label)
        sy, sx = sources(out, labels == label)
        reach = np.maximum(np.abs(sy - ys), np.abs(sx - xs))
        assert reach.max() == radius  # every offset allowed, none beyond


def test_interior_offsets_are_uniform():
    image = coordinate_image(120, 120)
    mask = np.zeros((120, 120), bool)
    mask[10:110, 10:110] = True
    out = scramble(image, mask, radius=2, rng=12345)
    ys, xs = np.nonzero(mask)
    sy, sx = sources(out, mask)
    cell = (sy - ys + 2) * 5 + (sx - xs + 2)
    counts = np.bincount(cell, minlength=25)
    assert chisquare(counts).pvalue > 1e-4


def test_clipped_window_at_the_corner_is_uniform():
    image = coordinate_image(6, 6)
    mask = np.zeros((6, 6), bool)
    mask[0, 0] = True
    rng = np.random.default_rng(7)
    picks = [tuple(scramble(image, mask, radius=2, rng=rng)[0, 0, :2]) for _ in range(1800)]
    values, counts = np.unique(np.array(picks), axis=0, return_counts=True)
    assert {tuple(v) for v in values} == {(y, x) for y in range(3) for x in range(3)}
    assert chisquare(counts).pvalue > 1e-4


@pytest.mark.parametrize("rounds", [0, 8])
def test_background_picks_are_uniform_over_the_background(monkeypatch, rounds):
    # Rounds=0 sends every pick through the exact (summed-area) sampler.
    monkeypatch.setattr(methods_module, "_REJECTION_ROUNDS", rounds)
    monkeypatch.setattr(methods_module, "_COMPILED_ROUNDS", rounds)
    image = coordinate_image(21, 21)
    mask = np.ones((21, 21), bool)
    background = [(0, 3), (4, 20), (17, 9), (20, 20)]
    for y, x in background:
        mask[y, x] = False
    rng = np.random.default_rng(99)
    picks = []
    for _ in range(400):
        out = scramble(image, mask, radius=20, source="background", rng=rng)
        picks.append(tuple(out[10, 10, :2]))
    values, counts = np.unique(np.array(picks), axis=0, return_counts=True)
    assert {tuple(v) for v in values} == set(background)
    assert chisquare(counts).pvalue > 1e-4


def test_deep_pixels_take_the_nearest_background():
    image = coordinate_image(41, 41)
    mask = np.zeros((41, 41), bool)
    mask[10:31, 10:31] = True
    out = scramble(image, mask, radius=2, source="background", rng=0)
    sy, sx = out[20, 20, :2].astype(int)
    assert max(abs(sy - 20), abs(sx - 20)) == 11  # centre of a 21 px square


def test_rng_none_is_fresh_and_seed_reproduces():
    image = coordinate_image(50, 50)
    mask = np.ones((50, 50), bool)
    a = scramble(image, mask, radius=5)
    b = scramble(image, mask, radius=5)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(
        scramble(image, mask, radius=5, rng=42), scramble(image, mask, radius=5, rng=42)
    )
    gen = np.random.default_rng(1)
    assert scramble(image, mask, radius=5, rng=gen).shape == image.shape


def test_empty_mask_returns_a_copy():
    image = coordinate_image(10, 10)
    for source in ["any", "background"]:
        out = scramble(image, np.zeros((10, 10), bool), radius=3, source=source)
        np.testing.assert_array_equal(out, image)
        assert out is not image


def test_large_radius_on_a_small_image():
    image = coordinate_image(5, 7)
    mask = np.ones((5, 7), bool)
    out = scramble(image, mask, radius=100, rng=0)
    assert out.shape == image.shape
    assert (out[..., 0] < 5).all() and (out[..., 1] < 7).all()


def test_non_contiguous_input():
    image = coordinate_image(30, 30)[::2, ::3]
    mask = np.ones(image.shape[:2], bool)
    out = scramble(image, mask, radius=2, rng=0)
    assert out.shape == image.shape
    values = {tuple(p) for p in image.reshape(-1, 3)}
    assert all(tuple(p) in values for p in out.reshape(-1, 3))
