"""The compiled (numba) kernels against the numpy reference: same rule, same draws' law."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage as ndi
from scipy.stats import chi2_contingency

from napari_fuzzy_people.core import AnonymizeSettings, grow, scramble, select
from napari_fuzzy_people.core.methods._kernels import ENV_KERNELS, kernels, set_kernels, warm_up

pytest.importorskip("numba")


@pytest.fixture
def use():
    def switch(name):
        set_kernels(name)
        assert kernels() == name

    yield switch
    set_kernels(None)


def coordinate_image(h, w):
    yy, xx = np.mgrid[:h, :w]
    return np.stack([yy, xx, np.full_like(yy, 7)], axis=-1).astype(np.uint16)


def picks_at(pixel, image, mask, runs, **kwargs):
    rng = np.random.default_rng(2024)
    return [tuple(scramble(image, mask, rng=rng, **kwargs)[pixel][:2]) for _ in range(runs)]


@pytest.mark.parametrize(
    "source, radius, pixel",
    [("any", 2, (1, 1)), ("background", 3, (4, 4)), ("background", 2, (4, 2))],
)
def test_both_kernels_draw_from_the_same_distribution(use, source, radius, pixel):
    image = coordinate_image(9, 9)
    mask = np.zeros((9, 9), bool)
    mask[2:8, 1:7] = True
    mask[5, 3] = False  # a hole: the background is uneven around the pixels
    counts = {}
    for name in ("numba", "numpy"):
        use(name)
        values, n = np.unique(
            picks_at(pixel, image, mask, 1500, radius=radius, source=source),
            axis=0,
            return_counts=True,
        )
        counts[name] = {tuple(v.tolist()): int(c) for v, c in zip(values, n, strict=True)}
    assert set(counts["numba"]) == set(counts["numpy"])  # the same support
    cells = sorted(counts["numpy"])
    table = [[counts[name][c] for c in cells] for name in ("numba", "numpy")]
    assert chi2_contingency(table).pvalue > 1e-4


def test_seed_reproduces_and_seeds_differ(use):
    use("numba")
    image = coordinate_image(60, 80)
    mask = np.zeros((60, 80), bool)
    mask[10:50, 20:60] = True
    for source in ("any", "background"):
        a = scramble(image, mask, radius=4, source=source, rng=5)
        np.testing.assert_array_equal(a, scramble(image, mask, radius=4, source=source, rng=5))
        assert not np.array_equal(a, scramble(image, mask, radius=4, source=source, rng=6))
        assert not np.array_equal(a, scramble(image, mask, radius=4, source=source))


def ellipses(shape, n, seed):
    """A label image of overlapping person-like ellipses."""
    h, w = shape
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.uint16)
    yy, xx = np.mgrid[:h, :w]
    for k in range(1, n + 1):
        cy, cx = rng.integers(0, h), rng.integers(0, w)
        a, b = rng.integers(h // 10, h // 3), rng.integers(w // 20, w // 6)
        labels[((yy - cy) / a) ** 2 + ((xx - cx) / b) ** 2 <= 1] = k
    return labels


@pytest.mark.parametrize("name", ["numba", "numpy"])
def test_default_settings_follow_the_rule_per_person(use, name):
    # The panel's defaults: per-person radius and margin, background only.
    use(name)
    labels = ellipses((240, 320), 6, seed=3)
    image = coordinate_image(240, 320)
    present = np.unique(labels[labels > 0]).tolist()
    settings_ = AnonymizeSettings()
    params = settings_.params(labels)
    out = settings_.apply(image, labels, present, rng=1)
    grown = grow(labels, params["margin"])
    region = grown != 0
    np.testing.assert_array_equal(out[~region], image[~region])
    ys, xs = np.nonzero(region)
    sy, sx = out[..., 0][region].astype(int), out[..., 1][region].astype(int)
    assert not region[sy, sx].any()
    radius = np.zeros(int(labels.max()) + 1, int)
    for label, r in params["radius"].items():
        radius[label] = r
    r = radius[grown[region]]
    depth = ndi.distance_transform_cdt(region, metric="chessboard")[region]
    reach = np.maximum(np.abs(sy - ys), np.abs(sx - xs))
    deep = depth > r
    assert deep.any() and (~deep).any()  # both rules are exercised
    assert np.all(reach[~deep] <= r[~deep])
    np.testing.assert_array_equal(reach[deep], depth[deep])


@settings(deadline=None, max_examples=60)
@given(
    labels=arrays(
        np.uint16, st.tuples(st.integers(1, 30), st.integers(1, 30)), elements=st.integers(0, 4)
    ),
    margin=st.one_of(
        st.integers(0, 6),
        st.floats(0, 6),
        st.dictionaries(st.integers(1, 4), st.floats(0, 5), min_size=4, max_size=4),
    ),
)
def test_grow_is_bit_identical_on_both_kernels(labels, margin):
    try:
        out = {}
        for name in ("numba", "numpy"):
            set_kernels(name)
            out[name] = grow(labels, margin)
        np.testing.assert_array_equal(out["numba"], out["numpy"])
        assert out["numba"].dtype == out["numpy"].dtype
        for name in ("numba", "numpy"):
            set_kernels(name)
            out[name] = grow(labels != 0, 2.5)
        np.testing.assert_array_equal(out["numba"], out["numpy"])
    finally:
        set_kernels(None)


def test_environment_selects_the_reference():
    code = "from napari_fuzzy_people.core.methods._kernels import kernels; print(kernels())"
    for value, expected in [("numpy", "numpy"), ("numba", "numba")]:
        env = {**os.environ, ENV_KERNELS: value}
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        assert result.stdout.strip() == expected


def test_warm_up_compiles_and_reports(use):
    use("numba")
    assert warm_up() is True
    use("numpy")
    assert warm_up() is False


@settings(deadline=None, max_examples=80)
@given(
    labels=arrays(
        np.uint16,
        st.tuples(st.integers(2, 40), st.integers(2, 40)),
        elements=st.sampled_from([0, 0, 0, 1, 2, 3]),
    ),
    radii=st.lists(st.integers(1, 4), min_size=3, max_size=3),
    margin=st.integers(0, 2),
    seed=st.integers(0, 2**32 - 1),
)
def test_background_rule_per_person_on_both_kernels(labels, radii, margin, seed):
    # Several people, boxes that touch or overlap: the compiled kernel builds
    # its distance map per merged box, and must still find the true nearest.
    radius = dict(enumerate(radii, start=1))
    grown = grow(labels, margin)
    region = grown != 0
    image = coordinate_image(*labels.shape)
    try:
        for name in ("numba", "numpy"):
            set_kernels(name)
            if region.all():
                with pytest.raises(ValueError, match="whole image"):
                    scramble(image, labels, radius=radius, margin=margin, source="background")
                continue
            out = scramble(
                image, labels, radius=radius, margin=margin, source="background", rng=seed
            )
            np.testing.assert_array_equal(out[~region], image[~region])
            ys, xs = np.nonzero(region)
            sy, sx = out[..., 0][region].astype(int), out[..., 1][region].astype(int)
            assert not region[sy, sx].any()
            r = np.array([0, *radii])[grown[region]]
            depth = ndi.distance_transform_cdt(region, metric="chessboard")[region]
            reach = np.maximum(np.abs(sy - ys), np.abs(sx - xs))
            assert np.all(reach[depth <= r] <= r[depth <= r])
            np.testing.assert_array_equal(reach[depth > r], depth[depth > r])
    finally:
        set_kernels(None)


@pytest.mark.parametrize("name", ["numba", "numpy"])
def test_select_keeps_only_the_approved(use, name):
    use(name)
    labels = ellipses((60, 80), 5, seed=4)
    present = np.unique(labels[labels > 0]).tolist()
    assert select(labels, present) is labels  # everyone approved: no copy
    assert select(labels, [*present, 99]) is labels
    kept = present[::2]
    out = select(labels, kept)
    np.testing.assert_array_equal(out, np.where(np.isin(labels, kept), labels, 0))
    assert out.dtype == labels.dtype
    np.testing.assert_array_equal(select(labels, [99]), np.zeros_like(labels))


def _crowd(seed=3, shape=(300, 260)):
    """A photo's worth of overlapping people, several boxes and bands."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.uint16)
    for label in range(1, 9):
        y, x = rng.integers(0, shape[0] - 60), rng.integers(0, shape[1] - 40)
        labels[y : y + rng.integers(20, 60), x : x + rng.integers(10, 40)] = label
    return coordinate_image(*shape), labels


