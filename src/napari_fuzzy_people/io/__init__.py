"""Reading and writing images safely (no napari, no Qt, no torch)."""

from .errors import ExportError
from .export import export_path, save_image

__all__ = ["ExportError", "export_path", "save_image"]
