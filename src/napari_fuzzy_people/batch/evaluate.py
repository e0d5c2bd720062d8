"""Measured defaults: how many people the leak check's detectors still find.

``fuzzy-people evaluate DATASET`` anonymizes every photo of a dataset in the
coco-people format with its ground-truth masks (everyone approved), for each
method over a grid of strengths, runs the leak detectors on the result, and
counts how many of the people the detectors find in the *original* photos
are still found. A detection finds the person whose mask covers most of its
box (at least :data:`~napari_fuzzy_people.core.leaks.COVER`), the leak
check's own rule (:func:`~napari_fuzzy_people.core.leaks.find_leaks`).

The dataset is a folder with ``images/<id>.jpg`` (or PNG/TIFF) and
``masks/<id>.png``: 0 background, 1..N one label per person, 255 a crowd
(many people, not separated). The crowd is anonymized like a person, but
never counted: it is not one person to find.

Everything random is seeded per photo and setting, so a run is reproducible
and one setting's numbers do not depend on which others were run.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from ..core.defaults import PanelDefaults, method_params
from ..core.leaks import SAME_PLACE, find_leaks, iou
from ..core.masks import reuse_boxes
from ..core.methods import METHODS, anonymize, get_method
from ..core.people import Progress

__all__ = [
    "CROWD",
    "FLOORS",
    "FRACTIONS",
    "Curve",
    "DatasetError",
    "Point",
    "Setting",
    "dataset_photos",
    "evaluate",
    "face_detector_alone",
    "grid",
    "people_found",
    "plot_curve",
    "table_markdown",
    "upper_bound",
]

#: The crowd label of the coco-people format: anonymized, never counted.
CROWD = 255
#: Strength as a share of each person's height, the grid's default.
FRACTIONS = (0.005, 0.01, 0.02, 0.05, 0.1)
#: Strength floors (pixels) on the grid: small, so the fraction decides for
#: all but tiny people (the panel's floor of 16 px would hide the curve).
FLOORS = {"scramble": 1, "pixelate": 1, "blur": 0.5}
#: The goal: at the defaults, at most this share of the people found in the
#: originals may still be found.
GOAL = 0.01
_PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")


class DatasetError(ValueError):
    """The dataset folder is not in the coco-people layout (one line, for people)."""


@dataclass(frozen=True)
class Setting:
    """One point of the evaluation: a method at one relative strength.

    ``fraction`` is the strength as a share of each person's height, with
    ``floor`` pixels at least (``None`` for methods without a strength:
    fill, vanish). The margin is always the panel's (1.25 % of the height,
    at least 4 px), so only the strength varies.
    """

    method: str
    fraction: float | None = None
    floor: float = 0
    source: str = "background"
    default: bool = False  # the panel's own setting, the one the goal is about

    @property
    def curve(self) -> str:
        """The line it belongs to on the plot: ``"scramble (background)"``, ``"blur"``."""
        return f"{self.method} ({self.source})" if self.method == "scramble" else self.method

    @property
    def key(self) -> str:
        """Stable name, also the seed's: ``scramble/background/0.05/1``."""
        return f"{self.curve}/{self.fraction}/{self.floor}" + ("/default" if self.default else "")

    @property
    def strength(self) -> str:
        if self.fraction is None:
            return "none"
        return f"{self.fraction:.1%} of height (floor {self.floor:g} px)"

    def params(self, labels) -> dict:
        """``anonymize``'s keyword arguments on ``labels`` (per person)."""
        panel = PanelDefaults()
        defaults = replace(panel, strength_fraction=self.fraction or 0.0)
        return method_params(
            labels,
            method=self.method,
            strength=self.floor or 1,  # unused by methods without a strength
            margin=panel.margin_minimum,
            source=self.source,
            defaults=defaults,
        )


