"""Opening the panel compiles the scramble kernels in a worker, so the first preview does not."""

from napari_fuzzy_people._napari.controller import warm_kernels
from napari_fuzzy_people.core.methods import _background_numba, kernels


def test_opening_the_panel_compiles_the_scramble_kernels_once(panel, qtbot):
    ready = warm_kernels()
    assert ready is warm_kernels()  # one warm-up per process, whatever the panels
    qtbot.waitUntil(ready.is_set, timeout=180_000)
    assert kernels() == "numba"
    # The panel's default (background picks on a label image) is compiled.
    assert _background_numba._bands.signatures
