"""Light HQ-SAM's TinyViT sped up for inference gives the stock outputs."""

import copy

import pytest
import torch

from doubles import tiny_hq_segmenter, tiny_vit
from napari_fuzzy_people.models._tinyvit import (
    InplaceGELU,
    fold_conv_norms,
    inplace_activations,
    restore_tinyvit,
)


def with_trained_norms(model, seed=1):
    """Batch norms with the statistics and affine terms of a trained model, not the
    identity a fresh one starts as (which a wrong fold would pass)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
                m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(n, generator=gen) * 0.4 - 0.2)
    return model


def flat(out):
    return [out] if torch.is_tensor(out) else [t for o in out for t in flat(o)]


def run(encoder, x):
    with torch.inference_mode():
        return flat(encoder(x))


@pytest.fixture
def encoder():
    return with_trained_norms(tiny_vit(256, seed=0))


def test_folded_encoder_equals_stock_and_keeps_its_state_dict(encoder):
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(2))
    stock = run(encoder, x)
    state = copy.deepcopy(encoder.state_dict())
    convs = sum(type(m).__name__ == "Conv2d_BN" for m in encoder.modules())
    assert fold_conv_norms(encoder) == convs > 0
    folded = run(encoder, x)
    for a, b in zip(folded, stock, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    after = encoder.state_dict()
    assert after.keys() == state.keys()
    assert all(torch.equal(after[k], state[k]) for k in state)
    # A fold that dropped the norm's shift or scale would be far off.
    norms_off = copy.deepcopy(encoder)
    restore_tinyvit(norms_off)
    for m in norms_off.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_parameters()
            m.reset_running_stats()
    assert max((a - b).abs().max() for a, b in zip(run(norms_off, x), stock, strict=True)) > 1e-2


def test_inplace_activations_give_identical_outputs_and_keep_the_input_with_autograd(encoder):
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(4))
    stock = run(encoder, x)
    gelus = sum(type(m) is torch.nn.GELU for m in encoder.modules())
    assert inplace_activations(encoder) == gelus > 0
    assert inplace_activations(encoder) == 0
    for a, b in zip(run(encoder, x), stock, strict=True):
        assert torch.equal(a, b)
    gelu = next(m for m in encoder.modules() if type(m) is InplaceGELU)
    t = torch.randn(5, requires_grad=True)
    assert torch.equal(gelu(t), torch.nn.functional.gelu(t)) and t.grad_fn is None
    with torch.no_grad():
        y = torch.randn(5)
        same = y.clone()
        assert gelu(y) is y and torch.equal(y, torch.nn.functional.gelu(same))


def test_restore_gives_the_stock_forward_back_exactly(encoder):
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(3))
    stock = run(encoder, x)
    fold_conv_norms(encoder)
    inplace_activations(encoder)
    assert restore_tinyvit(encoder) > 0 and restore_tinyvit(encoder) == 0
    assert not any(type(m) is InplaceGELU for m in encoder.modules())
    for a, b in zip(run(encoder, x), stock, strict=True):
        assert torch.equal(a, b)


def test_training_mode_uses_the_batch_not_the_fold(encoder):
    fold_conv_norms(encoder)
    encoder.train()
    conv = next(m for m in encoder.modules() if type(m).__name__ == "Conv2d_BN")
    x = torch.randn(2, conv.c.in_channels, 8, 8)
    out = conv(x)
    # Normalized by the batch: each channel's mean is the norm's bias.
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)), conv.bn.bias, rtol=0, atol=1e-5)


def test_the_product_segmenter_runs_folded_convolutions_and_inplace_activations():
    seg = tiny_hq_segmenter()
    modules = list(seg.sam.image_encoder.modules())
    convs = [m for m in modules if type(m).__name__ == "Conv2d_BN"]
    assert convs and all(hasattr(m, "_folded") for m in convs)
    assert all(m._folded[0].is_contiguous(memory_format=torch.channels_last) for m in convs)
    assert any(type(m) is InplaceGELU for m in modules)
    assert not any(type(m) is torch.nn.GELU for m in modules)
