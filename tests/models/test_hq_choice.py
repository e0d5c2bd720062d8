"""Choosing Light HQ-SAM: the model choice, the fast and accurate pairs, building it."""

import pytest
import torch

from doubles import build_tiny_hq_sam
from napari_fuzzy_people.models import hq
from napari_fuzzy_people.models.choice import (
    PAIRS,
    SEGMENTERS,
    ModelChoice,
    build_segmenter,
    pair_of,
)
from napari_fuzzy_people.models.weights import CHECKPOINTS


def test_every_segmenter_has_its_weights_in_the_registry():
    assert "hq_vit_tiny" in SEGMENTERS and "vit_b" in SEGMENTERS
    assert all(f"sam_{name}" in CHECKPOINTS for name in SEGMENTERS)


def test_the_choice_takes_hq_sam_and_refuses_unknown_segmenters():
    choice = ModelChoice(segmenter="hq_vit_tiny")
    assert choice.describe()[1]["name"] == "sam_hq_vit_tiny"
    with pytest.raises(ValueError, match="unknown segmenter 'vit_q'"):
        ModelChoice(segmenter="vit_q")
    assert ModelChoice(segmenter="vit_q", factory="pkg.mod:fn").factory  # theirs to check


def test_the_pairs():
    fast, accurate = PAIRS["fast"][1], PAIRS["accurate"][1]
    assert (fast.detector, fast.segmenter) == ("fasterrcnn_mobilenet_v3_large_fpn", "hq_vit_tiny")
    assert accurate == ModelChoice()  # the accurate pair stays the default
    assert accurate.segmenter == "vit_b"
    assert "without a GPU" in PAIRS["fast"][0]
    assert pair_of(ModelChoice(min_score=0.7, segmenter_file="a.pth")) == "accurate"
    assert pair_of(fast) == "fast"
    assert pair_of(ModelChoice(segmenter="hq_vit_tiny")) is None  # a mix of both


def test_build_segmenter_builds_hq_sam_from_a_local_file(tmp_path, monkeypatch):
    monkeypatch.setitem(hq.hq_model_registry, "vit_tiny", lambda checkpoint: build_tiny_hq_sam(0))
    path = tmp_path / "hq.pth"
    torch.save(build_tiny_hq_sam(2).state_dict(), path)
    segmenter = build_segmenter(ModelChoice(segmenter="hq_vit_tiny", segmenter_file=str(path)))
    assert isinstance(segmenter, hq.HqSamSegmenter)
    assert segmenter.checkpoint_path == path and segmenter.name == "sam_hq_vit_tiny"
