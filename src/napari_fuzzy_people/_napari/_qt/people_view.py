"""The people under review: a list, the review buttons, and the prompts for missed people."""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtGui import QColor, QIcon, QPixmap
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ._common import row

__all__ = ["PeopleView", "PromptsView"]

#: Text colour of a person the leak check still finds (readable on napari's dark theme).
LEAK_COLOUR = "#ff8a3d"


class PeopleView(QWidget):
    """One row per person; selecting a row selects that person in the session."""

    def __init__(self, controller):
        super().__init__()
        self.controller = controller
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Person", "Status", "Score", "Mask", "Area"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for col in (0, 1, 4):  # label and swatch, status, area: always whole
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setMinimumSectionSize(30)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setMinimumHeight(120)
        self.approve_button = QPushButton("Approve (A)")
        self.reject_button = QPushButton("Reject (R)")
        self.next_button = QPushButton("Next (N)")
        self.approve_all_button = QPushButton("Approve all")
        self.delete_button = QPushButton("Delete")
        self.undo_button = QPushButton("Undo")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addWidget(row(self.approve_button, self.reject_button, self.next_button))
        layout.addWidget(row(self.approve_all_button, self.delete_button, self.undo_button))
        layout.addWidget(self.summary)

        c = controller
        self.approve_button.clicked.connect(lambda: c.approve())
        self.reject_button.clicked.connect(lambda: c.reject())
        self.next_button.clicked.connect(lambda: c.select_next())
        self.approve_all_button.clicked.connect(c.approve_all)
        self.delete_button.clicked.connect(lambda: c.delete())
        self.undo_button.clicked.connect(c.undo)
        self.table.itemSelectionChanged.connect(self._row_chosen)
        c.people_changed.connect(self.render)
        c.leaks_changed.connect(self.render)
        c.selection_changed.connect(self._show_selection)
        c.job_changed.connect(self._enable)
        self.render()

    def render(self, *_) -> None:
        c = self.controller
        people = sorted(c.review.people.values(), key=lambda p: p.label)
        leaking = c.leaks.still_detectable()  # open findings per person, from the last check
        self.table.blockSignals(True)
        self.table.setRowCount(len(people))
        for r, p in enumerate(people):
            item = QTableWidgetItem(str(p.label))
            item.setData(Qt.ItemDataRole.UserRole, p.label)
            if c.people_layer is not None:
                rgba = np.asarray(c.people_layer.get_color(p.label), float) * 255
                swatch = QPixmap(12, 12)
                swatch.fill(QColor(*rgba.astype(int)))
                item.setIcon(QIcon(swatch))
            status = QTableWidgetItem(p.status.value)
            if p.label in leaking:
                status.setText(f"{p.status.value}, still detectable")
                status.setForeground(QColor(LEAK_COLOUR))
                status.setToolTip(
                    f"The leak check still finds {leaking[p.label]} thing(s) on this person: "
                    "a stronger setting or a bigger mask, then check again (see Leak check)"
                )
            cells = [
                item,
                status,
                QTableWidgetItem("" if p.score is None else f"{p.score:.2f}"),
                QTableWidgetItem("" if p.mask_score is None else f"{p.mask_score:.2f}"),
                QTableWidgetItem(str(p.area)),
            ]
            for col, cell in enumerate(cells):
                self.table.setItem(r, col, cell)
        self.table.blockSignals(False)
        self.summary.setText(c.summary())
        self._show_selection(c.selected)
        self._enable()

    def _row_of(self, label) -> int | None:
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).data(Qt.ItemDataRole.UserRole) == label:
                return r
        return None

    def _show_selection(self, label) -> None:
        self.table.blockSignals(True)
        self.table.clearSelection()
        r = self._row_of(label)
        if r is not None:
            self.table.selectRow(r)
            self.table.scrollToItem(self.table.item(r, 0))
        self.table.blockSignals(False)
        self._enable()

    def _row_chosen(self) -> None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        if len(rows) == 1:
            label = self.table.item(rows.pop(), 0).data(Qt.ItemDataRole.UserRole)
            self.controller.select(label)

    def _enable(self, *_) -> None:
        c = self.controller
        chosen = c.selected is not None
        for button in (self.approve_button, self.reject_button, self.delete_button):
            button.setEnabled(chosen)
        to_review = bool(c.review.unreviewed_labels())
        self.next_button.setEnabled(to_review)
        self.approve_all_button.setEnabled(to_review)


class PromptsView(QWidget):
    """Add a missed person (or redo one) from clicks or a box: Segment Anything only."""

    def __init__(self, controller, find_view):
        super().__init__()
        self.controller = controller
        self.find_view = find_view
        self.points_button = QPushButton("Add points")
        self.box_button = QPushButton("Draw a box")
        self.negative = QCheckBox("New points mark 'not this person'")
        self.segment_button = QPushButton("Segment new person")
        self.refine_button = QPushButton("Redo selected")
        self.refine_button.setToolTip("Segment the selected person again from the prompts")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(row(self.points_button, self.box_button))
        layout.addWidget(self.negative)
        layout.addWidget(row(self.segment_button, self.refine_button))

        c = controller
        self.points_button.clicked.connect(lambda: c.start_points(self.negative.isChecked()))
        self.box_button.clicked.connect(c.start_box)
        self.negative.toggled.connect(c.set_negative)
        self.segment_button.clicked.connect(lambda: self._segment(refine=False))
        self.refine_button.clicked.connect(lambda: self._segment(refine=True))
        c.job_changed.connect(self.render)
        c.selection_changed.connect(self.render)
        c.photo_changed.connect(self.render)
        self.render()

    def _segment(self, refine: bool) -> None:
        self.controller.set_models(**self.find_view.segmenter_choice())
        self.controller.segment_prompt(refine=refine)

    def render(self, *_) -> None:
        c = self.controller
        ready = not c.busy and c.photo_layer is not None
        for button in (self.points_button, self.box_button, self.segment_button):
            button.setEnabled(ready)
        self.refine_button.setEnabled(ready and c.selected is not None)
