"""Keep triton out of a process whose OpenGL driver has loaded LLVM (Mesa).

torch's CUDA wheels bring triton, and importing torchvision or
segment-anything imports it (through ``torch._dynamo``). triton carries its
own LLVM; Mesa's GL drivers (Intel, AMD, llvmpipe in VMs and remote desktops)
load the system's ``libLLVM``. Loaded second, triton's initialisation
crashes the process: napari dies on the first Find people.

Our models never compile anything, so they do not need triton. Once this
package is imported, an import of triton fails cleanly (torch takes that as
"no triton") in a process that already has ``libLLVM`` mapped; anywhere else
(the command line, NVIDIA's GL driver) triton loads as usual. Set
``NAPARI_FUZZY_PEOPLE_ALLOW_TRITON=1`` to turn the guard off.
"""

from __future__ import annotations

import importlib.abc
import os
import sys

__all__ = ["ENV_ALLOW", "install", "llvm_in_process"]

ENV_ALLOW = "NAPARI_FUZZY_PEOPLE_ALLOW_TRITON"


def llvm_in_process() -> bool:
    """Whether a shared ``libLLVM`` is mapped into this process (Linux; False elsewhere)."""
    try:
        with open("/proc/self/maps", "rb") as maps:
            return any(b"/libLLVM" in line for line in maps)
    except OSError:
        return False


class _TritonGuard(importlib.abc.MetaPathFinder):
    """Refuses ``triton`` at the moment it is imported, if LLVM is already there."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] != "triton" or os.environ.get(ENV_ALLOW):
            return None
        if not llvm_in_process():
            return None
        raise ModuleNotFoundError(
            "triton is kept out of this process: its LLVM crashes next to the GL "
            f"driver's (set {ENV_ALLOW}=1 to allow it)",
            name=fullname,
        )


def install() -> None:
    """Put the guard first on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _TritonGuard) for finder in sys.meta_path):
        sys.meta_path.insert(0, _TritonGuard())
