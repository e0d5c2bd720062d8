"""Layers the controller makes and reads: people, preview and result, prompts, boxes,
leak-check findings.

Every function here runs on the GUI thread and is cheap: the pixels they
show were computed in a worker. The controller remembers the layers it made
by identity (never by name).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from napari.layers import Image, Labels, Points, Shapes

__all__ = [
    "REVIEW_KEY",
    "add_box_layer",
    "add_points_layer",
    "cell_placement",
    "check_image_layer",
    "last_box",
    "layer_photo_path",
    "point_prompts",
    "show_boxes",
    "show_findings",
    "show_image",
]

#: Key of our entries in a layer's metadata (a reopened review, the photo file).
REVIEW_KEY = "napari_fuzzy_people"


def check_image_layer(layer: Image) -> np.ndarray:
    """The layer's pixels as a 2-D (M, N) or RGB(A) (M, N, C) array, or ValueError."""
    if layer.multiscale:
        raise ValueError(f"{layer.name!r} is multiscale; open a single-resolution image")
    data = np.asarray(layer.data)
    if data.ndim == 2 or (layer.rgb and data.ndim == 3):
        return data
    raise ValueError(
        f"{layer.name!r} has shape {data.shape}; Fuzzy People works on 2-D photos "
        "(grayscale or RGB/RGBA), not stacks"
    )


def layer_photo_path(layer) -> Path | None:
    """The photo file a layer shows, if any.

    A reopened review's layer comes from its record, so the reader names the
    photo in the layer's metadata; any other layer's source is the photo.
    """
    photo = (getattr(layer, "metadata", None) or {}).get(REVIEW_KEY, {}).get("photo")
    if photo:
        return Path(photo)
    path = getattr(getattr(layer, "source", None), "path", None)
    return Path(path) if path else None


def show_image(
    viewer, layer: Image | None, source: Image, levels, name: str, *, below=None, factor=1
):
    """Show ``levels`` (one image, or a pyramid) in ``layer``, made now if None; returns it.

    A pyramid lets napari draw only the level that fits the screen, so a large
    result costs the GUI thread little; the layer is made once and reused.
    ``factor``: each pixel of ``levels`` stands for ``factor`` x ``factor`` pixels
    of ``source`` (a preview), and is drawn over them.
    """
    active = viewer.layers.selection.active
    multiscale = len(levels) > 1
    data = levels if multiscale else levels[0]
    scale, translate = cell_placement(source, factor)
    if layer is not None and layer in viewer.layers and layer.multiscale == multiscale:
        layer.scale, layer.translate = scale, translate
        layer.data = data
    else:
        if layer is not None and layer in viewer.layers:
            viewer.layers.remove(layer)
        layer = viewer.add_image(
            data,
            name=name,
            rgb=source.rgb,
            multiscale=multiscale,
            scale=scale,
            translate=translate,
            contrast_limits=None if source.rgb else source.contrast_limits,
        )
        if below is not None and below in viewer.layers:
            # Under the people layer: the masks stay visible over the preview.
            viewer.layers.move(viewer.layers.index(layer), viewer.layers.index(below))
    if active is not None and active in viewer.layers:
        viewer.layers.selection.active = active  # keep the reviewer's tools (and A/R/N)
    return layer


def cell_placement(source: Image, factor: int):
    """Scale and translate that lay an image shrunk ``factor`` times over ``source``.

    A shrunk pixel is the mean of a ``factor`` x ``factor`` cell, so it is that
    many times larger and centred on the cell: ``(factor - 1) / 2`` source pixels
    down and right of the cell's first pixel.
    """
    scale = np.asarray(source.scale, float)
    return scale * factor, np.asarray(source.translate, float) + scale * (factor - 1) / 2


def show_boxes(viewer, layer: Shapes | None, image_layer: Image, boxes) -> Shapes | None:
    """The detector's boxes in a Shapes layer (``layer`` reused); None if there are none."""
    if layer is not None and layer in viewer.layers:
        viewer.layers.remove(layer)
    if not len(boxes):
        return None
    rects = [np.array([[y0, x0], [y1, x1]]) for x0, y0, x1, y1 in boxes]
    return viewer.add_shapes(
        rects,
        shape_type="rectangle",
        name=f"{image_layer.name} boxes",
        edge_color="yellow",
        face_color="transparent",
        edge_width=2,
        scale=image_layer.scale,
        translate=image_layer.translate,
    )


