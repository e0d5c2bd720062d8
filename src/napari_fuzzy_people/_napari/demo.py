"""Open napari on the sample photo with the Fuzzy People panel docked.

    python -m napari_fuzzy_people._napari.demo [--screenshot PATH] [--apply]
        [--screenshots FOLDER [--size 1366x768]]

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
    parser.add_argument(
        "--size", default="1366x768", help="window size for --screenshots (a laptop's screen)"
    )
    parser.add_argument(
        "--folder-screenshot", metavar="PATH", help="a folder's review queue, saved as PATH"
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
    if args.folder_screenshot:
        width, height = (int(v) for v in args.size.lower().split("x"))
        folder_walkthrough(viewer, args.folder_screenshot, size=(width, height))
        viewer.close()
        return 0
    viewer.open_sample(PLUGIN, "astronaut")
    _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, "Fuzzy People")
    session = panel.controller
    # The sample comes with a hand-drawn person: start reviewing it at once.
    session.adopt(viewer.layers["astronaut people"])
    wait_idle(session)
    if args.screenshots:
        width, height = (int(v) for v in args.size.lower().split("x"))
        walkthrough(viewer, session, args.screenshots, size=(width, height))
        viewer.close()
        return 0
    if args.screenshot:
        if args.apply:
            session.approve()
            session.apply()
            wait_idle(session)
        viewer.screenshot(args.screenshot, canvas_only=False)
        viewer.close()
        return 0
    napari.run()
    return 0


def walkthrough(viewer, session, folder, size=(1400, 1000), prefix="") -> None:
    """Review, preview, edit, re-approve and apply on the sample; a picture of each."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    viewer.window.resize(*size)
    viewer.reset_view()

    def shot(name):
        settle()
        viewer.screenshot(folder / f"{prefix}{name}", canvas_only=False)

    shot("step1_review.png")
    session.approve()
    session.set_preview(True)
    wait_idle(session)
    shot("step2_preview.png")
    # A stroke of the brush on the approved person: it goes back to review.
    session.set_preview(False)
    layer = viewer.layers["astronaut people"]
    viewer.layers.selection.active = layer
    for x in range(330, 372, 3):
        layer.paint((300, x), 1, refresh=True)
    settle(400)
    session.select(1)
    shot("step3_edited.png")
    session.approve()
    session.apply()
    wait_idle(session)
    layer.visible = False
    viewer.layers.selection.active = viewer.layers["astronaut (fuzzy)"]
    shot("step4_applied.png")
    layer.visible = True


def folder_walkthrough(viewer, path, size=(1366, 768)) -> None:
    """A folder of sample photos under review: the queue, one photo in review."""
    import tempfile
    from pathlib import Path

    import numpy as np
    from PIL import Image
    from skimage import data

    from ..core.people import Proposals, ProposedPerson
    from ..io.read import read_photo
    from ..io.workfolder import WorkFolder
    from ._sample_data import astronaut_people

    photos = Path(tempfile.mkdtemp()) / "field trip"
    photos.mkdir()
    image, labels = astronaut_people()
    Image.fromarray(image).save(photos / "01 astronaut.png")
    for name, picture in (("02 coffee", data.coffee()), ("03 cat", data.chelsea()),
                          ("04 rocket", data.rocket())):  # fmt: skip
        Image.fromarray(picture).save(photos / f"{name}.png")
    work = WorkFolder.create(photos / "fuzzy-people-work", photos)
    box = tuple(float(v) for v in (np.argwhere(labels).min(0)[::-1].tolist()
                                   + np.argwhere(labels).max(0)[::-1].tolist()))  # fmt: skip
    person = ProposedPerson(1, box, 0.98, 0.95, int(labels.sum()))
    info = {"sha256": read_photo(photos / "01 astronaut.png").sha256}
    work.save_proposals("01 astronaut.png", info, Proposals(labels, [person]))
    for name in ("02 coffee.png", "03 cat.png"):
        empty = Proposals(np.zeros(labels.shape, np.uint8), [])
        work.save_proposals(name, {"sha256": read_photo(photos / name).sha256}, empty)
    work.sign_off_no_people("02 coffee.png")
    rocket = read_photo(photos / "04 rocket.png")
    work.save_proposals("04 rocket.png", {"sha256": rocket.sha256},
                        Proposals(np.zeros(rocket.pixels.shape[:2], np.uint8), []))  # fmt: skip
    _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, "Fuzzy People")
    session = panel.controller
    viewer.window.resize(*size)
    session.open_folder(work.path)
    wait_idle(session)
    viewer.reset_view()
    settle(300)
    viewer.screenshot(path, canvas_only=False)


def settle(ms: int = 200) -> None:
    """Let Qt draw for ``ms`` milliseconds."""
    from qtpy.QtCore import QElapsedTimer
    from qtpy.QtWidgets import QApplication

    timer = QElapsedTimer()
    timer.start()
    while timer.elapsed() < ms:
        QApplication.processEvents()


def wait_idle(session, timeout_ms: int = 60_000) -> None:
    """Let Qt run until the session's job and preview are done."""
    from qtpy.QtCore import QElapsedTimer
    from qtpy.QtWidgets import QApplication

    timer = QElapsedTimer()
    timer.start()
    QApplication.processEvents()
    while (session.busy or session.preview_busy) and timer.elapsed() < timeout_ms:
        QApplication.processEvents()
    settle(50)


if __name__ == "__main__":
    sys.exit(main())
