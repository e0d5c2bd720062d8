"""Draw napari's canvas (the GL driver loads), then import numba and compile the scramble kernels.

Run by ``test_numba_canvas.py`` in a fresh process with an empty
``NUMBA_CACHE_DIR``, so the kernels really compile: numba's own LLVM
(llvmlite) starts next to Mesa's ``libLLVM``, the order in which triton's
LLVM crashed napari. A crash ends this process with a signal.
"""

import faulthandler
import sys

faulthandler.enable()


def main() -> int:
    import napari
    import numpy as np

    from napari_fuzzy_people.models._triton import llvm_in_process

    assert "numba" not in sys.modules and "llvmlite" not in sys.modules
    viewer = napari.Viewer(show=True)
    image = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    viewer.add_image(image, rgb=True)
    viewer.screenshot(canvas_only=True)  # the canvas is drawn: the GL driver is loaded
    print("llvm in process:", llvm_in_process(), flush=True)
    from napari_fuzzy_people.core import scramble
    from napari_fuzzy_people.core.methods._kernels import kernels, warm_up

    print("kernels:", kernels(), "compiled:", warm_up(), flush=True)
    mask = np.zeros((120, 160), bool)
    mask[30:90, 40:120] = True
    out = scramble(image, mask, radius=8, source="background", margin=2, rng=0)
    print("scrambled:", int((out != image).any(axis=-1).sum()), flush=True)
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