#: Edge colours of leak-check findings: a missed person, a person still detectable,
#: and a finding the reviewer dismissed (kept in view, quieter).
FINDING_COLOURS = {"in nobody's mask": "#ff2a2a", "still detectable": "#ff9a1f"}
DISMISSED_COLOUR = "#9a9a9a"


def show_findings(viewer, layer: Shapes | None, image_layer: Image, findings, dismissed):
    """The leak check's findings as rectangles over the photo, each named by its kind and
    problem (``layer`` replaced); None if there are none.

    ``dismissed``: one bool per finding. The reviewer's active layer stays active
    (the keys A, R, N act on it).
    """
    active = viewer.layers.selection.active
    if layer is not None and layer in viewer.layers:
        viewer.layers.remove(layer)
    if not findings:
        return None
    rects, colours, text = [], [], []
    for finding, gone in zip(findings, dismissed, strict=True):
        x0, y0, x1, y1 = finding.box
        rects.append(np.array([[y0, x0], [y1, x1]]))
        words = f"{finding.kind} {finding.problem.value}"
        if finding.label is not None:
            words += f" (person {finding.label})"
        text.append(f"{words}, dismissed" if gone else words)
        colours.append(DISMISSED_COLOUR if gone else FINDING_COLOURS[finding.problem.value])
    layer = viewer.add_shapes(
        rects,
        shape_type="rectangle",
        name=f"{image_layer.name} leak check",
        edge_color=colours,
        face_color="transparent",
        edge_width=3,
        features={"finding": text},
        text={"string": "{finding}", "anchor": "upper_left", "color": "white", "size": 9},
        scale=image_layer.scale,
        translate=image_layer.translate,
    )
    if active is not None and active in viewer.layers:
        viewer.layers.selection.active = active
    return layer


def add_points_layer(viewer, image_layer: Image) -> Points:
    layer = viewer.add_points(
        np.empty((0, 2)),
        name="person prompts",
        features={"person": np.array([], bool)},
        face_color="person",
        face_color_cycle=["#ff4040", "#40ff40"],
        border_color="white",
        size=12,
        scale=image_layer.scale,
        translate=image_layer.translate,
    )
    layer.feature_defaults["person"] = True
    return layer


def add_box_layer(viewer, image_layer: Image) -> Shapes:
    return viewer.add_shapes(
        name="person box",
        edge_color="cyan",
        face_color="transparent",
        edge_width=2,
        scale=image_layer.scale,
        translate=image_layer.translate,
    )


def point_prompts(layer: Points | None, image_layer: Image):
    """Prompt points as (x, y) image pixels, and 1 (person) / 0 (not) for each."""
    if layer is None or not len(layer.data):
        return np.empty((0, 2)), np.empty(0, int)
    rows_cols = np.array([image_layer.world_to_data(layer.data_to_world(p)) for p in layer.data])
    positive = np.asarray(layer.features["person"], bool).astype(int)
    return rows_cols[:, -2:][:, ::-1], positive


def last_box(layer: Shapes | None, image_layer: Image):
    """The last box drawn, as x0, y0, x1, y1 in image pixels, or None."""
    if layer is None or not layer.data:
        return None
    corners = np.array(
        [image_layer.world_to_data(layer.data_to_world(v)) for v in layer.data[-1]]
    )[:, -2:]
    (y0, x0), (y1, x1) = corners.min(axis=0), corners.max(axis=0)
    return np.array([x0, y0, x1, y1], float)


def centre_on(viewer, layer: Labels, label: int) -> None:
    """Centre the view on a person, zoomed so a small one fills about a third."""
    data = np.asarray(layer.data)
    rows = np.flatnonzero((data == label).any(axis=1))
    if rows.size == 0:
        return
    cols = np.flatnonzero((data[rows[0] : rows[-1] + 1] == label).any(axis=0))
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    centre = ((rows[0] + rows[-1]) / 2, (cols[0] + cols[-1]) / 2)
    scene = getattr(viewer, "scene", None)  # napari >= 0.9 moved the camera there
    camera = scene.camera if scene is not None else viewer.camera
    viewer.reset_view()
    fit = camera.zoom
    factor = min(data.shape[0] / (3 * height), data.shape[1] / (3 * width), 8.0)
    camera.center = layer.data_to_world(centre)
    camera.zoom = fit * max(factor, 1.0)
