"""Light HQ-SAM: a TinyViT image encoder and HQ-SAM's mask decoder (the fast segmenter).

The official ``segment-anything-hq`` package builds the model; this module
puts it behind :class:`~napari_fuzzy_people.models.segmenter.PersonSegmenter`
with the same embedding cache and store as Segment Anything. HQ-SAM's decoder
also needs features from early in the encoder, so those are cached and stored
with each embedding, and the per-image part of its decoder is computed once
per image instead of once per prompt.
"""

from __future__ import annotations

import warnings

import torch

from . import weights
from ._tinyvit import fold_conv_norms, inplace_activations
from .segmenter import Embedding, SamSegmenter

with warnings.catch_warnings():
    # The package imports timm's deprecated module paths and registers TinyViT
    # names that timm has too: warnings about its code that nobody here can act on.
    warnings.filterwarnings("ignore", message="Importing from timm", category=FutureWarning)
    warnings.filterwarnings("ignore", message="Overwriting tiny_vit", category=UserWarning)
    from segment_anything_hq import SamPredictor as HqPredictor
    from segment_anything_hq import modeling as hq_modeling
    from segment_anything_hq import sam_model_registry as hq_model_registry
    from segment_anything_hq.modeling import Sam as HqSam

__all__ = ["HQ_TYPES", "HqSamSegmenter", "hq_modeling"]

#: Our names for the HQ-SAM models offered, and the package's names for them.
HQ_TYPES = {"hq_vit_tiny": "vit_tiny"}


class HqSamSegmenter(SamSegmenter):
    """Light HQ-SAM behind the :class:`PersonSegmenter` protocol.

    Everything :class:`SamSegmenter` does (embedding cache, on-disk store,
    batched boxes, digest), with HQ-SAM's decoder. Use :meth:`load` to build
    one from a checkpoint.

    Parameters
    ----------
    sam : segment_anything_hq.modeling.Sam
        The model, with an encoder that returns HQ-SAM's early features too.
    hq_token_only : bool
        ``False`` (HQ-SAM's advice for photos of several objects): SAM's mask
        corrected by the HQ token's; ``True``: the HQ token's mask alone.
    **kwargs
        As for :class:`SamSegmenter`.
    """

    _predictor_type = HqPredictor
    # HQ-SAM is trained and evaluated on boxes with a single output.
    box_multimask = False

    def __init__(self, sam: HqSam, *, hq_token_only: bool = False, name="sam_hq", **kwargs):
        super().__init__(sam, name=name, **kwargs)
        # Same outputs to ~1e-5; the TinyViT embedding about a third faster on a CPU.
        fold_conv_norms(self.sam)
        inplace_activations(self.sam)
        self.hq_token_only = bool(hq_token_only)

    @classmethod
    def load(
        cls, model_type: str = "hq_vit_tiny", *, checkpoint="default", **kwargs
    ) -> HqSamSegmenter:
        """Build HQ-SAM ``model_type`` with its published weights (or a local file).

        ``checkpoint``: ``"default"`` (downloaded and cached on first use), a
        registry name, a path to a ``.pth`` file, or ``None`` for random
        weights (tests, benchmarks).
        """
        if model_type not in HQ_TYPES:
            known = tuple(HQ_TYPES)
            raise ValueError(f"unknown HQ-SAM type {model_type!r}; choose one of {known}")
        path = None
        if checkpoint is not None:
            path = weights.resolve(checkpoint, default=f"sam_{model_type}")
        sam = hq_model_registry[HQ_TYPES[model_type]](checkpoint=None)
        if path is not None:
            # weights_only: a checkpoint is data, never code to run.
            sam.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        segmenter = cls(sam, name=f"sam_{model_type}", **kwargs)
        segmenter.checkpoint_path = path
        return segmenter

    # -- embeddings: the early features travel with them -------------------

    def _from_predictor(self) -> Embedding:
        embedding = super()._from_predictor()
        embedding.interm = self.predictor.interm_features[0]
        return self._with_hq_features(embedding)

    def _save_stored(self, key: str, e: Embedding) -> None:
        super()._save_stored(key, e)
        self.store.put(f"{key}|interm", e.interm.cpu().numpy(), e.original_size, e.input_size)

    def _load_stored(self, key: str) -> Embedding | None:
        embedding = super()._load_stored(key)
        interm = self.store.get(f"{key}|interm")
        if embedding is None or interm is None:
            return None  # half an entry (a kill between the two writes): compute afresh
        embedding.interm = torch.as_tensor(interm[0], device=self.device)
        return self._with_hq_features(embedding)

    # -- prompts --------------------------------------------------------------

    def _with_hq_features(self, e: Embedding) -> Embedding:
        """``e`` with the image's part of the HQ mask features, the same for every
        prompt: made with the embedding, so that a prompt costs only its own part."""
        dec = self.sam.mask_decoder
        with torch.inference_mode():
            early = e.interm.permute(0, 3, 1, 2)
            e.hq = dec.embedding_encoder(e.features) + dec.compress_vit_feat(early)
        return e

    def _decode(self, points, boxes, *, multimask: bool):
        """HQ-SAM's mask decoder (``MaskDecoderHQ.forward``), computing only the
        masks kept and the image's features once; see :meth:`SamSegmenter._decode`."""
        sam, e = self.sam, self._embedding
        dec = sam.mask_decoder
        sparse, dense = sam.prompt_encoder(points=points, boxes=boxes, masks=None)
        b = len(sparse)
        tokens = torch.cat([dec.iou_token.weight, dec.mask_tokens.weight, dec.hf_token.weight])
        tokens = torch.cat([tokens.expand(b, -1, -1), sparse], dim=1)
        pe = sam.prompt_encoder.get_dense_pe()
        hs, src = dec.transformer(e.features + dense, pe.expand(b, -1, -1, -1), tokens)
        n = dec.num_mask_tokens  # SAM's mask tokens, then the HQ token
        mask_tokens = hs[:, 1 : 1 + n]
        _, c, h, w = e.features.shape
        up_sam = dec.output_upscaling(src.transpose(1, 2).reshape(b, c, h, w))
        up_hq = dec.embedding_maskfeature(up_sam) + e.hq
        quality = dec.iou_prediction_head(hs[:, 0])
        if multimask:  # the best of SAM's three candidates
            score, token = quality[:, 1 : n - 1].max(dim=1)
            token = token + 1
        else:
            score, token = quality[:, 0], torch.zeros(b, dtype=torch.long, device=hs.device)
        size = up_hq.shape[-2:]
        hyper = dec.hf_mlp(mask_tokens[:, n - 1])[:, None]
        low = (hyper @ up_hq.flatten(2)).view(b, 1, *size)
        if not self.hq_token_only:
            mlps = dec.output_hypernetworks_mlps
            hyper = torch.stack([mlps[i](mask_tokens[:, i]) for i in range(n - 1)], dim=1)
            hyper = hyper[torch.arange(b, device=hs.device), token][:, None]
            low = (hyper @ up_sam.flatten(2)).view(b, 1, *size) + low
        return low, score
