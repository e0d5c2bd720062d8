"""SamSegmenter on a tiny real SAM: prompts, best-mask choice, embedding reuse, devices."""

import numpy as np
import pytest
import torch
from segment_anything import SamPredictor

from napari_fuzzy_people.models import _device
from napari_fuzzy_people.models.segmenter import PersonSegmenter, SamSegmenter


def count_encoder_calls(sam):
    calls = []
    sam.image_encoder.register_forward_hook(lambda *args: calls.append(1))
    return calls


def test_is_a_person_segmenter(tiny_sam):
    assert isinstance(SamSegmenter(tiny_sam, device="cpu"), PersonSegmenter)


def test_boxes_give_one_mask_each(tiny_sam, photo):
    seg = SamSegmenter(tiny_sam, device="cpu")
    boxes = np.array([[50, 30, 90, 100], [0, 0, 40, 40], [100, 10, 150, 110]], np.float32)
    masks, scores = seg.segment_boxes(photo, boxes)
    assert masks.shape == (3, 120, 160) and masks.dtype == bool
    assert scores.shape == (3,) and scores.dtype == np.float32


def test_best_of_three_matches_sams_own_predictor(tiny_sam, photo):
    seg = SamSegmenter(tiny_sam, device="cpu", boxes_per_call=2)  # batches of 2
    boxes = np.array([[50, 30, 90, 100], [0, 0, 40, 40], [100, 10, 150, 110]], np.float32)
    masks, scores = seg.segment_boxes(photo, boxes)
    reference = SamPredictor(tiny_sam)
    reference.set_image(photo)
    for i, box in enumerate(boxes):
        ref_masks, ref_quality, _ = reference.predict(box=box, multimask_output=True)
        best = int(np.argmax(ref_quality))
        np.testing.assert_array_equal(masks[i], ref_masks[best])
        assert scores[i] == pytest.approx(ref_quality[best], rel=1e-5)


def test_points_match_sams_own_predictor(tiny_sam, photo):
    seg = SamSegmenter(tiny_sam, device="cpu")
    points, labels = [[70, 60], [10, 10]], [1, 0]
    mask, score = seg.segment_points(photo, points, labels, box=[40, 20, 100, 110])
    reference = SamPredictor(tiny_sam)
    reference.set_image(photo)
    ref_masks, ref_quality, _ = reference.predict(
        point_coords=np.array(points, np.float32),
        point_labels=np.array(labels),
        box=np.array([40, 20, 100, 110], np.float32),
    )
    np.testing.assert_array_equal(mask, ref_masks[np.argmax(ref_quality)])
    assert score == pytest.approx(float(ref_quality.max()), rel=1e-5)


@pytest.mark.parametrize(
    "points, labels, message",
    [
        ([[1, 2]], [1, 0], "1 points but 2 labels"),
        ([[1, 2]], [2], "1 .person. or 0"),
        ([], [], "at least one point or a box"),
    ],
)
def test_bad_point_prompts(tiny_sam, photo, points, labels, message):
    with pytest.raises(ValueError, match=message):
        SamSegmenter(tiny_sam, device="cpu").segment_points(photo, points, labels)


def test_embedding_is_computed_once_per_image(tiny_sam, photo):
    calls = count_encoder_calls(tiny_sam)
    seg = SamSegmenter(tiny_sam, device="cpu", cache_size=2)
    seg.segment_boxes(photo, [[50, 30, 90, 100]])
    seg.segment_boxes(photo, [[0, 0, 40, 40], [10, 10, 20, 20]])
    seg.segment_points(photo, [[70, 60]], [1])
    seg.segment_points(photo.copy(), [[75, 65]], [1])  # same content, another array
    assert len(calls) == 1 and seg.has_embedding(photo)
    other = photo[::-1].copy()
    first_mask, _ = seg.segment_points(photo, [[70, 60]], [1])
    seg.segment_points(other, [[70, 60]], [1])
    assert len(calls) == 2
    again, _ = seg.segment_points(photo, [[70, 60]], [1])  # back to a cached image
    assert len(calls) == 2
    np.testing.assert_array_equal(again, first_mask)
    # Two slots, least recently used goes: a third image evicts `other`.
    seg.segment_points(photo[:, ::-1].copy(), [[70, 60]], [1])
    assert len(calls) == 3
    seg.segment_points(photo, [[70, 60]], [1])
    assert len(calls) == 3
    seg.segment_points(other, [[70, 60]], [1])
    assert len(calls) == 4


@pytest.mark.parametrize("kind", ["gray", "rgba", "uint16", "float"])
def test_napari_image_kinds(tiny_sam, photo, kind):
    seg = SamSegmenter(tiny_sam, device="cpu")
    box = [[50, 30, 90, 100]]
    expected, _ = seg.segment_boxes(photo, box)
    image = {
        "gray": photo.mean(axis=2).round().astype(np.uint8),
        "rgba": np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)]),
        "uint16": photo.astype(np.uint16) * 257,
        "float": photo / 255.0,
    }[kind]
    masks, _ = seg.segment_boxes(image, box)
    assert masks.shape == (1, 120, 160)
    if kind != "gray":  # the same pixels as SAM sees them: the same mask
        np.testing.assert_array_equal(masks, expected)


def test_device_choice(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert _device.choose_device().type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert _device.choose_device().type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert _device.choose_device().type == "cuda"
    assert _device.choose_device("cpu").type == "cpu"


def test_load_checks_the_type_and_the_file_first(tmp_path):
    with pytest.raises(ValueError, match="unknown SAM type 'vit_q'"):
        SamSegmenter.load("vit_q")
    missing = tmp_path / "nowhere" / "sam.pth"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        SamSegmenter.load("vit_b", checkpoint=missing)
