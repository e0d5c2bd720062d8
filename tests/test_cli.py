"""``fuzzy-people apply``: batches, per-file errors, people selection, the record."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from napari_fuzzy_people.cli import main
from napari_fuzzy_people.core import grow
from napari_fuzzy_people.io.record import sha256_file


def make_pair(folder: Path, name: str, seed: int):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    labels = np.zeros((50, 70), np.uint8)
    labels[5:25, 5:20] = 1
    labels[20:45, 40:60] = 2
    Image.fromarray(image).save(folder / f"{name}.png")
    Image.fromarray(labels).save(folder / f"{name}.labels.png")
    return image, labels


def test_apply_a_batch_with_one_bad_file(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    image, labels = make_pair(tmp_path, "a", 0)
    make_pair(tmp_path, "b", 1)
    (tmp_path / "b.png").write_bytes(b"")  # zero bytes: unreadable
    image_c, labels_c = make_pair(tmp_path, "c", 2)
    before = {p: sha256_file(tmp_path / f"{p}.png") for p in "ac"}
    code = main(
        [
            "apply",
            *(str(tmp_path / f"{p}.png") for p in "abc"),
            "--masks",
            *(str(tmp_path / f"{p}.labels.png") for p in "abc"),
            "-o",
            str(out),
            "--seed",
            "3",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    errors = captured.err.strip().splitlines()
    assert len(errors) == 1 and str(tmp_path / "b.png") in errors[0]
    assert captured.out.strip().splitlines()[-1] == "2 of 3 photos anonymized, 1 failed"
    assert {p: sha256_file(tmp_path / f"{p}.png") for p in "ac"} == before
    for name, img, lab in (("a", image, labels), ("c", image_c, labels_c)):
        written = np.asarray(Image.open(out / f"{name}_fuzzy.png"))
        record = json.loads((out / f"{name}_fuzzy.png.record.json").read_text())
        margin = {int(k): v for k, v in record["method"]["margin"].items()}
        region = grow(lab, margin) > 0
        np.testing.assert_array_equal(written[~region], img[~region])
        assert np.any(written != img, axis=-1)[lab > 0].mean() > 0.5
        assert [p["status"] for p in record["people"]] == ["approved", "approved"]
        assert record["seed"] == 3 and record["settings"]["relative"]
    assert not (out / "b_fuzzy.png").exists()


def test_apply_chosen_people_with_a_fixed_radius(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    image, labels = make_pair(tmp_path, "a", 0)
    code = main(
        [
            "apply",
            str(tmp_path / "a.png"),
            "--masks",
            str(tmp_path / "a.labels.png"),
            "-o",
            str(out),
            "--people",
            "2",
            "--radius",
            "3",
            "--margin",
            "0",
        ]
    )
    assert code == 0
    written = np.asarray(Image.open(out / "a_fuzzy.png"))
    np.testing.assert_array_equal(written[labels != 2], image[labels != 2])
    record = json.loads((out / "a_fuzzy.png.record.json").read_text())
    assert record["method"]["radius"] == 3 and record["method"]["margin"] == 0
    assert "seed" not in record


def test_command_line_errors(tmp_path):
    make_pair(tmp_path, "a", 0)
    fuzzy = Path(sys.executable).with_name("fuzzy-people")
    result = subprocess.run(
        [
            fuzzy,
            "apply",
            str(tmp_path / "a.png"),
            "--masks",
            "x.png",
            "y.png",
            "-o",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "1 images but 2 masks" in result.stderr
    result = subprocess.run(
        [
            fuzzy,
            "apply",
            str(tmp_path / "a.png"),
            "--masks",
            str(tmp_path / "a.labels.png"),
            "-o",
            str(tmp_path / "nowhere"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "output folder does not exist" in result.stderr
    result = subprocess.run(
        [
            fuzzy,
            "apply",
            str(tmp_path / "a.png"),
            "--masks",
            str(tmp_path / "a.labels.png"),
            "-o",
            str(tmp_path),
            "--people",
            "5",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "no person with label [5]" in result.stderr
    assert "Traceback" not in result.stderr
