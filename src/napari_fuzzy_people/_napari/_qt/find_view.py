"""Finding people: which models (a fast or an accurate pair, or your own mix), where
their weights are, and the Find button."""

from __future__ import annotations

from dataclasses import replace

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ...models.choice import PAIRS, pair_of
from ._common import combo

__all__ = ["DETECTORS", "PAIR_LABELS", "SEGMENTERS", "FindView"]

# Short labels: the dock is narrow on a laptop (about 14 characters show).
# The pair says which is fast and which accurate; the tooltips say how fast.
#: (label, pair name): the pairs of models offered, then "your own mix".
PAIR_LABELS = [
    ("Fast (CPU)", "fast"),
    ("Accurate (GPU)", "accurate"),
    ("Custom", "custom"),
]
#: (label, torchvision name, tooltip): which is fast and which accurate, in plain words.
DETECTORS = [
    ("ResNet-50", "fasterrcnn_resnet50_fpn_v2", "accurate; about 5 s a photo on a 2-core CPU"),
    (
        "MobileNet",
        "fasterrcnn_mobilenet_v3_large_fpn",
        "fast; about 0.6 s a photo on a 2-core CPU",
    ),
]
SEGMENTERS = [
    ("Light HQ-SAM", "hq_vit_tiny", "fast; about 1.2 s a photo on a 2-core CPU"),
    ("SAM ViT-B", "vit_b", "accurate; about 9 s a photo on a 2-core CPU"),
    ("SAM ViT-L", "vit_l", "slower than ViT-B"),
    ("SAM ViT-H", "vit_h", "the largest and slowest"),
]


_TOOLTIP = Qt.ItemDataRole.ToolTipRole


class _FileField(QWidget):
    """A path, typed or browsed for; empty means "download the default"."""

    def __init__(self, placeholder: str):
        super().__init__()
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        browse = QToolButton()
        browse.setText("…")
        browse.clicked.connect(self._browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit)
        layout.addWidget(browse)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Weights file", "", "PyTorch (*.pth *.pt)")
        if path:
            self.edit.setText(path)

    def value(self) -> str | None:
        return self.edit.text().strip() or None


class FindView(QWidget):
    """The model choices (a pair, or a detector and a segmenter), and Find people."""

    def __init__(self, controller):
        super().__init__()
        self.controller = controller
        m = controller.models
        self.pair = combo()
        for label, name in PAIR_LABELS:
            self.pair.addItem(label, name)
            if name in PAIRS:
                self.pair.setItemData(self.pair.count() - 1, PAIRS[name][0], _TOOLTIP)
        self.detector = combo()
        for label, name, tip in DETECTORS:
            self.detector.addItem(label, name)
            self.detector.setItemData(self.detector.count() - 1, tip, _TOOLTIP)
        self.detector.setCurrentIndex(self.detector.findData(m.detector))
        self.segmenter = combo()
        for label, name, tip in SEGMENTERS:
            self.segmenter.addItem(label, name)
            self.segmenter.setItemData(self.segmenter.count() - 1, tip, _TOOLTIP)
        self.segmenter.setCurrentIndex(self.segmenter.findData(m.segmenter))
        self.min_score = QDoubleSpinBox(minimum=0.05, maximum=1.0, singleStep=0.05)
        self.min_score.setValue(m.min_score)
        self.show_boxes = QCheckBox("Show the detector's boxes")
        self.detector_file = _FileField("download once (or choose a file)")
        self.segmenter_file = _FileField("download once (or choose a file)")
        self.find_button = QPushButton("Find people")
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Models", self.pair)
        form.addRow("Detector", self.detector)
        form.addRow("Segmenter", self.segmenter)
        form.addRow("Min. score", self.min_score)
        form.addRow("Detector file", self.detector_file)
        form.addRow("Segmenter file", self.segmenter_file)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.show_boxes)
        layout.addWidget(self.find_button)

        self._show_pair()
        self.pair.activated.connect(self._pair_chosen)
        self.detector.currentIndexChanged.connect(self._show_pair)
        self.segmenter.currentIndexChanged.connect(self._show_pair)
        self.find_button.clicked.connect(self._find)
        self.show_boxes.toggled.connect(controller.set_show_boxes)
        controller.job_changed.connect(self.render)
        controller.photo_changed.connect(self.render)
        self.render()

    def _pair_chosen(self, index: int) -> None:
        name = self.pair.itemData(index)
        if name not in PAIRS:
            return  # "Custom": the detector and segmenter stay as they are
        _, pair = PAIRS[name]
        self.detector.setCurrentIndex(self.detector.findData(pair.detector))
        self.segmenter.setCurrentIndex(self.segmenter.findData(pair.segmenter))

    def _show_pair(self, *_) -> None:
        """The pair that the detector and segmenter make, or "Custom"."""
        current = replace(
            self.controller.models,
            detector=self.detector.currentData(),
            segmenter=self.segmenter.currentData(),
        )
        self.pair.setCurrentIndex(self.pair.findData(pair_of(current) or "custom"))
        self.pair.setToolTip(self.pair.currentData(_TOOLTIP) or "")

    def _choice(self) -> dict:
        return {
            "detector": self.detector.currentData(),
            "detector_file": self.detector_file.value(),
            "min_score": round(self.min_score.value(), 2),
            "segmenter": self.segmenter.currentData(),
            "segmenter_file": self.segmenter_file.value(),
        }

    def _find(self) -> None:
        self.controller.set_models(**self._choice())
        self.controller.find_people()

    def segmenter_choice(self) -> dict:
        """The segmenter part of the choice (prompts need only that)."""
        choice = self._choice()
        return {k: choice[k] for k in ("segmenter", "segmenter_file")}

    def render(self, *_) -> None:
        c = self.controller
        self.find_button.setEnabled(not c.busy and c.photo_layer is not None)
