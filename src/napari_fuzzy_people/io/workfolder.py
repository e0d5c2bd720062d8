"""The work folder: a whole folder's review, saved as it happens.

Layout (format ``napari-fuzzy-people/work``, version 1; see ``docs/workfolder.md``)::

    WORK/
      fuzzy-people-work.json      the source folder, settings, a private salt
      photos/<id>/state.json      one photo: its file's hash, proposals, review,
                                  history, sign-off, failure, export
      photos/<id>/people.png      its people labels now (16 bit)
      photos/<id>/proposals.png   the labels as proposed
      cache/embeddings/*.npz      Segment Anything image embeddings
      records/<export folder>-<id>/  each export's masks and record (the review folder)

Every change to a photo is one transaction (its ``state.json`` and label
images appear together, whole, or not at all) under that photo's lock, so a
kill at any moment loses at most the change in flight and never corrupts
the folder; different photos can be written in parallel.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..core import AnonymizeSettings, ReviewModel, Status
from ..core.people import Proposals, ProposedPerson
from .encode import WRITERS
from .errors import ExportError
from .labels import read_labels
from .manifest import MANIFEST_NAME
from .transaction import Transaction, locked, recover

__all__ = ["WORK_FORMAT", "EmbeddingStore", "PhotoState", "PhotoStatus", "WorkFolder"]

WORK_FORMAT = "napari-fuzzy-people/work"
WORK_VERSION = 1
_PHOTO_FORMAT = "napari-fuzzy-people/work-photo"
_INDEX = "fuzzy-people-work.json"
_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff"}


class PhotoStatus(str, enum.Enum):
    """Where a photo of the folder stands; ``done`` always means a person looked."""

    NEW = "new"  # nothing computed yet
    PROPOSED = "proposed"  # people proposed, nobody reviewed
    IN_REVIEW = "in review"  # some people decided, some not
    DONE = "done"  # everybody approved or rejected
    NO_PEOPLE = "no people"  # a person signed off: nobody to anonymize
    FAILED = "failed"  # proposing failed (the error is kept)
    EXPORTED = "exported"  # done, and exported as it stands


#: Statuses that may be exported without --accept-unreviewed.
FINISHED = (PhotoStatus.DONE, PhotoStatus.NO_PEOPLE, PhotoStatus.EXPORTED)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def photo_id(relative: str) -> str:
    """A folder name for a photo: readable, and unique for its path in the source.

    >>> photo_id("2024/beach/IMG 001.JPG")
    'IMG_001.JPG-d7a5b8f7d6'
    """
    digest = hashlib.sha1(relative.encode()).hexdigest()[:10]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(relative).name)[:60]
    return f"{name}-{digest}"


@dataclass
class PhotoState:
    """One photo's saved state (``state.json`` as an object, without its label images)."""

    id: str
    relative: str
    data: dict

    @property
    def status(self) -> PhotoStatus:
        d = self.data
        if d.get("failed") and not d.get("proposed"):
            return PhotoStatus.FAILED
        if d.get("exported"):
            return PhotoStatus.EXPORTED
        if d.get("no_people"):
            return PhotoStatus.NO_PEOPLE
        review = d.get("review") or {}
        statuses = [p["status"] for p in review.get("people", [])]
        if statuses and all(s in (Status.APPROVED, Status.REJECTED) for s in statuses):
            return PhotoStatus.DONE
        if any(s != Status.PROPOSED for s in statuses):
            return PhotoStatus.IN_REVIEW
        if d.get("proposed") or statuses:
            return PhotoStatus.PROPOSED
        return PhotoStatus.NEW

    @property
    def people(self) -> int:
        return len((self.data.get("review") or {}).get("people", []))


