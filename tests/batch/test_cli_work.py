"""``fuzzy-people propose``, ``status`` and ``export`` as a user runs them, and killed midway."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from doubles import build_tiny_sam
from napari_fuzzy_people.core import ReviewModel
from napari_fuzzy_people.io.workfolder import EmbeddingStore, PhotoStatus, WorkFolder
from napari_fuzzy_people.models.segmenter import SamSegmenter
from scenes import street

FUZZY = Path(sys.executable).with_name("fuzzy-people")
TESTS = Path(__file__).resolve().parents[1]


def run(*args, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    args = [str(a) for a in args]
    if args[0] == "export" and not any(a.startswith("--leak") for a in args):
        args.append("--no-leak-check")  # tests/test_cli_leaks.py runs it
    return subprocess.run(
        [FUZZY, *args], capture_output=True, text=True, timeout=300, env=env, **kwargs
    )


@pytest.fixture
def folder(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(4):
        image, _ = street(seed=i)
        Image.fromarray(image).save(photos / f"p{i}.png")
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return photos


def test_propose_review_export_from_the_command_line(folder, tmp_path):
    work = tmp_path / "work"
    result = run("propose", folder, "--work", work, "--models", "doubles:tiny_models")
    assert result.returncode == 1  # one photo failed
    assert (
        result.stderr.strip().splitlines() == [result.stderr.strip().splitlines()[0]]
        and "broken.png" in result.stderr
    )
    assert result.stdout.strip().splitlines()[-1] == "5 photos: 4 proposed, 1 failed"
    status = run("status", work)
    assert status.returncode == 0
    assert "  proposed   4" in status.stdout and "  failed     1" in status.stdout
    assert "failed: broken.png: broken.png:" in status.stdout
    # Nothing is reviewed: nothing is exported, and each photo is listed.
    out = tmp_path / "shared"
    result = run("export", work, "-o", out)
    assert result.returncode == 0
    assert result.stdout.count("not exported, proposed: ") == 4
    assert sorted(p.name for p in out.iterdir()) == []
    # A reviewer approves everybody in two photos; export writes those two.
    w = WorkFolder.open(work)
    for rel in ("p0.png", "p1.png"):
        review = ReviewModel.from_dict(w.state(rel).data["review"])
        review.approve_all()
        w.save_review(rel, review, w.labels(rel))
    result = run("export", work, "-o", out)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "fuzzy-people-manifest.json",
        "p0_fuzzy.png",
        "p1_fuzzy.png",
    ]
    assert result.stdout.strip().splitlines()[-1].startswith("2 photos: 2 exported; 3 not ")
    # --accept-unreviewed exports the proposed ones too (recorded as such).
    result = run("export", work, "-o", out, "--accept-unreviewed")
    assert result.returncode == 0, result.stderr
    assert len(list(out.glob("*_fuzzy.png"))) == 4
    assert WorkFolder.open(work).state("p3.png").data["exported"]["accepted_unreviewed"]


def test_a_killed_propose_goes_on_where_it_stopped(folder, tmp_path):
    work = tmp_path / "work"
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    args = [FUZZY, "propose", folder, "--work", work, "--models", "doubles:tiny_models"]
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    states = work / "photos"
    while time.monotonic() < deadline and process.poll() is None:
        if states.is_dir() and len(list(states.glob("*/state.json"))) >= 2:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    if process.returncode == 0:
        pytest.skip("the batch finished before the kill")
    done = {s.relative for s in WorkFolder.open(work).states() if s.status != PhotoStatus.NEW}
    result = run("propose", folder, "--work", work, "--models", "doubles:tiny_models")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert f"{len(done - {'broken.png'})} already done" in summary, (summary, done)
    w = WorkFolder.open(work)
    assert w.counts()[PhotoStatus.PROPOSED] == 4
    leftovers = [p for p in work.rglob(".fuzzy-people-*")]
    assert leftovers == []


def test_the_embedding_cache_is_used_only_for_what_made_it(tmp_path, tiny_sam):
    image, _ = street()
    store = EmbeddingStore(tmp_path / "cache")
    calls = []

    def segmenter(sam):
        sam.image_encoder.register_forward_hook(lambda *a: calls.append(1))
        return SamSegmenter(sam, device="cpu", store=store)

    first = segmenter(tiny_sam)
    mask, _ = first.segment_points(image, [[100, 100]], [1])
    assert len(calls) == 1
    # Another process (a fresh segmenter, same weights): the stored embedding, same masks.
    again, _ = segmenter(build_tiny_sam(0)).segment_points(image, [[100, 100]], [1])
    assert len(calls) == 1
    np.testing.assert_array_equal(again, mask)
    # Other pixels, or other weights: computed afresh.
    segmenter(build_tiny_sam(0)).set_image(image[::-1].copy())
    assert len(calls) == 2
    segmenter(build_tiny_sam(1)).set_image(image)
    assert len(calls) == 3
    # Another checkpoint file with the same architecture: another key too.
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"one")
    s = segmenter(build_tiny_sam(0))
    s.checkpoint_path = weights
    s.set_image(image)
    assert len(calls) == 4


def test_propose_takes_the_fast_or_the_accurate_pair(tmp_path):
    from napari_fuzzy_people.cli import _parser
    from napari_fuzzy_people.cli.work import _models

    def choice(*extra):
        return _models(_parser().parse_args(["propose", "F", "--work", "W", *extra]))

    assert (choice().detector, choice().segmenter) == ("fasterrcnn_resnet50_fpn_v2", "vit_b")
    fast = choice("--pair", "fast")
    assert (fast.detector, fast.segmenter) == ("fasterrcnn_mobilenet_v3_large_fpn", "hq_vit_tiny")
    mixed = choice("--pair", "fast", "--segmenter", "vit_b")
    assert (mixed.detector, mixed.segmenter) == ("fasterrcnn_mobilenet_v3_large_fpn", "vit_b")
    assert choice("--segmenter", "hq_vit_tiny").segmenter == "hq_vit_tiny"


def test_propose_with_light_hq_sam_stores_what_its_decoder_needs(folder, tmp_path):
    work = tmp_path / "work"
    (folder / "broken.png").unlink()
    result = run("propose", folder, "--work", work, "--models", "doubles:tiny_fast_models")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "4 photos: 4 proposed"
    # Each photo's embedding and HQ-SAM's early features, on disk for the review.
    assert len(list(WorkFolder.open(work).embeddings.glob("*.npz"))) == 2 * 4
