"""``fuzzy-people``: anonymize photos from the command line.

    fuzzy-people apply IMAGE... --masks LABELS... -o OUTDIR [--people all|1,3,7]
        [--method scramble|pixelate|blur|fill] [--radius N] [--margin N]
        [--source background|any] [--force-png] [--overwrite] [--seed N]

Applies label masks made by another tool (any nonzero label is a person; they
count as reviewed and approved by whoever made them) and exports each photo
with the same guarantees as the panel: the input is never written, metadata
is dropped, files are written atomically, and a record and the masks go
beside the output. Each failed file gets one line on stderr; the others are
still done; a summary ends the run, and the exit status is 1 if anything
failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .core import METHODS, PanelDefaults, ReviewModel, method_params, select
from .core.defaults import STRENGTH_PARAM
from .io.read import ImageReadError, read_photo
from .io.record import export_anonymized


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


def _parser() -> argparse.ArgumentParser:
    d = PanelDefaults()
    parser = argparse.ArgumentParser(prog="fuzzy-people", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    apply = sub.add_parser("apply", help="anonymize photos with given label masks")
    apply.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    apply.add_argument(
        "--masks",
        nargs="+",
        type=Path,
        required=True,
        metavar="LABELS",
        help="one label image (PNG/TIFF, same size as the upright photo) per IMAGE",
    )
    apply.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR")
    apply.add_argument("--people", type=_people, default=None, help="'all' or labels: 1,3,7")
    apply.add_argument("--method", choices=METHODS, default=d.method)
    apply.add_argument(
        "--radius",
        type=int,
        default=None,
        help="strength in pixels for every person (radius, block or sigma by method); "
        f"default: {d.strength_fraction:.0%} of each person's height, at least "
        f"{d.strength_minimum}",
    )
    apply.add_argument(
        "--margin",
        type=int,
        default=None,
        help=f"grow each person by this many pixels; default: {d.margin_fraction:.2%} of "
        f"each person's height, at least {d.margin_minimum}",
    )
    apply.add_argument("--source", choices=["background", "any"], default=d.source)
    apply.add_argument("--force-png", action="store_true", help="write PNG (lossless)")
    apply.add_argument("--overwrite", action="store_true", help="replace earlier outputs")
    apply.add_argument("--seed", type=int, default=None, help="reproducible scramble (recorded)")
    return parser


def _settings(args, labels) -> tuple[dict, dict]:
    d = PanelDefaults()
    fixed = args.radius is not None or args.margin is not None
    params = method_params(
        labels,
        method=args.method,
        strength=args.radius if args.radius is not None else d.strength_minimum,
        margin=args.margin if args.margin is not None else d.margin_minimum,
        source=args.source,
        relative=not fixed,
    )
    settings = {
        "method": args.method,
        "strength": args.radius,
        "margin": args.margin,
        "source": args.source,
        "relative": not fixed,
        "people": args.people or "all",
    }
    if STRENGTH_PARAM[args.method] is None:
        settings.pop("strength")
    return params, settings


def _read_masks(path: Path, shape) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            labels = np.asarray(im)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot read it as a label image ({err})") from err
    if labels.ndim != 2 or labels.dtype.kind not in "uib":
        raise ValueError(
            f"{path}: a label image is 2-D integers, got {labels.shape} {labels.dtype}"
        )
    if labels.shape != tuple(shape):
        raise ValueError(
            f"{path}: masks are {labels.shape[1]}x{labels.shape[0]} but the photo is "
            f"{shape[1]}x{shape[0]} (upright, after its EXIF orientation)"
        )
    return labels.astype(np.int64) if labels.dtype.kind == "b" else labels


def apply_one(image_path: Path, masks_path: Path, args) -> Path:
    """Anonymize one photo with its masks; returns the written image's path."""
    photo = read_photo(image_path)
    labels = _read_masks(masks_path, photo.pixels.shape[:2])
    present = set(np.unique(labels).tolist()) - {0}
    if args.people is not None:
        missing = sorted(set(args.people) - present)
        if missing:
            raise ValueError(f"{masks_path}: no person with label {missing}")
        labels = select(labels, args.people)
    review = ReviewModel()
    review.adopt(labels)
    review.approve(*sorted(set(np.unique(labels).tolist()) - {0}))
    params, settings = _settings(args, labels)
    if not review.approved_labels():
        params = {}
    result = export_anonymized(
        photo.pixels,
        labels,
        review,
        params,
        args.output,
        name=image_path.stem,
        source=photo.path,
        source_sha256=photo.sha256,
        settings=settings,
        seed=args.seed,
        jpeg=photo.jpeg,
        icc_profile=photo.icc_profile,
        force_png=args.force_png,
        overwrite=args.overwrite,
    )
    return result.image


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if len(args.images) != len(args.masks):
        print(
            f"fuzzy-people: {len(args.images)} images but {len(args.masks)} masks; "
            "give one mask file per image, in the same order",
            file=sys.stderr,
        )
        return 2
    if not args.output.is_dir():
        print(f"fuzzy-people: {args.output}: output folder does not exist", file=sys.stderr)
        return 2
    failed = 0
    for image_path, masks_path in zip(args.images, args.masks, strict=True):
        try:
            written = apply_one(image_path, masks_path, args)
        except (ImageReadError, ValueError, OSError) as err:
            failed += 1
            print(f"fuzzy-people: {err}", file=sys.stderr)
        else:
            print(f"{image_path} -> {written}")
    done = len(args.images) - failed
    print(
        f"{done} of {len(args.images)} photos anonymized"
        + (f", {failed} failed" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
