"""The controller's output actions: settings, the live preview, Apply and Export.

A mixin of :class:`~napari_fuzzy_people._napari.controller.Controller`. The
anonymized pixels are computed in workers; only showing them happens on the
GUI thread, in a layer the session made and reuses.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from napari.layers import Image
from napari.qt.threading import create_worker

from ..core import AnonymizeSettings, ReviewModel
from ..core.preview import preview_factor
from ..io.export import export_path
from ..io.record import default_review_folder
from . import _layers
from ._events import Severity, drive, people
from ._jobs import anonymize_job, export_job, preview_job
from ._layers import layer_photo_path

__all__ = ["PREVIEW_MIN", "OutputActions", "PreviewState", "PreviewStatus"]

#: The smallest long side a preview is computed at, however small the canvas.
PREVIEW_MIN = 1024


class PreviewStatus(str, enum.Enum):
    OFF = "off"
    UPDATING = "updating"  # being computed; the layer still shows the last one
    READY = "ready"  # the layer shows the current settings
    CANCELLED = "cancelled"  # stopped (newer settings, another photo, an error)


@dataclass(frozen=True)
class PreviewState:
    """The live preview: its status, how many times smaller than the photo it is
    (each preview pixel a ``factor`` x ``factor`` cell), the settings it shows, and
    its size once shown."""

    status: PreviewStatus = PreviewStatus.OFF
    factor: int = 1
    settings: AnonymizeSettings | None = None
    shape: tuple[int, ...] = ()


class OutputActions:
    """Settings, preview, Apply, Export."""

    preview_state = PreviewState()
    _preview_photo = None  # (photo pixels, factor, photo at preview size)
    #: The preview's long side in pixels; None follows the canvas.
    preview_target: int | None = None

    # -- settings and preview ----------------------------------------------------

    def update_settings(self, **changes) -> bool:
        """Change how people are anonymized; False (and a notice) if the result is invalid."""
        try:
            settings = replace(self.settings, **changes)
        except (TypeError, ValueError) as err:
            self.say(f"Setting not changed: {err}", Severity.WARNING)
            return False
        if settings != self.settings:
            self.settings = settings
            self.settings_changed.emit(settings)
            self._update_preview()
        return True

    def set_preview(self, on: bool) -> None:
        """Show the anonymized photo live, at screen size, in a layer under the people."""
        self._preview_on = bool(on)
        if not on:
            if self._preview_worker is not None:
                self._preview_worker.quit()
            self._remove_own("preview")
            self._preview_photo = None
            self._set_preview_state(PreviewState())
        self._update_preview()

    def preview_factor(self, shape) -> int:
        """How many times smaller than the photo the preview is computed: it fits the
        canvas (:attr:`preview_target`, else the canvas's long side, at least
        :data:`PREVIEW_MIN`), never past :data:`~..core.preview.PREVIEW_MAX`."""
        target = self.preview_target
        if target is None:
            canvas = getattr(self.viewer, "canvas", None)  # napari >= 0.9; before: private
            size = canvas.size if canvas is not None else getattr(self.viewer, "_canvas_size", ())
            target = max(PREVIEW_MIN, *size)
        return preview_factor(shape, target)

    def _update_preview(self) -> None:
        if not self._preview_on or self._closed:
            return
        if self._preview_worker is not None:
            # The newest settings win: the running preview stops at its next step
            # (its result, if any, is dropped) and this one starts when it ends.
            self._preview_pending = True
            self._preview_worker.quit()
            return
        try:
            image = self._photo_pixels()
        except ValueError:
            return
        if self.people_layer is None:
            return
        labels = np.asarray(self.people_layer.data).copy()
        approved = self.review.approved_labels()
        source, settings = self.photo_layer, self.settings
        factor = self.preview_factor(image.shape)
        self._preview_pending = False
        # The photo at preview size is kept while the photo and the factor stay.
        kept, kept_factor, small = self._preview_photo or (None, None, None)
        small = small if kept is image and kept_factor == factor else None
        job = preview_job(image, labels, approved, settings, factor, small)
        worker = create_worker(drive, job, _start_thread=False, _ignore_errors=True)
        state = PreviewState(PreviewStatus.UPDATING, factor, settings)

        def returned(result):
            out, small = result
            self._preview_photo = (image, factor, small)
            self._preview_returned(worker, source, out, state)

        worker.returned.connect(returned)
        worker.errored.connect(self._on_error)
        worker.finished.connect(lambda: self._preview_done(worker, state))
        self._preview_worker = worker
        self._set_preview_state(state)
        worker.start()

    def _preview_returned(self, worker, source: Image, out: np.ndarray, state) -> None:
        if worker is not self._preview_worker or self._preview_pending:
            return  # superseded by newer settings: never shown
        if source is not self.photo_layer or not self._preview_on:
            return
        self._own["preview"] = _layers.show_image(
            self.viewer, self._own.get("preview"), source, [out], self._preview_name(False),
            below=self.people_layer, factor=state.factor,
        )  # fmt: skip
        self._set_preview_state(replace(state, status=PreviewStatus.READY, shape=out.shape[:2]))

    def _preview_done(self, worker, state) -> None:
        if worker is not self._preview_worker:
            return
        self._preview_worker = None
        if self._closed or not self._preview_on:
            return
        if self.preview_state.status == PreviewStatus.UPDATING:
            # Stopped: newer settings, another photo, or an error.
            self._set_preview_state(replace(state, status=PreviewStatus.CANCELLED))
        if self._preview_pending:
            self._update_preview()

    def _preview_name(self, updating: bool) -> str:
        name = self.photo_layer.name if self.photo_layer is not None else "photo"
        return f"{name} (preview, updating…)" if updating else f"{name} (preview)"

    def _set_preview_state(self, state: PreviewState) -> None:
        self.preview_state = state
        layer = self._own.get("preview")
        if layer is not None and layer in self.viewer.layers:
            # Marked in the layer list too: what it shows is about to change.
            layer.name = self._preview_name(state.status == PreviewStatus.UPDATING)
        if not self._closed:
            self.preview_changed.emit(state)

    def _show(self, role: str, source: Image, out: np.ndarray, suffix: str) -> None:
        if source is not self.photo_layer:
            return
        self._own[role] = _layers.show_image(
            self.viewer, self._own.get(role), source, out, f"{source.name}{suffix}"
        )

    # -- apply and export --------------------------------------------------------

    def _inputs(self):
        image = self._photo_pixels()
        if self.people_layer is None:
            raise ValueError("Find people (or use masks you have) first.")
        return image, np.asarray(self.people_layer.data).copy()

    def apply(self) -> None:
        """Anonymize the approved people into a new layer (the photo layer stays as it is)."""
        try:
            image, labels = self._inputs()
        except ValueError as err:
            self.say(str(err), Severity.WARNING)
            return
        approved = self.review.approved_labels()
        if not approved:
            self.say("Nobody is approved yet: approve people (A) first.", Severity.WARNING)
            return
        source = self.photo_layer

        def done(out):
            self._show("result", source, out, " (fuzzy)")
            self.say(f"Anonymized {people(len(approved))} into a new layer.", toast=True)

        self._run("apply", anonymize_job(image, labels, approved, self.settings), done)

    def export_target(self, folder) -> Path:
        """Where :meth:`export` would write the photo in ``folder``."""
        source = layer_photo_path(self.photo_layer) if self.photo_layer is not None else None
        fmt = self.photo.format if self.photo is not None else None
        name = self.photo_layer.name if self.photo_layer is not None else "image"
        return export_path(folder, name, source, fmt=fmt)

    def default_review_folder(self, folder) -> Path:
        """Where an export's masks and record go: the work folder's records for a
        folder's photo, else beside the original photo."""
        if self.work is not None:
            return self.work.records_for(folder)
        source = layer_photo_path(self.photo_layer) if self.photo_layer is not None else None
        return default_review_folder(folder, source)

    def export(
        self,
        folder,
        *,
        review_folder=None,
        overwrite: bool = False,
        allow_unreviewed: bool = False,
        force_png: bool = False,
        leak_check=None,
    ):
        """Export the anonymized photo to ``folder`` (shareable), its masks and record to
        ``review_folder`` (private; default: beside the original photo). In a worker.

        The leak check runs first, with :attr:`leak_check` (or ``leak_check``, a
        :class:`~..batch.leakcheck.LeakCheck`) and the reviewer's dismissals: an
        open finding writes nothing (see :mod:`._leaks`).
        """
        try:
            image, labels = self._inputs()
        except ValueError as err:
            self.say(str(err), Severity.WARNING)
            return None
        unreviewed = self.review.unreviewed_labels()
        if unreviewed and not allow_unreviewed:
            self.say(
                f"{people(len(unreviewed))} not reviewed yet (labels {unreviewed}); they "
                "would be exported unanonymized.",
                Severity.WARNING,
            )
            return None
        source = layer_photo_path(self.photo_layer)
        review_folder = review_folder or self.default_review_folder(folder)
        approved = len(self.review.approved_labels())
        layer = self.photo_layer
        options = dict(
            review_folder=review_folder,
            overwrite=overwrite,
            allow_unreviewed=allow_unreviewed,
            force_png=force_png,
        )
        # Should the check be unable to run, "Export without the check" repeats this.
        self._retry_export = lambda spec: self.export(folder, **options, leak_check=spec)
        gen = export_job(
            image,
            labels,
            ReviewModel.from_dict(self.review.to_dict()),  # the reviewer may go on meanwhile
            self.settings,
            folder,
            name=self.photo_layer.name,
            source=source if source is not None and source.is_file() else None,
            photo=self.photo,
            models=self._models_used(),
            options=options,
            leaks=self._export_leaks(leak_check),
        )

        def done(returned):
            result, report = returned
            self._retry_export = None
            self._exported_with_report(layer, report)
            unchecked = (
                f" The leak check did not run ({report.skipped}): the record says so."
                if report.skipped is not None
                else ""
            )
            self.say(
                f"Exported {people(approved)} anonymized to {result.image}. Masks and "
                f"record (private, not for sharing): {result.record.parent}.{unchecked}",
                toast=True,
            )

        return self._run("export", gen, done, cancel_text="Export cancelled: nothing was written.")

    def _models_used(self) -> list[dict]:
        used = []
        for role in ("detector", "segmenter"):
            cached = self._loaded.get(role)
            if cached is not None:
                model = cached[1]
                used.append(
                    {
                        "role": role,
                        "name": getattr(model, "name", type(model).__name__),
                        "path": getattr(model, "checkpoint_path", None),
                    }
                )
        return used
