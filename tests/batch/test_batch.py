"""Batches over a work folder: propose, resume, export, and the same results on Dask."""

import hashlib

import numpy as np
import pytest
from PIL import Image

from napari_fuzzy_people.batch.leakcheck import LeakCheck
from napari_fuzzy_people.batch.runner import run_tasks
from napari_fuzzy_people.batch.tasks import ExportJob, ProposeJob, export_photo, propose_photo
from napari_fuzzy_people.core import ReviewModel
from napari_fuzzy_people.io.workfolder import PhotoStatus, WorkFolder
from napari_fuzzy_people.models.choice import ModelChoice
from scenes import street

TINY = ModelChoice(factory="doubles:tiny_models")


@pytest.fixture
def folder(tmp_path):
    photos = tmp_path / "photos"
    (photos / "day2").mkdir(parents=True)
    for i, name in enumerate(["a.png", "b.jpg", "day2/c.png"]):
        image, _ = street(seed=i)
        Image.fromarray(image).save(photos / name)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    return photos


def propose(work, **scale):
    jobs = [ProposeJob(str(work.path), rel, TINY) for rel in work.scan()]
    return {r.item: r for r in run_tasks(propose_photo, jobs, name=lambda j: j.relative, **scale)}


def review_all(work):
    """What a reviewer does in the panel: approve everyone of every proposed photo."""
    for state in work.states():
        if state.status == PhotoStatus.PROPOSED:
            review = ReviewModel.from_dict(state.data["review"])
            if review.people:
                review.approve_all()
                work.save_review(state.relative, review, work.labels(state.relative))
            else:
                work.sign_off_no_people(state.relative)


def export(work, out, **scale):
    skip = LeakCheck(skipped="these tests are about the batch; tests/test_cli_leaks.py checks")
    jobs = [ExportJob(str(work.path), rel, str(out), leak_check=skip) for rel in work.scan()]
    return {r.item: r for r in run_tasks(export_photo, jobs, name=lambda j: j.relative, **scale)}


def digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_propose_a_folder_then_go_on_where_it_stopped(folder, tmp_path):
    work = WorkFolder.create(tmp_path / "work", folder)
    results = propose(work)
    assert {k: r.status for k, r in results.items()} == {
        "a.png": "done", "b.jpg": "done", "day2/c.png": "done", "broken.jpg": "failed",
    }  # fmt: skip
    assert results["broken.jpg"].message.startswith("broken.jpg: ")
    assert work.state("broken.jpg").status == PhotoStatus.FAILED
    assert work.state("a.png").status == PhotoStatus.PROPOSED
    labels = work.labels("a.png")
    assert labels.shape == (240, 320) and work.state("a.png").people == len(np.unique(labels)) - 1
    # Run again: what is done and valid is skipped; the failure is tried again.
    again = propose(work)
    assert [r.status for r in again.values()].count("skipped") == 3
    assert again["broken.jpg"].status == "failed"
    # A photo that changed is proposed afresh; its old review is not used.
    image, _ = street(seed=7)
    Image.fromarray(image).save(folder / "a.png")
    assert propose(work)["a.png"].status == "done"


def test_export_only_what_was_reviewed(folder, tmp_path):
    work = WorkFolder.create(tmp_path / "work", folder)
    propose(work)
    out = tmp_path / "out"
    out.mkdir()
    first = export(work, out)
    assert {r.status for r in first.values()} == {"skipped"}
    review_all(work)
    results = export(work, out)
    assert {k: r.status for k, r in results.items() if r.status == "done"} == {
        "a.png": "done", "b.jpg": "done", "day2/c.png": "done",
    }  # fmt: skip
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "a_fuzzy.png",
        "b_fuzzy.jpg",
        "day2__c_fuzzy.png",
        "fuzzy-people-manifest.json",
    ]
    assert work.state("a.png").status == PhotoStatus.EXPORTED
    assert sorted(p.name for p in work.records_for(out).iterdir())[:2] == [
        "a_fuzzy.png.people.png",
        "a_fuzzy.png.record.json",
    ]
    # Exported again: the same bytes (seeds from each photo's content), replaced in place.
    before = digests(out)
    export(work, out)
    assert digests(out) == before


def same_people(a, b) -> bool:
    """Proposed-people records equal, numbers to float32 rounding."""
    if [sorted(p) for p in a] != [sorted(p) for p in b]:
        return False
    for p, q in zip(a, b, strict=True):
        for key, value in p.items():
            if isinstance(value, float):
                if value != pytest.approx(q[key], rel=1e-5, abs=1e-6):
                    return False
            elif value != q[key]:
                return False
    return True


def test_dask_gives_the_same_results_as_a_local_run(folder, tmp_path):
    pytest.importorskip("distributed")
    local = WorkFolder.create(tmp_path / "local", folder)
    dask = WorkFolder.create(tmp_path / "dask", folder)
    propose(local)
    results = propose(dask, workers=2)
    assert {r.status for r in results.values()} == {"done", "failed"}
    for rel in local.scan():
        if rel != "broken.jpg":
            np.testing.assert_array_equal(local.labels(rel), dask.labels(rel))
            # Scores agree to float32 rounding: SAM's fused attention sums in an
            # order that depends on the thread count, which Dask workers share out.
            assert same_people(
                local.state(rel).data["proposed"]["people"],
                dask.state(rel).data["proposed"]["people"],
            )
    review_all(local)
    out_local, out_dask = tmp_path / "out-local", tmp_path / "out-dask"
    out_local.mkdir()
    out_dask.mkdir()
    done = sorted(k for k, r in export(local, out_local).items() if r.status == "done")
    assert done == sorted(
        k for k, r in export(local, out_dask, workers=2).items() if r.status == "done"
    )
    assert len(done) == 3 and digests(out_local) == digests(out_dask)


def test_a_worker_killed_mid_photo_loses_nothing_and_duplicates_nothing(folder, tmp_path):
    pytest.importorskip("distributed")
    import os
    import signal
    import threading
    import time

    from dask.distributed import LocalCluster

    work = WorkFolder.create(tmp_path / "work", folder)
    for i in range(4, 10):  # more photos, so that one is in flight when a worker dies
        image, _ = street(seed=i)
        Image.fromarray(image).save(folder / f"more{i}.png")
    with LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        killed = []

        def kill_one():
            deadline = time.monotonic() + 60
            states = work.path / "photos"
            while time.monotonic() < deadline:
                if states.is_dir() and len(list(states.glob("*/state.json"))) >= 2:
                    nanny = next(iter(cluster.workers.values()))
                    os.kill(nanny.process.process.pid, signal.SIGKILL)  # mid-photo
                    killed.append(True)
                    return
                time.sleep(0.01)

        killer = threading.Thread(target=kill_one)
        killer.start()
        results = propose(work, scheduler=cluster.scheduler_address)
        killer.join()
    assert killed
    # A photo whose worker died after writing it is found done when run again: skipped.
    assert {k: r.status for k, r in results.items() if r.status not in ("done", "skipped")} == {
        "broken.jpg": "failed"
    }
    work.tidy()
    assert not list(work.path.rglob(".fuzzy-people-*"))
    for state in work.states():
        if state.relative != "broken.jpg":
            events = [h["event"] for h in state.data["history"]]
            assert events.count("proposed") == 1, (state.relative, events)
            assert work.labels(state.relative) is not None
