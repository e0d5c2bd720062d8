"""Export with a record: the shareable photo in one folder, what was done in another.

One export is one transaction (see :mod:`napari_fuzzy_people.io.transaction`):

- the **export folder**, meant to be shared as it is, receives
  ``<name>_fuzzy.<ext>`` (only the pixels) and its line in the folder's one
  manifest (``fuzzy-people-manifest.json``: file, method, parameters);
- the **review folder**, private, receives ``<name>_fuzzy.<ext>.people.png``
  (the label image, 16 bit: everyone's exact silhouette) and
  ``<name>_fuzzy.<ext>.record.json``: the original's path and SHA-256, the
  output's SHA-256, every person (label, box, origin, scores, status,
  approval time), the settings, the method and its parameters, the models
  and the SHA-256 of their weights, the package version, the times, and the
  random seed when the user fixed one.

Either every one of these files appears, whole, or none does. Opening the
record in napari reopens the review (:func:`load_review`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .. import __version__
from ..core import AnonymizeSettings, Progress, ReviewModel
from ..core.leaks import LeakReport, skipped_check
from ..core.masks import MAX_LABEL
from .errors import ExportError, LeaksFound
from .export import export_path, refuse_target, stage_image
from .labels import read_labels
from .manifest import MANIFEST_NAME, entry, jsonable, read_manifest, with_output
from .transaction import Transaction, final_path, locked, recover

__all__ = [
    "RECORD_FORMAT",
    "ExportResult",
    "SavedReview",
    "check_folders",
    "default_review_folder",
    "export_anonymized",
    "export_steps",
    "load_review",
    "prepare_folders",
    "sha256_file",
]

RECORD_FORMAT = "napari-fuzzy-people/record"
RECORD_VERSION = 2


@dataclass(frozen=True)
class ExportResult:
    """The files one export wrote (``masks`` and ``record`` without a review folder: None)."""

    image: Path
    manifest: Path
    masks: Path | None = None
    record: Path | None = None


@dataclass(frozen=True)
class SavedReview:
    """A review read back from its record: enough to continue or redo it."""

    record: dict
    input_path: Path
    labels: np.ndarray
    review: ReviewModel
    settings: dict


def sha256_file(path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def check_folders(folder, review_folder=None) -> tuple[Path, Path | None]:
    """Resolve the export and review folders; refuse a review folder that would be shared.

    Raises
    ------
    ExportError
        A folder is missing, or the review folder is the export folder or
        inside it (its silhouettes would travel with the shared photos).
    """
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise ExportError(f"{folder}: the export folder does not exist")
    if review_folder is None:
        return folder, None
    review_folder = Path(review_folder).resolve()
    if not review_folder.is_dir():
        raise ExportError(f"{review_folder}: the review folder does not exist")
    if review_folder == folder or folder in review_folder.parents:
        raise ExportError(
            f"{review_folder}: the review folder keeps everyone's silhouettes and must not "
            f"be the export folder {folder} or inside it; choose a folder outside it"
        )
    return folder, review_folder


#: The review folder the panel uses when none is chosen, beside the original photo.
REVIEW_FOLDER_NAME = "fuzzy-people-review"


def default_review_folder(folder, source=None) -> Path:
    """Where the masks and record of an export go when the user chose no review folder.

    Beside the original photo (``<photo folder>/fuzzy-people-review``): the
    silhouettes stay with the originals, which are private anyway. Without a
    source file, or when that would fall inside the export folder, a folder
    beside the export folder (``<export folder>-review``).

    Examples
    --------
    >>> default_review_folder("/out", "/photos/a.jpg").as_posix()
    '/photos/fuzzy-people-review'
    >>> default_review_folder("/photos", "/photos/a.jpg").as_posix()
    '/photos-review'
    """
    folder = Path(folder).absolute()
    if source is not None:
        beside = Path(source).absolute().parent / REVIEW_FOLDER_NAME
        if beside != folder and folder not in beside.parents:
            return beside
    return folder.parent / f"{folder.name}-review"


def prepare_folders(folder, review_folder=None) -> int:
    """Finish or undo what an interrupted export left in these folders; returns files touched."""
    folders = [f for f in check_folders(folder, review_folder) if f is not None]
    with locked(*folders):
        return sum(recover(f) for f in folders)


def export_anonymized(*args, **kwargs) -> ExportResult:
    """Anonymize the approved people and write the photo, the manifest line, masks and record.

    The same as :func:`export_steps`, run to the end.
    """
    steps = export_steps(*args, **kwargs)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def export_steps(
    image: np.ndarray,
    labels: np.ndarray,
    review: ReviewModel,
    settings: AnonymizeSettings,
    folder,
    *,
    name: str,
    review_folder=None,
    photo=None,
    models=(),
    seed=None,
    force_png: bool = False,
    overwrite: bool = False,
    allow_unreviewed: bool = False,
    protect=(),
    stem: str | None = None,
    leak_check: Callable[[np.ndarray], LeakReport] | None = None,
) -> Generator[Progress, None, ExportResult]:
    """Anonymize the approved people and write the photo, the manifest line, masks and record.

    A generator: it yields :class:`~napari_fuzzy_people.core.Progress` between
    its stages (``"anonymize"``, ``"write"``) and returns the
    :class:`ExportResult`. Closed before it returns (a Cancel), it writes
    nothing.

    Parameters
    ----------
    image, labels : ndarray
        The upright photo and its label image (one label per person, 0..65535).
    review : ReviewModel
        Who is approved; only approved people are anonymized.
    settings : AnonymizeSettings
        How they are anonymized.
    folder : path-like
        The export folder (shareable): the photo and the manifest only.
    name : str
        Name for the output when there is no ``photo`` file.
    review_folder : path-like, optional
        The private folder for the masks and the record. Without it, neither
        is written. Never the export folder or inside it.
    photo : Photo, optional
        The input as read by :func:`~napari_fuzzy_people.io.read.read_photo`:
        its path, SHA-256, format (the output's), JPEG settings and colour
        profile.
    models : iterable of dict
        ``{"role", "name", "path"}`` per model used; their weights' SHA-256
        are recorded.
    seed : int, optional
        A fixed seed (recorded in the private record only); ``None`` means
        fresh entropy (not recorded).
    force_png : bool
        Write PNG whatever the input's format.
    overwrite : bool
        Replace an earlier export of the same name (never an input).
    allow_unreviewed : bool
        Export although people are still proposed or edited (they stay as
        they are in the photo; the record lists them). Refused by default.
    protect : iterable of path-like
        Files that must never be written (the other inputs of a batch).
    stem : str, optional
        The output's name before ``_fuzzy`` (default: the photo file's).
    leak_check : callable, optional
        ``leak_check(anonymized) -> LeakReport``, run before anything is
        written (see :mod:`napari_fuzzy_people.core.leaks`); an open finding
        refuses the export (:class:`LeaksFound`). The report goes into the
        record. Without it the record says the check was not asked for.

    Returns
    -------
    ExportResult

    Raises
    ------
    ExportError
        A refusal (unreviewed people, bad labels, an existing output, a link,
        a review folder inside the export folder) or a failed check. Nothing
        is written.
    LeaksFound
        (an ``ExportError``) The leak check found someone. Nothing is written.
    OSError
        The system failed to write (full disk, ...). Nothing is written.
    """
    started = _now()
    unreviewed = review.unreviewed_labels()
    if unreviewed and not allow_unreviewed:
        raise ExportError(
            f"{len(unreviewed)} people not reviewed (labels {unreviewed}); they would be "
            "exported unanonymized"
        )
    folder, review_folder = check_folders(folder, review_folder)
    source = None if photo is None else photo.path
    target = export_path(
        folder,
        name,
        source,
        fmt=None if photo is None else photo.format,
        force_png=force_png,
        stem=stem,
    )
    masks = _checked_labels(labels, image, target)
    inputs = [p for p in (source, *protect) if p is not None]
    folders = [f for f in (folder, review_folder) if f is not None]
    refuse_target(final_path(target), inputs, overwrite)  # fail before the work
    approved = review.approved_labels()
    yield Progress("anonymize", 0, 3)
    params = settings.params(labels) if approved else {}
    out = settings.apply(image, labels, approved, rng=seed)
    yield Progress("leak check", 1, 3)
    leaks = skipped_check("not asked for") if leak_check is None else leak_check(out)
    if leaks.open:
        raise LeaksFound(str(source or name), leaks)
    yield Progress("write", 2, 3)
    # Only the writing holds the folders: parallel exports anonymize side by side.
    with locked(*folders):
        for f in folders:
            recover(f)
        manifest = read_manifest(folder)
        with Transaction() as tx:
            written = stage_image(
                tx,
                out,
                target,
                inputs=inputs,
                overwrite=overwrite,
                jpeg=None if photo is None or force_png else photo.jpeg,
                icc_profile=None if photo is None else photo.icc_profile,
            )
            item = entry(params or {"method": None})
            manifest_path = tx.stage(
                folder / MANIFEST_NAME,
                lambda f: f.write(with_output(manifest, written.name, item)),
                check=lambda final: refuse_target(final, inputs, True),
            )
            result = ExportResult(written, manifest_path)
            if review_folder is not None:
                masks_path = stage_image(
                    tx,
                    masks,
                    review_folder / f"{written.name}.people.png",
                    inputs=inputs,
                    overwrite=overwrite,
                )
                record = {
                    "format": RECORD_FORMAT,
                    "version": RECORD_VERSION,
                    "software": {"name": "napari-fuzzy-people", "version": __version__},
                    "input": None if photo is None else _input(photo),
                    "output": {
                        "folder": str(folder),
                        "file": written.name,
                        "sha256": sha256_file(tx.temporary(written)),
                    },
                    "masks": {
                        "file": masks_path.name,
                        "sha256": sha256_file(tx.temporary(masks_path)),
                    },
                    "image": {"height": int(image.shape[0]), "width": int(image.shape[1])},
                    "settings": settings.to_dict(),
                    "method": jsonable(params),
                    "models": [_model(m) for m in models],
                    "people": [
                        {**p.to_dict(), "anonymized": p.label in approved}
                        for p in review.people.values()
                    ],
                    "exported_unreviewed": unreviewed,
                    "leak_check": leaks.to_dict(),
                    "review": review.to_dict(),
                    "started": started,
                    "finished": _now(),
                }
                if seed is not None:
                    record["seed"] = jsonable(seed)
                data = (json.dumps(record, indent=2) + "\n").encode()
                record_path = tx.stage(
                    review_folder / f"{written.name}.record.json",
                    lambda f: f.write(data),
                    check=lambda final: refuse_target(final, inputs, overwrite),
                )
                result = ExportResult(written, manifest_path, masks_path, record_path)
            tx.commit()  # no yield after this: a Cancel now would come too late to be true
    return result


def _checked_labels(labels, image, target: Path) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != np.shape(image)[:2] or labels.dtype.kind not in "uib":
        raise ExportError(
            f"{target}: the people masks must be integers of the photo's size "
            f"{np.shape(image)[:2]}, got {labels.dtype} {labels.shape}"
        )
    low, high = (int(labels.min()), int(labels.max())) if labels.size else (0, 0)
    if low < 0 or high > MAX_LABEL:
        raise ExportError(
            f"{target}: people labels must be 0..{MAX_LABEL} (found {low}..{high}); "
            "relabel the people layer"
        )
    return labels.astype(np.uint16)


def _input(photo) -> dict:
    return {
        "path": str(Path(photo.path).resolve()),
        "sha256": photo.sha256,
        "format": photo.format,
        "orientation": photo.orientation,
    }


def _model(m: dict) -> dict:
    if not m.get("path"):
        return dict(m)
    return {**m, "path": str(m["path"]), "sha256": sha256_file(m["path"])}


def load_review(record_path) -> SavedReview:
    """Read a record and its masks back from the review folder, to continue or redo the review.

    Raises ``ValueError`` naming the file when it is not a record, or when the
    masks or the input photo it names are missing or changed.
    """
    record_path = Path(record_path)
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{record_path}: not a readable record ({err})") from err
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        raise ValueError(f"{record_path}: not a napari-fuzzy-people record")
    if record.get("version") != RECORD_VERSION:
        raise ValueError(
            f"{record_path}: a version {record.get('version')} record; this version of "
            f"napari-fuzzy-people reads version {RECORD_VERSION}"
        )
    masks_path = record_path.with_name(Path(record["masks"]["file"]).name)
    if not masks_path.is_file():
        raise ValueError(f"{record_path}: its masks file {masks_path.name} is missing")
    labels = read_labels(masks_path).astype(np.uint16)
    if record["input"] is None:
        raise ValueError(f"{record_path}: the export was not made from a file; nothing to reopen")
    input_path = Path(record["input"]["path"])
    if not input_path.is_file():
        raise ValueError(
            f"{record_path}: the original photo {input_path} is not there any more; "
            "put it back to continue the review"
        )
    if sha256_file(input_path) != record["input"]["sha256"]:
        raise ValueError(
            f"{record_path}: the original photo {input_path} changed since the export "
            "(SHA-256 differs); its masks may no longer fit"
        )
    review = ReviewModel.from_dict(record["review"])
    return SavedReview(record, input_path, labels, review, record.get("settings", {}))
