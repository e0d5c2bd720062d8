"""How approved people are anonymized, the live preview, Apply and Export."""

from __future__ import annotations

from pathlib import Path

from qtpy.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...core import REGISTRY, PanelDefaults, get_method
from ..controller import PreviewState, PreviewStatus, Severity
from ._common import combo, row

__all__ = ["AnonymizeView"]


class AnonymizeView(QWidget):
    """Every field edits the session's one :class:`~napari_fuzzy_people.core.AnonymizeSettings`."""

    def __init__(self, controller):
        super().__init__()
        self.controller = controller
        d = PanelDefaults()
        self.method = combo()
        for name, m in REGISTRY.items():
            self.method.addItem(m.label, name)
        self.background_only = QCheckBox("Pick from the background only")
        self.relative = QCheckBox("Scale with each person's size")
        self.relative.setToolTip(
            "Strength and margin become floors; tall people get "
            f"{d.strength_fraction:.0%} and {d.margin_fraction:.2%} of their height"
        )
        self.strength = QDoubleSpinBox(minimum=1, maximum=1024)
        self.strength_label = QLabel()
        self.margin = QDoubleSpinBox(minimum=0, maximum=256, decimals=0)
        self.preview = QCheckBox("Live preview")
        self.preview_state = QLabel()
        self.apply_button = QPushButton("Apply")
        self.export_button = QPushButton("Export…")
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Method", self.method)
        form.addRow(self.strength_label, self.strength)
        form.addRow("Margin (px)", self.margin)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.background_only)
        layout.addWidget(self.relative)
        layout.addWidget(row(self.preview, self.preview_state))
        layout.addWidget(row(self.apply_button, self.export_button))

        c = controller
        self.method.activated.connect(self._edited)
        for box in (self.background_only, self.relative):
            box.toggled.connect(self._edited)
        for spin in (self.strength, self.margin):
            spin.editingFinished.connect(self._edited)
        self.preview.toggled.connect(c.set_preview)
        self.apply_button.clicked.connect(c.apply)
        self.export_button.clicked.connect(self.export_clicked)
        c.settings_changed.connect(self.render)
        c.job_changed.connect(self._enable)
        c.people_changed.connect(self._enable)
        c.preview_changed.connect(self._preview_state)
        self.render()

    def _edited(self, *_) -> None:
        ok = self.controller.update_settings(
            method=self.method.currentData(),
            strength=self._strength_value(),
            margin=int(self.margin.value()),
            source="background" if self.background_only.isChecked() else "any",
            relative=self.relative.isChecked(),
        )
        if not ok:
            self.render()  # back to what the session holds

    def _strength_value(self):
        m = get_method(self.method.currentData())
        value = self.strength.value()
        if m.strength is None:
            return self.controller.settings.strength
        return round(value) if m.integer else value

    def render(self, *_) -> None:
        s = self.controller.settings
        m = get_method(s.method)
        widgets = (self.method, self.background_only, self.relative, self.strength, self.margin)
        for w in widgets:
            w.blockSignals(True)
        self.method.setCurrentIndex(self.method.findData(s.method))
        self.background_only.setChecked(s.source == "background")
        self.background_only.setVisible(m.takes_source)
        self.relative.setChecked(bool(s.relative))
        self.strength.setDecimals(0 if m.integer else 1)
        self.strength.setMinimum(m.minimum if m.integer else 0.1)
        self.strength.setValue(s.strength)
        self.strength.setVisible(m.strength is not None)
        self.strength_label.setText(m.strength_label)
        self.strength_label.setVisible(m.strength is not None)
        self.margin.setValue(s.margin)
        for w in widgets:
            w.blockSignals(False)
        self._enable()

    def _enable(self, *_) -> None:
        c = self.controller
        ready = not c.busy and c.people_layer is not None
        self.apply_button.setEnabled(ready and bool(c.review.approved_labels()))
        self.export_button.setEnabled(ready)

    def _preview_state(self, state: PreviewState) -> None:
        text, tip = "", ""
        if state.status == PreviewStatus.UPDATING:
            text = "Updating preview…"
        elif state.status == PreviewStatus.READY:
            text = "Up to date" if state.factor == 1 else f"Up to date, 1/{state.factor} size"
            if state.factor > 1:
                tip = (
                    f"The preview is computed at 1/{state.factor} of the photo's size, with "
                    "strengths and margins scaled to match, so it keeps up with every change. "
                    "Apply and Export work on the full-size photo."
                )
        self.preview_state.setText(text)
        self.preview_state.setToolTip(tip)

    def export_clicked(self, *, leak_check=None) -> None:
        """Ask what only a person can answer, then export (``leak_check``: another
        :class:`~...batch.leakcheck.LeakCheck` than the session's, for this export)."""
        c = self.controller
        unreviewed = c.review.unreviewed_labels()
        if unreviewed:
            answer = QMessageBox.warning(
                self,
                "People not reviewed",
                f"{len(unreviewed)} people are still not reviewed (labels {unreviewed}). "
                "They will NOT be anonymized. Export anyway?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        folder = QFileDialog.getExistingDirectory(
            self, "Export the anonymized photo to (a folder to share)", self._start_folder()
        )
        if not folder:
            return
        overwrite = False
        target = c.export_target(folder)
        if target.exists():
            answer = QMessageBox.question(
                self,
                "Replace the earlier export?",
                f"{target.name} is already in {folder}. Replace it?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                c.say("Export not done: the earlier one is kept.", Severity.INFO)
                return
            overwrite = True
        c.export(
            folder, overwrite=overwrite, allow_unreviewed=bool(unreviewed), leak_check=leak_check
        )

    def _start_folder(self) -> str:
        from .._layers import layer_photo_path

        layer = self.controller.photo_layer
        path = layer_photo_path(layer) if layer is not None else None
        return str(path.parent) if path is not None else str(Path.home())
