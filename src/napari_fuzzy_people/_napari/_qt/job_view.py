"""The bar under the panel: what is going on, how far, Cancel, and the last message."""

from __future__ import annotations

from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtWidgets import QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ..controller import JobState, Notice, PreviewState, PreviewStatus, Severity
from ._common import row

__all__ = ["JobView"]

_WHAT = {
    "open": "Opening the photo",
    "find": "Finding people",
    "segment": "Segmenting",
    "adopt": "Taking the masks",
    "apply": "Anonymizing",
    "export": "Exporting",
    "leaks": "Checking for leaks",
}
_STAGES = {
    "load models": "loading models",
    "detect": "finding people",
    "embed": "Segment Anything: image embedding",
    "segment": "Segment Anything: masks",
    "read": "reading the photo",
    "anonymize": "anonymizing",
    "write": "writing",
    "adopt": "reading the masks",
    "load detectors": "loading the leak detectors",
    "leak check": "looking for people in the result",
    "export": "exporting",
}
# A toast is one line: it says what happened and where to read the rest.
_TOAST = 60


class JobView(QWidget):
    """Always visible, under the scrolling part of the panel."""

    def __init__(self, controller):
        super().__init__()
        self.controller = controller
        self.status = QLabel("Choose a photo and press Find people.")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        # The Anonymize group may be scrolled out of sight on a laptop screen:
        # the bar that always shows says when the preview is behind the settings.
        self.preview_line = QLabel("Updating preview…")
        self.preview_line.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.bar = row(self.progress, self.cancel_button)
        self.bar.setVisible(False)  # shown while a job runs
        layout.addWidget(self.bar)
        layout.addWidget(self.preview_line)
        layout.addWidget(self.status)
        self.cancel_button.clicked.connect(controller.cancel)
        controller.preview_changed.connect(self.render_preview)
        controller.job_changed.connect(self.render)
        controller.notice.connect(self.show_notice)

    def render(self, job: JobState | None) -> None:
        self.bar.setVisible(job is not None)
        self.progress.setVisible(job is not None)
        self.cancel_button.setEnabled(job is not None and job.cancellable and not job.cancelling)
        if job is None:
            # The job's own progress line goes; the last message comes back.
            last = self.controller.last_notice
            if self.status.text() != (last.text if last else ""):
                self.status.setText(last.text if last else "")
            return
        what = _WHAT.get(job.kind, job.kind)
        if job.cancelling:
            self.status.setText(f"{what}: cancelling at the next step…")
        elif job.progress is None:
            self.progress.setRange(0, 0)
            self.status.setText(f"{what}…")
        else:
            p = job.progress
            self.progress.setRange(0, max(p.total, 1))
            self.progress.setValue(p.done)
            stage = _STAGES.get(p.stage, p.stage)
            self.status.setText(f"{what}: {stage} ({p.done}/{p.total})")

    def render_preview(self, state: PreviewState) -> None:
        self.preview_line.setVisible(state.status == PreviewStatus.UPDATING)

    def show_notice(self, notice: Notice) -> None:
        self.status.setText(notice.text)
        if notice.severity == Severity.INFO:
            if notice.toast:
                show_info(_headline(notice.text))
            return
        (show_error if notice.severity == Severity.ERROR else show_warning)(_headline(notice.text))


def _headline(text: str) -> str:
    """The first sentence, cut at a word, with a pointer to the full message."""
    first = text.split(". ")[0].rstrip(".")
    if len(first) > _TOAST:
        first = first[:_TOAST].rsplit(" ", 1)[0] + "…"
    return first if first == text.rstrip(".") else f"{first} (more in the panel)"
