"""The Fuzzy People session without Qt widgets: photo, people, review, settings, jobs.

Everything the panel does is a call here, so scripts, tests and napari's
console drive the same session the panel shows::

    from napari_fuzzy_people._napari.controller import Controller
    session = Controller(viewer)        # or: panel.controller
    session.set_photo_layer(viewer.layers["street"])
    session.find_people()               # in a worker; session.job says how far
    session.approve([1, 2]); session.reject([3])
    session.export("/shared", review_folder="/private")

State changes are announced by typed signals (psygnal): ``notice`` (a
:class:`Notice` with its :class:`Severity`), ``photo_changed``,
``people_changed``, ``selection_changed``, ``settings_changed``,
``job_changed`` (a :class:`JobState`, or None when idle),
``preview_changed`` (a :class:`PreviewState`) and ``leaks_changed`` (the
leak check's findings or dismissals, :attr:`leaks`). Long work runs in napari
thread workers as generators (:mod:`._jobs`); their results are applied
here, on the GUI thread. Layers the session made are known by identity,
never by name.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
from napari.layers import Image, Labels
from napari.qt.threading import create_worker
from psygnal import Signal
from qtpy.QtCore import QTimer
from superqt.utils import ensure_main_thread

from ..core import AnonymizeSettings, Progress, ReviewModel, Status
from ..core.methods import warm_up
from ._events import DownloadCancelled, JobState, Notice, Severity, drive, people
from ._finding import FindingActions
from ._jobs import (
    JobFailed,
    ModelChoice,
    adopt_job,
    read_photo_job,
)
from ._layers import REVIEW_KEY, check_image_layer, layer_photo_path
from ._leaks import LeakActions
from ._output import OutputActions, PreviewState, PreviewStatus
from ._queue import QueueActions
from ._review import ReviewActions

__all__ = [
    "Controller",
    "JobState",
    "Notice",
    "PreviewState",
    "PreviewStatus",
    "Severity",
    "warm_kernels",
]

_warmed = threading.Event()
_warming = False


def warm_kernels() -> threading.Event:
    """Compile the scramble kernels in a background thread, once per process.

    The first compile on a machine takes seconds (then numba's disk cache
    makes it about one); paid here, it is not paid by the first preview.
    Returns an event set when the warm-up ends, the kernels built or not.
    """
    global _warming
    if not _warming:
        _warming = True

        def work():
            try:
                warm_up()
            except Exception:  # the first scramble meets it again, where it is reported
                pass
            finally:
                _warmed.set()

        # A plain daemon thread, not a Qt worker: napari closed within seconds of
        # opening the panel must not wait for the compile, and a Qt worker that
        # outlives the QApplication makes PyQt abort the process at exit.
        threading.Thread(target=work, name="fuzzy-warm-kernels", daemon=True).start()
    return _warmed


class Controller(ReviewActions, FindingActions, OutputActions, LeakActions, QueueActions):
    """One review session in a napari viewer (see the module docstring)."""

    notice = Signal(object)
    photo_changed = Signal()
    people_changed = Signal()
    selection_changed = Signal(object)
    settings_changed = Signal(object)
    job_changed = Signal(object)
    preview_changed = Signal(object)
    queue_changed = Signal()
    leaks_changed = Signal()

    def __init__(self, viewer):
        self.viewer = viewer
        self.review = ReviewModel()
        self.review.subscribe(self._on_review)
        self.settings = AnonymizeSettings()
        self.models = ModelChoice()
        self.photo_layer: Image | None = None
        self.photo = None  # io.read.Photo of the photo layer's file, once read
        self.photo_problem: str | None = None
        self.people_layer: Labels | None = None
        self.selected: int | None = None
        self.job: JobState | None = None
        self.last_notice: Notice | None = None
        self._own: dict[str, object] = {}  # role -> layer this session made
        self._worker = self._gen = None
        self._injected: dict[str, object] = {}
        self._loaded: dict[str, tuple] = {}  # role -> (key, model)
        self._preview_on = False
        self._preview_worker = None
        self._preview_pending = False
        self._syncing = False
        self._erased: dict[int, tuple] = {}
        self._closed = False
        self._init_leaks()  # see _leaks: the check's detectors, the photo's findings
        self._model_lock = threading.Lock()  # the models serve one job at a time
        # The folder queue (see _queue): nothing open yet.
        self.work = None
        self.position: int | None = None
        self.queue: list[str] = []
        self.statuses: dict = {}
        self._ahead_worker = self._saving = None
        self._save_pending = self._loading = False
        self._save_timer = QTimer(singleShot=True, interval=300)
        self._save_timer.timeout.connect(self._save_now)
        self._sync_timer = QTimer(singleShot=True, interval=150)
        self._sync_timer.timeout.connect(self._sync_from_layer)
        viewer.layers.events.inserted.connect(self._on_inserted)
        viewer.layers.events.removed.connect(self._on_removed)
        for layer in viewer.layers:
            self._on_inserted(layer=layer)
        warm_kernels()

    # -- notices and jobs ------------------------------------------------------

    def say(self, text: str, severity: Severity = Severity.INFO, *, toast: bool = False) -> None:
        """Tell the person at the panel (the panel shows it; scripts may listen)."""
        self.last_notice = Notice(text, Severity(severity), toast)
        if not self._closed:  # after a close there is no panel to tell
            self.notice.emit(self.last_notice)

    @property
    def busy(self) -> bool:
        """Whether a job (find, segment, adopt, apply, export) is running."""
        return self.job is not None

    @property
    def preview_busy(self) -> bool:
        """Whether the live preview is being computed."""
        return self._preview_worker is not None

    def _run(self, kind, gen, on_result, *, cancel_text="Cancelled: nothing was changed."):
        if self.job is not None:
            self.say(f"Wait for {self.job.kind} to finish (or cancel it).", Severity.WARNING)
            gen.close()
            return None
        self._gen = gen
        # Downloads report from inside a step, not by a yield: queued to this thread.
        report = ensure_main_thread(self._on_progress)

        def cancelled() -> bool:  # read in the worker: one job runs at a time
            return self.job is not None and self.job.cancelling

        worker = create_worker(
            drive, gen, report, cancelled, _start_thread=False, _ignore_errors=True
        )
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(on_result)

        def errored(err: Exception) -> None:
            if isinstance(err, DownloadCancelled):  # a Cancel mid-download, like any other
                self.say(cancel_text)
            else:
                self._on_error(err)

        worker.errored.connect(errored)
        worker.aborted.connect(lambda: self.say(cancel_text))
        worker.finished.connect(self._finished)
        self._worker = worker
        self.job = JobState(kind)
        self.job_changed.emit(self.job)
        worker.start()
        return worker

    def _on_progress(self, event: Progress) -> None:
        if self.job is not None:
            self.job = replace(self.job, progress=event)
            self.job_changed.emit(self.job)

    def _finished(self) -> None:
        if self._gen is not None:
            self._gen.close()  # after a Cancel: unwinds the job (an export writes nothing)
        self._worker = self._gen = None
        self.job = None
        self.job_changed.emit(None)
        self._update_preview()

    def cancel(self) -> None:
        """Stop the running job at its next step; nothing half-done is kept."""
        if self._worker is None or self.job is None or self.job.cancelling:
            return
        self._worker.quit()
        self.job = replace(self.job, cancelling=True)
        self.job_changed.emit(self.job)

    def _on_error(self, err: Exception) -> None:
        from ..models import WeightsUnavailableError

        if isinstance(err, JobFailed) and err.__cause__ is not None:
            err = err.__cause__
        if self._leak_error(err):
            return
        if isinstance(err, WeightsUnavailableError):
            self.say(
                f"{err} Until then you can paint people by hand in a Labels layer and "
                "use it as the people layer.",
                Severity.ERROR,
            )
        elif isinstance(err, (ValueError, OSError)):
            self.say(str(err), Severity.ERROR)
        else:
            self.say(f"{type(err).__name__}: {err}", Severity.ERROR)

    # -- the photo -------------------------------------------------------------

    def photo_choices(self) -> list[Image]:
        """Image layers that can be the photo: not the session's own preview or result."""
        own = [self._own.get("preview"), self._own.get("result")]
        return [
            layer
            for layer in self.viewer.layers
            if isinstance(layer, Image)
            and not layer.multiscale
            and all(layer is not o for o in own)
        ]

    def set_photo_layer(self, layer: Image | None, photo=None) -> None:
        """Review the people of this Image layer (None: no photo).

        ``photo``: the layer's file, already read (a folder's next photo shown in
        the same layer): the layer is taken afresh, and the file is not read again.
        """
        if layer is self.photo_layer and photo is None:
            return
        if layer is not None and layer not in self.photo_choices():
            self.say(f"{layer.name!r} cannot be the photo.", Severity.WARNING)
            return
        self.photo_layer, self.photo, self.photo_problem = layer, None, None
        self._remove_own("preview", "result", "boxes")
        self._forget_leaks()
        self.photo_changed.emit()
        if photo is not None:
            self._photo_read(layer, photo)
            return
        path = layer_photo_path(layer) if layer is not None else None
        if path is not None and path.is_file():
            worker = create_worker(
                drive, read_photo_job(path), _start_thread=False, _ignore_errors=True
            )
            worker.returned.connect(lambda photo, layer=layer: self._photo_read(layer, photo))
            worker.errored.connect(self._on_error)
            worker.start()
            self._photo_worker = worker  # referenced until it ends

    def _photo_read(self, layer: Image, photo) -> None:
        if layer is not self.photo_layer:
            return  # another photo was chosen meanwhile
        self.photo = photo
        shown = np.shape(layer.data)[:2]
        upright = photo.pixels.shape[:2]
        if photo.orientation != 1 and shown != upright:
            self.photo_problem = (
                f"{photo.path.name} should be turned (EXIF orientation {photo.orientation}) "
                "but the layer shows it as stored. Exports come out upright either way; "
                "press Show upright to review it upright too."
            )
            self.say(self.photo_problem, Severity.WARNING)
        self.photo_changed.emit()

    def show_upright(self) -> None:
        """Show the photo (and its people masks) as the file means it: upright."""
        if self.photo is None or self.photo_problem is None or self.photo_layer is None:
            return
        from ..io.read import orient

        o = self.photo.orientation
        self.photo_layer.data = self.photo.pixels
        if self.people_layer is not None:
            self.people_layer.data = np.ascontiguousarray(orient(self.people_layer.data, o))
            self._sync_from_layer()
        self.photo_problem = None
        self.viewer.reset_view()
        self.photo_changed.emit()
        self.say("The photo is upright now, and its masks with it.")

    def _photo_pixels(self) -> np.ndarray:
        if self.photo_layer is None:
            raise ValueError("Open a photo first (File > Open, or a sample).")
        return check_image_layer(self.photo_layer)

    # -- layers coming and going -----------------------------------------------

    def _on_inserted(self, event=None, layer=None) -> None:
        layer = layer if layer is not None else event.value
        saved = (layer.metadata or {}).get(REVIEW_KEY, {})
        if isinstance(layer, Image) and "work" in saved and self.work is None:
            self._own["queue photo"] = layer  # a work folder opened with napari's File menu
            self.open_folder(saved["work"], start=saved.get("relative"))
        elif isinstance(layer, Image) and (self.photo_layer is None or "photo" in saved):
            if layer in self.photo_choices():
                self.set_photo_layer(layer)
        elif isinstance(layer, Labels) and "review" in saved:
            self.adopt(layer)  # a reopened review: continue it at once
        self.photo_changed.emit()  # the list of choices changed

    def _on_removed(self, event) -> None:
        layer = event.value
        for role, own in list(self._own.items()):
            if own is layer:
                del self._own[role]
        if layer is self.photo_layer:
            self.set_photo_layer(None)
            # Said in the panel only: the person removed it (or napari is closing).
            self.say("The photo layer was removed: choose a photo.")
        if layer is self.people_layer:
            self._bind_people(None)
            self._set_review(ReviewModel())
            self.say("The people layer was removed, and its review with it.")
        self.photo_changed.emit()

    def _remove_own(self, *roles: str) -> None:
        for role in roles:
            layer = self._own.pop(role, None)
            if layer is not None and layer in self.viewer.layers:
                self.viewer.layers.remove(layer)

    # -- people ----------------------------------------------------------------

    def adopt(self, layer: Labels | None) -> None:
        """Make ``layer`` the people layer: each of its labels a person to review.

        A reopened review (a layer our reader made) continues where it was.
        """
        if layer is None or not isinstance(layer, Labels):
            self.say("Choose a Labels layer to use as people.", Severity.WARNING)
            return
        data = np.asarray(layer.data)
        if data.ndim != 2:
            self.say(f"{layer.name!r} has shape {data.shape}; people masks are 2-D.", "warning")
            return
        if self.photo_layer is not None and data.shape != np.shape(self.photo_layer.data)[:2]:
            self.say(f"{layer.name!r} is not the size of the photo.", Severity.WARNING)
            return
        saved = (layer.metadata or {}).get(REVIEW_KEY, {})
        labels = data.copy()  # a snapshot: painting may go on meanwhile
        self._run("adopt", adopt_job(labels), lambda model: self._adopted(layer, model, saved))

    def _adopted(self, layer: Labels, model: ReviewModel, saved: dict) -> None:
        if saved.get("review"):
            restored = ReviewModel.from_dict(saved["review"])
            restored.sync(np.asarray(layer.data))
            model = restored
            if saved.get("settings"):
                self.update_settings(**saved["settings"])
        self._bind_people(layer)
        self._set_review(model)
        counts = model.counts()
        if saved.get("review"):
            where = Path(saved["record"]).name if saved.get("record") else repr(layer.name)
            self.say(
                f"Reopened the review from {where}: {counts[Status.APPROVED]} approved, "
                f"{len(model.unreviewed_labels())} to review."
            )
        else:
            self.say(f"Using {layer.name!r}: {people(len(model.people))} to review.")

    def _bind_people(self, layer: Labels | None) -> None:
        old = self.people_layer
        if old is not None:
            for event in (old.events.paint, old.events.data):
                event.disconnect(self._schedule_sync)
            old.events.selected_label.disconnect(self._on_label_picked)
            for key in ("a", "r", "n", "PageDown", "PageUp"):
                old.bind_key(key, None, overwrite=True)
        self.people_layer = layer
        self._erased.clear()
        if layer is not None:
            layer.events.paint.connect(self._schedule_sync)
            layer.events.data.connect(self._schedule_sync)
            layer.events.selected_label.connect(self._on_label_picked)
            layer.bind_key("a", lambda _: self.approve(), overwrite=True)
            layer.bind_key("r", lambda _: self.reject(), overwrite=True)
            layer.bind_key("n", lambda _: self.select_next(), overwrite=True)
            layer.bind_key("PageDown", lambda _: self.next_photo(), overwrite=True)
            layer.bind_key("PageUp", lambda _: self.previous_photo(), overwrite=True)
        self.people_changed.emit()

    def _set_review(self, model: ReviewModel) -> None:
        self.review.unsubscribe(self._on_review)
        self.review = model
        model.subscribe(self._on_review)
        self.selected = None
        self._on_review("adopted", tuple(model.people))
        first = model.next_to_review()
        if first is not None:
            self.select(first)

    def _schedule_sync(self, event=None) -> None:
        if not self._syncing:
            self._sync_timer.start()

    def _sync_from_layer(self) -> None:
        if self.people_layer is not None:
            self.review.sync(np.asarray(self.people_layer.data))

    def _on_review(self, event: str, labels: tuple) -> None:
        if self.selected is not None and self.selected not in self.review.people:
            self.selected = None
            self.selection_changed.emit(None)
        edited = [
            k for k in labels if getattr(self.review.people.get(k), "status", None) == "edited"
        ]
        if event == "synced" and edited:
            self.say(
                f"Edited after approval: {', '.join(map(str, edited))}. Check and approve "
                "again; until then they are not anonymized.",
                Severity.WARNING,
            )
        if event == "undo":
            self._restore_erased(labels)
        self.people_changed.emit()
        if event != "synced" or labels:
            self._update_preview()
            self._schedule_save()

    def summary(self) -> str:
        """Who is where in the review, from the model (never stale)."""
        if not self.review.people:
            return "No people yet."
        counts = self.review.counts()
        left = len(self.review.unreviewed_labels())
        parts = [f"{counts[s]} {s.value}" for s in Status if counts[s]]
        end = f"{people(left)} to review" if left else "everybody reviewed"
        return f"{', '.join(parts)}; {end}."

    # -- lifecycle -----------------------------------------------------------------

    def close(self) -> None:
        """Let go of the viewer: callbacks, key bindings, the preview; keep the review."""
        if self._closed:
            return
        self._closed = True
        if self._worker is not None:
            self._worker.quit()
        self._stop_queue()
        # At interpreter exit Qt may delete the timer first; an exception here, in a
        # slot of the panel's destroyed signal, would make PyQt abort the process.
        with contextlib.suppress(RuntimeError):
            self._sync_timer.stop()
        try:
            self.viewer.layers.events.inserted.disconnect(self._on_inserted)
            self.viewer.layers.events.removed.disconnect(self._on_removed)
            self._remove_own("preview")
        except RuntimeError:  # napari's window is going away with its layers
            return
        people = self.people_layer
        self._bind_people(None)
        if people is not None and self.review.people:
            # The review lives on in the layer: reopening the panel picks it up.
            people.metadata = {
                **people.metadata,
                REVIEW_KEY: {
                    **people.metadata.get(REVIEW_KEY, {}),
                    "review": self.review.to_dict(),
                    "settings": self.settings.to_dict(),
                    "record": "",
                },
            }
