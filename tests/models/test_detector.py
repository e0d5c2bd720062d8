"""torchvision detectors with untrained weights: the person filter, NMS, inputs, checkpoints."""

import numpy as np
import pytest
import torch
import torchvision

from napari_fuzzy_people.models.detector import COCO_PERSON, PersonDetector, TorchvisionDetector

FAST = "fasterrcnn_mobilenet_v3_large_fpn"
SMALL = dict(min_size=240, max_size=320, rpn_pre_nms_top_n_test=200, rpn_post_nms_top_n_test=50)


def detector(name=FAST, favour=COCO_PERSON, **kwargs):
    """An untrained detector whose classifier is biased towards one class,
    so the real post-processing has boxes to work on."""
    torch.manual_seed(0)
    options = {"checkpoint": None, "device": "cpu", "score_threshold": 0.3, **SMALL, **kwargs}
    det = TorchvisionDetector(name, **options)
    with torch.no_grad():
        det.net.roi_heads.box_predictor.cls_score.bias[favour] = 8.0
    return det


@pytest.fixture
def photo():
    return np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)


def test_person_boxes_sorted_thresholded_and_merged(photo):
    det = detector(nms_iou=0.3)
    assert isinstance(det, PersonDetector)
    boxes, scores = det.detect(photo)
    assert boxes.dtype == np.float32 and scores.dtype == np.float32
    assert boxes.shape == (len(scores), 4) and len(scores) > 0
    assert np.all(np.diff(scores) <= 0) and scores.min() >= 0.3
    assert np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2] <= 320) and np.all(boxes[:, 3] <= 240)
    assert np.all(boxes[:, 2:] > boxes[:, :2])
    iou = torchvision.ops.box_iou(torch.from_numpy(boxes), torch.from_numpy(boxes)).numpy()
    assert np.all(iou[~np.eye(len(boxes), dtype=bool)] <= 0.3 + 1e-6)


def test_other_classes_are_dropped(photo):
    bicycle = 2
    boxes, scores = detector(favour=bicycle).detect(photo)
    assert boxes.shape == (0, 4) and scores.shape == (0,)


@pytest.mark.parametrize("kind", ["rgba", "uint16", "float", "gray"])
def test_napari_image_kinds(photo, kind):
    det = detector()
    expected, _ = det.detect(photo)
    image = {
        "rgba": np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)]),
        "uint16": photo.astype(np.uint16) * 257,
        "float": photo / 255.0,
        "gray": photo[..., 0],
    }[kind]
    boxes, _ = det.detect(image)
    if kind == "gray":
        assert boxes.ndim == 2 and boxes.shape[1] == 4
    else:
        np.testing.assert_array_equal(boxes, expected)


def test_large_images_are_processed_at_a_bounded_size(photo):
    det = detector(max_side=320)
    seen = []
    det.net.register_forward_pre_hook(lambda module, args: seen.append(args[0][0].shape))
    big = np.repeat(np.repeat(photo, 3, axis=0), 3, axis=1)  # 720 x 960
    boxes, _ = det.detect(big)
    assert max(seen[0][1:]) <= 320
    assert len(boxes) > 0 and boxes[:, 2].max() > 320  # mapped back to the big image
    assert boxes[:, 2].max() <= 960 and boxes[:, 3].max() <= 720


@pytest.mark.parametrize("name", [FAST, "fasterrcnn_resnet50_fpn_v2"])
def test_local_checkpoint_file(tmp_path, photo, name):
    original = detector(name)
    path = tmp_path / f"{name}.pth"
    torch.save(original.net.state_dict(), path)
    loaded = TorchvisionDetector(name, checkpoint=path, device="cpu", score_threshold=0.3, **SMALL)
    assert loaded.checkpoint_path == path
    for a, b in zip(original.detect(photo), loaded.detect(photo), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"model": "yolo"}, "unknown detector 'yolo'"),
        ({"score_threshold": 1.5}, "score_threshold must be in"),
        ({"nms_iou": 0}, "nms_iou must be in"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TorchvisionDetector(**{"checkpoint": None, **kwargs})


def test_convolutions_run_channels_last_on_a_cpu_with_the_same_detections(photo):
    det = detector()
    convs = [m for m in det.net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    boxes, scores = det.detect(photo)
    plain = detector()
    plain.net = plain.net.to(memory_format=torch.contiguous_format)
    plain_convs = [m for m in plain.net.modules() if isinstance(m, torch.nn.Conv2d)]
    # The two really differ in layout (1x1 convolutions are both at once).
    assert any(not c.weight.is_contiguous() for c in convs)
    assert all(c.weight.is_contiguous() for c in plain_convs)
    plain_boxes, plain_scores = plain.detect(photo)
    assert len(boxes) > 0 and boxes.shape == plain_boxes.shape
    np.testing.assert_allclose(boxes, plain_boxes, atol=1e-3)
    np.testing.assert_allclose(scores, plain_scores, atol=1e-5)
