"""The engine: anonymization methods and people masks (numpy and scipy only)."""

from .defaults import PanelDefaults, default_params, method_params
from .masks import dilate_disk, grow, people_boxes, select, size_relative
from .methods import (
    METHODS,
    REGISTRY,
    SOURCES,
    Method,
    anonymize,
    blur,
    fill,
    get_method,
    pixelate,
    scramble,
)
from .people import OverlapResolver, Progress, Proposals, ProposedPerson
from .review import Person, ReviewModel, Status
from .settings import AnonymizeSettings

__all__ = [
    "METHODS",
    "REGISTRY",
    "SOURCES",
    "AnonymizeSettings",
    "Method",
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
    "get_method",
    "grow",
    "method_params",
    "people_boxes",
    "pixelate",
    "scramble",
    "select",
    "size_relative",
]
