"""The export folder's one manifest: which files are anonymized, by which method and parameters.

An export folder is meant to be shared as it is, so the manifest says what a
recipient may know and nothing more: output file names, methods and
parameters. No source paths, no hashes of the originals, no masks, no times,
and no random seed (with a seed and the output, the picks of a scramble can
be replayed, and with ``source="any"`` some of the person's own pixels
located). Those go to the private review folder (see
:mod:`napari_fuzzy_people.io.record`).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .. import __version__
from .errors import ExportError

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "entry",
    "jsonable",
    "read_manifest",
    "with_output",
]

MANIFEST_NAME = "fuzzy-people-manifest.json"
MANIFEST_FORMAT = "napari-fuzzy-people/manifest"
MANIFEST_VERSION = 1
_MAX_SIZE = 64 << 20  # a manifest of a million photos is far below this


def read_manifest(folder) -> dict:
    """The manifest of an export folder (an empty one if there is none yet).

    Raises
    ------
    ExportError
        The name is taken by something that is not our manifest (a link, a
        folder, another JSON file, a damaged file): it is never overwritten.
    """
    path = Path(folder) / MANIFEST_NAME
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "software": _software(),
            "outputs": {},
        }
    if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_SIZE:
        raise ExportError(
            f"{path}: is not a Fuzzy People manifest (a link, a folder or too large); "
            "move it away or export to another folder"
        )
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as err:
        raise ExportError(f"{path}: the manifest cannot be read ({err}); move it away") from err
    if (
        not isinstance(data, dict)
        or data.get("format") != MANIFEST_FORMAT
        or not isinstance(data.get("outputs"), dict)
    ):
        raise ExportError(
            f"{path}: is not a Fuzzy People manifest; move it away or export to another folder"
        )
    if data.get("version", 0) > MANIFEST_VERSION:
        raise ExportError(f"{path}: written by a newer napari-fuzzy-people; update to export here")
    return data


def entry(method_params: Mapping) -> dict:
    """One output's manifest entry, from ``anonymize`` keyword arguments."""
    params = dict(method_params)
    method = params.pop("method", None)
    return {"method": method, "parameters": jsonable(params)}


def with_output(manifest: dict, name: str, item: dict | None) -> bytes:
    """The manifest's bytes with ``name`` listed as ``item`` (or no longer listed, if None)."""
    outputs = dict(manifest["outputs"])
    if item is None:
        outputs.pop(name, None)
    else:
        outputs[name] = item
    updated = {**manifest, "software": _software(), "outputs": dict(sorted(outputs.items()))}
    return (json.dumps(updated, indent=2) + "\n").encode()


def _software() -> dict:
    return {"name": "napari-fuzzy-people", "version": __version__}


def jsonable(value):
    """Per-person mappings get string keys; numpy scalars become Python ones."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value
