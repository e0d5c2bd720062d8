"""propose_people: the pipeline on real photos (ground-truth doubles) and on tiny real models."""

import numpy as np
import pytest
import torch

from doubles import (
    GroundTruthDetectorDouble,
    GroundTruthSegmenterDouble,
    coco_people,
    load_coco_photo,
)
from napari_fuzzy_people.core.people import Progress
from napari_fuzzy_people.models.detector import TorchvisionDetector
from napari_fuzzy_people.models.propose import propose_people, run
from napari_fuzzy_people.models.segmenter import SamSegmenter


def test_real_photos_come_back_as_their_annotated_people():
    for entry in coco_people()[:6]:
        people = entry["people"]
        image, truth = load_coco_photo(entry)
        events = []
        proposals = run(
            propose_people(
                image,
                GroundTruthDetectorDouble(people),
                GroundTruthSegmenterDouble(truth, people),
            ),
            on_progress=events.append,
        )
        assert [p.label for p in proposals.people] == list(range(1, len(people) + 1))
        for person, record in zip(people, proposals.people, strict=True):
            # Annotated people do not overlap, so each comes back whole.
            np.testing.assert_array_equal(
                proposals.labels == record.label, truth == person["label"]
            )
            assert record.box == tuple(float(v) for v in person["bbox"])
            assert record.area == person["area"] and record.origin == "detector"
        assert events[0] == Progress("detect", 0, 1)
        assert events[-1] == Progress("segment", len(people), len(people))
        assert all(e.done <= e.total for e in events)


def test_overlapping_masks_follow_the_rule_and_empty_people_are_dropped():
    image = np.zeros((20, 30, 3), np.uint8)

    class Detector:
        def detect(self, image):
            boxes = np.array([[0, 0, 10, 10], [5, 0, 20, 10], [0, 0, 30, 20]], np.float32)
            return boxes, np.array([0.5, 0.9, 0.7], np.float32)

    class Segmenter:  # a protocol double: masks chosen to overlap
        def segment_boxes(self, image, boxes):
            masks = np.zeros((3, 20, 30), bool)
            masks[0, :, :10] = True  # box 0 (3rd best score), quality 0.6
            masks[1, :, 5:20] = True  # box 1 (best), quality 0.8
            masks[2, :, 6:18] = True  # box 2, inside box 1's mask, quality 0.7
            quality = {0: 0.6, 1: 0.8, 2: 0.7}
            order = [self.index(b) for b in boxes]
            return masks[order], np.array([quality[i] for i in order], np.float32)

        @staticmethod
        def index(box):
            return {0: 0, 5: 1}.get(int(box[0]), 2) if box[2] != 30 else 2

        def segment_points(self, *args, **kwargs):
            raise NotImplementedError

    proposals = run(propose_people(image, Detector(), Segmenter()))
    # Best detection first: box 1 -> label 1, box 0 -> label 2; box 2's mask
    # lies inside box 1's, which has the higher quality: box 2 is dropped.
    assert [p.score for p in proposals.people] == [pytest.approx(0.9), pytest.approx(0.5)]
    np.testing.assert_array_equal(proposals.labels[0], [2] * 5 + [1] * 15 + [0] * 10)
    assert [p.area for p in proposals.people] == [300, 100]


def tiny_pipeline(tiny_sam):
    torch.manual_seed(0)
    det = TorchvisionDetector(
        "fasterrcnn_mobilenet_v3_large_fpn",
        checkpoint=None,
        device="cpu",
        score_threshold=0.3,
        min_size=240,
        max_size=320,
        rpn_pre_nms_top_n_test=200,
        rpn_post_nms_top_n_test=50,
    )
    with torch.no_grad():
        det.net.roi_heads.box_predictor.cls_score.bias[1] = 8.0
    return det, SamSegmenter(tiny_sam, device="cpu")


def test_tiny_real_models_end_to_end(tiny_sam):
    det, seg = tiny_pipeline(tiny_sam)
    image = np.random.default_rng(1).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    events = []
    proposals = run(propose_people(image, det, seg), on_progress=events.append)
    labels = proposals.labels
    assert labels.shape == (240, 320) and labels.dtype == np.uint16
    present = sorted(set(np.unique(labels).tolist()) - {0})
    assert present == [p.label for p in proposals.people] == list(range(1, len(present) + 1))
    for p in proposals.people:
        assert p.area == int((labels == p.label).sum()) > 0
        assert 0 <= p.score <= 1
    assert [e.stage for e in events][:4] == ["detect", "detect", "embed", "embed"]


def test_cancel_between_stages_leaves_no_half_state(tiny_sam):
    det, seg = tiny_pipeline(tiny_sam)
    image = np.random.default_rng(2).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    calls = []
    tiny_sam.image_encoder.register_forward_hook(lambda *a: calls.append(1))
    gen = propose_people(image, det, seg)
    assert next(gen) == Progress("detect", 0, 1)
    assert next(gen) == Progress("detect", 1, 1)
    gen.close()  # Cancel before the embedding: nothing computed, nothing cached
    assert calls == [] and not seg.has_embedding(image)
    gen = propose_people(image, det, seg)
    for event in gen:
        if event == Progress("embed", 1, 1):
            break
    gen.close()  # Cancel after the embedding: a complete embedding is kept
    assert seg.has_embedding(image) and calls == [1]
    first = run(propose_people(image, det, seg))
    assert calls == [1]  # the finished run reused it
    fresh = run(propose_people(image, *tiny_pipeline(tiny_sam)))
    np.testing.assert_array_equal(first.labels, fresh.labels)
    assert first.people == fresh.people


def test_the_fast_pair_end_to_end():
    from doubles import tiny_fast_models

    det, seg = tiny_fast_models()
    image = np.random.default_rng(1).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    events = []
    proposals = run(propose_people(image, det, seg), on_progress=events.append)
    boxes, _ = det.detect(image)
    masks, _ = seg.segment_boxes(image, boxes)
    assert len(boxes) and len(proposals.people)
    # Every pixel given to someone is in the Light HQ-SAM mask of that person's box.
    for p in proposals.people:
        (i,) = [i for i, b in enumerate(boxes) if tuple(float(v) for v in b) == p.box]
        assert p.area == int((proposals.labels == p.label).sum()) > 0
        assert masks[i][proposals.labels == p.label].all()
    assert [e.stage for e in events][-1] == "segment"
