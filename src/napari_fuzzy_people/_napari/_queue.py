"""The controller's folder queue: a work folder's photos, one at a time, saved as you go.

A mixin of :class:`~napari_fuzzy_people._napari.controller.Controller`.
Open a folder and the session shows its photos in order; while the reviewer
works on one, a background worker proposes people for the photos that come
next (the models stay loaded), so Next finds them ready. Every change to the
review (a decision, a paint stroke) is saved to the work folder a moment
later, in a worker: kill napari and reopening loses at most the last edit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from napari.qt.threading import create_worker

from ..core import ReviewModel
from ..io.workfolder import FINISHED, PhotoStatus, WorkFolder
from ._events import Severity, download_bar, drive
from ._jobs import Ahead, ahead_job, job, open_photo_job
from ._layers import REVIEW_KEY

__all__ = ["WORK_FOLDER_NAME", "QueueActions"]

#: Where a photo folder's work folder goes when the panel opens the photo folder.
WORK_FOLDER_NAME = "fuzzy-people-work"
#: How many photos the background worker prepares ahead of the one under review.
AHEAD = 3


class QueueActions:
    """Open a folder, move through it, sign off, export the done photos."""

    # Set up by the controller: work, position, queue, statuses, and the save timer.

    # -- the folder ----------------------------------------------------------

    def open_folder(self, path, start: str | None = None) -> None:
        """Review a folder: a work folder, or a photo folder (its work folder is made in it).

        Starts at photo ``start`` (a path in the folder), else the first still to review.
        """
        path = Path(path)
        try:
            if (path / "fuzzy-people-work.json").is_file():
                work = WorkFolder.open(path)
            else:
                work = WorkFolder.open_or_create(path / WORK_FOLDER_NAME, path)
        except Exception as err:
            self.say(str(err), Severity.ERROR)
            return
        self._stop_queue()
        work.tidy()  # what a killed session left half-written
        self.work = work
        self.queue = work.scan()
        self.statuses = {s.relative: s.status for s in work.states()}
        self.queue_changed.emit()
        if not self.queue:
            self.say(f"{work.source}: no JPEG, PNG or TIFF photos here.", Severity.WARNING)
            return
        first = next((i for i, r in enumerate(self.queue) if self.statuses[r] not in FINISHED), 0)
        self.say(f"{len(self.queue)} photos in {work.source}; the work is kept in {work.path}.")
        self.go(first)

    def counts(self) -> dict:
        """Photos per status in the queue."""
        counts = dict.fromkeys(PhotoStatus, 0)
        for status in self.statuses.values():
            counts[status] += 1
        return counts

    def ahead(self) -> int:
        """How many of the photos after the current one are ready (proposed or further)."""
        if self.position is None:
            return 0
        ready = 0
        for rel in self.queue[self.position + 1 : self.position + 1 + AHEAD]:
            if self.statuses.get(rel) in (PhotoStatus.NEW,):
                break
            ready += 1
        return ready

    # -- moving through it -----------------------------------------------------

    def go(self, index: int) -> None:
        """Show photo ``index`` of the queue with its people (the current one is saved)."""
        if self.work is None or not 0 <= index < len(self.queue):
            return
        self._save_now()
        rel = self.queue[index]
        self._run("open", open_photo_job(self.work, rel), lambda r: self._opened(index, *r))

    def next_photo(self) -> None:
        if self.position is not None:
            self.go(self.position + 1)

    def previous_photo(self) -> None:
        if self.position is not None:
            self.go(self.position - 1)

    def _opened(self, index, relative, photo, labels, review) -> None:
        name = Path(relative).name
        meta = {REVIEW_KEY: {"photo": str(photo.path), "work": str(self.work.path)}}
        layer = self._own.get("queue photo")
        rgb = photo.pixels.ndim == 3
        if layer is not None and layer in self.viewer.layers and layer.rgb != rgb:
            self.viewer.layers.remove(layer)  # gray after colour: napari cannot switch
            layer = None
        if layer is not None and layer in self.viewer.layers:
            layer.data, layer.name, layer.metadata = photo.pixels, name, meta
        else:
            layer = self.viewer.add_image(photo.pixels, name=name, rgb=rgb, metadata=meta)
            self._own["queue photo"] = layer
        self.set_photo_layer(layer, photo=photo)  # read already: not again
        if labels is None:
            labels = np.zeros(photo.pixels.shape[:2], np.uint16)
        people_layer = self._own.get("people")
        self._syncing = self._loading = True  # showing what is saved: nothing to save
        try:
            if people_layer is not None and people_layer in self.viewer.layers:
                people_layer.data, people_layer.name = labels, f"{name} people"
            else:
                people_layer = self.viewer.add_labels(labels, name=f"{name} people", opacity=0.5)
                self._own["people"] = people_layer
            self._bind_people(people_layer)
            model = ReviewModel.from_dict(review) if review else ReviewModel()
            model.sync(labels)
            self.position = index
            self._load_leak_dismissals(relative)
            self._set_review(model)
        finally:
            self._syncing = self._loading = False
        self.viewer.layers.selection.active = people_layer
        self.viewer.reset_view()
        self.queue_changed.emit()
        self._start_ahead()

    # -- saving as it happens ----------------------------------------------------

    def _schedule_save(self) -> None:
        if self.work is not None and self.position is not None and not self._loading:
            self._save_timer.start()

    def _save_now(self) -> None:
        """Write the current photo's review (in a worker; one write at a time)."""
        if self.work is None or self.position is None or self.people_layer is None:
            return
        self._save_timer.stop()
        if self._saving is not None:
            self._save_pending = True
            return
        rel = self.queue[self.position]
        review = ReviewModel.from_dict(self.review.to_dict())
        labels = np.asarray(self.people_layer.data).copy()
        work = self.work
        info = None
        if self.photo is not None:
            from ..batch.tasks import photo_info

            info = photo_info(self.photo)

        leaks = self.leaks.to_list() if self._leaks_unsaved else None
        self._leaks_unsaved = False

        def save():
            state = work.save_review(rel, review, labels, photo=info)
            if leaks is not None:  # the dismissals, after the review: one writer at a time
                state = work.save_leak_dismissals(rel, leaks)
            return state

        worker = create_worker(save, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(lambda state: self._saved(rel, state))
        worker.errored.connect(lambda err: self.say(f"Not saved: {err}", Severity.ERROR))
        worker.finished.connect(self._save_finished)
        self._saving = worker
        worker.start()

    def _saved(self, relative, state) -> None:
        if self._closed or self.work is None:
            return
        # From disk, not from this save: a sign-off may have been written since.
        self.statuses[relative] = self.work.state(relative).status
        self.queue_changed.emit()

    def _save_finished(self) -> None:
        self._saving = None
        if self._save_pending:
            self._save_pending = False
            self._save_now()

    @property
    def saving(self) -> bool:
        """Whether a save of the review is waiting or under way."""
        return self._saving is not None or self._save_timer.isActive()

    # -- sign-off and export ------------------------------------------------------

    def sign_off_no_people(self) -> None:
        """Say that nobody in this photo needs anonymizing (a person looked)."""
        if self.work is None or self.position is None:
            self.say("Open a folder first.", Severity.WARNING)
            return
        if self.review.people:
            self.say(
                "This photo has people: reject those that are not people instead.",
                Severity.WARNING,
            )
            return
        rel = self.queue[self.position]
        self.statuses[rel] = self.work.sign_off_no_people(rel).status
        self.queue_changed.emit()
        self.say(f"{Path(rel).name}: no people, signed off.")

    def export_done(self, folder, *, leak_check=None) -> None:
        """Export every done photo of the folder to ``folder`` (one job, one progress bar).

        Each is checked for leaks first, with :attr:`leak_check` (or ``leak_check``)
        and its saved dismissals; a photo with an open finding is held back.
        """
        if self.work is None:
            self.say("Open a folder first.", Severity.WARNING)
            return
        self._save_now()
        work, folder = self.work, Path(folder)
        done = [r for r in self.queue if self.statuses.get(r) in FINISHED]
        if not done:
            self.say("No photo is done yet: review some first.", Severity.WARNING)
            return
        spec = leak_check or self.leak_check
        self._retry_export = lambda spec: self.export_done(folder, leak_check=spec)
        self._run("export", _export_all(work, done, folder, spec), self._exported_all)

    def _exported_all(self, returned) -> None:
        results, spec = returned
        self._retry_export = None
        self.leaks_changed.emit()
        failed = [r for r in results if r.status == "failed"]
        held = [r for r in results if r.status == "held"]
        for result in results:
            if result.status == "done":
                self.statuses[result.item] = PhotoStatus.EXPORTED
        self.queue_changed.emit()
        exported = len(results) - len(failed) - len(held)
        text = f"Exported {exported} of {len(results)} done photos."
        if spec.skipped is not None:
            text += f" The leak check did not run ({spec.skipped}): the records say so."
        if held:
            text += (
                f" Held back by the leak check, nothing written: {len(held)} (open each, "
                "Check for leaks, fix or dismiss the findings, and export again): "
                + "; ".join(r.message for r in held)
            )
        if failed:
            text += " Failed: " + "; ".join(r.message for r in failed)
        severity = Severity.ERROR if failed else Severity.WARNING if held else Severity.INFO
        self.say(text, severity, toast=True)

    # -- the background worker ------------------------------------------------------

    def _start_ahead(self) -> None:
        if self._ahead_worker is not None or self.work is None or self.position is None:
            return
        coming = [
            r
            for r in self.queue[self.position + 1 : self.position + 1 + AHEAD]
            if self.statuses.get(r) == PhotoStatus.NEW
        ]
        if not coming:
            return
        gen = ahead_job(
            self.work, coming, self._factory("detector"), self._factory("segmenter"),
            self._model_lock,
        )  # fmt: skip
        worker = create_worker(drive, gen, _start_thread=False, _ignore_errors=True)
        worker.yielded.connect(self._ahead_event)
        worker.errored.connect(self._on_error)
        worker.finished.connect(lambda: self._ahead_finished(gen))
        self._ahead_worker = worker
        worker.start()

    def _ahead_event(self, event: Ahead) -> None:
        if self._closed or self.work is None:
            return
        if event.status == "models":
            self._keep("detector", event.models[0])
            self._keep("segmenter", event.models[1])
            return
        if event.status in ("proposed", "failed", "skipped"):
            self.statuses[event.relative] = self.work.state(event.relative).status
            self.queue_changed.emit()

    def _ahead_finished(self, gen) -> None:
        gen.close()  # stopped early (a close, a new folder): unwind it here
        self._ahead_worker = None
        if not self._closed:
            self._start_ahead()  # the reviewer may have moved on meanwhile

    @property
    def ahead_busy(self) -> bool:
        return self._ahead_worker is not None

    def _stop_queue(self) -> None:
        if self._ahead_worker is not None:
            self._ahead_worker.quit()
        self._save_now()


@job
def _export_all(work, relatives, folder, spec):
    """Export photos of a work folder one by one, with progress; returns the results and
    the leak check's spec.

    The leak check's detectors are made first, here in the worker: when they cannot
    be (no weights), no photo is exported.
    """
    from ..batch.leakcheck import detectors_for
    from ..batch.tasks import ExportJob, export_photo
    from ..core import Progress

    yield Progress("load detectors", 0, len(relatives))
    bar = download_bar("the leak check's detectors")
    detectors_for(spec, progressbar=bar)  # kept for the photos; or LeakCheckUnavailable
    results = []
    for i, rel in enumerate(relatives):
        yield Progress("export", i, len(relatives))
        results.append(export_photo(ExportJob(str(work.path), rel, str(folder), leak_check=spec)))
    yield Progress("export", len(relatives), len(relatives))
    return results, spec
