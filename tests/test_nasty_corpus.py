"""The whole nasty corpus through ``fuzzy-people apply`` at once, as a user would run it."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from napari_fuzzy_people.io.check import check_clean
from napari_fuzzy_people.io.manifest import MANIFEST_NAME
from nasty import MARKER, make_corpus

FUZZY = Path(sys.executable).with_name("fuzzy-people")


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nasty")
    cases = make_corpus(folder / "in")
    out, private = folder / "out", folder / "private"
    result = subprocess.run(
        [
            *(FUZZY, "apply", *(c.image for c in cases), "--masks", *(c.masks for c in cases)),
            *("-o", out, "--review", private, "--no-leak-check"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return cases, result, out, private


def test_every_bad_file_is_one_line_naming_it_and_the_batch_goes_on(corpus_run):
    cases, result, _, _ = corpus_run
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    bad = [c for c in cases if c.error]
    assert len(lines) == len(bad), result.stderr
    for case, line in zip(bad, lines, strict=True):
        assert line.startswith(f"fuzzy-people: {case.image}"), line
        assert case.error in line, line
        if case.image.name.startswith("for_"):  # a bad label image: it is named too
            assert f"{case.image}: {case.masks}: " in line, line
    good = [c for c in cases if not c.error]
    summary = f"{len(good)} of {len(cases)} photos anonymized, {len(bad)} failed"
    assert result.stdout.strip().splitlines()[-1] == summary


def test_the_export_folder_holds_only_clean_anonymized_photos(corpus_run):
    cases, _, out, private = corpus_run
    good = [c for c in cases if not c.error]
    written = sorted(p.name for p in out.iterdir())
    assert MANIFEST_NAME in written and len(written) == len(good) + 1
    assert all("_fuzzy." in n for n in written if n != MANIFEST_NAME)
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert sorted(manifest["outputs"]) == sorted(n for n in written if n != MANIFEST_NAME)
    assert str(cases[0].image.parent) not in (out / MANIFEST_NAME).read_text()
    for path in out.iterdir():
        assert MARKER.encode() not in path.read_bytes(), path
        assert MARKER.encode()[:4] not in path.read_bytes(), path
        if path.name != MANIFEST_NAME:
            check_clean(path)
    # Everything private went to the review folder.
    assert sorted(p.name for p in private.iterdir()) == sorted(
        f"{n}{s}" for n in written if n != MANIFEST_NAME for s in (".people.png", ".record.json")
    )


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")
def test_exiftool_finds_nothing_planted(corpus_run):
    _, _, out, _ = corpus_run
    for path in out.iterdir():
        if path.name == MANIFEST_NAME:
            continue
        found = subprocess.run(
            ["exiftool", "-a", "-u", "-G1", str(path)], capture_output=True, text=True, check=True
        ).stdout
        assert MARKER not in found and "GPS" not in found, found


def test_formats_follow_the_content_and_phones_come_out_upright(corpus_run):
    _, _, out, _ = corpus_run
    assert (out / "pretends_fuzzy.png").is_file()  # a PNG named .jpg stays lossless
    assert (out / "print_fuzzy.jpg").is_file() and (out / "deep_fuzzy.tif").is_file()
    with Image.open(out / "phone_fuzzy.jpg") as im:
        assert im.size == (48, 64)  # EXIF orientation 6 applied, no tag needed
        assert not im.getexif()
    nobody = np.asarray(Image.open(out / "nobody_fuzzy.png"))
    np.testing.assert_array_equal(nobody, np.asarray(Image.open(out.parent / "in/nobody.png")))
