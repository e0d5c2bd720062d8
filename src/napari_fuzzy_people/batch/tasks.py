"""One photo's work, as a task a worker can run: propose, export from a work folder, apply.

Each task takes one small picklable job description, writes its results
itself (whole or not at all), and returns a
:class:`~napari_fuzzy_people.batch.runner.TaskResult`; a photo's own problem
is a ``failed`` result, never an exception. Tasks are idempotent: run again
(after a crash, or by Dask after a worker died), they finish what is left
and redo nothing that is done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import AnonymizeSettings, ReviewModel, select
from ..core.leaks import Dismissal
from ..io.errors import ImageReadError, LeaksFound
from ..io.export import export_path
from ..io.labels import read_labels
from ..io.manifest import read_manifest
from ..io.read import read_photo
from ..io.record import export_anonymized
from ..io.workfolder import FINISHED, EmbeddingStore, PhotoStatus, WorkFolder
from ..models.choice import ModelChoice
from .leakcheck import LeakCheck, leak_check_for
from .runner import TaskResult, task_error

__all__ = [
    "ApplyJob",
    "ExportJob",
    "ProposeJob",
    "apply_photo",
    "export_photo",
    "output_stem",
    "propose_photo",
]


def photo_info(photo) -> dict:
    """What a work folder keeps about the photo file a state belongs to."""
    return {
        "sha256": photo.sha256,
        "format": photo.format,
        "height": int(photo.pixels.shape[0]),
        "width": int(photo.pixels.shape[1]),
        "orientation": photo.orientation,
    }


def output_stem(relative: str) -> str:
    """An export's name: the photo's, with its subfolders when it is in one.

    >>> output_stem("street.jpg"), output_stem("2024/beach/street.jpg")
    ('street', '2024__beach__street')
    """
    return Path(relative).with_suffix("").as_posix().replace("/", "__")


# -- propose ----------------------------------------------------------------------


@dataclass(frozen=True)
class ProposeJob:
    work: str
    relative: str
    models: ModelChoice = field(default_factory=ModelChoice)
    force: bool = False  # propose again even what was reviewed


def propose_photo(job: ProposeJob) -> TaskResult:
    """Find the people of one photo into the work folder (skipped if done and valid)."""
    from ..models import load_models, propose_people, run

    work = WorkFolder.open(job.work)
    rel = job.relative
    try:
        photo = read_photo(work.source / rel)
    except (ImageReadError, MemoryError) as err:
        result = task_error(rel, err)
        work.save_failure(rel, None, result.message)
        return result
    state = work.state(rel).data
    started = any(state.get(k) for k in ("proposed", "review", "no_people"))
    if started and work.is_current(rel, photo.sha256) and not job.force:
        return TaskResult(rel, "skipped", "already proposed")
    try:
        detector, segmenter = load_models(job.models, store=EmbeddingStore(work.embeddings))
        proposals = run(propose_people(photo.pixels, detector, segmenter))
    except Exception as err:  # one line per photo; the batch goes on
        result = task_error(rel, err)
        work.save_failure(rel, photo_info(photo), result.message)
        return result
    work.save_proposals(rel, photo_info(photo), proposals, models=job.models.describe())
    n = len(proposals.people)
    return TaskResult(rel, "done", "1 person" if n == 1 else f"{n} people")


# -- export ---------------------------------------------------------------------


@dataclass(frozen=True)
class ExportJob:
    work: str
    relative: str
    output: str
    accept_unreviewed: bool = False
    leak_check: LeakCheck = field(default_factory=LeakCheck)


def held(item: str, err: LeaksFound) -> TaskResult:
    """A photo the leak check held back: each finding, on one line."""
    return TaskResult(item, "held", str(err))


def export_photo(job: ExportJob) -> TaskResult:
    """Export one reviewed photo of a work folder (approved people only)."""
    work = WorkFolder.open(job.work)
    rel = job.relative
    state = work.state(rel)
    status = state.status
    if status in (PhotoStatus.NEW, PhotoStatus.FAILED):
        return TaskResult(rel, "skipped", f"not reviewed ({status.value})")
    if status not in FINISHED and not job.accept_unreviewed:
        return TaskResult(rel, "skipped", f"not fully reviewed ({status.value})")
    try:
        photo = read_photo(work.source / rel)
        if not work.is_current(rel, photo.sha256):
            raise ValueError(f"{rel}: the photo changed since it was reviewed; review it again")
        labels = work.labels(rel)
        if labels is None:
            labels = np.zeros(photo.pixels.shape[:2], np.uint16)
        data = state.data.get("review")
        review = ReviewModel.from_dict(data) if data else ReviewModel()
        out = Path(job.output)
        records = work.records_for(out)
        records.mkdir(mode=0o700, parents=True, exist_ok=True)
        stem = output_stem(rel)
        target = export_path(out, stem, photo.path, fmt=photo.format, stem=stem)
        # Ours (listed in the manifest): an export again replaces it, bit for bit alike.
        ours = target.name in read_manifest(out)["outputs"]
        dismissals = [Dismissal.from_dict(d) for d in work.leak_dismissals(rel)]
        result = export_anonymized(
            photo.pixels,
            labels,
            review,
            work.settings,
            out,
            name=stem,
            stem=stem,
            review_folder=records,
            photo=photo,
            seed=work.seed(photo.sha256),
            overwrite=ours,
            allow_unreviewed=job.accept_unreviewed,
            models=[m for m in state.data.get("proposed", {}).get("models", []) if m.get("path")],
            leak_check=leak_check_for(
                job.leak_check, labels, review.approved_labels(), dismissals
            ),
        )
    except LeaksFound as err:
        return held(rel, err)
    except Exception as err:
        return task_error(rel, err)
    unreviewed = review.unreviewed_labels()
    work.save_export(
        rel,
        {
            "folder": str(out.resolve()),
            "file": result.image.name,
            "settings": work.settings.to_dict(),
            "accepted_unreviewed": unreviewed,
        },
    )
    return TaskResult(rel, "done", "", str(result.image))


# -- apply (masks made elsewhere) ---------------------------------------------------


@dataclass(frozen=True)
class ApplyJob:
    image: str
    masks: str
    output: str
    settings: AnonymizeSettings
    review_folder: str | None = None
    people: tuple[int, ...] | None = None
    seed: int | None = None
    force_png: bool = False
    overwrite: bool = False
    protect: tuple[str, ...] = ()
    leak_check: LeakCheck = field(default_factory=LeakCheck)


def apply_photo(job: ApplyJob) -> TaskResult:
    """Anonymize one photo with its label image (every label approved) and export it."""
    try:
        photo = read_photo(job.image)
        labels = read_labels(job.masks, shape=photo.pixels.shape[:2])
        if job.people is not None:
            present = set(np.unique(labels).tolist()) - {0}
            missing = sorted(set(job.people) - present)
            if missing:
                raise ValueError(f"{job.masks}: no person with label {missing}")
            labels = select(labels, job.people)
        review = ReviewModel()
        review.adopt(labels)
        review.approve(*review.people)
        result = export_anonymized(
            photo.pixels,
            labels,
            review,
            job.settings,
            job.output,
            name=Path(job.image).stem,
            review_folder=job.review_folder,
            photo=photo,
            seed=job.seed,
            force_png=job.force_png,
            overwrite=job.overwrite,
            protect=job.protect,
            leak_check=leak_check_for(job.leak_check, labels, review.approved_labels()),
        )
    except LeaksFound as err:
        return held(job.image, err)
    except Exception as err:
        return task_error(job.image, err)
    return TaskResult(job.image, "done", "", str(result.image))
