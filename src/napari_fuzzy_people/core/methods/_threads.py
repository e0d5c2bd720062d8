"""Run a compiled kernel's independent tasks on every core, from Python threads.

The kernels are compiled with ``nogil=True`` and take a list of task
indices, so plain threads run them in parallel. Unlike numba's own
``parallel=True`` this needs no threading layer: nothing to go wrong when
the panel's preview and Apply workers call kernels at the same time, or when
a process forks (numba's default workqueue layer is not thread-safe, GNU
OpenMP not fork-safe). Results never depend on the number of threads: each
task owns its output pixels and its random stream.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["run_tasks", "threads"]

# Chunks per thread: enough that a slow band does not leave a core idle.
_CHUNKS_PER_THREAD = 8


def threads() -> int:
    """Threads the kernels use: ``NUMBA_NUM_THREADS`` if set, else the usable cores."""
    value = os.environ.get("NUMBA_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return max(os.cpu_count() or 1, 1)


def run_tasks(kernel: Callable[..., None], order: np.ndarray, *args) -> None:
    """Call ``kernel(tasks, *args)`` on chunks of ``order`` (task indices), in parallel.

    ``order`` lists the tasks, costliest first where that is known; each
    thread takes the next chunk when it is done with one.
    """
    order = np.ascontiguousarray(order, np.int64)
    n = threads()
    if n == 1 or order.size <= 1:
        kernel(order, *args)
        return
    chunks = np.array_split(order, min(order.size, n * _CHUNKS_PER_THREAD))
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="fuzzy-kernel") as pool:
        for future in [pool.submit(kernel, chunk, *args) for chunk in chunks]:
            future.result()
