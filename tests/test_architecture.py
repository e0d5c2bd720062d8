"""The package's shape: layers, a light root import, GUI code only in _napari."""

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

GUI = {"napari", "qtpy", "magicgui", "superqt", "PyQt5", "PyQt6", "PySide2", "PySide6", "vispy"}
HEAVY = {"torch", "torchvision", "segment_anything"}


def test_import_linter_contracts_hold():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([lint_imports, "--no-cache"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_only_napari_layer_imports_gui_code():
    graph = grimp.build_graph("napari_fuzzy_people", include_external_packages=True)
    offenders = []
    for module in sorted(graph.modules):
        if not module.startswith("napari_fuzzy_people") or module.startswith(
            "napari_fuzzy_people._napari"
        ):
            continue
        imported = graph.find_modules_directly_imported_by(module)
        offenders += [(module, name) for name in imported if name.split(".")[0] in GUI]
    assert offenders == []


@pytest.mark.parametrize("module", ["napari_fuzzy_people", "napari_fuzzy_people.core"])
def test_importing_loads_no_gui_and_no_torch(module):
    code = (
        f"import sys, {module}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{sorted(GUI | HEAVY)!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
