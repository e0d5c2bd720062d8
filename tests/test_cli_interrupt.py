"""Kill ``fuzzy-people apply`` at any moment: run it again and it finishes, leaving nothing stray.

These run the real command in a subprocess, watch its folders, and kill it
at chosen points (the first temporary file, the k-th finished photo) with
SIGKILL, SIGTERM or SIGINT.
"""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from napari_fuzzy_people.core import grow
from napari_fuzzy_people.io.manifest import MANIFEST_NAME

FUZZY = Path(sys.executable).with_name("fuzzy-people")
PHOTOS = 6


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Photos large enough that a batch takes a few seconds, and their masks."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(PHOTOS):
        image = rng.integers(0, 256, (600, 900, 3), dtype=np.uint8)
        labels = np.zeros((600, 900), np.uint8)
        labels[100:500, 100 + 50 * i : 300 + 50 * i] = 1
        labels[200:550, 500:700] = 2
        Image.fromarray(image).save(folder / f"p{i}.png", compress_level=1)
        Image.fromarray(labels).save(folder / f"p{i}.labels.png")
    return folder


def command(batch, out, private):
    images = [batch / f"p{i}.png" for i in range(PHOTOS)]
    masks = [batch / f"p{i}.labels.png" for i in range(PHOTOS)]
    return [FUZZY, "apply", *images, "--masks", *masks, "-o", out, "--review", private,
            "--no-leak-check"]  # fmt: skip


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def kill_when(cmd, ready, sig):
    """Start ``cmd``, call ``ready()`` every millisecond, send ``sig`` when it is true."""
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if ready():
                process.send_signal(sig)
                break
            time.sleep(0.001)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, out, err


def check_whole(out: Path, private: Path) -> None:
    """At any moment: every file under a final name is complete."""
    for path in [*out.iterdir(), *private.iterdir()]:
        if path.name.startswith("."):
            continue  # temporaries and journals, for the next run to finish or remove
        if path.suffix == ".json":
            json.loads(path.read_text())
        else:
            with Image.open(path) as im:
                im.load()


def check_finished(batch: Path, out: Path, private: Path) -> None:
    outputs = [f"p{i}_fuzzy.png" for i in range(PHOTOS)]
    assert visible(out) == sorted([*outputs, MANIFEST_NAME])
    assert visible(private) == sorted(
        f"{o}{s}" for o in outputs for s in (".people.png", ".record.json")
    )
    assert sorted(json.loads((out / MANIFEST_NAME).read_text())["outputs"]) == outputs
    for i, name in enumerate(outputs):
        image = np.asarray(Image.open(batch / f"p{i}.png"))
        labels = np.asarray(Image.open(batch / f"p{i}.labels.png"))
        written = np.asarray(Image.open(out / name))
        record = json.loads((private / f"{name}.record.json").read_text())
        margin = {int(k): v for k, v in record["method"]["margin"].items()}
        outside = grow(labels, margin) == 0
        np.testing.assert_array_equal(written[outside], image[outside])
        assert np.any(written != image, axis=-1)[labels > 0].mean() > 0.5


def temporaries(*folders):
    return [p for f in folders for p in f.iterdir() if p.name.startswith(".fuzzy-people-")]


POINTS = {
    "first temporary file": lambda out, private: bool(temporaries(out, private)),
    "first review file": lambda out, private: any(not n.startswith(".") for n in visible(private)),
    "two photos done": lambda out, private: len([n for n in visible(out) if "_fuzzy" in n]) >= 2,
    "a journal": lambda out, private: any(n.endswith(".journal") for n in visible(out)),
}


@pytest.mark.parametrize("point", POINTS)
def test_sigkill_then_the_same_command_finishes(batch, tmp_path, point):
    out, private = tmp_path / "out", tmp_path / "private"
    cmd = command(batch, out, private)
    ready = POINTS[point]
    code, _, _ = kill_when(cmd, lambda: out.is_dir() and private.is_dir() and ready(out, private),
                           signal.SIGKILL)  # fmt: skip
    if code == 0:
        pytest.skip(f"the batch finished before {point!r} was seen")  # the poll lost the race
    assert code == -signal.SIGKILL
    check_whole(out, private)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{PHOTOS} of {PHOTOS} photos anonymized" in result.stdout
    check_finished(batch, out, private)
    assert temporaries(out, private) == []


def test_sigkill_at_many_moments(batch, tmp_path):
    # Kill the same export again and again, each time a little later; it always
    # comes back whole and finishes.
    out, private = tmp_path / "out", tmp_path / "private"
    cmd = command(batch, out, private)
    delays = [0.6, 0.9, 1.2, 1.5, 1.8, 2.1, 2.4]
    for delay in delays:
        process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.kill()
        process.wait()
        if out.is_dir() and private.is_dir():
            check_whole(out, private)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    check_finished(batch, out, private)
    assert temporaries(out, private) == []


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_sigint_stop_cleanly(batch, tmp_path, sig, code):
    out, private = tmp_path / "out", tmp_path / "private"
    cmd = command(batch, out, private)
    status, _, stderr = kill_when(
        cmd, lambda: out.is_dir() and "p0_fuzzy.png" in visible(out), sig
    )
    if status == 0:
        pytest.skip("the batch finished before the signal")
    assert status == code, stderr
    assert f"stopped by {signal.Signals(sig).name}" in stderr
    assert "Traceback" not in stderr
    assert temporaries(out, private) == []  # stopped cleanly: nothing to clean up
    check_whole(out, private)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    check_finished(batch, out, private)
