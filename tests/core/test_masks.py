import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage as ndi

from napari_fuzzy_people.core import (
    default_params,
    grow,
    people_boxes,
    scramble,
    select,
    size_relative,
)
from napari_fuzzy_people.core.masks import dilate_disk


@settings(deadline=None, max_examples=100)
@given(
    mask=arrays(bool, st.tuples(st.integers(1, 30), st.integers(1, 30))),
    radius=st.floats(0, 12, allow_nan=False),
)
def test_dilate_disk_matches_the_distance_transform(mask, radius):
    expected = ndi.distance_transform_edt(~mask) <= radius if mask.any() else mask
    np.testing.assert_array_equal(dilate_disk(mask, radius), expected)


@settings(deadline=None, max_examples=60)
@given(
    labels=arrays(
        np.int32, st.tuples(st.integers(1, 25), st.integers(1, 25)), elements=st.integers(0, 4)
    ),
    margins=st.lists(st.integers(0, 5), min_size=4, max_size=4),
)
def test_grow_labels_per_person(labels, margins):
    margin = {i + 1: m for i, m in enumerate(margins)}
    out = grow(labels, margin)
    np.testing.assert_array_equal(out[labels != 0], labels[labels != 0])
    reach = {}
    for label in range(1, 5):
        person = labels == label
        reach[label] = (
            ndi.distance_transform_edt(~person) <= margin[label] if person.any() else person
        )
    grown = ~(labels != 0) & (out != 0)
    for label in range(1, 5):
        # A new pixel belongs to the lowest label that reaches it.
        lower = np.zeros_like(grown)
        for other in range(1, label):
            lower |= reach[other]
        expected = grown & reach[label] & ~lower
        np.testing.assert_array_equal(grown & (out == label), expected)
    union = np.logical_or.reduce([reach[k] for k in reach])
    np.testing.assert_array_equal(out != 0, union | (labels != 0))


def test_grow_keeps_the_kind_of_mask():
    mask = np.zeros((9, 9), bool)
    mask[4, 4] = True
    assert grow(mask, 2).dtype == bool
    assert grow(mask, 2).sum() == 13  # the radius-2 digital disk
    labels = mask.astype(np.uint16) * 7
    assert grow(labels, 1).dtype == np.uint16
    assert set(np.unique(grow(labels, 1))) == {0, 7}


def test_select():
    labels = np.array([[0, 1, 2], [3, 1, 0]])
    np.testing.assert_array_equal(select(labels, [1, 3]), [[0, 1, 0], [3, 1, 0]])
    assert select(labels) is labels
    with pytest.raises(ValueError, match="boolean mask"):
        select(labels > 0, [1])
    with pytest.raises(ValueError, match=">= 1"):
        select(labels, [0])
    with pytest.raises(ValueError, match="negative"):
        select(-labels)
    with pytest.raises(ValueError, match=r"mask shape \(2, 3\) differs"):
        select(labels, shape=(3, 3))
    with pytest.raises(ValueError, match="boolean or an integer"):
        select(labels.astype(float))


def test_people_boxes_and_size_relative():
    labels = np.zeros((300, 100), np.int32)
    labels[10:210, 5:40] = 1  # 200 px tall
    labels[250:262, 60:70] = 4  # 12 px tall
    assert people_boxes(labels) == {1: (10, 5, 210, 40), 4: (250, 60, 262, 70)}
    assert size_relative(labels, fraction=0.1, minimum=3) == {1: 20, 4: 3}
    assert size_relative(labels, fraction=0.1, minimum=3, maximum=15) == {1: 15, 4: 3}
    with pytest.raises(ValueError, match="fraction"):
        size_relative(labels, fraction=0)


def test_default_params_are_privacy_first():
    labels = np.zeros((1000, 100), np.int32)
    labels[0:800, 0:50] = 1
    labels[900:950, 60:70] = 2
    params = default_params(labels)
    assert params["method"] == "scramble" and params["source"] == "background"
    assert params["radius"] == {1: 40, 2: 16}
    assert params["margin"] == {1: 10, 2: 4}


@pytest.mark.parametrize("label", [65536, 2_000_000_000])
def test_labels_past_16_bits_are_refused_not_allocated(label):
    labels = np.zeros((40, 40), np.uint32)
    labels[5:20, 5:20] = label
    image = np.zeros((40, 40, 3), np.uint8)
    for call in (
        lambda: grow(labels, 2),
        lambda: people_boxes(labels),
        lambda: scramble(image, labels, radius=3),
    ):
        with pytest.raises(
            ValueError, match=rf"holds label {label}; people labels are 1\.\.65535"
        ):
            call()
    labels[5:20, 5:20] = 65535  # the largest label that fits is fine
    assert people_boxes(labels) == {65535: (5, 5, 20, 20)}


@pytest.mark.parametrize("threads", ["1", "3"])
def test_grow_across_bands_of_rows_is_the_reference(monkeypatch, threads):
    # The compiled grow works in bands of rows on several threads: people and
    # margins that cross band edges, overlapping reaches (the lowest label wins).
    pytest.importorskip("numba")
    from napari_fuzzy_people.core.methods._kernels import set_kernels

    monkeypatch.setenv("NUMBA_NUM_THREADS", threads)
    rng = np.random.default_rng(5)
    labels = np.zeros((300, 120), np.uint16)
    for label in range(1, 9):
        y, x = rng.integers(0, 280), rng.integers(0, 100)
        labels[y : y + rng.integers(5, 90), x : x + rng.integers(3, 30)] = label
    margins = {k: float(m) for k, m in zip(range(1, 9), rng.uniform(0, 40, 8), strict=True)}
    out = {}
    try:
        for name in ("numba", "numpy"):
            set_kernels(name)
            out[name] = grow(labels, margins)
    finally:
        set_kernels(None)
    np.testing.assert_array_equal(out["numba"], out["numpy"])
    assert (out["numba"] != labels).sum() > 1000


@pytest.mark.parametrize("threads", ["2", "5"])
def test_boxes_found_in_bands_are_the_reference(monkeypatch, threads):
    pytest.importorskip("numba")
    from napari_fuzzy_people.core import masks
    from napari_fuzzy_people.core.methods._kernels import set_kernels

    monkeypatch.setenv("NUMBA_NUM_THREADS", threads)
    monkeypatch.setattr(masks, "_PARALLEL_BOXES", 0)  # bands even for a small image
    rng = np.random.default_rng(8)
    labels = np.zeros((97, 50), np.uint16)
    for label in (3, 7, 300, 65535):
        y, x = rng.integers(0, 90), rng.integers(0, 45)
        labels[y : y + rng.integers(1, 60), x : x + rng.integers(1, 20)] = label
    try:
        set_kernels("numba")
        compiled = people_boxes(labels)
        set_kernels("numpy")
        reference = people_boxes(labels)
    finally:
        set_kernels(None)
    assert compiled == reference and len(reference) == 4