@pytest.mark.parametrize("source", ["any", "background"])
def test_a_seed_gives_the_same_image_on_any_number_of_threads(use, monkeypatch, source):
    use("numba")
    image, labels = _crowd()
    radius = {label: 3 + label for label in range(1, 9)}
    results = []
    for threads in ("1", "2", "5"):
        monkeypatch.setenv("NUMBA_NUM_THREADS", threads)
        results.append(scramble(image, labels, radius=radius, margin=2, source=source, rng=11))
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])
    assert not np.array_equal(results[0], image)


def test_kernels_called_from_threads_at_once_give_the_sequential_results(use, monkeypatch):
    # The panel's preview and Apply workers, and Dask's threads, call the
    # kernels concurrently; each call must still be its own.
    from concurrent.futures import ThreadPoolExecutor

    use("numba")
    monkeypatch.setenv("NUMBA_NUM_THREADS", "2")
    image, labels = _crowd(seed=5)
    settings = AnonymizeSettings()

    def one(seed):
        return settings.apply(image, labels, range(1, 9), rng=seed)

    expected = [one(seed) for seed in range(6)]
    with ThreadPoolExecutor(3) as pool:
        got = list(pool.map(one, range(6)))
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_forked_child_scrambles_with_threads_of_its_own(use, monkeypatch):
    # The kernels' threads are kept between calls; a child forked after they
    # started (multiprocessing's fork, Dask's) must not wait for them.
    use("numba")
    monkeypatch.setenv("NUMBA_NUM_THREADS", "2")
    image, labels = _crowd(seed=7)
    expected = scramble(image, labels, radius=4, source="background", rng=3)
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 only if it got the same image
        try:
            got = scramble(image, labels, radius=4, source="background", rng=3)
            os._exit(0 if np.array_equal(got, expected) else 1)
        finally:
            os._exit(2)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("the forked child hung on the parent's threads")
