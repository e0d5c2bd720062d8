"""Finding people in the panel: models loaded in the worker, kept, cancellable, offline."""

import time

import numpy as np
from qtpy.QtCore import Qt, QTimer

from doubles import build_tiny_sam, tiny_detector
from napari_fuzzy_people.core.review import Status
from napari_fuzzy_people.models.segmenter import SamSegmenter
from scenes import choose, idle, street


def test_a_prompt_after_find_people_reuses_the_embedding(panel, qtbot):
    viewer, widget = panel
    image, _ = street()
    viewer.add_image(image, name="photo", rgb=True)
    c = widget.controller
    sam = build_tiny_sam()
    calls = []
    sam.image_encoder.register_forward_hook(lambda *a: calls.append(1))
    segmenter = SamSegmenter(sam, device="cpu")
    c.use_models(detector=tiny_detector, segmenter=segmenter)
    c.find_people()
    idle(qtbot, c)
    assert len(calls) == 1 and c.review.people
    before = set(c.review.people)
    c.start_points()
    prompts = viewer.layers.selection.active
    prompts.add([[60, 80]])
    widget.prompts.negative.setChecked(True)
    prompts.add([[5, 5]])
    assert list(prompts.features["person"]) == [True, False]
    c.segment_prompt()
    idle(qtbot, c)
    assert len(calls) == 1  # the same photo: its embedding was kept
    (label,) = set(c.review.people) - before
    person = c.review.people[label]
    assert person.origin == "prompt" and person.status == Status.PROPOSED
    expected, _ = segmenter.segment_points(image, [[80, 60], [5, 5]], [1, 0])
    assert np.all(np.asarray(c.people_layer.data)[expected & (c.people_layer.data != label)] != 0)


class SlowSegmenter(SamSegmenter):
    """The real tiny segmenter, slowed down per box, so Cancel lands mid-way."""

    def iter_boxes(self, image, boxes):
        for start, masks, scores in super().iter_boxes(image, boxes):
            time.sleep(0.2)
            yield start, masks, scores


def test_finding_people_never_blocks_napari_and_cancel_stops_it(panel, qtbot):
    viewer, widget = panel
    image, _ = street()
    viewer.add_image(image, name="photo", rgb=True)
    c = widget.controller
    segmenter = SlowSegmenter(build_tiny_sam(), device="cpu", chunk_pixels=240 * 320)
    c.use_models(detector=tiny_detector, segmenter=segmenter)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(20)
    c.find_people()
    qtbot.waitUntil(lambda: "masks" in widget.job.status.text(), timeout=60_000)
    widget.job.cancel_button.click()
    idle(qtbot, c)
    timer.stop()
    assert widget.job.status.text().startswith("Cancelled")
    assert c.people_layer is None and not c.review.people
    assert "photo people" not in viewer.layers
    gaps = np.diff(ticks)
    assert len(ticks) > 10 and gaps.max() < 0.25, f"GUI stalled {gaps.max():.2f} s"


def test_nothing_to_do_says_so(panel):
    viewer, widget = panel
    c = widget.controller
    c.find_people()
    assert "Open a photo first" in widget.job.status.text()
    viewer.add_image(np.zeros((3, 20, 20), np.uint8), name="stack")
    c.find_people()
    assert "'stack' has shape (3, 20, 20)" in widget.job.status.text()
    viewer.add_image(np.zeros((20, 20), np.uint8), name="flat")
    c.set_photo_layer(viewer.layers["flat"])
    c.apply()
    assert "Find people (or use masks you have) first" in widget.job.status.text()


def test_detector_boxes_can_be_shown(panel, qtbot, tiny_models):
    viewer, widget = panel
    image, _ = street()
    viewer.add_image(image, name="photo", rgb=True)
    c = widget.controller
    c.use_models(**tiny_models)
    widget.find.show_boxes.setChecked(True)
    c.find_people()
    idle(qtbot, c)
    boxes = viewer.layers["photo boxes"]
    assert len(boxes.data) == len(c.review.people) > 0
    assert viewer.layers.selection.active is c.people_layer  # A/R/N still work
    widget.find.show_boxes.setChecked(False)
    assert "photo boxes" not in viewer.layers


def test_offline_without_weights_says_what_to_do(panel, qtbot, monkeypatch, tmp_path):
    import dataclasses
    import socket

    from napari_fuzzy_people.models import weights

    with socket.socket() as s:  # a port nobody listens on: like being offline
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(weights.CACHE_ENV, str(tmp_path))
    for name, entry in list(weights.CHECKPOINTS.items()):
        url = f"http://127.0.0.1:{port}/{entry.filename}"
        monkeypatch.setitem(weights.CHECKPOINTS, name, dataclasses.replace(entry, url=url))
    viewer, widget = panel
    viewer.add_image(np.zeros((60, 80, 3), np.uint8), name="photo", rgb=True)
    widget.find.find_button.click()
    idle(qtbot, widget.controller, timeout=30_000)
    message = widget.job.status.text()
    assert "Could not download" in message and str(tmp_path) in message
    assert "paint people by hand" in message
    assert widget.controller.last_notice.severity == "error"
    assert "photo people" not in viewer.layers


def test_the_panel_offers_a_fast_and_an_accurate_pair(panel):
    _, widget = panel
    find, c = widget.find, widget.controller
    labels = [find.pair.itemText(i) for i in range(find.pair.count())]
    assert labels[0].startswith("Fast") and "CPU" in labels[0]
    assert labels[1].startswith("Accurate") and "GPU" in labels[1]
    # Short enough for a laptop's dock; what each pair is, in its tooltip.
    assert max(len(label) for label in labels) <= 14
    assert "SAM ViT-B" in find.pair.itemData(1, Qt.ItemDataRole.ToolTipRole)
    assert find.pair.currentData() == "accurate"  # the default
    choose(find.pair, "fast")
    assert find.detector.currentData() == "fasterrcnn_mobilenet_v3_large_fpn"
    assert find.segmenter.currentData() == "hq_vit_tiny"
    assert "Light HQ-SAM" in find.pair.toolTip()
    find.find_button.setEnabled(True)
    find.find_button.click()  # no photo: nothing runs, but the choice is taken
    assert (c.models.detector, c.models.segmenter) == (
        "fasterrcnn_mobilenet_v3_large_fpn",
        "hq_vit_tiny",
    )
    choose(find.segmenter, "vit_b")  # a mix of the two: neither pair
    assert find.pair.currentData() == "custom"
    choose(find.detector, "fasterrcnn_resnet50_fpn_v2")
    assert find.pair.currentData() == "accurate"


def test_the_fast_pair_finds_people_and_sam_on_a_cpu_hints_at_it(panel, qtbot):
    from doubles import tiny_hq_segmenter

    viewer, widget = panel
    image, _ = street()
    viewer.add_image(image, name="photo", rgb=True)
    c = widget.controller
    c.use_models(detector=tiny_detector, segmenter=tiny_hq_segmenter)
    c.find_people()
    idle(qtbot, c)
    assert c.review.people and c.people_layer is not None
    assert "No GPU here" not in widget.job.status.text()
    # SAM ViT-B (a tiny stand-in under its name) on the CPU: the fast pair is named.
    c.use_models(segmenter=SamSegmenter(build_tiny_sam(), device="cpu", name="sam_vit_b"))
    c.find_people()
    idle(qtbot, c)
    assert "No GPU here" in widget.job.status.text() and "Models: Fast" in widget.job.status.text()
