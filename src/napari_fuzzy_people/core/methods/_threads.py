"""Run a compiled kernel's independent tasks on every core, from Python threads.

The kernels are compiled with ``nogil=True`` and take a list of task
indices, so plain threads run them in parallel. Unlike numba's own
``parallel=True`` this needs no threading layer: nothing to go wrong when
the panel's preview and Apply workers call kernels at the same time, or when
a process forks (numba's default workqueue layer is not thread-safe, GNU
OpenMP not fork-safe). Results never depend on the number of threads: each
task owns its output pixels and its random stream.

The threads are started once and kept (starting them cost milliseconds per
call, a fifth of a 1080p scramble); a forked child starts its own.
"""

from __future__ import annotations

import os
import threading
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
    pool = _pool(n)
    for future in [pool.submit(kernel, chunk, *args) for chunk in chunks]:
        future.result()


_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()


def _pool(n: int) -> ThreadPoolExecutor:
    """The kept pool of ``n`` threads (a new one when ``n`` changes)."""
    global _POOL, _POOL_SIZE
    with _POOL_LOCK:
        if _POOL is None or _POOL_SIZE != n:
            if _POOL is not None:
                _POOL.shutdown(wait=False)  # its running tasks finish; nothing new goes there
            _POOL = ThreadPoolExecutor(max_workers=n, thread_name_prefix="fuzzy-kernel")
            _POOL_SIZE = n
        return _POOL


def _forget_pool() -> None:
    global _POOL, _POOL_SIZE, _POOL_LOCK
    _POOL, _POOL_SIZE, _POOL_LOCK = None, 0, threading.Lock()  # the parent's threads are gone


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)
