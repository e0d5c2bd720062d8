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


# Big enough to be cut in two pieces (see _vanish.PIECE_PIXELS): a tall person
# to fill, cut across, and a person who stays, on a gray background, so any
# colour in the fill would be somebody's.
@pytest.fixture
def big_scene():
    gray = texture(300, 320)[..., :1]
    image = np.repeat(gray, 3, axis=2)
    labels = np.zeros((300, 320), np.uint16)
    labels[20:280, 60:150] = 1  # 23400 px: two pieces, the cut through them
    labels[40:260, 210:260] = 2  # not approved
    labels[120:140, 280:300] = 3  # small, approved
    image[labels == 1] = RED
    image[labels == 2] = GREEN
    image[labels == 3] = (0, 0, 255)
    return image, labels


def test_a_big_hole_is_cut_into_pieces_and_a_seam(big_scene):
    from napari_fuzzy_people.core.methods import _vanish

    _, labels = big_scene
    region = grow(np.isin(labels, [1, 3]), 2)
    tasks, seams = _vanish._plan(region, labels == 2, 64, np.random.default_rng(0))
    filled = np.zeros(region.shape, int)
    for task in tasks:
        filled[task.crop] += task.holes
    np.testing.assert_array_equal(filled, region)  # every hole pixel filled once
    assert len(tasks) >= 2 and len(seams) == 1  # the cut goes through person 1
    for task in tasks:  # the other pieces' holes and person 2: never a source
        inside = np.zeros(region.shape, bool)
        inside[task.crop] = task.holes
        np.testing.assert_array_equal(task.keep, ((labels == 2) | region & ~inside)[task.crop])


@pytest.mark.parametrize("workers", [1, 2])
def test_pieces_copy_from_background_only(big_scene, workers):
    image, labels = big_scene
    out = vanish(image, labels, labels=[1, 3], margin=2, rng=3, workers=workers)
    hole = grow(np.isin(labels, [1, 3]), 2)
    fill = out[hole].astype(int)
    # Gray in, gray out: a vote from a red, green or blue pixel would tint it.
    assert (fill[:, 0] == fill[:, 1]).all() and (fill[:, 1] == fill[:, 2]).all()
    np.testing.assert_array_equal(out[~hole], image[~hole])


def test_a_seed_gives_the_same_image_on_one_worker_or_two(big_scene):
    image, labels = big_scene
    one = vanish(image, labels, labels=[1, 3], rng=7, workers=1)
    two = vanish(image, labels, labels=[1, 3], rng=7, workers=2)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(two, vanish(image, labels, labels=[1, 3], rng=7, workers=2))
    assert not np.array_equal(two, vanish(image, labels, labels=[1, 3], rng=8, workers=2))


def test_a_cut_goes_between_people_when_it_can():
    from napari_fuzzy_people.core.methods import _vanish

    region = np.zeros((200, 300), bool)
    region[20:180, 30:110] = True
    region[30:190, 170:260] = True
    axis, positions, crossing = _vanish._cuts(region, 2)
    assert axis == 1 and 110 <= positions[0] <= 170 and crossing[positions[0]] == 0
    assert _vanish._plan(region, np.zeros_like(region), 64, np.random.default_rng(0))[1] == []


def test_small_holes_stay_in_this_process(scene, monkeypatch):
    from napari_fuzzy_people.core.methods import _vanish

    def no_pool(n):
        raise AssertionError("a small hole should not go to worker processes")

    monkeypatch.setattr(_vanish, "_pool", no_pool)
    image, labels = scene
    out = vanish(image, labels, labels=[1], rng=0, workers=2)
    assert colour_share(out[labels == 1], RED) == 0


def test_broken_workers_fall_back_to_this_process(big_scene, monkeypatch):
    from concurrent.futures.process import BrokenProcessPool

    from napari_fuzzy_people.core.methods import _vanish

    class Broken:
        def submit(self, *args):
            raise BrokenProcessPool("gone")

        def shutdown(self, **kwargs):
            pass

    image, labels = big_scene
    expected = vanish(image, labels, labels=[1, 3], rng=2, workers=1)
    monkeypatch.setattr(_vanish, "_pool", lambda n: Broken())
    with pytest.warns(RuntimeWarning, match="worker processes failed"):
        out = vanish(image, labels, labels=[1, 3], rng=2, workers=2)
    np.testing.assert_array_equal(out, expected)


def test_workers_must_be_a_count(scene):
    image, labels = scene
    with pytest.raises(ValueError, match="workers"):
        vanish(image, labels, labels=[1], workers=0)


def test_a_daemonic_process_fills_in_itself(big_scene):
    # Dask's worker processes are daemonic and may not start children: vanish
    # fills in the worker itself, with the same image.
    import multiprocessing

    image, labels = big_scene
    expected = vanish(image, labels, labels=[1, 3], rng=5, workers=1)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()

    def work():
        try:
            queue.put(vanish(image, labels, labels=[1, 3], rng=5, workers=2))
        except BaseException as err:  # reported to the test
            queue.put(repr(err))

    child = context.Process(target=work, daemon=True)
    child.start()
    out = queue.get(timeout=120)
    child.join(timeout=30)
    assert not isinstance(out, str), out
    np.testing.assert_array_equal(out, expected)
