"""The Fuzzy People panel: find people, fix their masks, approve, anonymize, export.

A view over :class:`~napari_fuzzy_people.core.review.ReviewModel`: it shows
the model, forwards user actions to it, and keeps the people Labels layer
and the model in step. Everything slow (loading models, detection, Segment
Anything, anonymizing, writing files) runs in napari thread workers; the GUI
thread only moves results into layers.
"""

from __future__ import annotations

from pathlib import Path

import napari
import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    PushButton,
    SpinBox,
    create_widget,
)
from napari.layers import Image, Labels, Points
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import Qt, QTimer
from qtpy.QtGui import QColor, QIcon, QPixmap
from qtpy.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core import METHODS, AnonymizeSettings, PanelDefaults, anonymize
from ..core.defaults import STRENGTH_PARAM
from ..core.people import Progress
from ..core.review import ReviewModel, Status
from ..io.read import read_photo
from ..io.record import default_review_folder, export_anonymized
from ._jobs import JobFailed, find_people_job, job, load_models, segment_prompt_job
from ._reader import REVIEW_KEY

_STRENGTH_LABEL = {"radius": "Radius (px)", "block": "Block (px)", "sigma": "Sigma (px)"}
_STAGES = {
    "load models": "Loading models",
    "detect": "Finding people",
    "embed": "Segment Anything: image embedding",
    "segment": "Segment Anything: masks",
}


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


def source_path(layer) -> Path | None:
    """The photo file a layer shows, if any.

    A reopened review's layer comes from its record, so the reader names the
    photo in the layer's metadata; any other layer's source is the photo.
    """
    photo = (getattr(layer, "metadata", None) or {}).get(REVIEW_KEY, {}).get("photo")
    if photo:
        return Path(photo)
    path = getattr(getattr(layer, "source", None), "path", None)
    return Path(path) if path else None


def _people(count: int) -> str:
    return "1 person" if count == 1 else f"{count} people"


def _wrap(label: Label, lines: int = 2) -> Label:
    # magicgui labels are fixed-width; let them wrap across the panel.
    label.native.setWordWrap(True)
    label.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
    label.native.setMinimumHeight(lines * label.native.fontMetrics().lineSpacing())
    return label


