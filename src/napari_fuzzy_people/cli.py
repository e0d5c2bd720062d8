"""``fuzzy-people``: anonymize photos from the command line.

    fuzzy-people apply IMAGE... --masks LABELS... -o OUTDIR [--review DIR]
        [--people all|1,3,7] [--method scramble|pixelate|blur|fill] [--radius N]
        [--margin N] [--source background|any] [--force-png] [--overwrite] [--seed N]

Applies label masks made by another tool (any nonzero label is a person; they
count as reviewed and approved by whoever made them) and exports each photo
with the same guarantees as the panel: inputs are never written, metadata is
dropped, each photo's files appear whole or not at all, and the export folder
holds only anonymized photos and one manifest. Masks and records go to the
review folder (``--review``), never to the export folder.

Each failed file gets one line on stderr; the others are still done; a
summary ends the run. Exit status: 0 all done, 1 some failed, 2 a usage
error (nothing was done), 130/143 interrupted (Ctrl+C, SIGTERM). Killed at
any moment, the same command run again finishes the job: photos already
exported are skipped.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

import numpy as np

from . import __version__
from .core import METHODS, AnonymizeSettings, PanelDefaults, ReviewModel, select
from .io.errors import ExportError
from .io.export import export_path
from .io.labels import read_labels
from .io.manifest import MANIFEST_NAME, read_manifest
from .io.read import ImageReadError, read_photo, sniff_format
from .io.record import export_anonymized, prepare_folders

_PROG = "fuzzy-people"


def _people(text: str):
    if text == "all":
        return None
    try:
        labels = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--people takes 'all' or labels like 1,3,7, not {text!r}"
        ) from None
    if not labels or min(labels) < 1:
        raise argparse.ArgumentTypeError("--people labels are 1 or more")
    return labels


def _whole(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, not {value}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    d = PanelDefaults()
    parser = argparse.ArgumentParser(prog=_PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    apply = sub.add_parser(
        "apply",
        help="anonymize photos with given label masks",
        description="Anonymize photos with label masks made elsewhere, and export them safely.",
    )
    apply.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    apply.add_argument(
        "--masks",
        nargs="+",
        type=Path,
        required=True,
        metavar="LABELS",
        help="one label image (PNG/TIFF, same size as the upright photo) per IMAGE",
    )
    apply.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="OUTDIR",
        help="export folder, safe to share: anonymized photos and one manifest only "
        "(created if missing)",
    )
    apply.add_argument(
        "--review",
        type=Path,
        default=None,
        metavar="DIR",
        help="private folder for each photo's masks and record (source path and hash, "
        "people, settings); not inside OUTDIR. Without it they are not kept",
    )
    apply.add_argument("--people", type=_people, default=None, help="'all' or labels: 1,3,7")
    apply.add_argument("--method", choices=METHODS, default=d.method)
    apply.add_argument(
        "--radius",
        type=_whole(1),
        default=None,
        help="strength in pixels for every person (radius, block or sigma by method); "
        f"default: {d.strength_fraction * 100:g}%% of each person's height, at least "
        f"{d.strength_minimum}",
    )
    apply.add_argument(
        "--margin",
        type=_whole(0),
        default=None,
        help=f"grow each person by this many pixels; default: {d.margin_fraction * 100:g}%% of "
        f"each person's height, at least {d.margin_minimum}",
    )
    apply.add_argument("--source", choices=["background", "any"], default=d.source)
    apply.add_argument("--force-png", action="store_true", help="write PNG (lossless)")
    apply.add_argument("--overwrite", action="store_true", help="replace earlier outputs")
    apply.add_argument(
        "--seed",
        type=_whole(0),
        default=None,
        help="reproducible scramble (recorded in the review folder only)",
    )
    return parser


def _settings(args) -> AnonymizeSettings:
    d = PanelDefaults()
    fixed = args.radius is not None or args.margin is not None
    return AnonymizeSettings(
        method=args.method,
        strength=args.radius if args.radius is not None else d.strength_minimum,
        margin=args.margin if args.margin is not None else d.margin_minimum,
        source=args.source,
        relative=not fixed,
    )


class _Stop(BaseException):
    """SIGINT or SIGTERM: stop after undoing the photo in progress."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_stop(signum, frame):
    raise _Stop(signum)


