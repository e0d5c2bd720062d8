"""A folder of photos: the queue, where each stands, Previous/Next, sign-off, export."""

from __future__ import annotations

from pathlib import Path

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QFileDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...io.workfolder import FINISHED, PhotoStatus
from ._common import combo, row

__all__ = ["QueueView"]

_FILTERS = {
    "All photos": None,
    "To review": (PhotoStatus.NEW, PhotoStatus.PROPOSED, PhotoStatus.IN_REVIEW),
    "Done": FINISHED,
    "Failed": (PhotoStatus.FAILED,),
}


class QueueView(QWidget):
    """Open a folder; the list shows every photo and its status; click one to go there."""

    def __init__(self, controller):
        super().__init__()
        self.controller = controller
        self.open_button = QPushButton("Open folder…")
        self.counts = QLabel("Review a whole folder: its work is saved as you go.")
        self.counts.setWordWrap(True)
        self.ahead = QLabel()
        self.filter = combo()
        self.filter.addItems(list(_FILTERS))
        self.list = QListWidget()
        self.list.setMinimumHeight(90)
        self.list.setMaximumHeight(160)
        self.previous_button = QPushButton("◀ Previous")
        self.next_button = QPushButton("Next ▶")
        self.previous_button.setToolTip("Page Up on the people layer")
        self.next_button.setToolTip("Page Down on the people layer")
        self.no_people_button = QPushButton("No people here")
        self.no_people_button.setToolTip("Sign off: a person looked, nobody to anonymize")
        self.export_button = QPushButton("Export done photos…")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.open_button)
        layout.addWidget(self.counts)
        layout.addWidget(self.ahead)
        layout.addWidget(self.filter)
        layout.addWidget(self.list)
        layout.addWidget(row(self.previous_button, self.next_button))
        layout.addWidget(row(self.no_people_button, self.export_button))

        c = controller
        self.open_button.clicked.connect(self._open)
        self.previous_button.clicked.connect(c.previous_photo)
        self.next_button.clicked.connect(c.next_photo)
        self.no_people_button.clicked.connect(c.sign_off_no_people)
        self.export_button.clicked.connect(self._export)
        self.filter.currentIndexChanged.connect(self.render)
        self.list.itemActivated.connect(self._chosen)
        self.list.itemClicked.connect(self._chosen)
        c.queue_changed.connect(self.render)
        c.job_changed.connect(self._enable)
        c.people_changed.connect(self._enable)  # "No people here" needs nobody left
        self.render()

    def _open(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A folder of photos (or a work folder)")
        if folder:
            self.controller.open_folder(folder)

    def _export(self) -> None:
        c = self.controller
        start = str(c.work.source.parent) if c.work is not None else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Export the done photos to", start)
        if folder:
            c.export_done(folder)

    def _chosen(self, item: QListWidgetItem) -> None:
        index = item.data(Qt.ItemDataRole.UserRole)
        if index != self.controller.position:
            self.controller.go(index)

    def render(self, *_) -> None:
        c = self.controller
        wanted = _FILTERS[self.filter.currentText()]
        self.list.blockSignals(True)
        self.list.clear()
        for index, rel in enumerate(c.queue):
            status = c.statuses.get(rel, PhotoStatus.NEW)
            if wanted is not None and status not in wanted and index != c.position:
                continue
            mark = "▶ " if index == c.position else ""
            item = QListWidgetItem(f"{mark}{rel}  ·  {status.value}")
            item.setData(Qt.ItemDataRole.UserRole, index)
            self.list.addItem(item)
            if index == c.position:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        if c.work is not None:
            counts = c.counts()
            parts = [f"{n} {s.value}" for s, n in counts.items() if n]
            self.counts.setText(f"{len(c.queue)} photos: {', '.join(parts)}.")
            ready = c.ahead()
            self.ahead.setText(
                f"Next {ready} ready." if ready else ("Preparing the next photos…"
                                                      if c.ahead_busy else "")
            )  # fmt: skip
        self._enable()

    def _enable(self, *_) -> None:
        c = self.controller
        open_ = c.work is not None and c.position is not None
        idle = not c.busy
        self.previous_button.setEnabled(open_ and idle and c.position > 0)
        self.next_button.setEnabled(open_ and idle and c.position < len(c.queue) - 1)
        self.no_people_button.setEnabled(open_ and not c.review.people)
        self.export_button.setEnabled(c.work is not None and idle)
        self.open_button.setEnabled(idle)
