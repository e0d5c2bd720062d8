"""The Fuzzy People dock widget.

A view over the core: it gathers settings, runs the anonymization in a thread
worker (never on the GUI thread) and shows the result as a new layer. The
original image layer is never modified.
"""

from __future__ import annotations

import napari
import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    Label,
    PushButton,
    SpinBox,
    create_widget,
)
from napari.layers import Image, Labels
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QSizePolicy

from ..core import METHODS, PanelDefaults, anonymize, method_params
from ..core.defaults import STRENGTH_PARAM

_STRENGTH_LABEL = {"radius": "Radius (px)", "block": "Block (px)", "sigma": "Sigma (px)"}


def check_image_layer(layer: Image) -> np.ndarray:
    """The layer's pixels as a 2-D (M, N) or RGB(A) (M, N, C) array."""
    if layer.multiscale:
        raise ValueError(f"{layer.name!r} is multiscale; open a single-resolution image")
    data = np.asarray(layer.data)
    if data.ndim == 2 or (layer.rgb and data.ndim == 3):
        return data
    raise ValueError(
        f"{layer.name!r} has shape {data.shape}; Fuzzy People works on 2-D photos "
        "(grayscale or RGB/RGBA), not stacks"
    )


class FuzzyPeopleWidget(Container):
    """Anonymize the people of a Labels layer in an image layer."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=False)
        # npe2 injects the viewer because of the annotation above.
        self._viewer = viewer
        self._worker = None
        d = PanelDefaults()
        self.image_layer = create_widget(annotation=Image, label="Image")
        self.people_layer = create_widget(annotation=Labels, label="People")
        self.method = ComboBox(label="Method", choices=list(METHODS), value=d.method)
        self.background_only = CheckBox(
            text="Pick from background only", value=d.source == "background"
        )
        self.relative = CheckBox(text="Scale with each person's size", value=True)
        self.strength = SpinBox(label="Radius (px)", min=1, max=1024, value=d.strength_minimum)
        self.margin = SpinBox(label="Margin (px)", min=0, max=256, value=d.margin_minimum)
        self.apply_button = PushButton(text="Apply")
        self.status = Label(value="")
        # magicgui labels are fixed-width; let the status wrap across the panel.
        self.status.native.setWordWrap(True)
        self.status.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
        self.status.native.setMinimumHeight(3 * self.status.native.fontMetrics().lineSpacing())
        form = Container(
            widgets=[
                self.image_layer,
                self.people_layer,
                self.method,
                self.background_only,
                self.relative,
                self.strength,
                self.margin,
            ],
            labels=True,
        )
        self.extend([form, self.apply_button, self.status])
        self.relative.tooltip = (
            "Strength and margin become floors; tall people get "
            f"{d.strength_fraction:.0%} and {d.margin_fraction:.2%} of their height"
        )
        self.method.changed.connect(self._on_method)
        self.apply_button.changed.connect(self.apply)

    def _on_method(self, method: str) -> None:
        key = STRENGTH_PARAM[method]
        self.strength.visible = key is not None
        if key is not None:
            self.strength.label = _STRENGTH_LABEL[key]
        self.background_only.visible = method == "scramble"

    def parameters(self, labels: np.ndarray) -> dict:
        """Keyword arguments for ``core.anonymize`` from the current settings."""
        return method_params(
            labels,
            method=self.method.value,
            strength=self.strength.value,
            margin=self.margin.value,
            source="background" if self.background_only.value else "any",
            relative=self.relative.value,
        )

    def apply(self) -> None:
        """Anonymize every person of the people layer, in a worker thread."""
        image_layer, people = self.image_layer.value, self.people_layer.value
        if image_layer is None or people is None:
            self._say("Choose an image layer and a people (Labels) layer.", error=True)
            return
        try:
            image = check_image_layer(image_layer)
            labels = np.asarray(people.data)
            params = self.parameters(labels)
        except ValueError as err:
            self._say(str(err), error=True)
            return
        count = int(np.count_nonzero(np.unique(labels)))
        self.apply_button.enabled = False
        self.status.value = f"Anonymizing {_people(count)}…"
        # Handlers given at creation: an "errored" handler stops the worker from
        # re-raising into Qt's event loop; the panel reports the error instead.
        self._worker = create_worker(
            anonymize,
            image,
            labels,
            **params,
            _connect={
                "returned": lambda out: self._show_result(image_layer, out, count),
                "errored": lambda err: self._say(str(err), error=True),
                "finished": lambda: setattr(self.apply_button, "enabled", True),
            },
        )

    def _show_result(self, source: Image, out: np.ndarray, count: int) -> None:
        name = f"{source.name} (fuzzy)"
        viewer = self._viewer
        if name in viewer.layers:
            viewer.layers[name].data = out
        else:
            viewer.add_image(
                out,
                name=name,
                rgb=source.rgb,
                scale=source.scale,
                translate=source.translate,
                contrast_limits=None if source.rgb else source.contrast_limits,
            )
        self._say(f"Anonymized {_people(count)} into layer {name!r}.")

    def _say(self, message: str, error: bool = False) -> None:
        self.status.value = message
        (show_error if error else show_info)(message)


def _people(count: int) -> str:
    return "1 person" if count == 1 else f"{count} people"
