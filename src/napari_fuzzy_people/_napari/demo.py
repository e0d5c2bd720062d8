"""Open napari on the sample photo with the Fuzzy People panel docked.

    python -m napari_fuzzy_people._napari.demo [--screenshot PATH] [--apply]

With ``--screenshot`` the window is drawn, saved to PATH and closed (used for
the docs' pictures); ``--apply`` first approves the sample's person and runs
the panel's Apply.
"""

from __future__ import annotations

import argparse
import os
import sys

PLUGIN = "napari-fuzzy-people"


def has_display() -> bool:
    """Whether a window can be opened (always true off Linux)."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", metavar="PATH", help="save the window and exit")
    parser.add_argument("--apply", action="store_true", help="press Apply before the screenshot")
    parser.add_argument(
        "--screenshots", metavar="FOLDER", help="walk through the workflow, saving each step"
    )
    args = parser.parse_args(argv)
    if not has_display():
        print(
            "make demo needs a display: neither DISPLAY nor WAYLAND_DISPLAY is set "
            "(run it on a desktop session, or try `xvfb-run make demo` headless).",
            file=sys.stderr,
        )
        return 2

    import napari

    viewer = napari.Viewer(title="Fuzzy People")
    viewer.open_sample(PLUGIN, "astronaut")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Fuzzy People")
    # The sample comes with a hand-drawn person: start reviewing it at once.
    widget.adopt(viewer.layers["astronaut people"])
    widget.select_label(1)
    if args.screenshots:
        walkthrough(viewer, widget, args.screenshots)
        viewer.close()
        return 0
    if args.screenshot:
        if args.apply:
            widget.approve_selected()
            widget.apply()
            _wait_for(widget)
        viewer.screenshot(args.screenshot, canvas_only=False)
        viewer.close()
        return 0
    napari.run()
    return 0


def walkthrough(viewer, widget, folder) -> None:
    """Review, preview, edit, re-approve and apply on the sample; a picture of each."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    viewer.window.resize(1400, 1000)
    viewer.reset_view()

    def shot(name):
        _settle()
        viewer.screenshot(folder / name, canvas_only=False)

    shot("step1_review.png")
    widget.approve_selected()
    widget.preview.value = True
    _wait_for(widget, preview=True)
    shot("step2_preview.png")
    # A stroke of the brush on the approved person: it goes back to review.
    widget.preview.value = False
    layer = viewer.layers["astronaut people"]
    viewer.layers.selection.active = layer
    for x in range(330, 372, 3):
        layer.paint((300, x), 1, refresh=True)
    _settle(400)
    widget.select_label(1)
    shot("step3_edited.png")
    widget.approve_selected()
    widget.apply()
    _wait_for(widget)
    layer.visible = False
    viewer.layers.selection.active = viewer.layers["astronaut (fuzzy)"]
    shot("step4_applied.png")


def _settle(ms: int = 200) -> None:
    from qtpy.QtCore import QElapsedTimer
    from qtpy.QtWidgets import QApplication

    timer = QElapsedTimer()
    timer.start()
    while timer.elapsed() < ms:
        QApplication.processEvents()


def _wait_for(widget, timeout_ms: int = 60_000, preview: bool = False) -> None:
    from qtpy.QtCore import QElapsedTimer
    from qtpy.QtWidgets import QApplication

    timer = QElapsedTimer()
    timer.start()

    def busy():
        return widget._preview_worker is not None if preview else widget._worker is not None

    QApplication.processEvents()
    while busy() and timer.elapsed() < timeout_ms:
        QApplication.processEvents()


if __name__ == "__main__":
    sys.exit(main())
