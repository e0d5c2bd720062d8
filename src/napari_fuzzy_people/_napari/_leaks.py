"""The controller's leak check: check, show findings, dismiss them, or say why it cannot run.

A mixin of :class:`~napari_fuzzy_people._napari.controller.Controller`.
After anonymizing, detectors look at the result (see
:mod:`napari_fuzzy_people.core.leaks`): a person or face they still find is
a finding, and an export with an open finding writes nothing. The panel
shows the findings on the canvas and in its lists; the reviewer fixes each
(a stronger setting, a bigger mask, the missed person added) or dismisses
it with a reason the record keeps. When the detectors' weights cannot be
had, the check says so and waits for the reviewer's choice: weights files,
or an export on the record as unchecked. It never passes silently.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..batch.leakcheck import LeakCheck
from ..core.leaks import Finding, LeakReview
from ..io.errors import LeaksFound
from . import _layers
from ._events import Severity
from ._jobs import leak_check_job
from ._layers import layer_photo_path

__all__ = ["SKIPPED_IN_PANEL", "LeakActions"]

#: What the record says when the reviewer exports without the check.
SKIPPED_IN_PANEL = "skipped in the panel by the reviewer"


class LeakActions:
    """Check for leaks, dismiss findings, choose weights, export without the check."""

    def _init_leaks(self) -> None:
        #: Which detectors the check and every export use (real ones, default weights).
        self.leak_check = LeakCheck()
        #: The current photo's last report and the reviewer's dismissals.
        self.leaks = LeakReview()
        # The export the check could not run for: "Export without the check" repeats it.
        self._retry_export = None
        self._leaks_unsaved = False

    # -- checking ----------------------------------------------------------------

    def check_for_leaks(self) -> None:
        """Anonymize the current photo as an export would and look for people in it
        (in a worker; nothing is written)."""
        try:
            image, labels = self._inputs()
        except ValueError as err:
            self.say(str(err), Severity.WARNING)
            return
        approved = self.review.approved_labels()
        source = layer_photo_path(self.photo_layer)
        layer = self.photo_layer
        gen = leak_check_job(
            image, labels, approved, self.settings,
            source=source if source is not None and source.is_file() else None,
            photo=self.photo, spec=self.leak_check, dismissals=list(self.leaks.dismissals),
        )  # fmt: skip
        self._retry_export = None
        self._run("leaks", gen, lambda report: self._leaks_checked(layer, report))

    def _leaks_checked(self, layer, report) -> None:
        if layer is not self.photo_layer:
            return  # another photo meanwhile: this report is not about it
        self.leaks.checked(report)
        self._show_leaks()
        found, still_open = len(report.findings), len(self.leaks.open)
        if report.skipped is not None:
            self.say(f"The leak check did not run: {report.skipped}.", Severity.WARNING)
        elif not found:
            self.say(f"Leak check: nobody found ({report.seen} detections, all on people "
                     "not approved).", toast=True)  # fmt: skip
        elif still_open:
            self.say(
                f"Leak check: {_findings(still_open)} open. "
                f"{_how_to_go_on(self.leaks.open, self.settings)}",
                Severity.WARNING,
            )
        else:
            self.say(f"Leak check: {_findings(found)}, each dismissed with a reason.")

    # -- dismissing ----------------------------------------------------------------

    def dismiss_finding(self, finding: Finding, reason: str) -> bool:
        """Let ``finding`` pass, for ``reason`` (required: the record keeps it)."""
        try:
            self.leaks.dismiss(finding, reason)
        except ValueError as err:
            self.say(f"Not dismissed: {err}.", Severity.WARNING)
            return False
        self._leaks_edited()
        self.say(f"Dismissed ({reason.strip()}): {finding.describe()}.")
        return True

    def undismiss_finding(self, finding: Finding) -> None:
        """Take a dismissal back: the finding blocks the export again."""
        self.leaks.undismiss(finding)
        self._leaks_edited()
        self.say(f"No longer dismissed: {finding.describe()}.")

    def _leaks_edited(self) -> None:
        self._show_leaks()
        if self.work is not None and self.position is not None:
            self._leaks_unsaved = True  # written with the review (one write at a time)
            self._save_now()

    # -- when the check cannot run ---------------------------------------------------

    def choose_leak_weights(self, person: str | None = None, face: str | None = None) -> None:
        """Use these weights files for the person and/or face detector from now on."""
        changes = {}
        if person:
            changes["person_weights"] = str(Path(person))
        if face:
            changes["face_weights"] = str(Path(face))
        if not changes:
            return
        self.leak_check = replace(self.leak_check, **changes, skipped=None)
        self.leaks.unavailable = None
        self._retry_export = None
        self.leaks_changed.emit()
        names = ", ".join(Path(v).name for v in changes.values())
        self.say(f"The leak check will use {names}. Check for leaks, or export again.")

    def export_without_check(self) -> bool:
        """Repeat the export the check could not run for, without the check (the record
        says it was skipped); False when there is none to repeat."""
        if not self.can_export_without_check:
            return False
        retry, self._retry_export = self._retry_export, None
        retry(LeakCheck(skipped=SKIPPED_IN_PANEL))
        return True

    @property
    def can_export_without_check(self) -> bool:
        """Whether :meth:`export_without_check` has an export to repeat."""
        return self._retry_export is not None and self.leaks.unavailable is not None

    def _leak_error(self, err: Exception) -> bool:
        """Take a job's error if it is the leak check's; True when taken."""
        if isinstance(err, LeaksFound):
            self.leaks.checked(err.report)
            self._show_leaks()
            self.say(
                f"Export held back by the leak check: {_findings(len(err.report.open))} "
                f"open. Nothing was written. {_how_to_go_on(self.leaks.open, self.settings)}",
                Severity.WARNING,
            )
            return True
        if type(err).__name__ != "LeakCheckUnavailable":  # its module loads OpenCV
            return False
        problems = getattr(err, "problems", ()) or (str(err),)
        self.leaks.unavailable = (
            "The leak check cannot run, it is missing: " + "; ".join(problems) + ". Choose the "
            "weights files, or export without the check (the record says so)."
        )
        self._show_leaks()
        # The bar under the panel gets the gist; the paths and addresses are under Leak check.
        self.say(
            f"The leak check cannot run: {len(problems)} weights file"
            f"{'' if len(problems) == 1 else 's'} missing. Nothing was written. See Leak "
            "check for what is missing and the ways on.",
            Severity.ERROR,
        )
        return True

    # -- showing ------------------------------------------------------------------------

    def _show_leaks(self) -> None:
        """The findings on the canvas (replaced; removed when there are none) and in the
        panel's lists."""
        report = self.leaks.report
        findings = list(report.findings) if report is not None else []
        old = self._own.pop("leaks", None)
        if self.photo_layer is not None and not self._closed:
            dismissed = [self.leaks.dismissal_of(f) is not None for f in findings]
            layer = _layers.show_findings(self.viewer, old, self.photo_layer, findings, dismissed)
            if layer is not None:
                self._own["leaks"] = layer
        elif old is not None and old in self.viewer.layers:
            self.viewer.layers.remove(old)
        self.leaks_changed.emit()  # the panel's lists: findings, "still detectable"

    def show_finding(self, finding: Finding) -> None:
        """Bring a finding into view (the camera centred on it, the zoom kept)."""
        if self.photo_layer is None:
            return
        x0, y0, x1, y1 = finding.box
        scene = getattr(self.viewer, "scene", None)  # napari >= 0.9 moved the camera there
        camera = scene.camera if scene is not None else self.viewer.camera
        camera.center = self.photo_layer.data_to_world(((y0 + y1) / 2, (x0 + x1) / 2))

    def _forget_leaks(self) -> None:
        """Another photo: its own check and dismissals, none of this one's."""
        self.leaks.forget()
        self._retry_export = None
        self._remove_own("leaks")
        self.leaks_changed.emit()

    def _load_leak_dismissals(self, relative: str) -> None:
        from ..core.leaks import Dismissal

        saved = self.work.leak_dismissals(relative) if self.work is not None else []
        self.leaks = LeakReview(Dismissal.from_dict(d) for d in saved)
        self.leaks_changed.emit()

    def _export_leaks(self, spec: LeakCheck | None):
        """What an export checks with, in the worker: the spec and the dismissals."""
        return (spec or self.leak_check), list(self.leaks.dismissals)

    def _exported_with_report(self, layer, report) -> None:
        if layer is self.photo_layer and report.skipped is None:
            self.leaks.checked(report)
            self._show_leaks()
        else:
            self.leaks_changed.emit()  # nothing to repeat any more


def _findings(n: int) -> str:
    return "1 finding" if n == 1 else f"{n} findings"


def _how_to_go_on(open_findings, settings) -> str:
    text = (
        "Fix each (a stronger setting, a bigger mask, the missed person added) and check "
        "again, or Dismiss… it under Leak check, with a reason."
    )
    silhouette = any(f.kind == "person" and f.label is not None for f in open_findings)
    if silhouette and settings.method != "vanish":
        # A person detector finds a scrambled or blurred outline whatever the strength.
        text += " A person found by their outline goes with the Vanish method."
    return text
