"""What the session tells the panel: typed notices and job states (no Qt)."""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..core import Progress

__all__ = [
    "DownloadBar",
    "DownloadCancelled",
    "JobState",
    "Notice",
    "Severity",
    "download_bar",
    "drive",
    "people",
]


class Severity(str, enum.Enum):
    INFO = "info"
    WARNING = "warning"  # the user's action was refused or needs attention
    ERROR = "error"  # something failed


@dataclass(frozen=True)
class Notice:
    """A message for the person at the panel."""

    text: str
    severity: Severity = Severity.INFO
    toast: bool = False  # worth a napari notification even as INFO (a job's outcome)


@dataclass(frozen=True)
class JobState:
    """The job in progress: what, whether Cancel is offered, how far it is."""

    kind: str  # "find", "segment", "adopt", "apply", "export"
    cancellable: bool = True
    progress: Progress | None = None
    cancelling: bool = False


_job = threading.local()  # how the job this worker thread runs reports, and is cancelled


class DownloadCancelled(Exception):
    """The user cancelled a job while it was downloading weights (nothing is kept)."""


def drive(
    gen,
    report: Callable[[Progress], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
):
    """Run ``gen`` in a worker; downloads it starts report to ``report`` (thread-safe)
    and stop, raising :class:`DownloadCancelled`, once ``cancelled()`` is true."""
    # The worker runs this wrapper, so the controller holds the job's own generator
    # and can close it after a Cancel (see _finished).
    _job.report, _job.cancelled = report, cancelled
    try:
        return (yield from gen)
    finally:
        _job.report = _job.cancelled = None


class DownloadBar:
    """tqdm's interface (``total``, ``update``, ``reset``, ``close``) for a download,
    shown as the job's progress in MB.

    napari's own ``progress`` made in a worker thread builds Qt widgets off the
    GUI thread (Qt warns; napari#4982 saw segfaults), so downloads report here.
    """

    def __init__(
        self,
        name: str,
        report: Callable[[Progress], None] | None,
        cancelled: Callable[[], bool] | None = None,
    ):
        self.name = name
        self.stage = f"downloading {name}, MB"
        self.report = report
        self.cancelled = cancelled
        self.total: int | None = None
        self.n = 0
        self._shown: tuple[int, int] | None = None

    def update(self, n: int) -> None:
        # A Cancel cannot wait for the next yield: a download may take minutes.
        if self.cancelled is not None and self.cancelled():
            raise DownloadCancelled(f"the download of {self.name} was cancelled")
        self.n += n
        done, total = self.n >> 20, (self.total or 0) >> 20
        if self.report is not None and (done, total) != self._shown:
            self._shown = (done, total)  # once per MB, not per chunk
            self.report(Progress(self.stage, done, max(total, done)))

    def reset(self) -> None:
        self.n = 0

    def close(self) -> None:
        pass  # the job's progress moves on with its next step


def download_bar(name: str) -> DownloadBar:
    """A :class:`DownloadBar` reporting to the job the calling worker thread runs."""
    return DownloadBar(name, getattr(_job, "report", None), getattr(_job, "cancelled", None))


def people(count: int) -> str:
    return "1 person" if count == 1 else f"{count} people"
