"""Running one task per photo: here, one after another, or on a Dask cluster.

Tasks are plain top-level functions of one picklable argument that never
raise for a photo's own problem (they return a :class:`TaskResult` saying
so); each writes its own files, whole or not at all, so results are on disk
as tasks finish. On Dask a task whose worker dies is run again elsewhere:
tasks are idempotent, so that loses nothing and duplicates nothing.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

__all__ = ["TaskResult", "run_tasks", "task_error"]


@dataclass(frozen=True)
class TaskResult:
    """What became of one photo: ``done``, ``skipped`` (nothing to do), ``failed``, or
    ``held`` (back, by the leak check: nothing written)."""

    item: str
    status: str
    message: str = ""
    output: str | None = None


def task_error(item: str, err: BaseException) -> TaskResult:
    """A failed photo, in one line: which, and why (never a traceback)."""
    if isinstance(err, MemoryError):
        text = "not enough memory to process this photo"
    elif isinstance(err, (ValueError, OSError)):
        text = str(err)
    else:
        text = f"unexpected {type(err).__name__}: {err}"
    text = " ".join(text.split()) or type(err).__name__
    return TaskResult(item, "failed", text if text.startswith(item) else f"{item}: {text}")


def run_tasks(
    func: Callable,
    items: Iterable,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    name: Callable = str,
) -> Iterator[TaskResult]:
    """Run ``func(item)`` for every item; yield the results as they finish.

    Parameters
    ----------
    func : callable
        A top-level (picklable) function returning a :class:`TaskResult`.
    items : iterable
        Its arguments, one per photo.
    workers : int, optional
        Run on a new Dask ``LocalCluster`` of this many worker processes
        (one thread each) on 127.0.0.1.
    scheduler : str, optional
        Run on an existing Dask cluster at this address (its workers must
        see the same files and have this package installed).
    name : callable
        The photo's name for a result when a task dies with its worker.
    """
    items = list(items)
    if not workers and not scheduler:
        for item in items:
            try:
                yield func(item)
            except Exception as err:  # the task's own guard failed: still one line
                yield task_error(name(item), err)
        return
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if workers:
        # The cores, shared out: each worker's torch and BLAS use its share only.
        cores = (
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        )
        share = str(max(1, (cores or 1) // int(workers)))
        cluster = LocalCluster(
            n_workers=int(workers),
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            env={"OMP_NUM_THREADS": share, "MKL_NUM_THREADS": share},
        )
    try:
        with Client(cluster if cluster is not None else scheduler) as client:
            run = secrets.token_hex(4)
            futures = {
                client.submit(
                    func, item, key=f"fuzzy-people-{run}-{i}", pure=False, retries=1
                ): item
                for i, item in enumerate(items)
            }
            for future in as_completed(futures):
                try:
                    yield future.result()
                except Exception as err:  # a worker died twice on it, say
                    yield task_error(name(futures[future]), err)
    finally:
        if cluster is not None:
            cluster.close()
