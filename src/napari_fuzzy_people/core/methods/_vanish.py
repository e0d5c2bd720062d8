"""Vanish: each person replaced by background that looks like it belongs there.

Exemplar-based inpainting (PatchMatch, Barnes et al. 2009, through the
``pypatchmatch`` package) fills each grown person with patches copied from
the photo's background only: every person of the label image, approved or
not, grown by the margin, is excluded as a source, so nobody's pixels are
ever copied into a hole. Unlike scramble it leaves no static and no
streaks; the person's outline goes with them.

PatchMatch runs on one core, and its cost grows with the hole it fills, so
the holes are cut into pieces (bands of the photo, cut where they cross
fewest hole pixels) that worker processes fill at the same time. A piece
treats the other pieces' holes like other people: never a source. Where a
cut went through a person, a thin band across it is filled once more
afterwards, from both filled sides, so that no seam shows. The pieces depend
on the photo only and each has its own seed, drawn in a fixed order: a seed
gives the same image on one worker or many.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import threading
import warnings
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ..masks import grow
from ._common import _Job
from ._threads import threads
from ._vanish_fill import fill

__all__ = ["vanish"]

#: Patch radius: 5x5 patches follow texture well, and cost a third of 7x7.
PATCH = 2
#: Hole pixels per piece, at least: smaller holes are filled in one piece, in
#: this process, where handing half of it to a worker would save little.
PIECE_PIXELS = 8_000
#: Pieces, at most. A fill costs less than its share of the hole (half the
#: hole costs about 0.6 of the whole, measured on coco-people), so pieces
#: beyond the cores only add work: four on two cores cost more than two.
MAX_PIECES = 2
#: How far from an equal share of the hole pixels a piece may be (as a share
#: of a piece) when its cut crosses fewer hole pixels there.
BALANCE = 0.2
#: Half-height of the band refilled across a cut through a person.
SEAM = 8
#: Share of a group's size searched around it, where that is more than
#: ``context`` (big people in big photos). Not more: the search costs with
#: the background it covers; crops as big as the person (the first rule) cost
#: 20-30% more on coco-people for a texture ratio (median over five seeds)
#: of 0.85 instead of 0.81.
CONTEXT_SHARE = 0.25


@dataclass
class _Task:
    """One fill: a crop, its holes, the pixels it must not copy from, its seed."""

    crop: tuple[slice, slice]
    holes: np.ndarray
    keep: np.ndarray
    seed: int


def _patchmatch():
    try:
        import patchmatch
    except ImportError as err:  # a broken install: say what to do
        raise ImportError(
            "vanish needs the pypatchmatch package: pip install pypatchmatch"
        ) from err
    if not patchmatch.patchmatch_available:
        raise ImportError(
            "vanish needs pypatchmatch's native library, which did not load; reinstall it: "
            "pip install --force-reinstall --no-deps --no-cache-dir pypatchmatch"
        )
    return patchmatch


def _others(mask, labels, margin, region) -> np.ndarray:
    """People of the label image not being filled (grown): never a source."""
    mask = np.asarray(mask)
    if labels is None or mask.dtype == bool:
        return np.zeros(region.shape, bool)
    rest = np.where(np.isin(mask, np.asarray(list(labels))), 0, mask)
    reach = max(margin.values(), default=0) if isinstance(margin, Mapping) else margin
    if reach > 0:
        rest = grow(rest, reach)
    return (rest != 0) & ~region


def _crops(region: np.ndarray, context: int) -> list[tuple[slice, slice]]:
    """Boxes around groups of holes with surroundings to copy from, merged until
    none overlap: each hole is filled once, in one search."""
    groups, _ = ndi.label(region, structure=np.ones((3, 3)))
    h, w = region.shape
    boxes = []
    for ys, xs in ndi.find_objects(groups):
        size = max(ys.stop - ys.start, xs.stop - xs.start)
        pad = max(context, int(CONTEXT_SHARE * size))
        boxes.append([max(ys.start - pad, 0), max(xs.start - pad, 0),
                      min(ys.stop + pad, h), min(xs.stop + pad, w)])  # fmt: skip
    merged = True
    while merged:
        merged = False
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    a[:] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    boxes.remove(b)
                    merged = True
                    break
            if merged:
                break
    return [(slice(y0, y1), slice(x0, x1)) for y0, x0, y1, x1 in boxes]


def _cuts(region: np.ndarray, pieces: int) -> tuple[int, list[int], np.ndarray]:
    """Where to cut the holes into ``pieces`` bands of about equal hole pixels.

    Returns the axis (0: rows), the cut positions (a cut at ``p`` separates
    ``p - 1`` from ``p``) and, per position, the hole pixels next to it. The
    axis is the one whose cuts cross fewest hole pixels: between people when
    it can, else across a person's narrow side.
    """
    best = None
    for axis in (0, 1):
        profile = region.sum(axis=1 - axis)
        share = np.concatenate([[0], np.cumsum(profile)]) / profile.sum()
        padded = np.concatenate([[0], profile, [0]])
        crossing = padded[:-1] + padded[1:]
        positions = []
        for i in range(1, pieces):
            near = np.abs(share - i / pieces)
            candidates = np.flatnonzero(near <= BALANCE / pieces)
            if candidates.size == 0:  # one row holds more than the slack
                candidates = np.array([np.argmin(near)])
            order = np.lexsort((near[candidates], crossing[candidates]))
            positions.append(int(candidates[order[0]]))
        positions = sorted(set(positions) - {0, len(profile)})
        cost = sum(int(crossing[p]) for p in positions)
        if best is None or cost < best[0]:
            best = (cost, axis, positions, crossing)
    return best[1], best[2], best[3]


def _band(region: np.ndarray, axis: int, start: int, stop: int) -> np.ndarray:
    """``region`` between two positions along ``axis``, nothing elsewhere."""
    band = np.zeros_like(region)
    index = (slice(start, stop), slice(None)) if axis == 0 else (slice(None), slice(start, stop))
    band[index] = region[index]
    return band


def _tasks(holes, keep, context, rng) -> list[_Task]:
    """One task per group of ``holes`` (with surroundings), seeded in order."""
    tasks = []
    for crop in _crops(holes, context):
        task = _Task(crop, holes[crop], keep[crop], int(rng.integers(2**32)))
        if not (~task.holes & ~task.keep).any():  # nothing to copy from here: look wider
            inside = np.zeros_like(holes)
            inside[crop] = task.holes
            task = _Task((slice(None), slice(None)), inside, keep | (holes & ~inside), task.seed)
        tasks.append(task)
    return tasks


def _plan(region, excluded, context, rng) -> tuple[list[_Task], list[_Task]]:
    """The fills of the pieces, and those of the seams to refill after them.

    Seeds are drawn piece by piece, then seam by seam: in the order of the
    plan, never of the workers.
    """
    pieces = int(np.clip(np.count_nonzero(region) // PIECE_PIXELS, 1, MAX_PIECES))
    if pieces == 1:
        return _tasks(region, excluded, context, rng), []
    axis, positions, crossing = _cuts(region, pieces)
    tasks = []
    for start, stop in itertools.pairwise([0, *positions, region.shape[axis]]):
        holes = _band(region, axis, start, stop)
        tasks += _tasks(holes, excluded | (region & ~holes), context, rng)
    # Across a seam the filled pieces are background: both sides show through,
    # and only the other people stay out.
    seams = [
        task
        for p in positions
        if crossing[p]
        for task in _tasks(_band(region, axis, max(p - SEAM, 0), p + SEAM), excluded, context, rng)
    ]
    return tasks, seams


def _fill_all(rgb, tasks, patch, workers) -> list[np.ndarray]:
    """Each task's filled pixels, in the tasks' order, from ``workers`` processes."""
    jobs = [(rgb[t.crop], t.holes, t.keep, t.seed, patch) for t in tasks]
    # A daemonic process (a Dask worker) may not start children; its photos
    # already run in parallel.
    if workers > 1 and len(jobs) > 1 and not multiprocessing.current_process().daemon:
        pool = _pool(workers)
        try:
            # The biggest first, so that no worker is left with one at the end.
            order = sorted(range(len(jobs)), key=lambda i: -np.count_nonzero(tasks[i].holes))
            futures = {i: pool.submit(fill, *jobs[i]) for i in order}
            return [futures[i].result() for i in range(len(jobs))]
        except BrokenProcessPool as err:  # a worker died (or could not start)
            _forget_pool(pool)
            warnings.warn(
                f"vanish: the worker processes failed ({err}); filling in this process",
                RuntimeWarning,
                stacklevel=3,
            )
    return [fill(*job) for job in jobs]


_POOL: ProcessPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()


def _pool(n: int) -> ProcessPoolExecutor:
    """The kept pool of ``n`` worker processes (a new one when ``n`` changes).

    Spawned, not forked: the panel calls this from a Qt process with threads,
    where a forked child can inherit a held lock. Workers start on first use
    and stay, so only the first fill pays for their start.
    """
    global _POOL, _POOL_SIZE
    with _POOL_LOCK:
        if _POOL is None or _POOL_SIZE != n:
            if _POOL is not None:
                _POOL.shutdown(wait=False)  # its running fills finish; nothing new goes there
            context = multiprocessing.get_context("spawn")
            _POOL = ProcessPoolExecutor(max_workers=n, mp_context=context)
            _POOL_SIZE = n
        return _POOL


def _forget_pool(pool: ProcessPoolExecutor | None = None) -> None:
    """Drop the kept pool (``pool``: only if it is still that one)."""
    global _POOL, _POOL_SIZE
    with _POOL_LOCK:
        if pool is None or _POOL is pool:
            if _POOL is not None:
                _POOL.shutdown(wait=False, cancel_futures=True)
            _POOL, _POOL_SIZE = None, 0


def _forget_pool_after_fork() -> None:
    global _POOL, _POOL_SIZE, _POOL_LOCK
    _POOL, _POOL_SIZE, _POOL_LOCK = None, 0, threading.Lock()  # the parent's workers are not ours


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def vanish(image, mask, *, margin=0, labels=None, rng=None, patch=PATCH, context=64, workers=None):
    """Replace each person by background, patch by patch, from background only.

    Parameters
    ----------
    image : (M, N) or (M, N, 3 or 4) uint8 array
        The photo (alpha, if any, is left untouched).
    mask, margin, labels
        As for :func:`scramble`. With a label image and ``labels``, the
        people not chosen are kept as they are, and excluded as sources.
    rng : None, int or numpy.random.Generator
        Seeds the randomized search: a seed gives the same image, whatever
        the number of workers.
    patch : int
        Patch radius (patches are ``2 * patch + 1`` pixels wide).
    context : int
        At least this many pixels around each group of people are searched
        for patches (more for big people: a quarter of their size).
    workers : int, optional
        Processes that fill pieces at the same time; default: ``NUMBA_NUM_THREADS``
        if set, else the usable cores. With more than one, big holes are filled
        by spawned worker processes, started on first use and kept; a script that
        calls vanish at its top level needs an ``if __name__ == "__main__":``
        guard, as with any spawned process (or ``workers=1``).

    Returns
    -------
    ndarray
        New image; pixels outside the grown mask are bit-identical.

    Raises
    ------
    ValueError
        Not an 8-bit image, or no background to take patches from.
    """
    job = _Job(image, mask, labels, margin)
    if job.image.dtype != np.uint8 or (job.image.ndim == 3 and job.image.shape[2] not in (3, 4)):
        raise ValueError(
            "vanish works on 8-bit gray, RGB or RGBA photos; use scramble for "
            f"{job.image.dtype} with shape {job.image.shape}"
        )
    if int(patch) != patch or patch < 1:
        raise ValueError(f"patch must be a whole number of pixels >= 1, got {patch!r}")
    workers = threads() if workers is None else workers
    if int(workers) != workers or workers < 1:
        raise ValueError(f"workers must be a whole number >= 1, got {workers!r}")
    out = job.image.copy()
    region = job.region
    if not region.any():
        return out
    excluded = _others(mask, labels, margin, region)
    if not (~region & ~excluded).any():
        raise ValueError("vanish needs background pixels to take patches from")
    _patchmatch()
    rng = np.random.default_rng(rng)
    rgb = job.image if job.image.ndim == 3 else job.image[..., None]
    rgb = np.broadcast_to(rgb[..., :3], (*region.shape, 3)).copy()
    tasks, seams = _plan(region, excluded, int(context), rng)
    for task, filled in zip(tasks, _fill_all(rgb, tasks, int(patch), int(workers)), strict=True):
        rgb[task.crop][task.holes] = filled
    for task in seams:  # after the pieces: they read what the pieces filled
        rgb[task.crop][task.holes] = fill(rgb[task.crop], task.holes, task.keep, task.seed, patch)
    if out.ndim == 2:
        out[region] = rgb[..., 0][region]
    else:
        out[..., :3][region] = rgb[region]
    return job.finish(out)
