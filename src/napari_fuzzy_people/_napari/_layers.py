"""Layers the controller makes and reads: people, preview and result, prompts, boxes.

Every function here runs on the GUI thread and is cheap: the pixels they
show were computed in a worker. The controller remembers the layers it made
by identity (never by name).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from napari.layers import Image, Labels, Points, Shapes
from qtpy.QtCore import QTimer

__all__ = [
    "REVIEW_KEY",
    "add_box_layer",
    "add_points_layer",
    "check_image_layer",
    "last_box",
    "layer_photo_path",
    "point_prompts",
    "show_boxes",
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


def show_image(viewer, layer: Image | None, source: Image, data, name: str, *, below=None):
    """Put ``data`` in ``layer`` (made now if None) over ``source``'s place; returns the layer.

    Setting the data of a layer that exists costs the GUI thread far less than
    making a new one, so the preview and the result each keep theirs.
    """
    active = viewer.layers.selection.active
    if layer is not None and layer in viewer.layers:
        layer.data = data
    else:
        # Making a layer and drawing a large image are each a long pause for the GUI
        # thread: a small copy goes in first, the full image in the next turn of the
        # event loop.
        step = max(1, int(np.ceil(np.sqrt(data.shape[0] * data.shape[1] / _FIRST_PIXELS))))
        layer = viewer.add_image(
            data[::step, ::step],
            name=name,
            rgb=source.rgb,
            scale=np.asarray(source.scale) * step,
            translate=source.translate,
            contrast_limits=None if source.rgb else source.contrast_limits,
        )
        if step > 1:
            QTimer.singleShot(0, lambda: _fill(layer, data, source.scale))
        if below is not None and below in viewer.layers:
            # Under the people layer: the masks stay visible over the preview.
            viewer.layers.move(viewer.layers.index(layer), viewer.layers.index(below))
    if active is not None and active in viewer.layers:
        viewer.layers.selection.active = active  # keep the reviewer's tools (and A/R/N)
    return layer


_FIRST_PIXELS = 1 << 20


def _fill(layer: Image, data, scale) -> None:
    layer.data = data
    layer.scale = scale


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
