"""Fused attention for Segment Anything's ViT image encoder: same weights, same results.

SAM's stock ``Attention.forward`` builds the whole attention matrix, adds the
decomposed relative-position term to it (a second matrix), softmaxes it (a
third) and multiplies by the values. On a global block (64 x 64 = 4096
tokens, 12 heads) each of those is 800 MB, so the block is bound by memory
traffic, not arithmetic. :func:`fuse_attention` gives each such module a
forward that passes the relative-position term to
:func:`torch.nn.functional.scaled_dot_product_attention` as an additive mask
(its fused kernel never writes the softmax out), a band of query rows at a
time on global blocks so that the mask stays small. The numbers are the
same to float rounding (about 1e-6).
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F

__all__ = ["fuse_attention", "fused_forward", "restore_attention"]

# Query rows per SDPA call on global blocks: the mask for one call is
# heads x (rows x W) x (H x W) floats, 50 MB for ViT-B at 4 rows (the whole
# mask would be 800 MB). 4 to 8 rows measured fastest on 1 and 2 threads.
ROWS_PER_CALL = 4
# Up to this many tokens (a 14 x 14 window: 196) the whole mask is built at once.
WHOLE_MASK_TOKENS = 1024


# SAM's ViT attention and HQ-SAM's copy of it, known by name so that
# fusing SAM never imports HQ-SAM (and its timm registry warnings).
_ATTENTION = {
    ("segment_anything.modeling.image_encoder", "Attention"),
    ("segment_anything_hq.modeling.image_encoder", "Attention"),
}


def _is_vit_attention(module: torch.nn.Module) -> bool:
    kind = type(module)
    return (kind.__module__, kind.__qualname__) in _ATTENTION


def _rel_pos(size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """Stock ``get_rel_pos`` for equal query and key sizes: (size, size, C)."""
    from segment_anything.modeling.image_encoder import get_rel_pos

    return get_rel_pos(size, size, rel_pos)


def fused_forward(self, x: torch.Tensor) -> torch.Tensor:
    """SAM ViT ``Attention.forward`` through fused scaled-dot-product attention.

    Same inputs, weights and outputs as the stock forward (``x`` is
    (B, H, W, C) tokens); only the order of float operations differs.
    """
    batch, height, width, dim = x.shape
    heads = self.num_heads
    tokens = height * width
    # (3, B, heads, tokens, head_dim) views: SDPA takes them without a copy.
    q, k, v = (
        self.qkv(x).reshape(batch, tokens, 3, heads, dim // heads).permute(2, 0, 3, 1, 4).unbind(0)
    )
    if not self.use_rel_pos:
        out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
    else:
        # The decomposed term: attn[q, (kh, kw)] += rel_h[q, kh] + rel_w[q, kw],
        # from the unscaled queries, as in add_decomposed_rel_pos.
        r_q = q.reshape(batch, heads, height, width, -1)
        rel_h = torch.einsum("bnhwc,hkc->bnhwk", r_q, _rel_pos(height, self.rel_pos_h))
        rel_w = torch.einsum("bnhwc,wkc->bnhwk", r_q, _rel_pos(width, self.rel_pos_w))
        rows = height if tokens <= WHOLE_MASK_TOKENS else min(ROWS_PER_CALL, height)
        # Written into a contiguous buffer: a plain broadcast add would lay its
        # result out like the (sliced) inputs and cost a second copy to reshape.
        buffer = q.new_empty(batch, heads, rows, width, height, width)
        bands = []
        for top in range(0, height, rows):
            bottom = min(top + rows, height)
            mask = buffer[:, :, : bottom - top]
            torch.add(
                rel_h[:, :, top:bottom, :, :, None], rel_w[:, :, top:bottom, :, None, :], out=mask
            )
            span = slice(top * width, bottom * width)
            mask = mask.reshape(batch, heads, (bottom - top) * width, tokens)
            bands.append(
                F.scaled_dot_product_attention(
                    q[:, :, span], k, v, attn_mask=mask, scale=self.scale
                )
            )
        # One cat, not a strided copy per band: each op is a parallel region,
        # and on a busy machine every region waits for all its threads.
        out = torch.cat(bands, dim=2) if len(bands) > 1 else bands[0]
    out = out.transpose(1, 2).reshape(batch, height, width, dim)
    return self.proj(out)


def fuse_attention(model: torch.nn.Module) -> int:
    """Give every SAM ViT attention module in ``model`` the fused forward.

    ``model`` may be a whole ``Sam``, its ``image_encoder``, or anything that
    holds them. Modules of other kinds (HQ-SAM's TinyViT, say) are left
    alone. Calling it again changes nothing.

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    int
        How many modules were changed by this call (0 when already fused).
    """
    changed = 0
    for module in model.modules():
        if _is_vit_attention(module) and not getattr(module, "_fused", False):
            module.forward = types.MethodType(fused_forward, module)
            module._fused = True
            changed += 1
    return changed


def restore_attention(model: torch.nn.Module) -> int:
    """Undo :func:`fuse_attention`: the stock forward again. Returns how many changed."""
    changed = 0
    for module in model.modules():
        if getattr(module, "_fused", False):
            del module.forward, module._fused
            changed += 1
    return changed
