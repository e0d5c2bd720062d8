"""The compiled background scramble's nearest-pixel search, piece by piece and whole."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

from napari_fuzzy_people.core import scramble
from napari_fuzzy_people.core.methods._kernels import set_kernels

pytest.importorskip("numba")

from numba import njit

from napari_fuzzy_people.core.methods import _background_numba as bg

INF = int(bg._INF)


@njit
def envelope(g):
    m = g.size
    work = np.empty((5, m), np.int32)
    bg._envelope(g, m, work[0], work[1], work[2], work[3], work[4])
    return work[3], work[4]


@settings(deadline=None, max_examples=300)
@given(
    st.lists(st.one_of(st.integers(0, 12), st.just(INF)), min_size=1, max_size=40).map(
        lambda v: np.array(v, np.int32)
    )
)
def test_row_pass_is_the_exact_chessboard_envelope(g):
    dist, arg = envelope(g)
    x = np.arange(g.size)
    cost = np.maximum(np.abs(x[:, None] - x[None, :]), g[None, :].astype(np.int64))
    np.testing.assert_array_equal(dist, cost.min(axis=1))
    np.testing.assert_array_equal(cost[x, arg], dist)  # the argument reaches it


def nearest_rule_holds(image, labels, out, radius):
    region = labels != 0
    ys, xs = np.nonzero(region)
    sy, sx = out[..., 0][region].astype(int), out[..., 1][region].astype(int)
    assert not region[sy, sx].any()
    depth = ndi.distance_transform_cdt(region, metric="chessboard")[region]
    reach = np.maximum(np.abs(sy - ys), np.abs(sx - xs))
    deep = depth > radius
    np.testing.assert_array_equal(reach[deep], depth[deep])
    assert np.all(reach[~deep] <= radius)
    return deep


@pytest.mark.parametrize("threads", ["1", "3"])
def test_wide_people_across_strips_and_bands(monkeypatch, threads):
    # Wider than a strip of the vertical pass, taller than a band: runs and
    # columns that cross task edges, a person touching the image's left edge.
    monkeypatch.setenv("NUMBA_NUM_THREADS", threads)
    h, w = 90, 2 * bg.STRIP + 77
    yy, xx = np.mgrid[:h, :w]
    labels = np.zeros((h, w), np.uint16)
    labels[5:80, 0:900] = 1
    labels[(yy - 45) ** 2 / 40**2 + (xx - 1200) ** 2 / 300**2 <= 1] = 2
    labels[20:30, 1000:1010] = 0  # a hole of background inside person 2
    image = np.stack([yy, xx, np.zeros_like(yy)], axis=-1).astype(np.uint16)
    set_kernels("numba")
    try:
        out = scramble(image, labels, radius=4, source="background", rng=3)
    finally:
        set_kernels(None)
    deep = nearest_rule_holds(image, labels, out, 4)
    assert deep.sum() > 10_000


def test_a_column_masked_top_to_bottom(monkeypatch):
    # No background above or below: the nearest is found sideways.
    labels = np.zeros((70, 40), np.uint8)
    labels[:, 10:30] = 1
    yy, xx = np.mgrid[:70, :40]
    image = np.stack([yy, xx, xx], axis=-1).astype(np.uint8)
    set_kernels("numba")
    try:
        out = scramble(image, labels, radius=2, source="background", rng=0)
    finally:
        set_kernels(None)
    assert nearest_rule_holds(image, labels, out, 2).any()
