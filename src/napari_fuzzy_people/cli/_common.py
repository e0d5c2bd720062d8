"""What every command shares: argument types, scale-out options, signals, the report."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterable, Iterator

PROG = "fuzzy-people"


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
            if result.status == "failed":
                bar.write(f"{PROG}: {result.message}", file=sys.stderr)
            elif show_done and result.status == "done":
                text = f"{result.item} -> {result.output}" if result.output else result.item
                bar.write(f"{text}{': ' + result.message if result.message else ''}")
            bar.update(1)
    return seen
