"""``fuzzy-people propose``, ``export`` and ``status``: a whole folder through a work folder."""

from __future__ import annotations

import sys
from pathlib import Path

from ..batch.tasks import ExportJob, ProposeJob, export_photo, output_stem, propose_photo
from ..io.errors import ExportError, ImageReadError
from ..io.export import export_path
from ..io.read import sniff_format
from ..io.record import prepare_folders
from ..io.workfolder import FINISHED, PhotoStatus, WorkFolder
from ..models.choice import PAIRS, SEGMENTERS, ModelChoice
from ..models.weights import CHECKPOINTS
from ._common import (
    PROG,
    add_leak_options,
    add_scale_options,
    exit_status,
    leak_check_from,
    run_reported,
    stopped,
)

__all__ = ["add_parsers"]

DETECTORS = sorted(n for n in CHECKPOINTS if n.startswith("fasterrcnn"))


def add_parsers(sub) -> None:
    d = ModelChoice()
    propose = sub.add_parser(
        "propose",
        help="find people in every photo of a folder, into a work folder",
        description="Find people in every photo of FOLDER with the detector and Segment "
        "Anything, into the work folder WORK (made if missing). Run it again to go on: "
        "what is done and still valid is skipped.",
    )
    propose.add_argument("folder", type=Path, metavar="FOLDER")
    propose.add_argument("--work", type=Path, required=True, metavar="WORK")
    propose.add_argument(
        "--pair",
        choices=list(PAIRS),
        default="accurate",
        help="the detector and segmenter: "
        + "; ".join(f"{name}: {text}" for name, (text, _) in PAIRS.items())
        + " (default: %(default)s)",
    )
    propose.add_argument(
        "--detector", choices=DETECTORS, help="instead of the pair's (default: the pair's)"
    )
    propose.add_argument(
        "--segmenter", choices=SEGMENTERS, help="instead of the pair's (default: the pair's)"
    )
    propose.add_argument("--min-score", type=float, default=d.min_score)
    propose.add_argument(
        "--detector-weights", type=Path, metavar="FILE", help="local detector weights (offline)"
    )
    propose.add_argument(
        "--segmenter-weights", type=Path, metavar="FILE", help="local segmenter weights (offline)"
    )
    propose.add_argument(
        "--models",
        metavar="MODULE:FUNCTION",
        help="your own models: a function returning (detector, segmenter)",
    )
    propose.add_argument(
        "--force", action="store_true", help="propose again, even photos already reviewed"
    )
    add_scale_options(propose)
    propose.set_defaults(run=run_propose)

    export = sub.add_parser(
        "export",
        help="export the reviewed photos of a work folder",
        description="Export every fully reviewed photo of WORK (approved people anonymized) "
        "to OUT, which stays safe to share; masks and records go into WORK.",
    )
    export.add_argument("work", type=Path, metavar="WORK")
    export.add_argument("-o", "--output", type=Path, required=True, metavar="OUT")
    export.add_argument(
        "--accept-unreviewed",
        action="store_true",
        help="export photos not fully reviewed too (their unreviewed people stay as they "
        "are; the record says so)",
    )
    add_scale_options(export)
    add_leak_options(export)
    export.set_defaults(run=run_export)

    status = sub.add_parser(
        "status", help="how far the review of a work folder is", description="Counts per status."
    )
    status.add_argument("work", type=Path, metavar="WORK")
    status.set_defaults(run=run_status)


def _models(args) -> ModelChoice:
    pair = PAIRS[args.pair][1]
    return ModelChoice(
        detector=args.detector or pair.detector,
        detector_file=None if args.detector_weights is None else str(args.detector_weights),
        min_score=args.min_score,
        segmenter=args.segmenter or pair.segmenter,
        segmenter_file=None if args.segmenter_weights is None else str(args.segmenter_weights),
        factory=args.models,
    )


def _summary(results, total: int, verb: str) -> str:
    done = sum(r.status == "done" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    failed = sum(r.status == "failed" for r in results)
    held = sum(r.status == "held" for r in results)
    text = f"{total} photos: {done} {verb}"
    if skipped:
        text += f", {skipped} already done"
    if held:
        text += f", {held} held back by the leak check (findings above; nothing written)"
    if failed:
        text += f", {failed} failed"
    return text


def run_propose(args, parser) -> int:
    for path in (args.detector_weights, args.segmenter_weights):
        if path is not None and not path.is_file():
            parser.error(f"{path}: no such weights file")
    if args.models and ":" not in args.models:
        parser.error(f"--models takes MODULE:FUNCTION, not {args.models!r}")
    try:
        work = WorkFolder.open_or_create(args.work, args.folder)
        work.tidy()  # what a killed run left half-written
    except ExportError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 2
    photos = work.scan()
    models = _models(args)
    jobs = [ProposeJob(str(work.path), rel, models, args.force) for rel in photos]
    results, stop = run_reported(propose_photo, jobs, args, name=lambda job: job.relative)
    if stop is not None:
        return stopped(stop, len(results), len(jobs))
    print(_summary(results, len(jobs), "proposed"))
    return 1 if any(r.status == "failed" for r in results) else 0


def run_export(args, parser) -> int:
    try:
        work = WorkFolder.open(args.work)
        work.tidy()
        args.output.mkdir(parents=True, exist_ok=True)
        records = work.records_for(args.output)
        records.mkdir(mode=0o700, parents=True, exist_ok=True)
        prepare_folders(args.output, records)
    except (ExportError, OSError) as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 2
    states = work.states()
    ready, waiting = [], []
    for state in states:
        if state.status in FINISHED or (
            args.accept_unreviewed and state.status not in (PhotoStatus.NEW, PhotoStatus.FAILED)
        ):
            ready.append(state.relative)
        else:
            waiting.append(state)
    _refuse_collisions(work, ready, args.output, parser)
    leak_check, status = leak_check_from(args, parser)
    if status is not None:
        return status
    jobs = [
        ExportJob(str(work.path), rel, str(args.output), args.accept_unreviewed, leak_check)
        for rel in ready
    ]
    results, stop = run_reported(export_photo, jobs, args, name=lambda job: job.relative)
    if stop is not None:
        return stopped(stop, len(results), len(jobs))
    for state in waiting:
        print(f"not exported, {state.status.value}: {state.relative}")
    summary = _summary(results, len(jobs), "exported")
    if waiting:
        summary += (
            f"; {len(waiting)} not reviewed yet (listed above; --accept-unreviewed exports "
            "those that have proposals)"
        )
    print(summary)
    return exit_status(results)


def _refuse_collisions(work: WorkFolder, photos, output: Path, parser) -> None:
    owners: dict[str, str] = {}
    for rel in photos:
        try:
            fmt = sniff_format(work.source / rel)
        except ImageReadError:
            continue
        stem = output_stem(rel)
        name = export_path(output, stem, work.source / rel, fmt=fmt, stem=stem).name
        if name in owners:
            parser.error(f"{owners[name]} and {rel} would both be exported as {name}")
        owners[name] = rel


def run_status(args, parser) -> int:
    try:
        work = WorkFolder.open(args.work)
        states = work.states()
    except ExportError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 2
    counts = dict.fromkeys(PhotoStatus, 0)
    for state in states:
        counts[state.status] += 1
    print(f"{work.path}: {len(states)} photos from {work.source}")
    for status, n in counts.items():
        print(f"  {status.value:<10} {n}")
    for state in states:
        if state.status == PhotoStatus.FAILED:
            print(f"failed: {state.relative}: {state.data['failed']['error']}")
    return 0
