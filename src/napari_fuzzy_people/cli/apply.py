"""``fuzzy-people apply``: label masks made elsewhere, applied and exported safely."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..batch.tasks import ApplyJob, apply_photo
from ..core import METHODS, AnonymizeSettings, PanelDefaults
from ..io.errors import ExportError, ImageReadError
from ..io.export import export_path
from ..io.manifest import MANIFEST_NAME, read_manifest
from ..io.read import sniff_format
from ..io.record import prepare_folders
from ._common import (
    PROG,
    add_leak_options,
    add_scale_options,
    exit_status,
    leak_check_from,
    run_reported,
    stopped,
    whole,
)

__all__ = ["add_parser", "run"]


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


def add_parser(sub) -> None:
    d = PanelDefaults()
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
        type=whole(1),
        default=None,
        help="strength in pixels for every person (radius, block or sigma by method); "
        f"default: {d.strength_fraction * 100:g}%% of each person's height, at least "
        f"{d.strength_minimum}",
    )
    apply.add_argument(
        "--margin",
        type=whole(0),
        default=None,
        help=f"grow each person by this many pixels; default: {d.margin_fraction * 100:g}%% of "
        f"each person's height, at least {d.margin_minimum}",
    )
    apply.add_argument("--source", choices=["background", "any"], default=d.source)
    apply.add_argument("--force-png", action="store_true", help="write PNG (lossless)")
    apply.add_argument("--overwrite", action="store_true", help="replace earlier outputs")
    apply.add_argument(
        "--seed",
        type=whole(0),
        default=None,
        help="reproducible scramble (recorded in the review folder only)",
    )
    add_scale_options(apply)
    add_leak_options(apply)
    apply.set_defaults(run=run)


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
            review = args.review.resolve()
            sidecars += [review / f"{target.name}{s}" for s in (".people.png", ".record.json")]
        for path in sidecars:
            if path in inputs or path.name == MANIFEST_NAME:
                parser.error(f"{image}: exporting it would write {path}, which is an input")
        owners[target] = image
        targets[image] = target
    return targets


def run(args, parser) -> int:
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
        print(f"{PROG}: {err}", file=sys.stderr)
        return 2
    targets = _plan(args, parser)
    leak_check, status = leak_check_from(args, parser)
    if status is not None:
        return status
    protect = tuple(str(p) for p in (*args.images, *args.masks))
    listed = read_manifest(args.output)["outputs"]
    jobs, skipped = [], 0
    for image, masks in zip(args.images, args.masks, strict=True):
        target = targets.get(image)
        if target is not None and not args.overwrite and target.name in listed:
            if os.path.isfile(target):
                skipped += 1
                print(f"{image} -> {target} (already exported)")
                continue
        jobs.append(
            ApplyJob(
                image=str(image),
                masks=str(masks),
                output=str(args.output),
                settings=settings,
                review_folder=None if args.review is None else str(args.review),
                people=None if args.people is None else tuple(args.people),
                seed=args.seed,
                force_png=args.force_png,
                overwrite=args.overwrite,
                protect=protect,
                leak_check=leak_check,
            )
        )
    try:
        done, stop = run_reported(apply_photo, jobs, args, name=lambda job: job.image)
    except (ExportError, OSError) as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 1
    if stop is not None:
        return stopped(stop, skipped + len(done), len(args.images))
    failed = sum(r.status == "failed" for r in done)
    held = sum(r.status == "held" for r in done)
    ok = len(args.images) - failed - held
    summary = f"{ok} of {len(args.images)} photos anonymized"
    if skipped:
        summary += f" ({skipped} already exported earlier)"
    if held:
        summary += f", {held} held back by the leak check (findings above; nothing written)"
    if failed:
        summary += f", {failed} failed"
    print(summary)
    return exit_status(done)
