"""Photos per minute for `propose` at 1 and 2 Dask workers, side by side in one run.

    python benchmarks/bench_batch.py [--photos 24] [--models doubles:tiny_models]

By default the photos are the shared coco-people set (or synthetic street
scenes where it is absent) and the models the tiny random ones from the
tests: the run measures what scaling out adds around the models (reading,
proposing, writing the work folder). Pass ``--models package.module:function``
to time your own (for example the real ones on a GPU machine).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # doubles: the tiny models

from napari_fuzzy_people.batch.runner import run_tasks  # noqa: E402
from napari_fuzzy_people.batch.tasks import ProposeJob, propose_photo  # noqa: E402
from napari_fuzzy_people.io.workfolder import WorkFolder  # noqa: E402
from napari_fuzzy_people.models.choice import ModelChoice  # noqa: E402

COCO = HERE.parents[1] / "shared" / "data" / "coco-people" / "images"


def photos(count: int, folder: Path) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted(COCO.glob("*.jpg")) if COCO.is_dir() else []
    for i in range(count):
        if sources:
            Image.open(sources[i % len(sources)]).save(folder / f"p{i:03d}.jpg", quality=90)
        else:
            from scenes import street

            Image.fromarray(street(seed=i, shape=(480, 640))[0]).save(folder / f"p{i:03d}.png")
    return folder


def run(folder: Path, models: ModelChoice, workers: int | None) -> tuple[float, float]:
    """Photos per minute for the whole run (start included), and once going (first
    photo done to last: without the cluster's start and the models' loading)."""
    with tempfile.TemporaryDirectory() as tmp:
        work = WorkFolder.create(Path(tmp) / "work", folder)
        jobs = [ProposeJob(str(work.path), rel, models) for rel in work.scan()]
        start = time.perf_counter()
        times, results = [], []
        for result in run_tasks(propose_photo, jobs, workers=workers):
            times.append(time.perf_counter())
            results.append(result)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        raise SystemExit(f"{len(failed)} photos failed: {failed[0].message}")
    whole = len(jobs) / (times[-1] - start) * 60
    going = (len(jobs) - 1) / (times[-1] - times[0]) * 60
    return whole, going


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=24)
    parser.add_argument("--models", default="doubles:tiny_models")
    args = parser.parse_args()
    models = ModelChoice(factory=args.models)
    with tempfile.TemporaryDirectory() as tmp:
        folder = photos(args.photos, Path(tmp) / "photos")
        print(f"{args.photos} photos ({'coco-people' if COCO.is_dir() else 'synthetic'}), "
              f"models {args.models}")  # fmt: skip
        here = run(folder, models, None)
        one = run(folder, models, 1)
        two = run(folder, models, 2)
    print("photos per minute     whole run   once going")
    for name, (whole, going) in (("in this process", here), ("1 Dask worker", one),
                                 ("2 Dask workers", two)):  # fmt: skip
        print(f"{name:<20} {whole:10.1f} {going:12.1f}")
    print(f"2 workers / 1 worker: {two[0] / one[0]:.2f}x whole run, "
          f"{two[1] / one[1]:.2f}x once going")  # fmt: skip


if __name__ == "__main__":
    main()