class WorkFolder:
    """A review of every photo in a source folder, kept in ``path``.

    Use :meth:`create` (or :meth:`open_or_create`) and :meth:`open`. Every
    method that changes a photo saves it at once.
    """

    def __init__(self, path, index: dict):
        self.path = Path(path).resolve()
        self.index = index
        self.source = Path(index["source"])

    # -- the folder --------------------------------------------------------

    @classmethod
    def create(cls, path, source, settings: AnonymizeSettings | None = None) -> WorkFolder:
        """Start a review of the photos in ``source`` (a new or empty folder ``path``)."""
        path, source = Path(path).resolve(), Path(source).resolve()
        if not source.is_dir():
            raise ExportError(f"{source}: the photo folder does not exist")
        if path.exists() and any(path.iterdir()):
            raise ExportError(f"{path}: not empty and not a work folder; choose an empty folder")
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        index = {
            "format": WORK_FORMAT,
            "version": WORK_VERSION,
            "source": str(source),
            "created": _now(),
            "settings": (settings or AnonymizeSettings()).to_dict(),
            # Per-photo seeds come from the photo's content and this salt: exports are
            # reproducible here (on one machine or many) and unguessable elsewhere.
            "salt": secrets.token_hex(16),
        }
        with Transaction() as tx:
            tx.stage(path / _INDEX, lambda f: f.write(_json(index)))
            tx.commit()
        return cls(path, index)

    @classmethod
    def open(cls, path) -> WorkFolder:
        """Open a work folder, or raise :class:`ExportError` naming what is wrong."""
        path = Path(path).resolve()
        try:
            index = json.loads((path / _INDEX).read_text())
        except FileNotFoundError:
            raise ExportError(f"{path}: not a work folder (no {_INDEX})") from None
        except (OSError, ValueError) as err:
            raise ExportError(f"{path / _INDEX}: unreadable ({err})") from err
        if index.get("format") != WORK_FORMAT:
            raise ExportError(f"{path / _INDEX}: not a Fuzzy People work folder")
        if index.get("version", 0) > WORK_VERSION:
            raise ExportError(f"{path}: made by a newer napari-fuzzy-people; update to open it")
        return cls(path, index)

    @classmethod
    def open_or_create(cls, path, source=None) -> WorkFolder:
        """Open ``path``; create it for ``source`` if it is not a work folder yet."""
        if (Path(path) / _INDEX).is_file():
            work = cls.open(path)
            if source is not None and Path(source).resolve() != work.source:
                raise ExportError(
                    f"{work.path}: reviews {work.source}, not {Path(source).resolve()}"
                )
            return work
        if source is None:
            raise ExportError(f"{Path(path).resolve()}: not a work folder (no {_INDEX})")
        return cls.create(path, source)

    @property
    def settings(self) -> AnonymizeSettings:
        return AnonymizeSettings.from_dict(self.index.get("settings", {}))

    def seed(self, photo_sha256: str) -> int:
        """The seed for a photo's scramble: from its content and this folder's salt."""
        digest = hashlib.sha256((self.index["salt"] + photo_sha256).encode()).digest()
        return int.from_bytes(digest[:8], "big")

    @property
    def records(self) -> Path:
        """The review folder that exports send masks and records to."""
        return self.path / "records"

    def records_for(self, output) -> Path:
        """The review folder of exports into ``output``: one per export folder."""
        output = Path(output).resolve()
        digest = hashlib.sha1(str(output).encode()).hexdigest()[:8]
        return self.records / f"{re.sub(r'[^A-Za-z0-9._-]', '_', output.name)}-{digest}"

    @property
    def embeddings(self) -> Path:
        return self.path / "cache" / "embeddings"

    def tidy(self) -> int:
        """Finish or undo what a killed process left in any photo's folder; files touched.

        A photo whose folder another process is writing right now is left alone.
        """
        touched = 0
        photos = self.path / "photos"
        for folder in sorted(photos.iterdir()) if photos.is_dir() else ():
            try:
                with locked(folder, wait=0):
                    touched += recover(folder)
            except ExportError:
                continue  # in use: its own writer finishes it
        if self.embeddings.is_dir():
            with contextlib.suppress(ExportError), locked(self.embeddings, wait=0):
                touched += recover(self.embeddings)
        return touched

    # -- photos ------------------------------------------------------------

    def scan(self) -> list[str]:
        """The photos of the source folder, as paths relative to it, sorted.

        JPEG, PNG and TIFF by name (their content is checked when read);
        hidden folders, this work folder and export folders (those holding
        a Fuzzy People manifest) are skipped.
        """
        found = []
        for root, dirs, files in os.walk(self.source):
            here = Path(root)
            dirs[:] = sorted(
                d
                for d in dirs
                if not d.startswith(".")
                and (here / d).resolve() != self.path
                and not (here / d / MANIFEST_NAME).exists()
            )
            for name in sorted(files):
                if Path(name).suffix.lower() in _SUFFIXES and not name.startswith("."):
                    found.append((here / name).relative_to(self.source).as_posix())
        return sorted(found)

    def states(self) -> list[PhotoState]:
        """Every photo of the source folder with its state (``new`` if none is saved)."""
        return [self.state(relative) for relative in self.scan()]

    def counts(self) -> dict[PhotoStatus, int]:
        counts = dict.fromkeys(PhotoStatus, 0)
        for state in self.states():
            counts[state.status] += 1
        return counts

    def _dir(self, relative: str) -> Path:
        return self.path / "photos" / photo_id(relative)

    def state(self, relative: str) -> PhotoState:
        """The saved state of one photo (an empty one if nothing is saved yet)."""
        folder = self._dir(relative)
        try:
            data = json.loads((folder / "state.json").read_text())
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError) as err:
            raise ExportError(f"{folder / 'state.json'}: unreadable ({err})") from err
        if data and data.get("format") != _PHOTO_FORMAT:
            raise ExportError(f"{folder / 'state.json'}: not a Fuzzy People photo state")
        return PhotoState(photo_id(relative), relative, data)

    def labels(self, relative: str, which: str = "people") -> np.ndarray | None:
        """A photo's saved people labels (or ``which="proposals"``), None if none."""
        path = self._dir(relative) / f"{which}.png"
        return read_labels(path) if path.is_file() else None

    def is_current(self, relative: str, sha256: str) -> bool:
        """Whether the saved state belongs to the photo file as it is now."""
        photo = self.state(relative).data.get("photo") or {}
        return photo.get("sha256") == sha256

    # -- changes (each one saved at once) ------------------------------------

    def save_proposals(
        self, relative, photo: dict, proposals: Proposals, models: Iterable[dict] = ()
    ) -> PhotoState:
        """Proposed people for a photo: a fresh review (any earlier one is replaced)."""
        review = ReviewModel()
        review.add_proposals(proposals)
        data = {
            "photo": photo,
            "proposed": {
                "time": _now(),
                "models": list(models),
                "people": [_person(p) for p in proposals.people],
            },
            "review": review.to_dict(),
        }
        return self._write(relative, data, "proposed", people=proposals.labels, proposals=True)

    def save_failure(self, relative, photo: dict | None, error: str) -> PhotoState:
        """Proposing failed for this photo; the error is kept for the person to read."""
        return self._write(
            relative, {"photo": photo, "failed": {"time": _now(), "error": error}}, "failed"
        )

    def save_review(
        self,
        relative,
        review: ReviewModel,
        labels: np.ndarray,
        event: str = "edited",
        photo: dict | None = None,
    ) -> PhotoState:
        """The review as it stands, with its labels (every edit, approval, rejection).

        ``photo`` describes the file reviewed (its hash), when it is not saved yet.
        """
        changes = {"review": review.to_dict(), "exported": None}
        if review.people:  # somebody after all: the sign-off no longer holds
            changes["no_people"] = None
        if photo is not None:
            changes["photo"] = photo
        return self._write(relative, changes, event, people=labels)

    def sign_off_no_people(self, relative) -> PhotoState:
        """A person looked: nobody in this photo to anonymize."""
        return self._write(
            relative, {"no_people": {"time": _now()}, "exported": None}, "no people"
        )

    def save_leak_dismissals(self, relative, dismissals: Iterable[dict]) -> PhotoState:
        """The reviewer's dismissed leak-check findings, each with its reason.

        An export of this photo checks afresh and lets these pass (and records them).
        """
        return self._write(relative, {"leak_dismissals": list(dismissals)}, "leak dismissals")

    def leak_dismissals(self, relative) -> list[dict]:
        """What :meth:`save_leak_dismissals` saved (empty if nothing)."""
        return list(self.state(relative).data.get("leak_dismissals") or [])

    def save_export(self, relative, exported: dict) -> PhotoState:
        """The photo was exported as it stands now."""
        return self._write(relative, {"exported": {"time": _now(), **exported}}, "exported")

    def _write(self, relative, changes: dict, event: str, *, people=None, proposals=False):
        folder = self._dir(relative)
        folder.mkdir(parents=True, exist_ok=True)
        with locked(folder):
            recover(folder)
            state = self.state(relative)
            data = {
                "format": _PHOTO_FORMAT,
                "version": WORK_VERSION,
                **{k: v for k, v in state.data.items() if k not in ("format", "version")},
                "relative": relative,
            }
            if "proposed" in changes:  # a fresh proposal starts the photo over
                for key in ("review", "no_people", "failed", "exported", "leak_dismissals"):
                    data.pop(key, None)
            data.update(changes)
            data["updated"] = _now()
            history = data.setdefault("history", [])
            history.append({"time": data["updated"], "event": event})
            with Transaction() as tx:
                for name, labels in (
                    ("people", people),
                    ("proposals", people if proposals else None),
                ):
                    if labels is not None:
                        pixels = np.ascontiguousarray(labels, dtype=np.uint16)
                        tx.stage(
                            folder / f"{name}.png",
                            lambda f, p=pixels: WRITERS["PNG"](f, p, None, {}),
                        )
                tx.stage(folder / "state.json", lambda f: f.write(_json(data)))
                tx.commit()
        return PhotoState(photo_id(relative), relative, data)


