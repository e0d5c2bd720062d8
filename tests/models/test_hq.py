"""Light HQ-SAM on its real architecture at toy size: prompts, batches, the store, loading."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from doubles import build_tiny_hq_sam, build_tiny_sam, tiny_hq_segmenter, tiny_vit
from napari_fuzzy_people.io.workfolder import EmbeddingStore
from napari_fuzzy_people.models import hq, weights
from napari_fuzzy_people.models.hq import HqPredictor, HqSamSegmenter, hq_modeling
from napari_fuzzy_people.models.segmenter import PersonSegmenter, SamSegmenter

BOXES = np.array([[50, 30, 90, 100], [0, 0, 40, 40], [100, 10, 150, 110]], np.float32)


def count_encoder_calls(seg):
    calls = []
    seg.sam.image_encoder.register_forward_hook(lambda *args: calls.append(1))
    return calls


def reference(photo, seed=0):
    """The package's own predictor on an untouched copy of the same model."""
    predictor = HqPredictor(build_tiny_hq_sam(seed))
    with torch.inference_mode():
        predictor.set_image(photo)
    return predictor


def assert_same_mask(mask, logits, score, ref_score):
    """Equal to the reference mask except where its logit is a rounding error from 0."""
    differ = mask != (logits > 0)
    assert np.all(np.abs(logits[differ]) < 1e-4), np.abs(logits[differ]).max()
    assert score == pytest.approx(float(ref_score), abs=1e-5)


def test_is_a_person_segmenter_with_masks_of_the_photos_size(photo):
    seg = tiny_hq_segmenter()
    assert isinstance(seg, PersonSegmenter) and isinstance(seg, SamSegmenter)
    masks, scores = seg.segment_boxes(photo, BOXES)
    assert masks.shape == (3, 120, 160) and masks.dtype == bool
    assert scores.shape == (3,) and scores.dtype == np.float32
    mask, score = seg.segment_points(photo, [[70, 60]], [1])
    assert mask.shape == (120, 160) and mask.dtype == bool and isinstance(score, float)
    assert masks.any() and mask.any()


@pytest.mark.parametrize("hq_token_only", [False, True])
def test_boxes_match_the_packages_own_predictor(photo, hq_token_only):
    seg = tiny_hq_segmenter(hq_token_only=hq_token_only)
    masks, scores = seg.segment_boxes(photo, BOXES)
    ref = reference(photo)
    for i, box in enumerate(BOXES):
        with torch.inference_mode():
            logits, quality, _ = ref.predict(
                box=box, multimask_output=False, hq_token_only=hq_token_only, return_logits=True
            )
        assert_same_mask(masks[i], logits[0], scores[i], quality[0])


def test_points_match_the_packages_own_predictor(photo):
    seg = tiny_hq_segmenter()
    points, labels, box = [[70, 60], [10, 10]], [1, 0], [40, 20, 100, 110]
    mask, score = seg.segment_points(photo, points, labels, box=box)
    with torch.inference_mode():
        logits, quality, _ = reference(photo).predict(
            point_coords=np.array(points, np.float32),
            point_labels=np.array(labels),
            box=np.array(box, np.float32),
            multimask_output=True,
            return_logits=True,
        )
    assert_same_mask(mask, logits[0], score, quality[0])


def test_the_hq_token_alone_gives_other_masks(photo):
    both, _ = tiny_hq_segmenter().segment_boxes(photo, BOXES)
    alone, _ = tiny_hq_segmenter(hq_token_only=True).segment_boxes(photo, BOXES)
    assert (both != alone).any()


def test_batches_of_boxes_equal_boxes_one_by_one(photo):
    batched = tiny_hq_segmenter(boxes_per_call=2)
    single = tiny_hq_segmenter()  # on a CPU: one box per call
    assert single.boxes_per_call == 1
    starts = [start for start, _, _ in batched.iter_boxes(photo, BOXES)]
    assert starts == [0, 2]
    masks, scores = batched.segment_boxes(photo, BOXES)
    one_masks, one_scores = single.segment_boxes(photo, BOXES)
    np.testing.assert_array_equal(masks, one_masks)
    np.testing.assert_allclose(scores, one_scores, rtol=1e-5)


