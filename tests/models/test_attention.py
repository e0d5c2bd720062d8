"""Fused ViT attention: the same encoder output and masks as stock SAM, on tiny real models."""

import copy
import warnings
from functools import partial

import numpy as np
import pytest
import torch
from segment_anything import SamPredictor
from segment_anything.modeling import ImageEncoderViT

from doubles import build_tiny_sam
from napari_fuzzy_people.models import _attention
from napari_fuzzy_people.models._attention import fuse_attention, restore_attention


def trained_like(encoder, seed=1):
    """SAM initialises the position terms to zero, and random query/key weights give
    nearly flat attention, where a wrong scale or term barely shows: fill the position
    terms and sharpen the attention, so that such a mistake is 10x over tolerance."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        if encoder.pos_embed is not None:
            encoder.pos_embed.copy_(torch.randn(encoder.pos_embed.shape, generator=gen))
        for block in encoder.blocks:
            block.attn.qkv.weight.mul_(3)
            for table in (block.attn.rel_pos_h, block.attn.rel_pos_w):
                table.copy_(torch.randn(table.shape, generator=gen) * 0.5)
    return encoder


def attention_kinds(encoder):
    return sorted({"global" if b.window_size == 0 else "windowed" for b in encoder.blocks})


@pytest.fixture
def pair():
    """A tiny SAM (one windowed, one global block) and a fused copy with the same weights."""
    sam = build_tiny_sam()
    trained_like(sam.image_encoder)
    fused = copy.deepcopy(sam)
    return sam, fused


def encode(encoder, x):
    with torch.inference_mode():
        return encoder(x)


def test_fused_encoder_equals_stock(pair):
    sam, fused = pair
    assert attention_kinds(sam.image_encoder) == ["global", "windowed"]
    assert fuse_attention(fused) == 2
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(2)) * 50
    stock, ours = encode(sam.image_encoder, x), encode(fused.image_encoder, x)
    assert stock.abs().max() > 0.5  # a real signal, not zeros compared with zeros
    torch.testing.assert_close(ours, stock, atol=1e-5, rtol=1e-5)


def test_row_bands_equal_the_whole_mask(pair, monkeypatch):
    """Global blocks on full-size images attend a band of query rows at a time; bands
    that do not divide the height (16 rows in threes) give the same output."""
    sam, fused = pair
    fuse_attention(fused)
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(3)) * 50
    stock = encode(sam.image_encoder, x)
    monkeypatch.setattr(_attention, "WHOLE_MASK_TOKENS", 0)
    monkeypatch.setattr(_attention, "ROWS_PER_CALL", 3)
    torch.testing.assert_close(encode(fused.image_encoder, x), stock, atol=1e-5, rtol=1e-5)


def test_padded_windows_and_no_relative_positions():
    """Windows that need padding (16 tokens in windows of 5), and attention without
    relative positions."""
    for use_rel_pos in (True, False):
        torch.manual_seed(0)
        encoder = ImageEncoderViT(
            img_size=256, depth=2, embed_dim=64, num_heads=4, out_chans=32, mlp_ratio=2,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_rel_pos=use_rel_pos,
            window_size=5, global_attn_indexes=[1],
        ).eval()  # fmt: skip
        if use_rel_pos:
            trained_like(encoder)
        fused = copy.deepcopy(encoder)
        assert fuse_attention(fused) == 2
        x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(4)) * 50
        torch.testing.assert_close(encode(fused, x), encode(encoder, x), atol=1e-5, rtol=1e-5)


def test_masks_from_sams_predictor_are_the_same(pair, photo):
    sam, fused = pair
    fuse_attention(fused)
    stock, ours = SamPredictor(sam), SamPredictor(fused)
    with torch.inference_mode():
        stock.set_image(photo)
        ours.set_image(photo)
    torch.testing.assert_close(ours.features, stock.features, atol=1e-5, rtol=1e-5)
    boxes = [[50, 30, 90, 100], [0, 0, 40, 40], [100, 10, 150, 110]]
    for box in boxes:
        prompt = dict(box=np.array(box, np.float32), multimask_output=True)
        ref_masks, ref_quality, ref_low = stock.predict(**prompt)
        masks, quality, low = ours.predict(**prompt)
        assert ref_masks.any() and not ref_masks.all()
        np.testing.assert_array_equal(masks, ref_masks)
        np.testing.assert_allclose(quality, ref_quality, rtol=1e-5)
        np.testing.assert_allclose(low, ref_low, atol=1e-4)


def test_fusing_twice_changes_nothing_and_restore_undoes_it(pair):
    sam, fused = pair
    attention = fused.image_encoder.blocks[0].attn
    assert fuse_attention(fused.image_encoder) == 2
    fused_forward = attention.forward
    assert fuse_attention(fused) == 0
    assert attention.forward == fused_forward
    assert restore_attention(fused) == 2
    assert restore_attention(fused) == 0
    assert "forward" not in vars(attention)  # the class's own forward again
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(5)) * 50
    assert torch.equal(encode(fused.image_encoder, x), encode(sam.image_encoder, x))


def test_hq_sam_vit_is_fused_and_tinyvit_left_alone():
    with warnings.catch_warnings():
        # segment_anything_hq imports timm's deprecated paths and re-registers TinyViT.
        warnings.simplefilter("ignore")
        from segment_anything_hq.modeling import ImageEncoderViT as HqEncoder
        from segment_anything_hq.modeling import TinyViT

    torch.manual_seed(0)
    encoder = HqEncoder(
        img_size=256, depth=2, embed_dim=64, num_heads=2, out_chans=32, mlp_ratio=2,
        norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_rel_pos=True,
        window_size=4, global_attn_indexes=[1],
    ).eval()  # fmt: skip
    trained_like(encoder)
    fused = copy.deepcopy(encoder)
    assert fuse_attention(fused) == 2
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(6)) * 50
    (stock, stock_early), (ours, ours_early) = encode(encoder, x), encode(fused, x)
    torch.testing.assert_close(ours, stock, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours_early, stock_early, atol=1e-5, rtol=1e-5)

    # Light HQ-SAM's encoder has attention of another kind: not ours to change.
    tiny = TinyViT(
        img_size=224, num_classes=0, embed_dims=[16, 32, 64, 320], depths=[1, 1, 1, 1],
        num_heads=[1, 2, 2, 10], window_sizes=[7, 7, 14, 7],
    )  # fmt: skip
    assert fuse_attention(tiny) == 0
    assert not any("forward" in vars(module) for module in tiny.modules())


def test_the_product_segmenter_runs_fused_attention():
    from napari_fuzzy_people.models import SamSegmenter

    segmenter = SamSegmenter(build_tiny_sam())
    assert fuse_attention(segmenter.sam) == 0  # already fused when built
    assert restore_attention(segmenter.sam) == len(segmenter.sam.image_encoder.blocks)
