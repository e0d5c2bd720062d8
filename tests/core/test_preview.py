"""The preview at screen size: shrinking the photo, its people and the settings."""

import numpy as np
import pytest

from napari_fuzzy_people.core import METHODS, AnonymizeSettings, grow
from napari_fuzzy_people.core.preview import (
    PREVIEW_MAX,
    downscale,
    downscale_labels,
    preview,
    preview_factor,
    scale_params,
)


def cells_of(a, factor):
    """Every cell of ``a`` as a flat list of its pixels (the obvious, slow way)."""
    h, w = a.shape[:2]
    return [
        [a[y : y + factor, x : x + factor].reshape(-1, *a.shape[2:]) for x in range(0, w, factor)]
        for y in range(0, h, factor)
    ]


def photo_with_people(shape=(203, 157), seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 120, (*shape, 3), dtype=np.uint8)
    labels = np.zeros(shape, np.uint16)
    labels[20:180, 10:41] = 1
    labels[50:90, 38:70] = 3  # touches person 1: shared cells
    labels[100:103, 120:122] = 2  # smaller than a cell
    labels[150:200, 130:157] = 4  # at the partial bottom-right cells
    image[labels > 0] = rng.integers(150, 256, (int((labels > 0).sum()), 3))
    return image, labels


@pytest.mark.parametrize(
    ("shape", "target", "factor"),
    [((2656, 3984), 1366, 3), ((3984, 2656, 3), 1366, 3), ((2656, 3984), 10_000, 2),
     ((480, 640), 1366, 1), ((2048, 2048), 2048, 1), ((2049, 10), 2048, 2), ((5, 5), 0, 5)],
)  # fmt: skip
def test_the_factor_fits_the_target_never_upscales_and_is_capped(shape, target, factor):
    assert preview_factor(shape, target) == factor
    long_side = -(-max(shape[:2]) // factor)
    assert long_side <= max(1, min(target, PREVIEW_MAX))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
@pytest.mark.parametrize("factor", [1, 2, 3, 5])
@pytest.mark.parametrize("channels", [(), (3,), (4,)])
def test_downscale_is_each_cells_mean_in_the_same_dtype(dtype, factor, channels):
    rng = np.random.default_rng(factor)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "ui" else None
    low, high = (info.min, info.max) if info else (-1.0, 1.0)
    image = rng.uniform(low, high, (23, 17, *channels)).astype(dtype)
    small = downscale(image, factor)
    assert small.dtype == image.dtype
    assert small.shape == (-(-23 // factor), -(-17 // factor), *channels)
    means = np.array(
        [[c.astype(np.float64).mean(axis=0) for c in row] for row in cells_of(image, factor)]
    )
    if info:
        np.testing.assert_array_equal(small, np.floor(means + 0.5).astype(dtype))
    else:
        np.testing.assert_allclose(small, means.astype(dtype), rtol=1e-6)


def test_downscale_copies_at_factor_one_and_never_writes_its_input():
    image, _ = photo_with_people()
    before = image.copy()
    same = downscale(image, 1)
    assert same is not image and np.array_equal(same, image)
    downscale(image, 3)
    np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize("factor", [2, 3, 4, 7])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64])
def test_no_person_pixel_is_lost_and_the_lowest_label_takes_a_shared_cell(factor, dtype):
    _, labels = photo_with_people()
    labels = labels.astype(dtype)
    small = downscale_labels(labels, factor)
    assert small.dtype == labels.dtype
    for y, row in enumerate(cells_of(labels, factor)):
        for x, cell in enumerate(row):
            people = cell[cell > 0]
            assert small[y, x] == (people.min() if people.size else 0)
    # Every person is still there, however small.
    assert set(np.unique(small)) == set(np.unique(labels))


def test_only_the_kept_people_count_and_others_never_take_their_cells():
    _, labels = photo_with_people()
    small = downscale_labels(labels, 4, keep=[3, 4])
    assert set(np.unique(small)) == {0, 3, 4}
    ys, xs = np.nonzero(np.isin(labels, [3, 4]))
    assert np.all(small[ys // 4, xs // 4] == labels[ys, xs])  # 3 and 4 share no cell
    # Without keep, person 1 takes the cells it shares with 3.
    assert np.any((downscale_labels(labels, 4) == 1) & (small == 3))


def test_label_extremes_and_boolean_masks():
    top = np.zeros((4, 4), np.uint16)
    top[0, 0], top[3, 3] = 65535, 7
    np.testing.assert_array_equal(downscale_labels(top, 2), [[65535, 0], [0, 7]])
    mask = top > 0
    np.testing.assert_array_equal(downscale_labels(mask, 3), [[True, False], [False, True]])
    with pytest.raises(ValueError, match=r"0\.\.65535"):
        downscale_labels(np.array([[-1]]), 2)
    with pytest.raises(ValueError, match="factor"):
        downscale_labels(top, 0)


def test_strengths_and_margins_scale_per_person_with_floors():
    _, labels = photo_with_people(shape=(1000, 400))
    labels[:] = 0
    labels[0:800, 0:100] = 1  # tall: strength 40, margin 10
    labels[900:950, 200:220] = 2  # short: at the floors, 16 and 4
    settings = AnonymizeSettings()  # scramble, relative
    full = settings.params(labels)
    assert full["radius"] == {1: 40, 2: 16} and full["margin"] == {1: 10, 2: 4}
    small = scale_params(full, 6)
    assert small == {**full, "radius": {1: 7, 2: 3}, "margin": {1: 2, 2: 1}}
    assert scale_params(full, 40)["radius"] == {1: 1, 2: 1}  # never below 1 pixel
    assert scale_params(full, 1) == full


@pytest.mark.parametrize(
    ("params", "factor", "expected"),
    [({"method": "pixelate", "block": 10, "margin": 0}, 4, {"block": 2, "margin": 0}),
     ({"method": "blur", "sigma": {1: 3.0}, "margin": 2.5}, 2, {"sigma": {1: 1.5}, "margin": 1}),
     ({"method": "fill", "margin": {1: 5}}, 3, {"margin": {1: 2}, "ring": 2}),
     ({"method": "scramble", "source": "any", "radius": 5, "margin": 0}, 100,
      {"radius": 1, "margin": 0, "source": "any"})],
)  # fmt: skip
def test_each_methods_strength_scales_as_documented(params, factor, expected):
    assert scale_params(params, factor) == {**params, **expected}


@pytest.mark.parametrize("method", METHODS)
def test_at_factor_one_the_preview_is_what_apply_gives(method):
    image, labels = photo_with_people()
    settings = AnonymizeSettings(method=method)
    got = preview(image, labels, [1, 2, 4], settings, factor=1, rng=5)
    np.testing.assert_array_equal(got, settings.apply(image, labels, [1, 2, 4], rng=5))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("factor", [2, 3])
def test_every_method_previews_only_the_approved_people_grown_by_the_scaled_margin(method, factor):
    image, labels = photo_with_people()
    approved = [1, 2, 4]
    settings = AnonymizeSettings(method=method, margin=6, relative=False)
    got = preview(image, labels, approved, settings, factor=factor, rng=0)
    small = downscale(image, factor)
    assert got.shape == small.shape and got.dtype == small.dtype
    people = downscale_labels(labels, factor, keep=approved)
    region = grow(people, scale_params(settings.params(labels), factor)["margin"]) > 0
    np.testing.assert_array_equal(got[~region], small[~region])  # the rest untouched
    changed = np.any(got != small, axis=-1)
    # Every approved person pixel's cell is anonymized; person 3 is left alone.
    ys, xs = np.nonzero(np.isin(labels, approved))
    cells = np.zeros(region.shape, bool)
    cells[ys // factor, xs // factor] = True
    assert changed[cells].mean() > (0.6 if method == "blur" else 0.9)
    alone = downscale_labels(labels, factor, keep=[3]) > 0
    assert not changed[alone & ~region].any()
    # The bright people are gone from the preview (scramble picks from the background).
    if method in ("scramble", "fill"):
        assert got[cells].mean() < 0.8 * small[cells].mean()


def test_every_cell_touched_by_a_person_is_anonymized():
    image, labels = photo_with_people()
    image[labels == 0] = 10  # so the fill colour (the band's mean) is 10
    got = preview(image, labels, [1, 2, 3, 4], AnonymizeSettings("fill", margin=0), factor=4)
    people = downscale_labels(labels, 4) > 0
    assert np.all(downscale(image, 4)[people] != 10)  # even a cell one person pixel touches
    assert np.all(got == 10)


def test_nobody_approved_is_the_shrunk_photo():
    image, labels = photo_with_people()
    np.testing.assert_array_equal(
        preview(image, labels, [], AnonymizeSettings(), factor=3), downscale(image, 3)
    )
