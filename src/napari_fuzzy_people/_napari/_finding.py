"""The controller's model actions: which models, loading them in the worker, Find people.

A mixin of :class:`~napari_fuzzy_people._napari.controller.Controller`.
Models are loaded once and kept (the segmenter keeps its image embeddings);
prompts need only Segment Anything, so only it is loaded for them.
"""

from __future__ import annotations

from dataclasses import replace

from napari.layers import Image

from ..core import ReviewModel
from . import _layers
from ._events import Severity, people
from ._jobs import find_people_job, load_detector, load_segmenter

__all__ = ["FindingActions"]


def _fast_pair_hint(segmenter) -> str:
    """A word for whoever runs Segment Anything without a GPU: the fast pair exists."""
    on_cpu = getattr(getattr(segmenter, "device", None), "type", None) == "cpu"
    if on_cpu and str(getattr(segmenter, "name", "")).startswith("sam_vit"):
        return (
            " No GPU here: the fast models (Models: Fast, with Light HQ-SAM) find people "
            "several times sooner."
        )
    return ""


class FindingActions:
    """Models and Find people."""

    # -- finding people --------------------------------------------------------

    def use_models(self, detector=None, segmenter=None) -> None:
        """Use these models (objects, or functions that build them in the worker)."""
        for role, model in (("detector", detector), ("segmenter", segmenter)):
            if model is not None:
                self._injected[role] = model
                self._loaded.pop(role, None)

    def set_models(self, **changes) -> None:
        """Change the model choice (detector, files, minimum score, segmenter)."""
        self.models = replace(self.models, **changes)

    def _key(self, role: str) -> tuple:
        m = self.models
        if role == "detector":
            return (m.detector, m.detector_file, m.min_score)
        return (m.segmenter, m.segmenter_file)

    def _factory(self, role: str):
        """A function that gives the model, called in the worker (loading is slow)."""
        injected = self._injected.get(role)
        if injected is not None:
            is_model = hasattr(injected, "detect") or hasattr(injected, "segment_points")
            return (lambda: injected) if is_model else injected
        cached = self._loaded.get(role)
        if cached is not None and cached[0] == self._key(role):
            return lambda: cached[1]
        load, choice = (load_detector if role == "detector" else load_segmenter), self.models
        return lambda: load(choice)

    def _keep(self, role: str, model) -> None:
        # Kept (injected ones too, once built): the segmenter caches its embeddings.
        self._loaded[role] = (self._key(role), model)
        if role in self._injected:
            self._injected[role] = model

    def find_people(self) -> None:
        """Detect and segment the people in the photo, in a worker."""
        try:
            image = self._photo_pixels()
        except ValueError as err:
            self.say(str(err), Severity.WARNING)
            return
        photo_layer = self.photo_layer
        gen = find_people_job(
            image, self._factory("detector"), self._factory("segmenter"), self._model_lock
        )
        self._run("find", gen, lambda result: self._found(photo_layer, result))

    def _found(self, photo_layer: Image, result) -> None:
        detector, segmenter, proposals = result
        self._keep("detector", detector)
        self._keep("segmenter", segmenter)
        if photo_layer is not self.photo_layer:
            return
        model = ReviewModel()
        model.add_proposals(proposals)
        layer = self._own.get("people")
        self._syncing = True
        try:
            if layer is not None and layer in self.viewer.layers:
                layer.data = proposals.labels
            else:
                layer = self.viewer.add_labels(
                    proposals.labels,
                    name=f"{photo_layer.name} people",
                    opacity=0.5,
                    scale=photo_layer.scale,
                    translate=photo_layer.translate,
                )
                self._own["people"] = layer
            self._bind_people(layer)
            self._set_review(model)
        finally:
            self._syncing = False
        self._schedule_save()  # in a folder's queue: the proposals are saved at once
        boxes = [p.box for p in proposals.people]
        if self._show_boxes:
            self._own["boxes"] = _layers.show_boxes(
                self.viewer, self._own.get("boxes"), photo_layer, boxes
            )
            self.viewer.layers.selection.active = layer
        n = len(proposals.people)
        self.say(
            (
                f"Found {people(n)}. Check each mask, fix it with the Labels tools, then "
                "approve (A) or reject (R)."
                if n
                else "Found nobody. Add people with points or a box, or paint them by hand."
            )
            + _fast_pair_hint(segmenter),
            toast=True,
        )

    _show_boxes = False

    def set_show_boxes(self, value: bool) -> None:
        self._show_boxes = bool(value)
        if not value:
            self._remove_own("boxes")
