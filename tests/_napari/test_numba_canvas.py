"""numba's LLVM next to the GL driver's: compiling the kernels after the canvas is drawn."""

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba")

SCRIPT = Path(__file__).with_name("numba_after_canvas.py")


def test_compiling_kernels_after_the_canvas_does_not_crash(tmp_path):
    def no_core_files():
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    env.pop("NAPARI_FUZZY_PEOPLE_KERNELS", None)
    result = subprocess.run(
        [sys.executable, str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        preexec_fn=no_core_files,
        env=env,
    )
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr[-3000:])
    assert "kernels: numba compiled: True" in result.stdout
    assert int(result.stdout.split("scrambled:")[1].split()[0]) > 0
    assert any((tmp_path / "numba-cache").rglob("*.nbi"))  # compiled here, not loaded