def _plan(args, parser) -> dict[Path, Path]:
    """Each readable input's output path; refuses collisions up front (exit 2)."""
    targets: dict[Path, Path] = {}
    owners: dict[Path, Path] = {}
    inputs = {p.resolve() for p in (*args.images, *args.masks)}
    for image in args.images:
        try:
            fmt = sniff_format(image)
        except ImageReadError:
            continue  # reported when its turn comes
        target = export_path(args.output, image.stem, image, fmt=fmt, force_png=args.force_png)
        target = target.parent.resolve() / target.name
        if target in owners:
            parser.error(
                f"{owners[target]} and {image} would both be exported as {target}; "
                "rename one, or export them in separate runs to different folders"
            )
        sidecars = [target]
        if args.review is not None:
            sidecars += [
                args.review.resolve() / f"{target.name}{s}"
                for s in (".people.png", ".record.json")
            ]
        for path in sidecars:
            if path in inputs or path.name == MANIFEST_NAME:
                parser.error(f"{image}: exporting it would write {path}, which is an input")
        owners[target] = image
        targets[image] = target
    return targets


def _apply_one(image_path: Path, masks_path: Path, args, settings, protect) -> Path:
    photo = read_photo(image_path)
    labels = read_labels(masks_path, shape=photo.pixels.shape[:2])
    if args.people is not None:
        present = set(np.unique(labels).tolist()) - {0}
        missing = sorted(set(args.people) - present)
        if missing:
            raise ValueError(f"{masks_path}: no person with label {missing}")
        labels = select(labels, args.people)
    review = ReviewModel()
    review.adopt(labels)
    review.approve(*review.people)
    result = export_anonymized(
        photo.pixels,
        labels,
        review,
        settings,
        args.output,
        name=image_path.stem,
        review_folder=args.review,
        photo=photo,
        seed=args.seed,
        force_png=args.force_png,
        overwrite=args.overwrite,
        protect=protect,
    )
    return result.image


def _reason(err: BaseException, image_path: Path) -> str:
    """One line for one failed photo: which photo, and why (never a traceback)."""
    if isinstance(err, MemoryError):
        text = "not enough memory to process this photo"
    elif isinstance(err, (ImageReadError, ExportError, ValueError, OSError)):
        text = str(err)
    else:
        text = f"unexpected {type(err).__name__}: {err}"
    text = " ".join(text.split()) or type(err).__name__
    shown = str(image_path)
    return text if text.startswith(shown) else f"{shown}: {text}"


def main(argv=None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if len(args.images) != len(args.masks):
        parser.error(
            f"{len(args.images)} images but {len(args.masks)} masks; "
            "give one mask file per image, in the same order"
        )
    try:
        settings = _settings(args)
    except ValueError as err:
        parser.error(str(err))
    try:
        args.output.mkdir(parents=True, exist_ok=True)
        if args.review is not None:
            args.review.mkdir(mode=0o700, parents=True, exist_ok=True)
        prepare_folders(args.output, args.review)
    except (ExportError, OSError) as err:
        print(f"{_PROG}: {err}", file=sys.stderr)
        return 2
    targets = _plan(args, parser)
    protect = [*args.images, *args.masks]
    main_thread = threading.current_thread() is threading.main_thread()
    saved = {}
    if main_thread:
        for signum in (signal.SIGINT, signal.SIGTERM):
            saved[signum] = signal.signal(signum, _raise_stop)
    done = skipped = failed = 0
    try:
        listed = read_manifest(args.output)["outputs"]
        for image_path, masks_path in zip(args.images, args.masks, strict=True):
            target = targets.get(image_path)
            if (
                target is not None
                and not args.overwrite
                and target.name in listed
                and os.path.isfile(target)
            ):
                skipped += 1
                print(f"{image_path} -> {target} (already exported)")
                continue
            try:
                written = _apply_one(image_path, masks_path, args, settings, protect)
            except Exception as err:  # one line per photo; the batch goes on
                failed += 1
                print(f"{_PROG}: {_reason(err, image_path)}", file=sys.stderr)
            else:
                done += 1
                print(f"{image_path} -> {written}")
    except _Stop as stop:
        name = signal.Signals(stop.signum).name
        print(
            f"{_PROG}: stopped by {name} with {done + skipped} of {len(args.images)} photos "
            "exported; no half-written file is left. Run the same command again to finish "
            "(exported photos are skipped).",
            file=sys.stderr,
        )
        return 128 + stop.signum
    except (ExportError, OSError) as err:
        print(f"{_PROG}: {err}", file=sys.stderr)
        return 1
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
    summary = f"{done + skipped} of {len(args.images)} photos anonymized"
    if skipped:
        summary += f" ({skipped} already exported earlier)"
    if failed:
        summary += f", {failed} failed"
    print(summary)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
