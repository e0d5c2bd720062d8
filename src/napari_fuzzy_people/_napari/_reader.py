"""Reader: open an export's record, or a work folder, to continue its review.

A work folder (or its ``fuzzy-people-work.json``) opens its first photo still
to review; the Fuzzy People panel then shows the folder's whole queue.


Opening ``<name>_fuzzy.<ext>.record.json`` from the review folder brings back
the original photo (upright, as it was reviewed) and its people masks. The
saved review rides along in the Labels layer's metadata only as transport:
the panel turns it back into its review model when it adopts the layer. The
Image layer names the original photo in its metadata, since its ``source``
is the record: a new export reads the photo, not the record.
"""

from __future__ import annotations

from pathlib import Path

from ..io.read import read_photo
from ..io.record import load_review
from ..io.workfolder import FINISHED, WorkFolder
from ._layers import REVIEW_KEY

WORK_INDEX = "fuzzy-people-work.json"


def get_reader(path):
    """npe2 reader hook: export records, and work folders (or their index file)."""
    if isinstance(path, list):
        return None
    path = Path(path)
    if path.name.endswith(".record.json"):
        return read_record
    if path.name == WORK_INDEX or (path / WORK_INDEX).is_file():
        return read_work
    return None


def read_work(path):
    """A work folder: its first photo still to review; the panel opens the whole queue."""
    path = Path(path)
    work = WorkFolder.open(path.parent if path.name == WORK_INDEX else path)
    states = work.states()
    if not states:
        raise ValueError(f"{work.path}: its photo folder {work.source} holds no photos")
    state = next((s for s in states if s.status not in FINISHED), states[0])
    photo = read_photo(work.source / state.relative)
    meta = {
        REVIEW_KEY: {"work": str(work.path), "relative": state.relative, "photo": str(photo.path)}
    }
    name = Path(state.relative).name
    return [
        (photo.pixels, {"name": name, "rgb": photo.pixels.ndim == 3, "metadata": meta}, "image")
    ]


def read_record(path):
    saved = load_review(path)
    photo = read_photo(saved.input_path)
    name = Path(saved.input_path).stem
    rgb = photo.pixels.ndim == 3
    return [
        (
            photo.pixels,
            {"name": name, "rgb": rgb, "metadata": {REVIEW_KEY: {"photo": str(photo.path)}}},
            "image",
        ),
        (
            saved.labels,
            {
                "name": f"{name} people",
                "opacity": 0.5,
                "metadata": {
                    REVIEW_KEY: {
                        "review": saved.record["review"],
                        "settings": saved.settings,
                        "record": str(path),
                    }
                },
            },
            "labels",
        ),
    ]
