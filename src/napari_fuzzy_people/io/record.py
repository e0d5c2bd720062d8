"""Export with a record: the anonymized photo, its masks, and what was done.

Beside ``<name>_fuzzy.<ext>`` an export writes ``<name>_fuzzy.<ext>.people.png``
(the label image, 16 bit: the review can be reopened) and
``<name>_fuzzy.<ext>.record.json``: input and output paths and SHA-256, the
image size, every person (label, box, origin, scores, status, approval
time), the method and its parameters, the models and the SHA-256 of their
weights, the package version and the times. The random seed appears only
when the user fixed one. Each file is written atomically; the record is
written last, so a record means the export completed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

from .. import __version__
from ..core import ReviewModel, anonymize
from .export import ExportError, export_path, make_shareable, save_image

__all__ = [
    "RECORD_FORMAT",
    "ExportResult",
    "SavedReview",
    "export_anonymized",
    "load_review",
    "sha256_file",
]

RECORD_FORMAT = "napari-fuzzy-people/record"
RECORD_VERSION = 1


@dataclass(frozen=True)
class ExportResult:
    """The files one export wrote."""

    image: Path
    masks: Path
    record: Path


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


def _jsonable(value):
    """Parameters for JSON: per-person mappings get string keys, numpy becomes Python."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        make_shareable(fd)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def export_anonymized(
    image: np.ndarray,
    labels: np.ndarray,
    review: ReviewModel,
    params: dict,
    folder,
    *,
    name: str,
    source=None,
    source_sha256: str | None = None,
    settings: dict | None = None,
    models=(),
    seed=None,
    jpeg=None,
    icc_profile=None,
    force_png: bool = False,
    overwrite: bool = False,
    allow_unreviewed: bool = False,
) -> ExportResult:
    """Anonymize the approved people and write the photo, its masks and a record.

    Parameters
    ----------
    image, labels : ndarray
        The upright photo and its label image (one label per person).
    review : ReviewModel
        Who is approved; only approved people are anonymized.
    params : dict
        ``anonymize`` keyword arguments (``method`` and its options).
    folder : path-like
        Output folder; the input is never written.
    name : str
        Name for the output when there is no ``source`` file.
    source : path-like, optional
        The input file (its format is kept unless ``force_png``).
    source_sha256 : str, optional
        The input's SHA-256 if already known (else computed from ``source``).
    settings : dict, optional
        The panel's or CLI's settings, recorded so a review can be redone.
    models : iterable of dict
        ``{"role", "name", "path"}`` per model used; their weights' SHA-256
        are recorded.
    seed : int, optional
        A fixed seed (recorded); ``None`` means fresh entropy (not recorded).
    jpeg, icc_profile
        The input's JPEG settings and ICC profile, passed to the writer.
    allow_unreviewed : bool
        Export although people are still proposed or edited (they stay as
        they are in the photo). Refused by default.

    Returns
    -------
    ExportResult
    """
    started = _now()
    unreviewed = review.unreviewed_labels()
    if unreviewed and not allow_unreviewed:
        raise ExportError(
            f"{len(unreviewed)} people not reviewed (labels {unreviewed}); they would be "
            "exported unanonymized"
        )
    folder = Path(folder)
    if not folder.is_dir():
        raise ExportError(f"{folder}: not a folder")
    target = export_path(folder, name, source, force_png=force_png)
    masks_path = target.with_name(target.name + ".people.png")
    record_path = target.with_name(target.name + ".record.json")
    for path in (masks_path, record_path):
        if path.exists() and not overwrite:
            raise ExportError(
                f"{path}: already exists (choose another folder, or allow overwriting)"
            )

    approved = review.approved_labels()
    out = (
        anonymize(image, labels, labels=approved, rng=seed, **params)
        if approved
        else np.array(image, copy=True)
    )
    written = save_image(
        out,
        target,
        inputs=[source] if source else (),
        overwrite=overwrite,
        jpeg=jpeg if not force_png else None,
        icc_profile=icc_profile,
    )
    masks = np.asarray(labels)
    if masks.max(initial=0) > np.iinfo(np.uint16).max:
        raise ExportError(f"{masks_path}: more than 65535 labels do not fit a 16-bit PNG")
    save_image(masks.astype(np.uint16), masks_path, overwrite=overwrite)

    people = [
        {**person.to_dict(), "anonymized": person.label in approved}
        for person in review.people.values()
    ]
    record = {
        "format": RECORD_FORMAT,
        "version": RECORD_VERSION,
        "software": {"name": "napari-fuzzy-people", "version": __version__},
        "input": {
            "path": str(Path(source).resolve()) if source else None,
            "sha256": source_sha256 or (sha256_file(source) if source else None),
        },
        "output": {"path": str(written), "sha256": sha256_file(written)},
        "masks": {"path": str(masks_path), "sha256": sha256_file(masks_path)},
        "image": {"height": int(image.shape[0]), "width": int(image.shape[1])},
        "method": _jsonable(params),
        "settings": _jsonable(settings or {}),
        "models": [
            {**m, "path": str(m["path"]), "sha256": sha256_file(m["path"])}
            if m.get("path")
            else dict(m)
            for m in models
        ],
        "people": people,
        "review": review.to_dict(),
        "started": started,
        "finished": _now(),
    }
    if seed is not None:
        record["seed"] = _jsonable(seed)
    _write_atomic(record_path, (json.dumps(record, indent=2) + "\n").encode())
    return ExportResult(written, masks_path, record_path)


def load_review(record_path) -> SavedReview:
    """Read an export's record and masks back, to continue or redo the review.

    Raises ``ValueError`` naming the file when it is not a record, or when the
    masks or the input photo it names are missing or changed.
    """
    record_path = Path(record_path)
    try:
        record = json.loads(record_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{record_path}: not a readable record ({err})") from err
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        raise ValueError(f"{record_path}: not a napari-fuzzy-people record")
    masks_path = Path(record["masks"]["path"])
    if not masks_path.is_file():
        masks_path = record_path.with_name(masks_path.name)  # the folder was moved
    if not masks_path.is_file():
        raise ValueError(f"{record_path}: its masks file {masks_path.name} is missing")
    with Image.open(masks_path) as im:
        labels = np.asarray(im).astype(np.uint16)
    input_path = Path(record["input"]["path"] or "")
    if not input_path.is_file():
        raise ValueError(
            f"{record_path}: the original photo {input_path} is not there any more; "
            "put it back to continue the review"
        )
    if record["input"]["sha256"] and sha256_file(input_path) != record["input"]["sha256"]:
        raise ValueError(
            f"{record_path}: the original photo {input_path} changed since the export "
            "(SHA-256 differs); its masks may no longer fit"
        )
    review = ReviewModel.from_dict(record["review"])
    return SavedReview(record, input_path, labels, review, record.get("settings", {}))
