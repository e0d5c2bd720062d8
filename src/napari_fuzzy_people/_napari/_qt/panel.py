"""The Fuzzy People dock widget: the views, in a scroll area, over one controller."""

from __future__ import annotations

import napari
from napari.utils.notifications import show_info
from qtpy.QtCore import QEvent, Qt
from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

from ..controller import Controller
from ._common import group
from .anonymize_view import AnonymizeView
from .find_view import FindView
from .job_view import JobView
from .leaks_view import LeaksView
from .people_view import PeopleView, PromptsView
from .photo_view import PhotoView
from .queue_view import QueueView

__all__ = ["FuzzyPeopleWidget"]


class FuzzyPeopleWidget(QWidget):
    """Find, review and anonymize the people in a photo.

    The panel only shows :attr:`controller` (a
    :class:`~napari_fuzzy_people._napari.controller.Controller`) and forwards
    clicks to it; script the session through the controller. The groups
    scroll, so the panel fits small screens; the job bar (progress, Cancel,
    the last message) stays in view under them.
    """

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        # npe2 injects the viewer because of the annotation above, wrapped in a proxy
        # that makes a new wrapper at every attribute access. The session knows its
        # layers by identity, so it holds the viewer itself.
        viewer = getattr(viewer, "__wrapped__", viewer)
        self.viewer = viewer
        self.controller = c = Controller(viewer)
        self.folder = QueueView(c)
        self.photo = PhotoView(c)
        self.find = FindView(c)
        self.people = PeopleView(c)
        self.prompts = PromptsView(c, self.find)
        self.anonymize = AnonymizeView(c)
        self.leaks = LeaksView(c, self.anonymize)
        self.job = JobView(c)

        content = QWidget()
        inner = QVBoxLayout(content)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addWidget(group("Folder", self.folder))
        inner.addWidget(group("Photo", self.photo))
        inner.addWidget(group("Find people", self.find))
        inner.addWidget(group("People", self.people))
        inner.addWidget(group("Add a missed person", self.prompts))
        inner.addWidget(group("Anonymize approved people", self.anonymize))
        inner.addWidget(group("Leak check", self.leaks))
        inner.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        # Narrow docks wrap and shrink the content rather than scroll it sideways.
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(content)
        self.scroll.setMinimumHeight(160)
        # Wide enough for the content and its scroll bar: nothing is cut at the right.
        bar = self.scroll.verticalScrollBar().sizeHint().width()
        self.scroll.setMinimumWidth(content.minimumSizeHint().width() + bar)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(self.job)
        self._docked = False
        # napari's window closing deletes the panel: stop the background work with it.
        self.destroyed.connect(c.close)

    def event(self, event) -> bool:
        # napari's close button takes the panel out of its dock (parent None) rather
        # than deleting it: that is the moment to let go of the viewer.
        if event.type() == QEvent.Type.ParentChange:
            if self.parent() is not None:
                self._docked = True
            elif self._docked:
                self.close_session()
        return super().event(event)

    def close_session(self) -> None:
        """Disconnect from the viewer; the review stays with its people layer."""
        c = self.controller
        layer = c.people_layer
        c.close()
        if layer is not None and c.review.people:
            show_info(
                f"Fuzzy People closed. The review stays with layer {layer.name!r}: open the "
                "panel again to continue it."
            )
