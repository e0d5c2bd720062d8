"""Open napari with the panel on a photo, then quit at once (run by test_desktop).

``close``: the user closes the window, then Python exits; otherwise the script
simply ends with the window open, as a script or notebook kernel does. Either
way the kernels' warm-up (compiling, with an empty numba cache) is still
running when the interpreter shuts down.
"""

import sys


def main(how: str) -> None:
    import napari

    from scenes import PLUGIN, street

    viewer = napari.Viewer(show=True)
    image, _ = street()
    viewer.add_image(image, name="street", rgb=True)
    viewer.window.add_plugin_dock_widget(PLUGIN, "Fuzzy People")
    viewer.screenshot(canvas_only=True)  # the window is drawn
    if how == "close":
        viewer.close()
    print("quitting", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
