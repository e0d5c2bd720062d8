"""Open napari with a drawn canvas, dock the panel, press Find people: the user's order.

Run by ``test_desktop.py`` in a fresh process (``PYTHONPATH`` = ``tests``). The
tiny models are built in the panel's worker, so torchvision and Segment
Anything are first imported there, after the OpenGL driver is loaded, as on
a user's desktop. Prints what it found; a crash ends it with a signal.
"""

import faulthandler
import sys

faulthandler.enable()


def detector():
    from doubles import tiny_detector

    return tiny_detector()


def segmenter():
    from doubles import tiny_segmenter

    return tiny_segmenter()


def main() -> int:
    import napari
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    from napari_fuzzy_people._napari.demo import wait_idle
    from napari_fuzzy_people.models._triton import llvm_in_process
    from scenes import PLUGIN, street

    heavy = [m for m in ("torch", "torchvision", "segment_anything") if m in sys.modules]
    assert not heavy, f"imported before the canvas: {heavy}"
    viewer = napari.Viewer(show=True)
    image, _ = street()
    viewer.add_image(image, name="street", rgb=True)
    viewer.screenshot(canvas_only=True)  # the canvas is drawn: the GL driver is loaded
    print("llvm in process:", llvm_in_process(), flush=True)
    _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, "Fuzzy People")
    panel.controller.use_models(detector=detector, segmenter=segmenter)
    QTest.mouseClick(panel.find.find_button, Qt.MouseButton.LeftButton)
    wait_idle(panel.controller, timeout_ms=240_000)
    print("found people:", len(panel.controller.review.people), flush=True)
    print("triton loaded:", sys.modules.get("triton") is not None, flush=True)
    print("notice:", panel.controller.last_notice, flush=True)
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
