"""``fuzzy-people evaluate``: still-found counts on a tiny coco-people dataset.

The dataset is made here: noisy photos with label masks, and a magenta
marker (what ``MarkerDetectorDouble`` "finds") painted on some people, on a
crowd and on the background. Anonymizing really destroys the marker, or
not, so the counts come from the pixels the methods write.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from leak_doubles import marker_detectors, put_marker
from napari_fuzzy_people.batch.evaluate import (
    CROWD,
    Setting,
    dataset_photos,
    evaluate,
    people_found,
)
from napari_fuzzy_people.cli import main
from napari_fuzzy_people.core.leaks import Detection

FUZZY = Path(sys.executable).with_name("fuzzy-people")
TESTS = Path(__file__).resolve().parents[1]
DOUBLES = ("--leak-detectors", "leak_doubles:marker_detectors")


def _photo(root, name, people, markers, seed):
    """One photo of the dataset: ``people`` is ``{label: (y0, y1, x0, x1)}``."""
    rng = np.random.default_rng(seed)
    # Noise below 201: nothing is magenta (255, 0, 255) but the markers.
    image = rng.integers(0, 201, (200, 160, 3), dtype=np.uint8)
    labels = np.zeros((200, 160), np.uint8)
    for label, (y0, y1, x0, x1) in people.items():
        labels[y0:y1, x0:x1] = label
    for y, x in markers:
        put_marker(image, y, x, size=10)  # 100 px: found while intact
    # PNG, which the format allows besides JPEG: JPEG would smear the marker away.
    Image.fromarray(image).save(root / "images" / f"{name}.png")
    Image.fromarray(labels).save(root / "masks" / f"{name}.png")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Three photos; the detector double finds 2 of their 4 people in the originals.

    a: person 1 (160 px tall) with a marker, found; person 2 without, not found.
    b: person 1 (180 px) with a marker, found; a crowd with a marker, not counted.
    c: person 1 without a marker, a marker on the background (nobody's), so
       nobody is found there.
    """
    root = tmp_path_factory.mktemp("coco-people")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    _photo(root, "a", {1: (20, 180, 10, 60), 2: (30, 170, 90, 140)}, [(53, 23)], 1)
    _photo(root, "b", {1: (10, 190, 20, 80), CROWD: (20, 100, 100, 150)}, [(41, 37), (50, 120)], 2)
    _photo(root, "c", {1: (10, 90, 10, 60)}, [(150, 120)], 3)
    return root


@pytest.fixture(scope="module")
def run(dataset, tmp_path_factory):
    """The command as a user runs it, once for the module."""
    out = tmp_path_factory.mktemp("evaluation") / "docs"
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    result = subprocess.run(
        [str(FUZZY), "evaluate", str(dataset), "-o", str(out), *DOUBLES],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    return result, out


def rows(table):
    """``{(method, strength): (still, found)}`` from the markdown table."""
    found = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 6 and " of " in cells[2]:
            still, of = cells[2].split(" of ")
            found[cells[0], cells[1]] = int(still), int(of)
    return found


def test_the_table_counts_the_people_found_in_the_originals_that_are_still_found(run):
    result, out = run
    assert result.returncode == 0, result.stderr
    table = (out / "privacy-table.md").read_text()
    assert result.stdout == table  # printed and written alike
    counts = rows(table)
    # The denominator: person a1 and person b1; not a2 (no marker), not the
    # crowd's marker, not the background's.
    assert "2 of the 4 people in the 3 photos" in table
    assert {found for _, found in counts.values()} == {2}
    # A 1-pixel block changes nothing; a block wider than the marker breaks it.
    assert counts["pixelate", "0.5% of height (floor 1 px)"] == (2, 2)
    assert counts["pixelate", "10.0% of height (floor 1 px)"] == (0, 2)
    # The marker is found again where it was: in the same place.
    assert "| pixelate | 0.5% of height (floor 1 px) | 2 of 2 | 100.0% | 100.0% | 2 |" in table
    # Background picks never bring the person's own pixels back, at any strength.
    scramble = [v for (m, _), v in counts.items() if m.startswith("scramble (background)")]
    assert len(scramble) == 6 and set(scramble) == {(0, 2)}
    assert counts["fill", "none"] == counts["vanish", "none"] == (0, 2)
    default = "scramble (background) **panel default**", "5.0% of height (floor 16 px)"
    assert counts[default] == (0, 2)
    assert "as measured, it meets the goal of at most 1%" in table
    # Every method, five strengths each (scramble from both sources), fill,
    # vanish and the panel default.
    assert len(counts) == 4 * 5 + 2 + 1


def test_the_output_says_what_measured_it_and_the_plot_is_written(run):
    result, out = run
    table = (out / "privacy-table.md").read_text()
    # The double is a face detector: no person detector looked, and it says so first.
    assert table.startswith("**Faces only**: measured with marker-double (face)")
    assert "FACES ONLY" in result.stderr
    png = (out / "privacy-curve.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(out / "privacy-curve.png") as im:
        assert im.size == (800, 420)


def test_a_bad_dataset_path_is_one_clear_line_and_exit_2(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    missing = tmp_path / "nowhere"
    result = subprocess.run(
        [str(FUZZY), "evaluate", str(missing), "-o", str(tmp_path / "out"), *DOUBLES],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"fuzzy-people: {missing}: no such folder"]
    assert not (tmp_path / "out").exists()


def test_a_folder_in_another_layout_says_what_is_expected(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    assert main(["evaluate", str(tmp_path), "-o", str(tmp_path / "out"), *DOUBLES]) == 2
    err = capsys.readouterr().err
    assert "not a coco-people dataset (no masks/ folder" in err
    assert len(err.splitlines()) == 1


def test_faces_only_is_the_built_in_face_detector_not_your_own(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", str(tmp_path), "-o", str(tmp_path), "--faces-only", *DOUBLES])
    assert exit_.value.code == 2
    assert "--faces-only uses the face detector alone" in capsys.readouterr().err


def test_a_detection_finds_whose_mask_covers_its_box_and_never_the_crowd():
    labels = np.zeros((100, 100), np.uint8)
    labels[0:50, 0:50] = 1
    labels[0:50, 50:100] = 2
    labels[60:100, 0:50] = CROWD

    def hit(*box):
        return Detection("face", box, 0.9, "test")

    # Mostly on 2 (a bit on 1): person 2. On the crowd, or on nobody: no one.
    assert people_found([hit(40, 10, 90, 20)], labels) == {2: [(40, 10, 90, 20)]}
    assert people_found([hit(5, 65, 40, 95), hit(60, 60, 95, 95)], labels) == {}


def test_runs_are_reproducible_and_a_setting_does_not_depend_on_the_others(dataset):
    photos = dataset_photos(dataset)
    # Scramble from anywhere at a small radius: random, and the marker may survive.
    alone = [Setting("scramble", 0.01, 1, "any")]
    among = [Setting("pixelate", 0.02, 1), *alone, Setting("blur", 0.05, 0.5)]

    def still(settings, seed):
        steps = evaluate(photos, marker_detectors(), settings, seed=seed)
        try:
            while True:
                next(steps)
        except StopIteration as stop:
            return {p.setting: p.still_by_photo for p in stop.value.points}

    first = still(alone, seed=7)
    assert still(alone, seed=7) == first
    assert still(among, seed=7)[alone[0]] == first[alone[0]]
