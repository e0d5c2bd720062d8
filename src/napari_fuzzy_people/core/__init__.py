"""The engine: anonymization methods and people masks (numpy and scipy only)."""

from .defaults import PanelDefaults, default_params, method_params
from .leaks import Detection, Dismissal, Finding, LeakDetector, LeakReport, check_leaks
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
    "Detection",
    "Dismissal",
    "Finding",
    "LeakDetector",
    "LeakReport",
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
    "check_leaks",
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
