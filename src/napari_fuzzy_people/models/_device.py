"""Where models run: CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

import os

import numpy as np
import torch

__all__ = ["as_rgb_uint8", "choose_device"]


def choose_device(device: str | torch.device | None = None) -> torch.device:
    """The device to run on: ``device`` if given, else CUDA, MPS, or CPU.

    On the CPU, torch's intra-op threads are set to the cores this process
    may use (containers and ``taskset`` often allow fewer than the machine
    has, and oversubscribed threads run slower, not faster).
    """
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    # OMP_NUM_THREADS set: someone shares the cores out (Dask workers, say); keep it.
    if usable and torch.get_num_threads() != usable and not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(usable)
    return torch.device("cpu")


def as_rgb_uint8(image) -> np.ndarray:
    """An (M, N, 3) uint8 view of what napari holds: gray, RGB or RGBA, any dtype.

    Integers are scaled by their dtype's range, floats are taken as 0-1 when
    they fit and scaled by their maximum otherwise. Alpha is dropped.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(
            f"expected a gray (M, N), RGB or RGBA (M, N, 3|4) image, got shape {image.shape}"
        )
    image = image[..., :3] if image.shape[2] == 4 else image
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image)
    if image.dtype.kind in "ui":
        scale = 255 / np.iinfo(image.dtype).max
    elif image.dtype.kind == "f":
        top = float(np.nanmax(image)) if image.size else 1.0
        scale = 255 / top if top > 1 else 255
    else:
        raise ValueError(f"image dtype must be integer or float, got {image.dtype}")
    return np.clip(np.nan_to_num(image * scale), 0, 255).round().astype(np.uint8)
