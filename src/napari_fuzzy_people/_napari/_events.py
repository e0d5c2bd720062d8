"""What the session tells the panel: typed notices and job states (no Qt)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..core import Progress

__all__ = ["JobState", "Notice", "Severity", "drive", "people"]


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


def drive(gen):
    # The worker runs this wrapper, so the controller holds the job's own generator
    # and can close it after a Cancel (see _finished).
    return (yield from gen)


def people(count: int) -> str:
    return "1 person" if count == 1 else f"{count} people"
