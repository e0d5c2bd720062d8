"""Generators the panel runs in thread workers: they yield Progress, return results.

They never touch the viewer; the panel applies what they return.
"""

from __future__ import annotations

import numpy as np
from napari.utils import progress

from ..core.people import Progress


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


def find_people_job(image, get_models):
    """Load (or reuse) the models, then propose people; returns (models, proposals)."""
    from ..models import propose_people

    yield Progress("load models", 0, 1)
    models = get_models()
    yield Progress("load models", 1, 1)
    proposals = yield from propose_people(image, *models)
    return models, proposals


def segment_prompt_job(image, get_models, points_xy, positive):
    """One mask from point prompts; returns (mask, score)."""
    yield Progress("load models", 0, 1)
    _, segmenter = get_models()
    yield Progress("load models", 1, 1)
    if hasattr(segmenter, "has_embedding") and not segmenter.has_embedding(image):
        yield Progress("embed", 0, 1)
        segmenter.set_image(image)
        yield Progress("embed", 1, 1)
    mask, score = segmenter.segment_points(
        image, np.asarray(points_xy, float), np.asarray(positive, int)
    )
    return np.asarray(mask, bool), float(score)