class FuzzyPeopleWidget(QWidget):
    """Find, review and anonymize the people in a photo."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        # npe2 injects the viewer because of the annotation above.
        self.viewer = viewer
        self.review = ReviewModel()
        self.people_layer: Labels | None = None
        self._models: dict[tuple, tuple] = {}
        self._injected_models: tuple | None = None
        self._worker = None
        self._preview_worker = None
        self._preview_pending = False
        self._syncing = False
        self._sync_timer = QTimer(self, singleShot=True, interval=150)
        self._sync_timer.timeout.connect(self._sync_from_layer)
        d = PanelDefaults()

        # -- layers ------------------------------------------------------
        self.image_layer = create_widget(annotation=Image, label="Image")
        self.labels_choice = create_widget(annotation=Labels, label="Masks")
        self.adopt_button = PushButton(text="Use these masks as people")
        # -- finding -----------------------------------------------------
        self.sam_type = ComboBox(label="Segmenter", choices=["vit_b", "vit_l", "vit_h"])
        self.detector_name = ComboBox(
            label="Detector",
            choices=[
                ("Faster R-CNN ResNet-50 (accurate)", "fasterrcnn_resnet50_fpn_v2"),
                ("Faster R-CNN MobileNet (fast)", "fasterrcnn_mobilenet_v3_large_fpn"),
            ],
        )
        self.sam_file = FileEdit(label="SAM file", filter="*.pth", value="")
        self.detector_file = FileEdit(label="Detector file", filter="*.pth", value="")
        self.min_score = FloatSpinBox(label="Min. score", min=0.05, max=1.0, step=0.05, value=0.5)
        self.show_boxes = CheckBox(text="Show detector boxes", value=False)
        self.find_button = PushButton(text="Find people")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = _wrap(Label(value="Choose a photo and press Find people."))
        # -- people ------------------------------------------------------
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Person", "Status", "Score", "Mask", "Area"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.setMinimumHeight(160)
        self.approve_button = QPushButton("Approve (A)")
        self.reject_button = QPushButton("Reject (R)")
        self.next_button = QPushButton("Next (N)")
        self.approve_all_button = QPushButton("Approve all")
        self.delete_button = QPushButton("Delete")
        self.undo_button = QPushButton("Undo")
        self.summary = _wrap(Label(value=""), lines=1)
        # -- prompts -----------------------------------------------------
        self.prompt_button = PushButton(text="Add points")
        self.box_button = PushButton(text="Draw a box")
        self.negative = CheckBox(text="Points mark 'not a person'", value=False)
        self.segment_button = PushButton(text="Segment new person")
        self.refine_button = PushButton(text="Refine selected person")
        # -- anonymizing -------------------------------------------------
        self.method = ComboBox(label="Method", choices=list(METHODS), value=d.method)
        self.background_only = CheckBox(
            text="Pick from background only", value=d.source == "background"
        )
        self.relative = CheckBox(text="Scale with each person's size", value=True)
        self.relative.tooltip = (
            "Strength and margin become floors; tall people get "
            f"{d.strength_fraction:.0%} and {d.margin_fraction:.2%} of their height"
        )
        self.strength = SpinBox(label="Radius (px)", min=1, max=1024, value=d.strength_minimum)
        self.margin = SpinBox(label="Margin (px)", min=0, max=256, value=d.margin_minimum)
        self.preview = CheckBox(text="Live preview", value=False)
        self.apply_button = PushButton(text="Apply")
        self.export_button = PushButton(text="Export…")

        layout = QVBoxLayout(self)
        layout.addWidget(
            _group(
                "Photo",
                Container(widgets=[self.image_layer, self.labels_choice]).native,
                self.adopt_button.native,
            )
        )
        layout.addWidget(
            _group(
                "Find people",
                Container(
                    widgets=[
                        self.detector_name,
                        self.sam_type,
                        self.min_score,
                        self.show_boxes,
                        self.detector_file,
                        self.sam_file,
                    ]
                ).native,
                _row(self.find_button.native, self.cancel_button.native),
                self.progress,
                self.status.native,
            )
        )
        layout.addWidget(
            _group(
                "People",
                self.table,
                _row(self.approve_button, self.reject_button, self.next_button),
                _row(self.approve_all_button, self.delete_button, self.undo_button),
                self.summary.native,
                _row(self.prompt_button.native, self.box_button.native),
                self.negative.native,
                _row(self.segment_button.native, self.refine_button.native),
            )
        )
        layout.addWidget(
            _group(
                "Anonymize approved people",
                Container(
                    widgets=[
                        self.method,
                        self.background_only,
                        self.relative,
                        self.strength,
                        self.margin,
                        self.preview,
                    ]
                ).native,
                _row(self.apply_button.native, self.export_button.native),
            )
        )
        layout.addStretch(1)

        self.find_button.changed.connect(self.find_people)
        self.cancel_button.changed.connect(self.cancel)
        self.adopt_button.changed.connect(lambda: self.adopt(self.labels_choice.value))
        self.approve_button.clicked.connect(lambda: self.approve_selected())
        self.reject_button.clicked.connect(lambda: self.reject_selected())
        self.next_button.clicked.connect(lambda: self.select_next())
        self.approve_all_button.clicked.connect(lambda: self.review.approve_all())
        self.delete_button.clicked.connect(lambda: self.delete_selected())
        self.undo_button.clicked.connect(lambda: self.undo())
        self.prompt_button.changed.connect(self.start_prompts)
        self.box_button.changed.connect(self.start_box)
        self.negative.changed.connect(self._on_negative)
        self.segment_button.changed.connect(lambda: self.segment_prompt(refine=False))
        self.refine_button.changed.connect(lambda: self.segment_prompt(refine=True))
        self.apply_button.changed.connect(self.apply)
        self.export_button.changed.connect(self._export_clicked)
        self.method.changed.connect(self._on_method)
        for w in (self.method, self.background_only, self.relative, self.strength, self.margin):
            w.changed.connect(self._refresh_preview)
        self.preview.changed.connect(self._refresh_preview)
        self.table.itemSelectionChanged.connect(self._on_table_selection)
        self.review.subscribe(self._on_review_event)
        for event in (viewer.layers.events.inserted, viewer.layers.events.removed):
            event.connect(self._reset_choices)
        self._reset_choices()
        self._update_buttons()

    # -- model and layers ---------------------------------------------------

    def _reset_choices(self, event=None):
        self.image_layer.reset_choices()
        self.labels_choice.reset_choices()
        layer = getattr(event, "value", None)
        if isinstance(layer, Labels) and REVIEW_KEY in layer.metadata:
            # A reopened export: continue its review at once.
            stem = layer.name.removesuffix(" people")
            for combo, wanted in ((self.image_layer, stem), (self.labels_choice, layer.name)):
                match = [c for c in combo.choices if getattr(c, "name", None) == wanted]
                if match:  # the combos may not list a layer inserted this very moment
                    combo.value = match[0]
            self.adopt(layer)
        if self.people_layer is not None and self.people_layer not in self.viewer.layers:
            self._set_people_layer(None)

    def use_models(self, detector, segmenter) -> None:
        """Use these models instead of loading them (scripts, tests, custom models)."""
        self._injected_models = (detector, segmenter)

    def _model_settings(self) -> tuple:
        sam_file = str(self.sam_file.value) if str(self.sam_file.value) not in ("", ".") else None
        det_file = (
            str(self.detector_file.value)
            if str(self.detector_file.value) not in ("", ".")
            else None
        )
        return (
            self.detector_name.value,
            det_file or "default",
            self.min_score.value,
            self.sam_type.value,
            sam_file or "default",
        )

    def _models_for_job(self):
        if self._injected_models is not None:
            return lambda: self._injected_models
        key = self._model_settings()
        if key in self._models:
            cached = self._models[key]
            return lambda: cached
        return lambda: load_models(*key)

    def _set_people_layer(self, layer: Labels | None) -> None:
        old = self.people_layer
        if old is not None and old in self.viewer.layers:
            old.events.paint.disconnect(self._schedule_sync)
            old.events.data.disconnect(self._schedule_sync)
            old.events.selected_label.disconnect(self._on_layer_selection)
        self.people_layer = layer
        if layer is not None:
            layer.events.paint.connect(self._schedule_sync)
            layer.events.data.connect(self._schedule_sync)
            layer.events.selected_label.connect(self._on_layer_selection)
            layer.bind_key("a", lambda _layer: self.approve_selected(), overwrite=True)
            layer.bind_key("r", lambda _layer: self.reject_selected(), overwrite=True)
            layer.bind_key("n", lambda _layer: self.select_next(), overwrite=True)
        self._update_buttons()

    def _people_layer_for(self, image_layer: Image, labels: np.ndarray) -> Labels:
        name = f"{image_layer.name} people"
        if name in self.viewer.layers and isinstance(self.viewer.layers[name], Labels):
            layer = self.viewer.layers[name]
            layer.data = labels
        else:
            layer = self.viewer.add_labels(
                labels,
                name=name,
                opacity=0.5,
                scale=image_layer.scale,
                translate=image_layer.translate,
            )
        return layer

    def adopt(self, layer: Labels | None) -> None:
        """Make ``layer`` the people layer: each of its labels a proposed person."""
        if layer is None:
            self._say("Choose a Labels layer to use as people.", error=True)
            return
        data = np.asarray(layer.data)
        if data.ndim != 2:
            self._say(f"{layer.name!r} has shape {data.shape}; people masks are 2-D.", error=True)
            return
        self._set_people_layer(layer)
        saved = layer.metadata.get(REVIEW_KEY)
        if saved:
            self._set_review(ReviewModel.from_dict(saved["review"]))
            self.review.sync(data)
            self._restore_settings(saved.get("settings", {}))
            counts = self.review.counts()
            self._say(
                f"Reopened the review from {Path(saved['record']).name}: "
                f"{counts[Status.APPROVED]} approved, {len(self.review.unreviewed_labels())} "
                "to review."
            )
            return
        self.review.adopt(data)
        self._say(f"Using {layer.name!r}: {_people(len(self.review.people))} to review.")

    def _set_review(self, model: ReviewModel) -> None:
        self.review.unsubscribe(self._on_review_event)
        self.review = model
        model.subscribe(self._on_review_event)
        self._on_review_event("adopted", tuple(model.people))

    def _restore_settings(self, settings: dict) -> None:
        for key, widget in (
            ("method", self.method),
            ("strength", self.strength),
            ("margin", self.margin),
            ("relative", self.relative),
        ):
            if settings.get(key) is not None:
                widget.value = settings[key]
        if settings.get("source"):
            self.background_only.value = settings["source"] == "background"

    def settings(self) -> AnonymizeSettings:
        """The anonymization settings as shown."""
        return AnonymizeSettings(
            method=self.method.value,
            strength=self.strength.value,
            margin=self.margin.value,
            source="background" if self.background_only.value else "any",
            relative=self.relative.value,
        )

    def _schedule_sync(self, event=None):
        if not self._syncing:
            self._sync_timer.start()

    def _sync_from_layer(self):
        if self.people_layer is not None:
            self.review.sync(np.asarray(self.people_layer.data))

    def _on_review_event(self, event: str, labels: tuple) -> None:
        self._fill_table()
        self._update_buttons()
        edited = [
            k
            for k in labels
            if k in self.review.people and self.review.people[k].status == Status.EDITED
        ]
        if event == "synced" and edited:
            self._say(
                f"Edited after approval: {', '.join(map(str, edited))}. Check and approve "
                "again; until then they are not anonymized."
            )
        if event != "synced" or labels:
            self._refresh_preview()

    # -- finding people -----------------------------------------------------

    def find_people(self) -> None:
        """Detect and segment people in the chosen image, in a worker thread."""
        image_layer = self.image_layer.value
        if image_layer is None:
            self._say("Open a photo first (File > Open, or a sample).", error=True)
            return
        try:
            image = check_image_layer(image_layer)
        except ValueError as err:
            self._say(str(err), error=True)
            return
        self._busy(True)
        self.progress.setRange(0, 0)
        self._say("Starting…")
        key = self._model_settings()
        self._worker = create_worker(
            find_people_job,
            image,
            self._models_for_job(),
            _connect={
                "yielded": self._on_progress,
                "returned": lambda result: self._on_found(image_layer, key, result),
                "errored": self._on_error,
                "aborted": lambda: self._say("Cancelled: nothing was changed."),
                "finished": lambda: self._busy(False),
            },
        )

    def cancel(self) -> None:
        """Stop the running job at its next step; nothing half-done is kept."""
        if self._worker is not None:
            self._worker.quit()
            self._say("Cancelling…")

    def _on_progress(self, event: Progress) -> None:
        self.progress.setRange(0, max(event.total, 1))
        self.progress.setValue(event.done)
        self.status.value = f"{_STAGES.get(event.stage, event.stage)} ({event.done}/{event.total})"

    def _on_found(self, image_layer: Image, key: tuple, result) -> None:
        models, proposals = result
        if self._injected_models is None:
            self._models = {key: models}  # keep one set: the cached embedding lives there
        layer = self._people_layer_for(image_layer, proposals.labels)
        self._syncing = True
        try:
            self._set_people_layer(layer)
            self.review.add_proposals(proposals)
        finally:
            self._syncing = False
        self._show_boxes(image_layer, [p.box for p in proposals.people])
        n = len(proposals.people)
        self._say(
            f"Found {_people(n)}. Check each mask, fix it with the Labels tools, then "
            "approve (A) or reject (R)."
            if n
            else "Found nobody. Add people with points, or paint them by hand."
        )
        if n:
            self.select_label(proposals.people[0].label)

    def _show_boxes(self, image_layer: Image, boxes) -> None:
        name = f"{image_layer.name} boxes"
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        if not self.show_boxes.value or not boxes:
            return
        rects = [np.array([[y0, x0], [y1, x1]]) for x0, y0, x1, y1 in boxes]
        self.viewer.add_shapes(
            rects,
            shape_type="rectangle",
            name=name,
            edge_color="yellow",
            face_color="transparent",
            edge_width=2,
            scale=image_layer.scale,
            translate=image_layer.translate,
        )
        if self.people_layer is not None:
            self.viewer.layers.selection.active = self.people_layer

    def _on_error(self, err: Exception) -> None:
        from ..models import WeightsUnavailableError

        if isinstance(err, JobFailed) and err.__cause__ is not None:
            err = err.__cause__
        if isinstance(err, WeightsUnavailableError):
            self._say(
                f"{err} Until then you can paint people by hand in a Labels layer "
                "and use 'Use these masks as people'.",
                error=True,
            )
        else:
            self._say(f"{type(err).__name__}: {err}", error=True)

    # -- people list ----------------------------------------------------------

    def _fill_table(self) -> None:
        people = sorted(self.review.people.values(), key=lambda p: p.label)
        selected = self.selected_labels()
        self.table.blockSignals(True)
        self.table.setRowCount(len(people))
        for row, p in enumerate(people):
            item = QTableWidgetItem(str(p.label))
            item.setData(Qt.ItemDataRole.UserRole, p.label)
            if self.people_layer is not None:
                rgba = np.asarray(self.people_layer.get_color(p.label), float) * 255
                swatch = QPixmap(12, 12)
                swatch.fill(QColor(*rgba.astype(int)))
                item.setIcon(QIcon(swatch))
            values = [
                item,
                QTableWidgetItem(p.status.value),
                QTableWidgetItem("" if p.score is None else f"{p.score:.2f}"),
                QTableWidgetItem("" if p.mask_score is None else f"{p.mask_score:.2f}"),
                QTableWidgetItem(str(p.area)),
            ]
            for col, value in enumerate(values):
                self.table.setItem(row, col, value)
            if p.label in selected:
                self.table.selectRow(row)
        self.table.blockSignals(False)
        counts = self.review.counts()
        self.summary.value = ", ".join(f"{counts[s]} {s.value}" for s in Status if counts[s])

    def selected_labels(self) -> list[int]:
        """Labels of the rows selected in the people list."""
        rows = {i.row() for i in self.table.selectedIndexes()}
        return [self.table.item(r, 0).data(Qt.ItemDataRole.UserRole) for r in sorted(rows)]

    def select_label(self, label: int | None) -> None:
        """Select a person in the list and the layer, and bring them into view."""
        self.table.blockSignals(True)
        self.table.clearSelection()
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(Qt.ItemDataRole.UserRole) == label:
                self.table.selectRow(row)
                self.table.scrollToItem(self.table.item(row, 0))
        self.table.blockSignals(False)
        if label is not None and self.people_layer is not None:
            self.people_layer.selected_label = label
            self._center_on(label)
        self._update_buttons()

    def _center_on(self, label: int) -> None:
        """Centre the view on a person, zoomed so a small one fills about a third."""
        data = np.asarray(self.people_layer.data)
        rows = np.flatnonzero((data == label).any(axis=1))
        if rows.size == 0:
            return
        cols = np.flatnonzero((data[rows[0] : rows[-1] + 1] == label).any(axis=0))
        height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        center = ((rows[0] + rows[-1]) / 2, (cols[0] + cols[-1]) / 2)
        scene = getattr(self.viewer, "scene", None)  # napari >= 0.9 moved the camera there
        camera = scene.camera if scene is not None else self.viewer.camera
        self.viewer.reset_view()
        fit = camera.zoom
        factor = min(data.shape[0] / (3 * height), data.shape[1] / (3 * width), 8.0)
        camera.center = self.people_layer.data_to_world(center)
        camera.zoom = fit * max(factor, 1.0)

    def _on_table_selection(self) -> None:
        labels = self.selected_labels()
        if len(labels) == 1 and self.people_layer is not None:
            self.people_layer.selected_label = labels[0]
            self._center_on(labels[0])
        self._update_buttons()

    def _on_layer_selection(self, event=None) -> None:
        label = self.people_layer.selected_label
        if label in self.review.people and label not in self.selected_labels():
            self.select_label(label)

    def _targets(self) -> list[int]:
        labels = self.selected_labels()
        if not labels and self.people_layer is not None:
            label = self.people_layer.selected_label
            labels = [label] if label in self.review.people else []
        return labels

    def approve_selected(self) -> None:
        """Approve the selected people and move on to the next to review."""
        labels = self._targets()
        if labels:
            self.review.approve(*labels)
            self.select_next(after=labels[-1])

    def reject_selected(self) -> None:
        """Reject the selected people (not a person) and move on."""
        labels = self._targets()
        if labels:
            self.review.reject(*labels)
            self.select_next(after=labels[-1])

    def select_next(self, after: int | None = None) -> None:
        """Select the next person still to review."""
        if after is None:
            current = self._targets()
            after = current[-1] if current else None
        label = self.review.next_to_review(after)
        if label is None:
            self._say("Everybody is reviewed.")
        self.select_label(label)

    def delete_selected(self) -> None:
        """Erase the selected people's pixels (undoable in the layer) and forget them."""
        labels = self._targets()
        if not labels or self.people_layer is None:
            return
        data = np.asarray(self.people_layer.data)
        self._syncing = True
        try:
            self.people_layer.data_setitem(np.nonzero(np.isin(data, labels)), 0)
            self.review.remove(*labels)
        finally:
            self._syncing = False

    def undo(self) -> None:
        """Undo the panel's last review action (painting has its own Ctrl+Z)."""
        if not self.review.undo():
            self._say("Nothing to undo in the review (use Ctrl+Z in the layer for painting).")

    # -- prompts --------------------------------------------------------------

    def _prompt_layer(self) -> Points:
        name = "person prompts"
        if name in self.viewer.layers:
            return self.viewer.layers[name]
        layer = self.viewer.add_points(
            np.empty((0, 2)),
            name=name,
            features={"person": np.array([], bool)},
            face_color="person",
            face_color_cycle=["#ff4040", "#40ff40"],
            border_color="white",
            size=12,
        )
        layer.feature_defaults["person"] = True
        return layer

    def start_prompts(self) -> None:
        """Open the prompt layer in point-adding mode."""
        layer = self._prompt_layer()
        layer.feature_defaults["person"] = not self.negative.value
        self.viewer.layers.selection.active = layer
        layer.mode = "add"
        self._say(
            "Click on the missed person (tick the box above for points that are not "
            "the person), then press Segment new person."
        )

    def start_box(self) -> None:
        """Open a Shapes layer to draw one box around a missed person."""
        name = "person box"
        if name not in self.viewer.layers:
            self.viewer.add_shapes(
                name=name, edge_color="cyan", face_color="transparent", edge_width=2
            )
        layer = self.viewer.layers[name]
        self.viewer.layers.selection.active = layer
        layer.mode = "add_rectangle"
        self._say("Drag a box around the missed person, then press Segment new person.")

    def _prompt_box(self, image_layer: Image):
        """The last box drawn, as x0, y0, x1, y1 in image pixels, or None."""
        if "person box" not in self.viewer.layers:
            return None
        shapes = self.viewer.layers["person box"].data
        if not shapes:
            return None
        corners = np.array([image_layer.world_to_data(v) for v in shapes[-1]])[:, -2:]
        (y0, x0), (y1, x1) = corners.min(axis=0), corners.max(axis=0)
        return np.array([x0, y0, x1, y1], float)

    def _on_negative(self, value: bool) -> None:
        if "person prompts" in self.viewer.layers:
            self.viewer.layers["person prompts"].feature_defaults["person"] = not value

    def segment_prompt(self, refine: bool = False) -> None:
        """Segment Anything from prompt points and/or a box: a new person, or the selected
        one redone."""
        image_layer = self.image_layer.value
        if image_layer is None:
            self._say("Open a photo first.", error=True)
            return
        box = self._prompt_box(image_layer)
        has_points = (
            "person prompts" in self.viewer.layers
            and len(self.viewer.layers["person prompts"].data) > 0
        )
        if box is None and not has_points:
            self._say("Add points or draw a box first.", error=True)
            return
        target = self._targets()[:1] if refine else []
        if refine and not target:
            self._say("Select the person to refine in the list.", error=True)
            return
        if self.people_layer is None:
            empty = np.zeros(image_layer.data.shape[:2], np.uint16)
            self._set_people_layer(self._people_layer_for(image_layer, empty))
        image = check_image_layer(image_layer)
        points_xy, positive = np.empty((0, 2)), np.empty(0, int)
        if has_points:
            prompts = self.viewer.layers["person prompts"]
            rows_cols = np.array([image_layer.world_to_data(p) for p in prompts.data])[:, -2:]
            points_xy = rows_cols[:, ::-1]
            positive = np.asarray(prompts.features["person"], bool).astype(int)
        self._busy(True)
        self.progress.setRange(0, 0)
        self._worker = create_worker(
            segment_prompt_job,
            image,
            self._models_for_job(),
            points_xy,
            positive,
            box,
            _connect={
                "yielded": self._on_progress,
                "returned": lambda r: self._on_prompt_mask(r, target[0] if target else None),
                "errored": self._on_error,
                "finished": lambda: self._busy(False),
            },
        )

    def _on_prompt_mask(self, result, label: int | None) -> None:
        mask, score = result
        layer = self.people_layer
        data = np.asarray(layer.data)
        self._syncing = True
        try:
            if label is None:
                label = int(data.max()) + 1
                # A new person only takes pixels nobody owns yet.
                layer.data_setitem(np.nonzero(mask & (data == 0)), label)
                self.review.add_person(
                    label, origin="prompt", mask_score=score, area=int((layer.data == label).sum())
                )
            else:
                layer.data_setitem(np.nonzero((data == label) & ~mask), 0)
                layer.data_setitem(np.nonzero(mask & ((data == 0) | (data == label))), label)
            self.review.sync(np.asarray(layer.data))
        finally:
            self._syncing = False
        if "person prompts" in self.viewer.layers:
            self.viewer.layers["person prompts"].data = np.empty((0, 2))
        if "person box" in self.viewer.layers:
            self.viewer.layers["person box"].data = []
        self.viewer.layers.selection.active = self.people_layer
        self.select_label(label)
        self._say(f"Person {label} segmented (mask score {score:.2f}). Review it, then approve.")

    # -- anonymizing --------------------------------------------------------

    def _on_method(self, method: str) -> None:
        key = STRENGTH_PARAM[method]
        self.strength.visible = key is not None
        if key is not None:
            self.strength.label = _STRENGTH_LABEL[key]
        self.background_only.visible = method == "scramble"

    def parameters(self, labels: np.ndarray) -> dict:
        """Keyword arguments for ``core.anonymize`` from the current settings."""
        return self.settings().params(labels)

    def _job_inputs(self):
        image_layer = self.image_layer.value
        if image_layer is None or self.people_layer is None:
            raise ValueError("Find people (or choose masks) first.")
        image = check_image_layer(image_layer)
        labels = np.asarray(self.people_layer.data)
        approved = self.review.approved_labels()
        params = self.parameters(labels) if approved else {}
        return image_layer, image, labels, approved, params

    def apply(self) -> None:
        """Anonymize the approved people into a new layer (the original stays)."""
        try:
            image_layer, image, labels, approved, params = self._job_inputs()
        except ValueError as err:
            self._say(str(err), error=True)
            return
        if not approved:
            self._say("Nobody is approved yet: approve people (A) first.", error=True)
            return
        self._busy(True)
        self._worker = self._anonymize_worker(
            image_layer, image, labels, approved, params, " (fuzzy)", lambda: self._busy(False)
        )

    def _refresh_preview(self, *args) -> None:
        if not self.preview.value:
            name = self._preview_name()
            if name and name in self.viewer.layers:
                self.viewer.layers.remove(name)
            return
        if self._preview_worker is not None:
            self._preview_pending = True  # the newest settings win when it ends
            return
        try:
            image_layer, image, labels, approved, params = self._job_inputs()
        except ValueError:
            return
        self._preview_pending = False
        self._preview_worker = self._anonymize_worker(
            image_layer, image, labels, approved, params, " (preview)", self._preview_done
        )

    def _anonymize_worker(self, image_layer, image, labels, approved, params, suffix, done):
        """Anonymize in a worker; the result goes to the layer ``<image><suffix>``."""
        return create_worker(
            _anonymize,
            image,
            labels,
            approved,
            params,
            _connect={
                "returned": lambda out: self._show_result(image_layer, out, suffix),
                "errored": self._on_error,
                "finished": done,
            },
        )

    def _preview_done(self) -> None:
        self._preview_worker = None
        if self._preview_pending:
            self._refresh_preview()

    def _preview_name(self) -> str | None:
        layer = self.image_layer.value
        return None if layer is None else f"{layer.name} (preview)"

    def _show_result(self, source: Image, out: np.ndarray, suffix: str) -> None:
        name = f"{source.name}{suffix}"
        active = self.viewer.layers.selection.active
        if name in self.viewer.layers:
            self.viewer.layers[name].data = out
        else:
            self.viewer.add_image(
                out,
                name=name,
                rgb=source.rgb,
                scale=source.scale,
                translate=source.translate,
                contrast_limits=None if source.rgb else source.contrast_limits,
            )
            if suffix == " (preview)" and active is not None:
                # Keep the reviewer's tools (and A/R/N) on the layer they were using.
                self.viewer.layers.selection.active = active
        if suffix == " (fuzzy)":
            self._say(
                f"Anonymized {_people(len(self.review.approved_labels()))} into layer {name!r}."
            )

    def export(
        self,
        folder,
        *,
        allow_unreviewed: bool = False,
        overwrite: bool = False,
        force_png: bool = False,
        review_folder=None,
    ):
        """Export the anonymized photo to ``folder``; its masks and record to ``review_folder``.

        ``folder`` receives only the photo and the folder's manifest: it is
        safe to share. ``review_folder`` (default: a ``fuzzy-people-review``
        folder beside the original photo, see
        :func:`~napari_fuzzy_people.io.record.default_review_folder`) keeps
        the silhouettes and the record. Runs in a worker (returned). Refuses
        while people are still only proposed or edited, unless
        ``allow_unreviewed``: they would leave unanonymized.
        """
        try:
            image_layer, image, labels, approved, _ = self._job_inputs()
        except ValueError as err:
            self._say(str(err), error=True)
            return None
        unreviewed = self.review.unreviewed_labels()
        if unreviewed and not allow_unreviewed:
            self._say(
                f"{_people(len(unreviewed))} not reviewed yet (labels {unreviewed}); "
                "they would be exported unanonymized.",
                error=True,
            )
            return None
        source = source_path(image_layer)
        if review_folder is None:
            review_folder = default_review_folder(folder, source)
        self._busy(True)
        self._worker = create_worker(
            _export,
            image,
            labels,
            # A snapshot: the reviewer may keep working while the export runs.
            ReviewModel.from_dict(self.review.to_dict()),
            self.settings(),
            folder,
            image_layer.name,
            source,
            self._models_used(),
            dict(
                allow_unreviewed=allow_unreviewed,
                overwrite=overwrite,
                force_png=force_png,
                review_folder=review_folder,
            ),
            _connect={
                "returned": lambda result: self._say(
                    f"Exported {_people(len(approved))} anonymized to {result.image}. "
                    f"Masks and record (private, not for sharing): {result.record.parent}."
                ),
                "errored": self._on_error,
                "finished": lambda: self._busy(False),
            },
        )
        return self._worker

    def _models_used(self) -> list[dict]:
        models = self._injected_models or next(iter(self._models.values()), None)
        if models is None:
            return []
        used = []
        for role, model in zip(("detector", "segmenter"), models, strict=True):
            if model is not None:
                path = getattr(model, "checkpoint_path", None)
                name = getattr(model, "name", type(model).__name__)
                used.append({"role": role, "name": name, "path": path})
        return used

    def _export_clicked(self) -> None:
        unreviewed = self.review.unreviewed_labels()
        if unreviewed:
            answer = QMessageBox.warning(
                self,
                "People not reviewed",
                f"{_people(len(unreviewed))} still not reviewed (labels {unreviewed}). "
                "They will NOT be anonymized. Export anyway?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        folder = QFileDialog.getExistingDirectory(self, "Export the anonymized photo to")
        if folder:
            self.export(folder, allow_unreviewed=True)

    # -- state ----------------------------------------------------------------

    def _busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.enabled = busy
        for w in (self.find_button, self.apply_button, self.export_button, self.segment_button):
            w.enabled = not busy
        if not busy:
            self._worker = None
        self._update_buttons()

    def _update_buttons(self) -> None:
        has_people = bool(self.review.people)
        for b in (self.approve_button, self.reject_button, self.delete_button):
            b.setEnabled(has_people)
        self.next_button.setEnabled(bool(self.review.unreviewed_labels()))
        self.approve_all_button.setEnabled(bool(self.review.unreviewed_labels()))

    def _say(self, message: str, error: bool = False) -> None:
        self.status.value = message
        if error:
            show_error(message) if "Error" in message else show_warning(message)
        elif message.startswith(("Found", "Exported", "Anonymized")):
            show_info(message)


@job
def _anonymize(image, labels, approved, params):
    if not approved:
        return image.copy()
    return anonymize(image, labels, labels=approved, **params)


@job
def _export(image, labels, review, settings, folder, name, source, models, options):
    photo = None
    if source is not None and source.is_file():
        photo = read_photo(source)  # the input's format, JPEG settings, profile and SHA-256
        if photo.pixels.shape != image.shape:
            photo = None  # napari read it differently (orientation): keep the layer's pixels
    Path(options["review_folder"]).mkdir(mode=0o700, parents=True, exist_ok=True)
    return export_anonymized(
        image, labels, review, settings, folder, name=name, photo=photo, models=models, **options
    )


def _group(title: str, *widgets) -> QGroupBox:
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(6, 6, 6, 6)
    for w in widgets:
        layout.addWidget(w)
    return box


def _row(*widgets) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for w in widgets:
        layout.addWidget(w)
    return row