def grid(methods: Iterable[str] = METHODS, fractions: Sequence[float] = FRACTIONS) -> list:
    """The settings to evaluate: each method over ``fractions``, and the panel default.

    Scramble is evaluated from both sources; fill and vanish, which have no
    strength, once each. The panel default (scramble from the background,
    5 % with its floor of 16 px) comes last, marked ``default``.
    """
    settings = []
    for name in methods:
        m = get_method(name)
        if m.strength is None:
            settings.append(Setting(name))
            continue
        sources = ("background", "any") if m.takes_source else ("background",)
        for source in sources:
            settings += [Setting(name, f, FLOORS.get(name, 1), source) for f in fractions]
    d = PanelDefaults()
    settings.append(
        Setting(d.method, d.strength_fraction, d.strength_minimum, d.source, default=True)
    )
    return settings


def dataset_photos(folder) -> list[tuple[str, Path, Path]]:
    """``(id, photo, mask)`` for every photo of a coco-people folder, by id.

    Raises :class:`DatasetError` when the folder, ``images/`` or ``masks/``
    is missing, it holds no photo, or a photo has no mask.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such folder")
    images, masks = folder / "images", folder / "masks"
    for part in (images, masks):
        if not part.is_dir():
            raise DatasetError(
                f"{folder}: not a coco-people dataset (no {part.name}/ folder; expected "
                "images/<id>.jpg and masks/<id>.png)"
            )
    photos = sorted(p for p in images.iterdir() if p.suffix.lower() in _PHOTO_SUFFIXES)
    if not photos:
        raise DatasetError(f"{images}: no photos (JPEG, PNG or TIFF)")
    missing = [p.name for p in photos if not (masks / f"{p.stem}.png").is_file()]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise DatasetError(f"{masks}: no mask for {', '.join(missing[:3])}{more}")
    return [(p.stem, p, masks / f"{p.stem}.png") for p in photos]


def people_found(detections, labels: np.ndarray) -> dict[int, list[tuple]]:
    """The people (labels, the crowd excepted) that ``detections`` find, with the boxes.

    The leak check's ownership rule decides: a detection finds the person
    whose mask covers most of its box. One in nobody's mask, or on the
    crowd, finds no one to count.
    """
    people = [int(v) for v in np.unique(labels) if v not in (0, CROWD)]
    found: dict[int, list[tuple]] = {}
    for f in find_leaks(detections, labels, approved=people):
        if f.label is not None:
            found.setdefault(f.label, []).append(f.box)
    return found


def _same_place(before: list[tuple], after: list[tuple]) -> bool:
    # Where a dismissal would follow it: the leak check's own "same place".
    return any(iou(a, b) >= SAME_PLACE for a in after for b in before)


@dataclass
class Point:
    """One setting's count over the dataset: ``still`` of ``found`` people.

    ``same_place`` counts those of them found again where they were found in
    the original (a detection overlapping an original one by
    :data:`~napari_fuzzy_people.core.leaks.SAME_PLACE`); the others were
    found by a detection elsewhere on their mask (another face in the
    static, an animal's face, a face the mask half covers).
    """

    setting: Setting
    found: int = 0
    still: int = 0
    same_place: int = 0
    still_by_photo: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def share(self) -> float:
        return self.still / self.found if self.found else float("nan")


@dataclass
class Curve:
    """A whole evaluation: the points, the denominator and what measured it."""

    points: list[Point]
    photos: int
    people: int  # in the masks, the crowd excepted
    found: int  # of them, found by the detectors in the originals
    detectors: list[dict]
    seed: int

    @property
    def faces_only(self) -> bool:
        """Whether no person detector looked: the numbers are about faces alone."""
        return not any(d.get("kind") == "person" for d in self.detectors)

    @property
    def default(self) -> Point | None:
        return next((p for p in self.points if p.setting.default), None)


def _rng(seed: int, photo: str, setting: Setting) -> np.random.Generator:
    # By name, not position: a setting's result does not depend on the grid around it.
    return np.random.default_rng(
        [seed, zlib.crc32(photo.encode()), zlib.crc32(setting.key.encode())]
    )


def evaluate(
    photos: Sequence[tuple[str, Path, Path]],
    detectors: Sequence,
    settings: Sequence[Setting],
    *,
    seed: int = 0,
) -> Generator[Progress, None, Curve]:
    """Measure every setting on every photo; a generator of progress returning a :class:`Curve`.

    One photo is in memory at a time; what is kept per photo is only who
    was found. A photo in whose original the detectors find nobody is not
    anonymized: nobody there can still be found.

    Parameters
    ----------
    photos : sequence of (id, photo path, mask path)
        As :func:`dataset_photos` gives them.
    detectors : sequence of LeakDetector
        What looks for people, in the originals and the results.
    settings : sequence of Setting
        As :func:`grid` gives them.
    seed : int
        Seeds every random method (per photo and setting).
    """
    from ..io.labels import read_labels
    from ..io.read import read_photo

    if not detectors:
        raise ValueError("the evaluation needs at least one detector")
    points = [Point(s) for s in settings]
    total, done = len(photos) * (1 + len(settings)), 0
    people = found = 0
    for name, photo_path, mask_path in photos:
        image = read_photo(photo_path).pixels
        labels = read_labels(mask_path, shape=image.shape[:2])
        everyone = [int(v) for v in np.unique(labels) if v != 0]  # the crowd too
        people += sum(1 for v in everyone if v != CROWD)
        before = people_found(_detect(detectors, image), labels)
        found += len(before)
        done += 1
        yield Progress(f"{name}: original", done, total)
        for point in points:
            point.found += len(before)
            if before:
                with reuse_boxes():  # the strengths, margins and method share one pass
                    rng = _rng(seed, name, point.setting)
                    params = point.setting.params(labels)
                    result = anonymize(image, labels, labels=everyone, rng=rng, **params)
                after = people_found(_detect(detectors, result), labels)
                still = before.keys() & after.keys()
                point.still += len(still)
                point.same_place += sum(_same_place(before[k], after[k]) for k in still)
                point.still_by_photo[name] = tuple(sorted(still))
            done += 1
            yield Progress(f"{name}: {point.setting.key}", done, total)
    return Curve(points, len(photos), people, found, [d.describe() for d in detectors], seed)


def _detect(detectors, image) -> list:
    return [hit for det in detectors for hit in det.find(image)]


def face_detector_alone(face: str = "libfacedetection", face_weights="default"):
    """The leak check's face detector without its person detector (``--faces-only``).

    Raises :class:`~napari_fuzzy_people.models.leaks.LeakCheckUnavailable`
    when its weights or package cannot be had.
    """
    from ..models.leaks import leak_detectors

    return leak_detectors(person=None, face=face, face_weights=face_weights)[0]


def upper_bound(still: int, found: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound on the still-found share.

    With few people found, a measured 0 proves little: with 30 found, the
    share could still be up to 9.5 % (95 %).

    >>> round(upper_bound(0, 30), 3)
    0.095
    """
    from scipy.stats import beta

    if found == 0:
        return float("nan")
    if still >= found:
        return 1.0
    return float(beta.ppf(confidence, still + 1, found - still))


def _detector_line(curve: Curve) -> str:
    names = ", ".join(f"{d.get('name', '?')} ({d.get('kind', '?')})" for d in curve.detectors)
    if curve.faces_only:
        return (
            f"**Faces only**: measured with {names}, no person detector. A person "
            "whose face is not found counts as not found, even where a person "
            "detector might still find them."
        )
    return f"Measured with {names}."


def table_markdown(curve: Curve) -> str:
    """The evaluation as a markdown table, with what measured it and the denominator."""
    lines = [
        _detector_line(curve),
        "",
        f"{curve.found} of the {curve.people} people in the {curve.photos} photos' masks "
        "are found by the detectors in the originals (the crowd regions not counted); "
        f"seed {curve.seed}; margin: the panel's (1.25 % of height, at least 4 px). "
        "*Still found*: a detection in the result is on their mask (the leak check's rule); "
        f"*in the same place*: one overlaps a detection that found them in the original "
        f"(IoU >= {SAME_PLACE:g}).",
        "",
        "| method | strength | still found | share | 95 % upper bound | in the same place |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for p in curve.points:
        name = p.setting.curve + (" **panel default**" if p.setting.default else "")
        bound = upper_bound(p.still, p.found)
        lines.append(
            f"| {name} | {p.setting.strength} | {p.still} of {p.found} | "
            f"{_percent(p.share)} | {_percent(bound)} | {p.same_place} |"
        )
    d = curve.default
    if d is not None and d.found:
        met = "meets" if d.share <= GOAL else "does NOT meet"
        lines += [
            "",
            f"At the panel default, {d.still} of {d.found} people are still found "
            f"({_percent(d.share)}): as measured, it {met} the goal of at most {GOAL:.0%}. "
            f"With {d.found} people found, the true share could be up to "
            f"{_percent(upper_bound(d.still, d.found))} (one-sided 95 % bound). "
            f"Of the {d.still} still found, {d.same_place} were found in the same place "
            "as in the original.",
        ]
    return "\n".join(lines) + "\n"


def _percent(value: float) -> str:
    return "n/a" if np.isnan(value) else f"{value:.1%}"


def plot_curve(curve: Curve, path) -> Path:
    """Plot the still-found share against strength, one line per method; a PNG at ``path``.

    Methods without a strength (fill, vanish) are horizontal lines; the
    panel default is a star; the goal (1 %) a dotted line. The y axis is
    linear below 1 % and logarithmic above, so both 0 and 100 % show.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: never a window, never Qt
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=100)
    try:
        curves: dict[str, list[Point]] = {}
        for p in curve.points:
            if not p.setting.default:
                curves.setdefault(p.setting.curve, []).append(p)
        fractions = set()
        for i, (name, points) in enumerate(curves.items()):
            color = f"C{i}"
            if points[0].setting.fraction is None:
                share = points[0].share
                ax.axhline(100 * share, ls="--", lw=1.2, color=color,
                           label=f"{name} (no strength): {_percent(share)}")  # fmt: skip
                continue
            points = sorted(points, key=lambda p: p.setting.fraction)
            fractions.update(p.setting.fraction for p in points)
            xs = [100 * p.setting.fraction for p in points]
            ax.plot(xs, [100 * p.share for p in points], "o-", ms=4, color=color, label=name)
        d = curve.default
        if d is not None:
            fractions.add(d.setting.fraction)
            ax.plot([100 * d.setting.fraction], [100 * d.share], "*", ms=14, color="k",
                    label=f"panel default: {_percent(d.share)}", zorder=5)  # fmt: skip
        ax.axhline(100 * GOAL, color="crimson", ls=":", lw=1.5, label=f"goal: {GOAL:.0%}")
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1)
        ax.set_ylim(0, 100)
        # Plain numbers: the strengths evaluated, and 0 / 1 / 10 / 100 %.
        ticks = sorted(100 * f for f in fractions)
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.set_xticks([], minor=True)
        ax.set_yticks([0, 1, 10, 100], ["0", "1", "10", "100"])
        ax.set_xlabel("strength, % of each person's height")
        ax.set_ylabel("still found, % of people\nfound in the originals")
        who = "faces only" if curve.faces_only else "people and faces"
        ax.set_title(
            f"Still found after anonymizing ({who}; n = {curve.found} people found "
            f"in {curve.photos} photos)",
            fontsize=10,
        )
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    # A palette of 256 (no dithering) keeps every colour within a few levels at
    # a quarter of the size: small enough to commit beside the docs.
    with Image.open(buffer) as im:
        small = im.convert("RGB").quantize(
            256, Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
        )
    path = Path(path)
    small.save(path, optimize=True)
    return path
