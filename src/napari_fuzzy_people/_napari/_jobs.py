"""Generators the controller runs in thread workers: they yield Progress, return results.

They never touch the viewer or any layer; the controller applies what they
return on the GUI thread. Each yields between its stages, so a Cancel stops
it at the next one; closed there, it leaves nothing half-done (an export
writes nothing).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..batch.leakcheck import LeakCheck, leak_check_for
from ..core import AnonymizeSettings, Progress, ReviewModel
from ..core.preview import downscale, preview_steps
from ..io.errors import ExportError
from ..io.read import Photo, orient, read_photo
from ..io.record import export_steps
from ..models.choice import ModelChoice, build_detector, build_segmenter, load_models
from ._events import download_bar

__all__ = [
    "JobFailed",
    "ModelChoice",
    "adopt_job",
    "anonymize_job",
    "export_job",
    "find_people_job",
    "job",
    "leak_check_job",
    "load_detector",
    "load_segmenter",
    "preview_job",
    "read_photo_job",
    "segment_prompt_job",
]


class JobFailed(Exception):
    """A job's error, re-raised as a plain Exception (the original is ``__cause__``).

    superqt's workers take a ``RuntimeError`` from the work for a deleted
    worker and only warn, so the panel would never hear of it; torch's own
    errors (out of memory, say) and missing weights are RuntimeErrors.
    """


def job(func):
    """Make a generator function safe to run in a worker (see :class:`JobFailed`)."""
    if not inspect.isgeneratorfunction(func):
        raise TypeError(f"{func.__name__} must be a generator function: it yields progress")

    @functools.wraps(func)
    def generator(*args, **kwargs):
        try:
            return (yield from func(*args, **kwargs))
        except RuntimeError as err:
            raise JobFailed(str(err)) from err

    return generator


def load_detector(choice: ModelChoice):
    """The person detector, downloading its weights on first use (the job's progress)."""
    if choice.factory:
        return load_models(choice)[0]
    return build_detector(choice, progressbar=download_bar(choice.detector))


def load_segmenter(choice: ModelChoice):
    """Segment Anything, downloading its weights on first use (the job's progress)."""
    if choice.factory:
        return load_models(choice)[1]
    return build_segmenter(choice, progressbar=download_bar(f"sam_{choice.segmenter}"))


_NO_LOCK = contextlib.nullcontext()


@job
def find_people_job(image, get_detector, get_segmenter, lock=_NO_LOCK):
    """Load (or reuse) both models, then propose people.

    Returns (detector, segmenter, proposals). ``lock`` is held while the models
    work: they are not safe to share between threads at once.
    """
    from ..models import propose_people

    with lock:
        yield Progress("load models", 0, 2)
        detector = get_detector()
        yield Progress("load models", 1, 2)
        segmenter = get_segmenter()
        yield Progress("load models", 2, 2)
        proposals = yield from propose_people(image, detector, segmenter)
    return detector, segmenter, proposals


@job
def segment_prompt_job(image, get_segmenter, points_xy, positive, box=None, lock=_NO_LOCK):
    """One mask from point prompts and/or a box (Segment Anything only); returns
    (segmenter, mask, score)."""
    with lock:
        yield Progress("load models", 0, 1)
        segmenter = get_segmenter()
        yield Progress("load models", 1, 1)
        if hasattr(segmenter, "has_embedding") and not segmenter.has_embedding(image):
            yield Progress("embed", 0, 1)
            segmenter.set_image(image)
            yield Progress("embed", 1, 1)
        mask, score = segmenter.segment_points(
            image, np.asarray(points_xy, float), np.asarray(positive, int), box=box
        )
    return segmenter, np.asarray(mask, bool), float(score)


@job
def adopt_job(labels: np.ndarray):
    """A review model with every label of ``labels`` proposed (off the GUI thread: it
    fingerprints every pixel)."""
    yield Progress("adopt", 0, 1)
    model = ReviewModel()
    model.adopt(labels)
    yield Progress("adopt", 1, 1)
    return model


@job
def read_photo_job(path: Path):
    """The photo file behind a layer, upright, with its encoder settings."""
    yield Progress("read", 0, 1)
    return read_photo(path)


@job
def anonymize_job(image, labels, approved, settings: AnonymizeSettings):
    """The anonymized image (nobody approved: a copy), as levels to show (see :func:`pyramid`)."""
    yield Progress("anonymize", 0, 2)
    out = settings.apply(image, labels, approved)
    yield Progress("anonymize", 1, 2)  # a Cancel here drops the result
    return pyramid(out)


@job
def preview_job(image, labels, approved, settings: AnonymizeSettings, factor: int, small=None):
    """The anonymized image at ``1 / factor`` the size (see :mod:`..core.preview`), and
    the photo at that size (``small``, computed unless given); a Cancel stops it
    between its steps."""
    if small is None:
        yield Progress("preview", 0, 3)
        small = downscale(image, factor)
    out = yield from preview_steps(image, labels, approved, settings, factor=factor, small=small)
    yield Progress("preview", 3, 3)  # a Cancel here drops the result
    return out, small


#: Past this many pixels a result is shown as a pyramid (napari then draws only
#: the level that fits the screen, instead of uploading every pixel at once).
PYRAMID_PIXELS = 1 << 22


def pyramid(image: np.ndarray) -> list[np.ndarray]:
    """``[image]``, or ``image`` and its halvings (2x2 means) down to about a screen.

    Examples
    --------
    >>> [level.shape for level in pyramid(np.zeros((4000, 3000, 3), np.uint8))]
    [(4000, 3000, 3), (2000, 1500, 3)]
    """
    levels = [image]
    while levels[-1].shape[0] * levels[-1].shape[1] > PYRAMID_PIXELS:
        last = levels[-1]
        h, w = last.shape[0] // 2 * 2, last.shape[1] // 2 * 2
        if min(h, w) < 2:
            break
        quads = last[:h, :w].reshape(h // 2, 2, w // 2, 2, *last.shape[2:])
        levels.append(quads.mean(axis=(1, 3), dtype=np.float32).astype(last.dtype))
    return levels


def _leak_check(spec: LeakCheck, labels, approved, dismissals):
    """The leak check's callable and the report it made (a list, filled when it runs).

    Built here, in the worker: the detectors may download their weights first.
    """
    bar = download_bar("the leak check's detectors")
    check = leak_check_for(spec, labels, approved, dismissals, progressbar=bar)
    reports = []

    def run(image):
        reports.append(check(image))
        return reports[-1]

    return run, reports


@job
def export_job(
    pixels, labels, review, settings, folder, *, name, source, photo, models, options, leaks
):
    """Read the photo file if there is one, line the layer up with it, and export.

    ``leaks``: the :class:`~..batch.leakcheck.LeakCheck` and the reviewer's
    dismissals. Returns the export's result and the leak check's report.
    """
    yield Progress("read", 0, 3)
    if photo is None and source is not None and Path(source).is_file():
        photo = read_photo(source)
    pixels, labels = align(pixels, labels, photo)
    spec, dismissals = leaks
    check, reports = _leak_check(spec, labels, review.approved_labels(), dismissals)
    private = Path(options["review_folder"])
    made = not private.exists()
    private.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        result = yield from export_steps(
            pixels, labels, review, settings, folder, name=name, photo=photo, models=models,
            leak_check=check, **options,
        )  # fmt: skip
    except BaseException:  # held back, failed or cancelled: leave no empty folder behind
        if made:
            with contextlib.suppress(OSError):  # only if still empty
                private.rmdir()
        raise
    return result, reports[-1]


@job
def leak_check_job(pixels, labels, approved, settings, *, source, photo, spec, dismissals):
    """Anonymize as an export would, and run the leak check on it; returns its report.

    Nothing is written: the reviewer checks, fixes and checks again before exporting.
    """
    yield Progress("read", 0, 4)
    if photo is None and source is not None and Path(source).is_file():
        photo = read_photo(source)
    pixels, labels = align(pixels, labels, photo)
    yield Progress("load detectors", 1, 4)
    check, _ = _leak_check(spec, labels, approved, dismissals)
    yield Progress("anonymize", 2, 4)
    out = settings.apply(pixels, labels, approved)
    yield Progress("leak check", 3, 4)
    report = check(out)
    yield Progress("leak check", 4, 4)  # a Cancel here drops the report
    return report


@job
def open_photo_job(work, relative: str):
    """A photo of a work folder, with its saved labels and review if they are its own."""
    yield Progress("read", 0, 1)
    photo = read_photo(work.source / relative)
    labels = review = None
    if work.is_current(relative, photo.sha256):
        labels = work.labels(relative)
        review = work.state(relative).data.get("review")
    return relative, photo, labels, review


@dataclass(frozen=True)
class Ahead:
    """What the background worker did with one photo of the queue."""

    relative: str
    status: str  # "proposed", "failed", "skipped", or "models" (carrying them)
    models: tuple = ()


@job
def ahead_job(work, relatives, get_detector, get_segmenter, lock):
    """Propose people for the photos coming next, one at a time, in the background."""
    from ..batch.tasks import photo_info
    from ..io.workfolder import EmbeddingStore
    from ..models import propose_people, run

    models = None
    for relative in relatives:
        yield Ahead(relative, "checking")
        try:
            photo = read_photo(work.source / relative)
        except Exception as err:
            work.save_failure(relative, None, f"{relative}: {err}")
            yield Ahead(relative, "failed")
            continue
        state = work.state(relative).data
        started = any(state.get(k) for k in ("proposed", "review", "no_people"))
        if started and work.is_current(relative, photo.sha256):
            yield Ahead(relative, "skipped")
            continue
        try:
            if models is None:
                with lock:
                    models = get_detector(), get_segmenter()
                yield Ahead(relative, "models", models)
            # The lock is never held across a yield: a worker stopped there holds nothing.
            with lock:
                if hasattr(models[1], "store"):
                    models[1].store = EmbeddingStore(work.embeddings)
                proposals = run(propose_people(photo.pixels, *models))
        except Exception as err:
            work.save_failure(relative, photo_info(photo), f"{relative}: {err}")
            yield Ahead(relative, "failed")
            continue
        work.save_proposals(relative, photo_info(photo), proposals)
        yield Ahead(relative, "proposed")


def align(pixels: np.ndarray, labels: np.ndarray, photo: Photo | None):
    """The photo's upright pixels and the masks turned to match them.

    napari's own reader shows a phone photo's stored pixels, ignoring its
    EXIF orientation; masks drawn on that layer are turned the same way
    here, so that the export is upright and the masks still cover the
    people. Pixels that are neither the file upright nor as stored (edited
    in napari, say) are exported as the layer shows them.

    Raises
    ------
    ExportError
        The layer's size fits neither the upright photo nor the stored one.
    """
    if photo is None:
        return pixels, labels
    upright = photo.pixels
    if pixels.shape == upright.shape and (photo.orientation == 1 or _equal(pixels, upright)):
        return upright, labels
    if photo.orientation != 1 and _equal(orient(pixels, photo.orientation), upright):
        return upright, np.ascontiguousarray(orient(labels, photo.orientation))
    if pixels.shape == upright.shape:
        return pixels, labels
    raise ExportError(
        f"{photo.path}: the layer is {pixels.shape[1]}x{pixels.shape[0]} but the photo file "
        f"is {upright.shape[1]}x{upright.shape[0]}; its masks cannot be lined up with it"
    )


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a, b)