class EmbeddingStore:
    """Image embeddings on disk, one ``.npz`` per key (numpy only: no torch here).

    The key names the photo's pixels, the model and its weights' digest, so
    an entry is used only for what made it: a changed photo, model or
    checkpoint has another key, and its embedding is computed afresh.
    """

    def __init__(self, folder):
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        return self.folder / f"{hashlib.sha256(key.encode()).hexdigest()}.npz"

    def get(self, key: str):
        """``(features, original_size, input_size)`` or None (missing or unreadable)."""
        try:
            with np.load(self._path(key)) as data:
                if str(data["key"]) != key:
                    return None
                return data["features"], tuple(data["original"]), tuple(data["input"])
        except (OSError, ValueError, KeyError):
            return None

    def put(self, key: str, features, original_size, input_size) -> None:
        """Keep an embedding (written whole, or not at all)."""
        self.folder.mkdir(parents=True, exist_ok=True)

        def write(f):
            np.savez(
                f, key=np.array(key), features=np.asarray(features),
                original=np.asarray(original_size), input=np.asarray(input_size),
            )  # fmt: skip

        with Transaction() as tx:
            tx.stage(self._path(key), write, check=None)
            tx.commit()


def _person(p: ProposedPerson) -> dict:
    return {
        "label": int(p.label),
        "box": [float(v) for v in p.box],
        "score": float(p.score),
        "mask_score": float(p.mask_score),
        "area": int(p.area),
        "origin": p.origin,
    }


def _json(data: dict) -> bytes:
    return (json.dumps(data, indent=2) + "\n").encode()
