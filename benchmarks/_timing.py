"""What every benchmark here shares: best-of timing."""

import time


def best_of(func, repeat):
    """The fastest of ``repeat`` calls of ``func``, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return min(times)
