"""Small layout helpers shared by the views."""

from __future__ import annotations

from qtpy.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QSizePolicy, QVBoxLayout, QWidget

__all__ = ["combo", "group", "row"]


def combo() -> QComboBox:
    """A combo box that may be narrower than its longest entry (the dock decides)."""
    box = QComboBox()
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(8)
    return box


def group(title: str, *widgets: QWidget) -> QGroupBox:
    """A titled box with ``widgets`` stacked in it."""
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(6, 6, 6, 6)
    for widget in widgets:
        layout.addWidget(widget)
    return box


def row(*widgets: QWidget) -> QWidget:
    """``widgets`` side by side, sharing the width."""
    holder = QWidget()
    layout = QHBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        layout.addWidget(widget)
    return holder
