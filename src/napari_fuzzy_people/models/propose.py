"""Propose people: detector boxes prompt the segmenter, one mask per person."""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

from ..core.people import OverlapResolver, Progress, Proposals, ProposedPerson
from .detector import PersonDetector
from .segmenter import PersonSegmenter

__all__ = ["propose_people", "run"]


def propose_people(
    image, detector: PersonDetector, segmenter: PersonSegmenter
) -> Generator[Progress, None, Proposals]:
    """Find people and mask each one; a generator of progress events.

    Yields :class:`~napari_fuzzy_people.core.people.Progress` events (stages
    ``"detect"``, ``"embed"``, ``"segment"``) and returns
    :class:`~napari_fuzzy_people.core.people.Proposals`: a label image (one
    label per person, numbered by detector score, best first) and a record
    per person. Overlaps follow
    :class:`~napari_fuzzy_people.core.people.OverlapResolver`'s rule; a
    person left with no pixels is dropped.

    Nothing outside the generator changes until it returns, except complete
    image embeddings kept by the segmenter: closing it between events (a
    Cancel button) leaves no half state. Drive it with :func:`run`, or with
    napari's ``thread_worker``, which passes the return value to
    ``returned``.
    """
    image = np.asarray(image)
    shape = image.shape[:2]
    yield Progress("detect", 0, 1)
    boxes, scores = detector.detect(image)
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    yield Progress("detect", 1, 1)
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    if len(boxes) == 0:
        return Proposals(np.zeros(shape, np.uint16), [])

    if hasattr(segmenter, "set_image"):
        yield Progress("embed", 0, 1)
        segmenter.set_image(image)
        yield Progress("embed", 1, 1)

    resolver = OverlapResolver(shape)
    quality = np.zeros(len(boxes), np.float32)
    yield Progress("segment", 0, len(boxes))
    if hasattr(segmenter, "iter_boxes"):
        batches = segmenter.iter_boxes(image, boxes)
    else:
        batches = iter([(0, *segmenter.segment_boxes(image, boxes))])
    for start, masks, mask_scores in batches:
        for i, (mask, q) in enumerate(zip(masks, mask_scores, strict=True)):
            resolver.add(start + i + 1, mask, float(q))
            quality[start + i] = q
        yield Progress("segment", start + len(masks), len(boxes))

    areas = np.zeros(len(boxes) + 1, np.int64)
    counts = resolver.areas()
    areas[: len(counts)] = counts[: len(boxes) + 1]
    kept = [k for k in range(1, len(boxes) + 1) if areas[k] > 0]
    # Renumber the people who kept pixels as 1..K, best detection first.
    lut = np.zeros(len(boxes) + 1, np.uint16)
    lut[kept] = np.arange(1, len(kept) + 1)
    labels = lut[resolver.labels]
    people = [
        ProposedPerson(
            label=new,
            box=tuple(float(v) for v in boxes[old - 1]),
            score=float(scores[old - 1]),
            mask_score=float(quality[old - 1]),
            area=int(areas[old]),
        )
        for new, old in enumerate(kept, start=1)
    ]
    return Proposals(labels, people)


def run(generator: Generator[Progress, None, Proposals], on_progress=None) -> Proposals:
    """Drive a progress generator to the end; return what it returns.

    ``on_progress(event)`` is called with each event (e.g. to update a
    progress bar in a script).
    """
    while True:
        try:
            event = next(generator)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(event)
