"""Reader: open an export's record to continue (or redo) its review.

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
from ._layers import REVIEW_KEY


def get_reader(path):
    """npe2 reader hook: records only."""
    if isinstance(path, list) or not str(path).endswith(".record.json"):
        return None
    return read_record


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
