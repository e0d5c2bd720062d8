"""The leak check: check the result, its findings, dismiss one with a reason, or say why
it cannot run and offer the two ways on."""

from __future__ import annotations

import re

from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QFileDialog,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ...batch.leakcheck import LeakCheck
from .._leaks import SKIPPED_IN_PANEL
from ._common import row
from .people_view import LEAK_COLOUR

__all__ = ["LeaksView"]


#: Open findings' text, the colours of their rectangles on the canvas (lighter: on
#: napari's dark theme).
_TEXT_COLOURS = {"in nobody's mask": "#ff6b6b", "still detectable": LEAK_COLOUR}


def _breakable(text: str) -> str:
    """``text`` without download addresses (its tooltip has them), with places to wrap
    inside paths: these have no spaces and would otherwise widen the dock."""
    text = re.sub(r"\(https?://[^;)\s]*;\s*", "(", text)
    for mark in ("/", "_", "-"):
        text = text.replace(mark, mark + "\u200b")
    return text


def _short(finding) -> str:
    """What the list shows of a finding (the full line is its tooltip)."""
    x0, y0, x1, y1 = (round(v) for v in finding.box)
    where = f" on person {finding.label}" if finding.label is not None else ""
    return f"{finding.kind} {finding.problem.value}{where}, x {x0}-{x1}, y {y0}-{y1}"


class LeaksView(QWidget):
    """The session's :attr:`~..controller.Controller.leaks`, and the buttons that act on it.

    ``anonymize_view`` asks for the export folder when "Export without the check"
    has no export to repeat (the check failed on Check for leaks, not on Export).
    """

    def __init__(self, controller, anonymize_view):
        super().__init__()
        self.controller = controller
        self.anonymize_view = anonymize_view
        self.check_button = QPushButton("Check for leaks")
        self.check_button.setToolTip(
            "Anonymize as Export would and look for people and faces in the result; "
            "nothing is written. Export checks too."
        )
        self.state = QLabel()
        self.state.setWordWrap(True)
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.setSpacing(3)  # a wrapped finding stays apart from the next one
        self.list.setMinimumHeight(60)
        self.list.setMaximumHeight(140)
        self.dismiss_button = QPushButton("Dismiss…")
        self.dismiss_button.setToolTip("Let the selected finding pass, with a reason (recorded)")
        self.undismiss_button = QPushButton("Undo dismiss")
        # Shown only when the detectors cannot be made (no weights): the two ways on.
        self.unavailable = QLabel()
        self.unavailable.setWordWrap(True)
        # Whatever the message holds, it wraps in the dock's width and never widens it.
        self.unavailable.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.weights_button = QPushButton("Choose weights files…")
        self.skip_button = QPushButton("Export without the check")
        self.skip_button.setToolTip("The record says the check was skipped, and by whom")
        self.ask = QWidget()
        ask = QVBoxLayout(self.ask)
        ask.setContentsMargins(0, 0, 0, 0)
        ask.addWidget(self.unavailable)
        ask.addWidget(self.weights_button)
        ask.addWidget(self.skip_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.check_button)
        layout.addWidget(self.state)
        layout.addWidget(self.ask)
        layout.addWidget(self.list)
        layout.addWidget(row(self.dismiss_button, self.undismiss_button))

        c = controller
        self.check_button.clicked.connect(c.check_for_leaks)
        self.dismiss_button.clicked.connect(self._dismiss)
        self.undismiss_button.clicked.connect(self._undismiss)
        self.weights_button.clicked.connect(self._choose_weights)
        self.skip_button.clicked.connect(self._skip)
        self.list.itemSelectionChanged.connect(self._chosen)
        c.leaks_changed.connect(self.render)
        c.job_changed.connect(self._enable)
        c.people_changed.connect(self._enable)
        self.render()

    def findings(self) -> list:
        report = self.controller.leaks.report
        return list(report.findings) if report is not None else []

    def render(self, *_) -> None:
        leaks = self.controller.leaks
        report, findings = leaks.report, self.findings()
        keep = self.list.currentRow()
        self.list.blockSignals(True)
        self.list.clear()
        for finding in findings:
            dismissal = leaks.dismissal_of(finding)
            text = _short(finding)
            item = QListWidgetItem(text if dismissal is None else f"{text}\ndismissed: "
                                   f"{dismissal.reason}")  # fmt: skip
            item.setToolTip(finding.describe())
            if dismissal is None:
                item.setForeground(QColor(_TEXT_COLOURS[finding.problem.value]))
            self.list.addItem(item)
        if 0 <= keep < self.list.count():
            self.list.setCurrentRow(keep)
        self.list.blockSignals(False)
        self.list.setVisible(bool(findings))
        self.dismiss_button.parentWidget().setVisible(bool(findings))
        self.ask.setVisible(leaks.unavailable is not None)
        self.unavailable.setText(_breakable(leaks.unavailable or ""))
        self.unavailable.setToolTip(leaks.unavailable or "")
        if report is None:
            text = "Not checked yet. Export checks too: an open finding writes nothing."
        elif report.skipped is not None:
            text = f"Not checked: {report.skipped}."
        elif not findings:
            text = f"Nobody found in the result ({report.seen} detections, none a problem)."
        else:
            still = len(leaks.open)
            text = (
                f"{len(findings)} found: {still} open (export held back until each is fixed "
                "or dismissed)." if still else f"{len(findings)} found, all dismissed."
            )  # fmt: skip
        self.state.setText(text)
        self._enable()

    def _selected(self):
        r = self.list.currentRow()
        findings = self.findings()
        return findings[r] if 0 <= r < len(findings) and self.list.selectedItems() else None

    def _chosen(self) -> None:
        finding = self._selected()
        if finding is not None:
            self.controller.show_finding(finding)
        self._enable()

    def _enable(self, *_) -> None:
        c = self.controller
        idle = not c.busy
        self.check_button.setEnabled(idle and c.people_layer is not None)
        finding = self._selected()
        dismissed = finding is not None and c.leaks.dismissal_of(finding) is not None
        self.dismiss_button.setEnabled(idle and finding is not None and not dismissed)
        self.undismiss_button.setEnabled(idle and dismissed)
        self.weights_button.setEnabled(idle)
        self.skip_button.setEnabled(idle and c.people_layer is not None)

    def _dismiss(self) -> None:
        finding = self._selected()
        if finding is None:
            return
        reason, ok = QInputDialog.getText(
            self,
            "Dismiss the finding",
            f"{finding.describe()}\n\nWhy may it stay (a poster, a statue)? "
            "The record keeps the reason.",
        )
        if ok:
            self.controller.dismiss_finding(finding, reason)

    def _undismiss(self) -> None:
        finding = self._selected()
        if finding is not None:
            self.controller.undismiss_finding(finding)

    def _choose_weights(self) -> None:
        person, _ = QFileDialog.getOpenFileName(
            self,
            "The person detector's weights (Cancel keeps the current ones)",
            "",
            "PyTorch weights (*.pth *.pt);;All files (*)",
        )
        face, _ = QFileDialog.getOpenFileName(
            self,
            "The YuNet face detector (Cancel keeps the current one)",
            "",
            "ONNX models (*.onnx);;All files (*)",
        )
        self.controller.choose_leak_weights(person or None, face or None)

    def _skip(self) -> None:
        if not self.controller.export_without_check():
            # The check failed on Check for leaks: ask where, as Export does.
            self.anonymize_view.export_clicked(leak_check=LeakCheck(skipped=SKIPPED_IN_PANEL))
