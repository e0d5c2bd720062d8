"""The leak check as a command-line user meets it: held photos, findings, exit status 3."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from leak_doubles import put_marker
from napari_fuzzy_people.cli import main
from napari_fuzzy_people.io.manifest import MANIFEST_NAME

FUZZY = Path(sys.executable).with_name("fuzzy-people")
TESTS = Path(__file__).resolve().parent
DOUBLES = ("--leak-detectors", "leak_doubles:marker_detectors")


def photo(folder, name, marker_at=None, seed=0):
    """A noisy photo with two people (labels 1, 2) and maybe a marker "face"."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 200, (80, 100, 3), dtype=np.uint8)
    labels = np.zeros((80, 100), np.uint8)
    labels[5:45, 5:35] = 1
    labels[30:75, 55:90] = 2
    if marker_at is not None:
        put_marker(image, *marker_at)
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(folder / f"{name}.png")
    Image.fromarray(labels).save(folder / f"{name}.labels.png")
    return folder / f"{name}.png", folder / f"{name}.labels.png"


def apply(tmp_path, pairs, *extra):
    images, masks = zip(*pairs, strict=True)
    out, private = tmp_path / "out", tmp_path / "private"
    argv = ["apply", *map(str, images), "--masks", *map(str, masks)]
    return main([*argv, "-o", str(out), "--review", str(private), *extra]), out, private


def record(private, name):
    return json.loads((private / f"{name}.record.json").read_text())


def test_a_findable_person_holds_the_photo_back_and_the_others_go_out(tmp_path, capsys):
    src = tmp_path / "in"
    hidden = photo(src, "hidden", marker_at=(10, 10))  # on person 1: scrambled away
    missed = photo(src, "missed", marker_at=(60, 10))  # in nobody's mask
    plain = photo(src, "plain")
    code, out, private = apply(tmp_path, [hidden, missed, plain], *DOUBLES)
    captured = capsys.readouterr()
    assert code == 3
    held = [line for line in captured.err.splitlines() if "leak check" in line]
    assert len(held) == 1 and str(missed[0]) in held[0]
    assert "face in nobody's mask at x 10-22, y 60-72" in held[0]
    assert "1 held back by the leak check" in captured.out
    # Nothing of the held photo is written; the others are, with the check on record.
    assert sorted(p.name for p in out.iterdir()) == [
        MANIFEST_NAME, "hidden_fuzzy.png", "plain_fuzzy.png"
    ]  # fmt: skip
    assert not list(private.glob("missed*"))
    check = record(private, "hidden_fuzzy.png")["leak_check"]
    assert check["run"] is True and check["findings"] == []
    assert check["detectors"] == [{"name": "marker-double", "kind": "face"}]


def test_a_method_too_weak_leaves_the_person_still_detectable(tmp_path, capsys):
    pair = photo(tmp_path / "in", "weak", marker_at=(10, 10))
    # A 1-pixel block changes nothing: the marker stays on person 1.
    code, out, _ = apply(
        tmp_path, [pair], *DOUBLES, "--method", "pixelate", "--radius", "1", "--margin", "0"
    )
    err = capsys.readouterr().err
    assert code == 3
    assert "face still detectable on person 1" in err
    assert not (out / "weak_fuzzy.png").exists()


def test_skipping_the_check_is_explicit_and_on_the_record(tmp_path, capsys):
    pair = photo(tmp_path / "in", "missed", marker_at=(60, 10))
    code, _, private = apply(tmp_path, [pair], "--no-leak-check")
    assert code == 0, capsys.readouterr().err
    assert record(private, "missed_fuzzy.png")["leak_check"] == {
        "run": False,
        "skipped": "--no-leak-check",
    }


def test_without_the_detectors_weights_the_cli_stops_before_any_photo(tmp_path):
    # A user offline with an empty cache: the check cannot run, so nothing is exported.
    pair = photo(tmp_path / "in", "a", marker_at=(60, 10))
    out = tmp_path / "out"
    env = {**os.environ, "NAPARI_FUZZY_PEOPLE_CACHE": str(tmp_path / "empty-cache")}
    env.update({k: "http://127.0.0.1:9" for k in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy")})
    result = subprocess.run(
        [FUZZY, "apply", pair[0], "--masks", pair[1], "-o", out],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 2, result.stderr
    assert "leak check cannot run" in result.stderr.lower()
    for missing in ("fasterrcnn_resnet50_fpn_v2_coco", "face_detection_yunet_2023mar.onnx"):
        assert missing in result.stderr  # every missing file, at once
    assert "--detector-weights" in result.stderr and "--no-leak-check" in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(p.suffix == ".png" for p in out.iterdir()) if out.exists() else True


def test_own_detectors_from_the_command_line_run_in_a_subprocess(tmp_path):
    pair = photo(tmp_path / "in", "missed", marker_at=(60, 10))
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    result = subprocess.run(
        [FUZZY, "apply", pair[0], "--masks", pair[1], "-o", tmp_path / "out", *DOUBLES],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 3, result.stderr
    assert "face in nobody's mask" in result.stderr
