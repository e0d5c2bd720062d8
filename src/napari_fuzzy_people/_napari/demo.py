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


def _wait_for(widget, timeout_ms: int = 60_000) -> None:
    from qtpy.QtCore import QElapsedTimer
    from qtpy.QtWidgets import QApplication

    timer = QElapsedTimer()
    timer.start()
    while widget._worker is not None and timer.elapsed() < timeout_ms:
        QApplication.processEvents()


if __name__ == "__main__":
    sys.exit(main())
