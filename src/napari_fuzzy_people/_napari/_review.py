"""The controller's review and prompt actions: select, approve, reject, delete, undo, prompts.

A mixin of :class:`~napari_fuzzy_people._napari.controller.Controller`, kept
apart so that each file stays about one thing. Actions on "the selected
person" need an explicit selection: nobody is approved by default.
"""

from __future__ import annotations

import numpy as np

from . import _layers
from ._jobs import segment_prompt_job

__all__ = ["ReviewActions"]


class ReviewActions:
    """Review actions on the session's people layer and review model."""

    # -- selection -------------------------------------------------------------

    def select(self, label: int | None, *, focus: bool = True) -> None:
        """Select a person (None: nobody); with ``focus``, bring them into view."""
        if label is not None and label not in self.review.people:
            label = None
        self.selected = label
        layer = self.people_layer
        if label is not None and layer is not None:
            if layer.selected_label != label:
                self._picking = True
                try:
                    layer.selected_label = label
                finally:
                    self._picking = False
            if focus:
                _layers.centre_on(self.viewer, layer, label)
        self.selection_changed.emit(label)

    _picking = False

    def _on_label_picked(self, event=None) -> None:
        # The label spinbox or the picker: follow it in the list, but never move the
        # camera (the person may be painting with that label).
        if self._picking or self.people_layer is None:
            return
        label = self.people_layer.selected_label
        if label != self.selected:
            self.select(label if label in self.review.people else None, focus=False)

    def _targets(self, labels) -> list[int]:
        if labels is None:
            labels = [] if self.selected is None else [self.selected]
        if not labels:
            self.say("Select a person first (in the list, or with the picker).", "warning")
        return [int(v) for v in labels]

    def select_next(self, after: int | None = None) -> None:
        """Select the next person still to review (and bring them into view)."""
        label = self.review.next_to_review(self.selected if after is None else after)
        if label is None:
            self.say("Everybody is reviewed.")
        self.select(label)

    # -- decisions -------------------------------------------------------------

    def approve(self, labels=None) -> None:
        """Approve these people (default: the selected one), then go to the next."""
        labels = self._targets(labels)
        if labels:
            self.review.approve(*labels)
            self.select_next(after=labels[-1])

    def reject(self, labels=None) -> None:
        """Reject these people (not a person), then go to the next."""
        labels = self._targets(labels)
        if labels:
            self.review.reject(*labels)
            self.select_next(after=labels[-1])

    def approve_all(self) -> None:
        """Approve everybody still to review."""
        self.review.approve_all()

    def delete(self, labels=None) -> None:
        """Erase these people's pixels and forget them; :meth:`undo` brings both back."""
        labels = self._targets(labels)
        if not labels or self.people_layer is None:
            return
        data = np.asarray(self.people_layer.data)
        self._syncing = True
        try:
            for label in labels:
                where = np.nonzero(data == label)
                self._erased[label] = where
                self.people_layer.data_setitem(where, 0)
            self.review.remove(*labels)
        finally:
            self._syncing = False

    def undo(self) -> None:
        """Undo the last review action (painting has napari's own Ctrl+Z)."""
        if not self.review.undo():
            self.say("Nothing to undo in the review (use Ctrl+Z in the layer for painting).")

    def _restore_erased(self, labels) -> None:
        # Undoing a delete brings the person back; their pixels come back with them.
        back = [k for k in labels if k in self._erased and k in self.review.people]
        if not back or self.people_layer is None:
            return
        self._syncing = True
        try:
            for label in back:
                self.people_layer.data_setitem(self._erased.pop(label), label)
        finally:
            self._syncing = False
        self.review.sync(np.asarray(self.people_layer.data))

    # -- prompts ---------------------------------------------------------------

    def start_points(self, negative: bool = False) -> None:
        """Click on a missed person (or, with ``negative``, on what is not them)."""
        if self.photo_layer is None:
            self.say("Open a photo first.", "warning")
            return
        layer = self._own.get("points")
        if layer is None or layer not in self.viewer.layers:
            layer = self._own["points"] = _layers.add_points_layer(self.viewer, self.photo_layer)
        layer.feature_defaults["person"] = not negative
        self.viewer.layers.selection.active = layer
        layer.mode = "add"
        self.say("Click on the missed person, then press Segment new person.")

    def set_negative(self, negative: bool) -> None:
        """Whether new prompt points mark 'not this person'."""
        layer = self._own.get("points")
        if layer is not None:
            layer.feature_defaults["person"] = not negative

    def start_box(self) -> None:
        """Draw one box around a missed person."""
        if self.photo_layer is None:
            self.say("Open a photo first.", "warning")
            return
        layer = self._own.get("box")
        if layer is None or layer not in self.viewer.layers:
            layer = self._own["box"] = _layers.add_box_layer(self.viewer, self.photo_layer)
        self.viewer.layers.selection.active = layer
        layer.mode = "add_rectangle"
        self.say("Drag a box around the missed person, then press Segment new person.")

    def segment_prompt(self, refine: bool = False) -> None:
        """Segment Anything from the prompts: a new person, or (``refine``) the selected one
        redone. Needs only Segment Anything, not the detector."""
        try:
            image = self._photo_pixels()
        except ValueError as err:
            self.say(str(err), "warning")
            return
        points, positive = _layers.point_prompts(self._own.get("points"), self.photo_layer)
        box = _layers.last_box(self._own.get("box"), self.photo_layer)
        if box is None and not len(points):
            self.say("Add points or draw a box first.", "warning")
            return
        target = self._targets(None) if refine else []
        if refine and not target:
            return
        if self.people_layer is None:
            labels = np.zeros(image.shape[:2], np.uint16)
            self._own["people"] = layer = self.viewer.add_labels(
                labels,
                name=f"{self.photo_layer.name} people",
                opacity=0.5,
                scale=self.photo_layer.scale,
                translate=self.photo_layer.translate,
            )
            self._bind_people(layer)
        gen = segment_prompt_job(
            image, self._factory("segmenter"), points, positive, box, self._model_lock
        )
        self._run("segment", gen, lambda r: self._prompted(r, target[0] if target else None))

    def _prompted(self, result, label: int | None) -> None:
        segmenter, mask, score = result
        self._keep("segmenter", segmenter)
        layer = self.people_layer
        if layer is None:
            return
        data = np.asarray(layer.data)
        self._syncing = True
        try:
            if label is None:
                label = int(data.max()) + 1
                # A new person only takes pixels nobody owns yet.
                layer.data_setitem(np.nonzero(mask & (data == 0)), label)
                area = int((np.asarray(layer.data) == label).sum())
                self.review.add_person(label, origin="prompt", mask_score=score, area=area)
            else:
                layer.data_setitem(np.nonzero((data == label) & ~mask), 0)
                layer.data_setitem(np.nonzero(mask & ((data == 0) | (data == label))), label)
            self.review.sync(np.asarray(layer.data))
        finally:
            self._syncing = False
        for role, empty in (("points", np.empty((0, 2))), ("box", [])):
            if self._own.get(role) is not None:
                self._own[role].data = empty
        self.viewer.layers.selection.active = layer
        self.select(label)
        self.say(f"Person {label} segmented (mask score {score:.2f}). Review it, then approve.")
