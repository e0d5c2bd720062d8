"""``fuzzy-people``: anonymize photos from the command line.

    fuzzy-people apply IMAGE... --masks LABELS... -o OUTDIR [--review DIR] [...]
    fuzzy-people propose FOLDER --work WORK [--workers N | --scheduler ADDRESS]
    fuzzy-people export WORK -o OUT [--accept-unreviewed] [--workers N]
    fuzzy-people status WORK
    fuzzy-people evaluate DATASET -o DIR [--faces-only] [--methods ...] [--fractions ...]

``apply`` takes label masks made by another tool (every nonzero label is a
person, taken as reviewed and approved). ``propose`` finds the people of a
whole folder into a work folder, to review in napari; ``export`` writes the
reviewed photos; ``status`` says how far the review is; ``evaluate`` measures, on a
dataset with known masks, how many people the leak check's detectors still
find per method and strength (a table and a plot). Exports keep the
same guarantees as the panel: inputs are never written, metadata is
dropped, each photo's files appear whole or not at all, and the export
folder holds only anonymized photos and one manifest.

Before writing, ``apply`` and ``export`` run a leak check: a person
detector and a face detector look at each anonymized photo, and a photo in
which they still find an anonymized person, or a person in nobody's mask,
is held back with its findings (``--no-leak-check`` skips it, on the
record). Each failed or held photo gets one line on stderr; the others are
still done; a summary ends the run. Exit status: 0 all done, 1 some
failed, 2 a usage error or a leak check that cannot run (nothing was done),
3 none failed but some were held back by the leak check, 130/143
interrupted (Ctrl+C, SIGTERM). Killed at
any moment, the same command run again finishes the job: what is done is
skipped. ``--workers N`` runs the photos on a local Dask cluster,
``--scheduler ADDRESS`` on an existing one.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from . import apply, evaluate, work
from ._common import PROG

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    apply.add_parser(sub)
    work.add_parsers(sub)
    evaluate.add_parser(sub)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    return args.run(args, parser)


if __name__ == "__main__":
    sys.exit(main())
