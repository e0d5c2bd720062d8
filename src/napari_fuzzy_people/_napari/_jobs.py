"""Generators the panel runs in thread workers: they yield Progress, return results.

They never touch the viewer; the panel applies what they return.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np
from napari.utils import progress

from ..core.people import Progress


class JobFailed(Exception):
    """A job's error, re-raised as a plain Exception (the original is ``__cause__``).

    superqt's workers take a ``RuntimeError`` from the work for a deleted
    worker and only warn, so the panel would never hear of it; torch's own
    errors (out of memory, say) and missing weights are RuntimeErrors.
    """


def job(func):
    """Make ``func`` (a function or generator function) safe to run in a worker."""
    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def generator(*args, **kwargs):
            try:
                return (yield from func(*args, **kwargs))
            except RuntimeError as err:
                raise JobFailed(str(err)) from err

        return generator

    @functools.wraps(func)
    def plain(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except RuntimeError as err:
            raise JobFailed(str(err)) from err

    return plain


def load_models(detector_name, detector_checkpoint, min_score, sam_type, sam_checkpoint):
    """Build the detector and Segment Anything, downloading weights on first use.

    Downloads show in napari's activity dock (napari's ``progress`` is the
    tqdm-like bar pooch reports to).
    """
    from ..models import SamSegmenter, TorchvisionDetector, weights

    for checkpoint, default in (
        (detector_checkpoint, detector_name),
        (sam_checkpoint, f"sam_{sam_type}"),
    ):
        if checkpoint == "default":
            name = default
            with progress(desc=f"Downloading {name}") as bar:
                weights.resolve(name, default=name, progressbar=bar)
    detector = TorchvisionDetector(
        detector_name, checkpoint=detector_checkpoint, score_threshold=min_score
    )
    segmenter = SamSegmenter.load(sam_type, checkpoint=sam_checkpoint)
    return detector, segmenter


@job
def find_people_job(image, get_models):
    """Load (or reuse) the models, then propose people; returns (models, proposals)."""
    from ..models import propose_people

    yield Progress("load models", 0, 1)
    models = get_models()
    yield Progress("load models", 1, 1)
    proposals = yield from propose_people(image, *models)
    return models, proposals


@job
def segment_prompt_job(image, get_models, points_xy, positive, box=None):
    """One mask from point prompts and/or a box; returns (mask, score)."""
    yield Progress("load models", 0, 1)
    _, segmenter = get_models()
    yield Progress("load models", 1, 1)
    if hasattr(segmenter, "has_embedding") and not segmenter.has_embedding(image):
        yield Progress("embed", 0, 1)
        segmenter.set_image(image)
        yield Progress("embed", 1, 1)
    mask, score = segmenter.segment_points(
        image, np.asarray(points_xy, float), np.asarray(positive, int), box=box
    )
    return np.asarray(mask, bool), float(score)
