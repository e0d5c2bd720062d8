"""The engine: anonymization methods and people masks (numpy and scipy only)."""

from .defaults import PanelDefaults, default_params, method_params
from .masks import dilate_disk, grow, people_boxes, select, size_relative
from .methods import METHODS, SOURCES, anonymize, blur, fill, pixelate, scramble
from .people import OverlapResolver, Progress, Proposals, ProposedPerson
from .review import Person, ReviewModel, Status

__all__ = [
    "METHODS",
    "SOURCES",
    "OverlapResolver",
    "PanelDefaults",
    "Person",
    "Progress",
    "Proposals",
    "ProposedPerson",
    "ReviewModel",
    "Status",
    "anonymize",
    "blur",
    "default_params",
    "dilate_disk",
    "fill",
    "grow",
    "method_params",
    "people_boxes",
    "pixelate",
    "scramble",
    "select",
    "size_relative",
]
