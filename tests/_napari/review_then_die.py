"""Review a folder in the panel, then die by SIGKILL right after an edit (run by test_queue).

Opens the folder, finds the people of the first photo, approves them all, waits
until that is saved, paints one more stroke (the last edit, possibly lost), and
kills itself without any chance to save or clean up.
"""

import os
import signal
import sys


def main(folder: str) -> None:
    import napari
    from qtpy.QtWidgets import QApplication

    from doubles import tiny_detector, tiny_segmenter
    from napari_fuzzy_people._napari.demo import settle, wait_idle
    from scenes import PLUGIN

    viewer = napari.Viewer(show=True)
    _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, "Fuzzy People")
    c = panel.controller
    c.use_models(detector=tiny_detector, segmenter=tiny_segmenter)
    c.open_folder(folder)
    wait_idle(c)
    c.find_people()
    wait_idle(c)
    c.approve_all()
    settle(50)
    while c.saving:
        QApplication.processEvents()
    print("approved and saved", flush=True)
    c.people_layer.paint((5, 5), 1, refresh=True)  # the last edit
    settle(350)  # its save may be under way, or not yet
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main(sys.argv[1])