def test_the_embedding_and_the_image_features_are_computed_once(photo):
    seg = tiny_hq_segmenter()
    calls, made = count_encoder_calls(seg), []
    seg.sam.mask_decoder.compress_vit_feat.register_forward_hook(lambda *a: made.append(1))
    seg.segment_boxes(photo, BOXES)
    seg.segment_points(photo.copy(), [[70, 60]], [1])
    assert calls == made == [1]
    seg.segment_points(photo[::-1].copy(), [[70, 60]], [1])
    assert calls == made == [1, 1]


def test_the_store_keeps_what_the_hq_decoder_needs(tmp_path, photo):
    store = EmbeddingStore(tmp_path)
    first = tiny_hq_segmenter()
    first.store = store
    mask, score = first.segment_points(photo, [[70, 60]], [1])
    masks, _ = first.segment_boxes(photo, BOXES)

    again = tiny_hq_segmenter()  # another process: same weights, nothing in memory
    again.store, calls = store, count_encoder_calls(again)
    mask2, score2 = again.segment_points(photo, [[70, 60]], [1])
    masks2, _ = again.segment_boxes(photo, BOXES)
    assert calls == []
    np.testing.assert_array_equal(mask2, mask)
    np.testing.assert_array_equal(masks2, masks)
    assert score2 == pytest.approx(score, abs=1e-6)  # memory layout: rounding only

    # Half an entry (a kill between its two writes): computed afresh, not half reused.
    key = again._store_key(again._current)
    store._path(f"{key}|interm").unlink()
    fresh = tiny_hq_segmenter()
    fresh.store, calls = store, count_encoder_calls(fresh)
    mask3, _ = fresh.segment_points(photo, [[70, 60]], [1])
    assert calls == [1]
    np.testing.assert_array_equal(mask3, mask)


def test_sam_and_hq_sam_never_share_stored_embeddings(tmp_path, photo):
    store = EmbeddingStore(tmp_path)
    hq_seg = tiny_hq_segmenter()
    sam = SamSegmenter(build_tiny_sam(), device="cpu", name="tiny-sam", store=store)
    hq_seg.store = store
    assert hq_seg.digest != sam.digest != tiny_hq_segmenter(seed=1).digest
    hq_seg.set_image(photo)
    calls = count_encoder_calls(sam)
    sam.set_image(photo)
    assert calls == [1]
    assert len(list(tmp_path.glob("*.npz"))) == 3  # SAM's; HQ-SAM's embedding and features


def test_load_builds_from_a_file_and_checks_first(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown HQ-SAM type 'vit_q'"):
        HqSamSegmenter.load("vit_q")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        HqSamSegmenter.load(checkpoint=tmp_path / "nowhere" / "w.pth")
    # The full-size model is slow to build: the tiny one stands in for the package's.
    monkeypatch.setitem(hq.hq_model_registry, "vit_tiny", lambda checkpoint: build_tiny_hq_sam(0))
    path = tmp_path / "w.pth"
    torch.save(build_tiny_hq_sam(1).state_dict(), path)
    seg = HqSamSegmenter.load("hq_vit_tiny", checkpoint=path, device="cpu")
    assert seg.name == "sam_hq_vit_tiny" and seg.checkpoint_path == path
    assert seg.digest == weights.sha256_of(path)
    expected = build_tiny_hq_sam(1).state_dict()
    for name, tensor in seg.sam.state_dict().items():
        assert torch.equal(tensor, expected[name]), name


def test_the_test_encoder_is_the_real_one_at_full_size():
    """The toy encoder differs from the package's only in not assuming 1024 pixels."""
    encoder = tiny_vit(1024, mlp_ratio=1)
    encoder.neck = torch.nn.Conv2d(320, 4, 1)  # the stock neck is slow and the same in both
    x = torch.randn(1, 3, 1024, 1024)
    with torch.inference_mode():
        ours, ours_early = encoder(x)
        stock, stock_early = hq_modeling.TinyViT.forward_features(encoder, x)
    assert torch.equal(ours, stock) and torch.equal(ours_early[0], stock_early[0])


def test_importing_it_prints_nothing():
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", "import napari_fuzzy_people.models.hq"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stderr == "" and result.stdout == ""
