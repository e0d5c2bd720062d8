"""Tiny real models, the coco-people photos, and ground-truth test doubles."""

import copy
import functools
import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from segment_anything.modeling import (
    ImageEncoderViT,
    MaskDecoder,
    PromptEncoder,
    Sam,
    TwoWayTransformer,
)

COCO_PEOPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco-people"


def build_tiny_sam(seed=0) -> Sam:
    """The real SAM architecture at toy size (img_size 256, depth 2, dim 64)."""
    torch.manual_seed(seed)
    dim = 32
    sam = Sam(
        image_encoder=ImageEncoderViT(
            img_size=256,
            patch_size=16,
            depth=2,
            embed_dim=64,
            num_heads=2,
            mlp_ratio=2,
            out_chans=dim,
            qkv_bias=True,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            use_rel_pos=True,
            window_size=4,
            global_attn_indexes=[1],
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=dim,
            image_embedding_size=(16, 16),
            input_image_size=(256, 256),
            mask_in_chans=4,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=dim, mlp_dim=64, num_heads=2),
            transformer_dim=dim,
            iou_head_depth=2,
            iou_head_hidden_dim=32,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    return sam.eval()


def _any_size_tinyvit():
    from napari_fuzzy_people.models.hq import hq_modeling  # imported quietly there

    class AnySize(hq_modeling.TinyViT):
        """TinyViT whose feature maps are img_size / 16 on a side, as the real one's
        are at 1024; the package writes that size as 64, so only 1024 works."""

        def forward_features(self, x):
            side = self.img_size // 16
            x = self.layers[0](self.patch_embed(x))
            interm = []
            for i, layer in enumerate(self.layers[1:], start=1):
                x = layer(x)
                if i == 1:
                    interm.append(x.view(x.shape[0], side, side, -1))
            x = x.view(x.shape[0], side, side, -1).permute(0, 3, 1, 2)
            return self.neck(x), interm

    return AnySize


def tiny_vit(img_size=256, seed=0, mlp_ratio=4.0):
    """Light HQ-SAM's encoder architecture, narrow and shallow (the last width, 320,
    is the one the package's down-sampling rule needs)."""
    torch.manual_seed(seed)
    return _any_size_tinyvit()(
        img_size=img_size,
        num_classes=0,
        embed_dims=[16, 32, 64, 320],
        depths=[1, 1, 1, 1],
        num_heads=[1, 2, 2, 10],
        window_sizes=[7, 7, 14, 7],
        mlp_ratio=mlp_ratio,
    ).eval()


def build_tiny_hq_sam(seed=0):
    """Light HQ-SAM's real architecture at toy size (img_size 256, embedding 16x16)."""
    return copy.deepcopy(_tiny_hq_sam(seed))  # building TinyViT is slower than copying it


@functools.cache
def _tiny_hq_sam(seed):
    from napari_fuzzy_people.models.hq import hq_modeling as m

    encoder = tiny_vit(256, seed)
    dim = 256  # TinyViT's neck always gives 256 channels
    sam = m.Sam(
        image_encoder=encoder,
        prompt_encoder=m.PromptEncoder(
            embed_dim=dim,
            image_embedding_size=(16, 16),
            input_image_size=(256, 256),
            mask_in_chans=4,
        ),
        mask_decoder=m.MaskDecoderHQ(
            num_multimask_outputs=3,
            transformer=m.TwoWayTransformer(depth=2, embedding_dim=dim, mlp_dim=64, num_heads=2),
            transformer_dim=dim,
            iou_head_depth=2,
            iou_head_hidden_dim=32,
            vit_dim=64,
        ),
    )
    return sam.eval()


def tiny_hq_segmenter(seed=0, **kwargs):
    """Light HQ-SAM's real architecture at toy size, random weights, on the CPU."""
    from napari_fuzzy_people.models.hq import HqSamSegmenter

    return HqSamSegmenter(build_tiny_hq_sam(seed), device="cpu", name="tiny-hq-sam", **kwargs)


def tiny_detector(score_threshold=0.3):
    """A real torchvision detector, untrained, whose classifier favours "person" so that
    the real post-processing has boxes to work on."""
    from napari_fuzzy_people.models.detector import COCO_PERSON, TorchvisionDetector

    torch.manual_seed(0)
    detector = TorchvisionDetector(
        "fasterrcnn_mobilenet_v3_large_fpn",
        checkpoint=None,
        device="cpu",
        score_threshold=score_threshold,
        min_size=240,
        max_size=320,
        rpn_pre_nms_top_n_test=200,
        rpn_post_nms_top_n_test=50,
    )
    with torch.no_grad():
        detector.net.roi_heads.box_predictor.cls_score.bias[COCO_PERSON] = 8.0
    return detector


def tiny_segmenter(seed=0):
    """Segment Anything's real architecture at toy size, random weights, on the CPU."""
    from napari_fuzzy_people.models.segmenter import SamSegmenter

    return SamSegmenter(build_tiny_sam(seed), device="cpu", name="tiny-sam")


def tiny_models():
    """(detector, segmenter): the tiny real models, for ``--models doubles:tiny_models``."""
    return tiny_detector(), tiny_segmenter()


def tiny_fast_models():
    """(detector, Light HQ-SAM): the fast pair at toy size, for ``--models``."""
    return tiny_detector(), tiny_hq_segmenter()


def coco_people() -> list[dict]:
    """The shared coco-people photos' entries, or skip (a user's clone lacks them)."""
    if not (COCO_PEOPLE / "annotations.json").is_file():
        pytest.skip(f"coco-people data not found at {COCO_PEOPLE} (only in the dev workspace)")
    return json.loads((COCO_PEOPLE / "annotations.json").read_text())["images"]


def load_coco_photo(entry):
    """(image (M, N, 3) uint8, labels (M, N) uint8: 0, people 1..K, crowd 255)."""
    image = np.asarray(Image.open(COCO_PEOPLE / entry["image"]).convert("RGB"))
    labels = np.asarray(Image.open(COCO_PEOPLE / entry["mask"]))
    return image, labels


class GroundTruthDetectorDouble:
    """Test double for the detector protocol: returns the annotated boxes.

    Scores fall with the annotation order so the ranking is known.
    """

    def __init__(self, people):
        self.people = people

    def detect(self, image):
        boxes = np.array([p["bbox"] for p in self.people], np.float32).reshape(-1, 4)
        scores = np.linspace(0.99, 0.5, len(boxes)).astype(np.float32)
        return boxes, scores


class GroundTruthSegmenterDouble:
    """Test double for the segmenter protocol: the annotated mask of the
    person whose box matches the prompt box exactly."""

    def __init__(self, labels, people):
        self.labels = labels
        self.by_box = {tuple(p["bbox"]): p["label"] for p in people}

    def segment_boxes(self, image, boxes):
        boxes = np.asarray(boxes).reshape(-1, 4)
        masks = np.stack([self.labels == self.by_box[tuple(int(v) for v in b)] for b in boxes])
        return masks, np.full(len(boxes), 0.9, np.float32)

    def segment_points(self, image, points, labels, box=None):
        y, x = int(points[0][1]), int(points[0][0])
        return self.labels == self.labels[y, x], 0.9
