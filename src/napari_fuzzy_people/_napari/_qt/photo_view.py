"""The photo being reviewed, masks made elsewhere, and the upright check."""

from __future__ import annotations

from napari.layers import Labels
from qtpy.QtWidgets import QFormLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ._common import combo, row

__all__ = ["PhotoView"]

_NO_PHOTO = "(choose a photo)"


class PhotoView(QWidget):
    """Pick the photo and, optionally, a Labels layer to use as its people."""

    def __init__(self, controller):
        super().__init__()
        self.controller = controller
        self.photo_combo = combo()
        self.masks_combo = combo()
        self.adopt_button = QPushButton("Use these masks as people")
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.upright_button = QPushButton("Show upright")
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Photo", self.photo_combo)
        form.addRow("Masks", self.masks_combo)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.adopt_button)
        layout.addWidget(self.problem)
        layout.addWidget(row(self.upright_button))

        self.photo_combo.activated.connect(self._photo_chosen)
        self.adopt_button.clicked.connect(self._adopt)
        self.upright_button.clicked.connect(controller.show_upright)
        controller.photo_changed.connect(self.render)
        controller.people_changed.connect(self.render)
        self.render()

    def render(self) -> None:
        c = self.controller
        self._photos = [None, *c.photo_choices()]
        self.photo_combo.blockSignals(True)
        self.photo_combo.clear()
        self.photo_combo.addItems([_NO_PHOTO] + [layer.name for layer in self._photos[1:]])
        self.photo_combo.setCurrentIndex(
            next((i for i, p in enumerate(self._photos) if p is c.photo_layer), 0)
        )
        self.photo_combo.blockSignals(False)
        self._masks = [layer for layer in c.viewer.layers if isinstance(layer, Labels)]
        current = self.masks_combo.currentText()
        self.masks_combo.blockSignals(True)
        self.masks_combo.clear()
        self.masks_combo.addItems([layer.name for layer in self._masks])
        if current in [layer.name for layer in self._masks]:
            self.masks_combo.setCurrentText(current)
        self.masks_combo.blockSignals(False)
        self.adopt_button.setEnabled(bool(self._masks) and c.photo_layer is not None)
        self.problem.setText(c.photo_problem or "")
        self.problem.setVisible(bool(c.photo_problem))
        self.upright_button.setVisible(bool(c.photo_problem))

    def _photo_chosen(self, index: int) -> None:
        self.controller.set_photo_layer(self._photos[index] if index < len(self._photos) else None)

    def _adopt(self) -> None:
        index = self.masks_combo.currentIndex()
        if 0 <= index < len(self._masks):
            self.controller.adopt(self._masks[index])
