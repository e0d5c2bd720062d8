from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from napari_fuzzy_people.core.people import OverlapResolver


@settings(deadline=None, max_examples=100)
@given(
    masks=st.lists(arrays(bool, (8, 9)), min_size=1, max_size=5),
    qualities=st.lists(st.sampled_from([0.2, 0.5, 0.9]), min_size=5, max_size=5),
)
def test_each_pixel_goes_to_the_best_claim(masks, qualities):
    r = OverlapResolver((8, 9))
    for label, mask in enumerate(masks, start=1):
        r.add(label, mask, qualities[label - 1])
    for y in range(8):
        for x in range(9):
            claims = [(-qualities[k], int(m.sum()), k + 1) for k, m in enumerate(masks) if m[y, x]]
            expected = min(claims)[2] if claims else 0  # quality, then smaller, then lower
            assert r.labels[y, x] == expected
    assert r.areas().sum() == r.labels.size
