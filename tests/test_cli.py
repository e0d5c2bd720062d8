"""``fuzzy-people apply``: batches, per-file errors, usage errors, safe folders."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_fuzzy_people.cli import _parser
from napari_fuzzy_people.cli import main as cli_main
from napari_fuzzy_people.core import METHODS, grow
from napari_fuzzy_people.io.manifest import MANIFEST_NAME

FUZZY = Path(sys.executable).with_name("fuzzy-people")


def make_pair(folder: Path, name: str, seed: int, fmt: str = "png"):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    labels = np.zeros((50, 70), np.uint8)
    labels[5:25, 5:20] = 1
    labels[20:45, 40:60] = 2
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "tif":
        tifffile.imwrite(folder / f"{name}.tif", image, photometric="rgb")
    else:
        Image.fromarray(image).save(folder / f"{name}.{fmt}", quality=95)
    Image.fromarray(labels).save(folder / f"{name}.labels.png")
    return image, labels


def without_leak_check(args):
    """These tests are about reading, writing and reporting: they skip the leak check,
    on the record (tests/test_cli_leaks.py runs it)."""
    args = [str(a) for a in args]
    if args[:1] in (["apply"], ["export"]) and "--help" not in args:
        args.append("--no-leak-check")
    return args


def main(argv):
    return cli_main(without_leak_check(argv))


def run(*args):
    return subprocess.run(
        [FUZZY, *without_leak_check(args)], capture_output=True, text=True, timeout=120
    )


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def names(folder):
    return sorted(p.name for p in Path(folder).iterdir())


def test_apply_a_batch_with_one_bad_file(tmp_path, capsys):
    out, private = tmp_path / "out", tmp_path / "private"
    image, labels = make_pair(tmp_path, "a", 0)
    make_pair(tmp_path, "b", 1)
    (tmp_path / "b.png").write_bytes(b"")  # zero bytes: unreadable
    image_c, labels_c = make_pair(tmp_path, "c", 2)
    before = {p: digest(tmp_path / f"{p}.png") for p in "ac"}
    code = main(
        [
            "apply",
            *(str(tmp_path / f"{p}.png") for p in "abc"),
            "--masks",
            *(str(tmp_path / f"{p}.labels.png") for p in "abc"),
            "-o",
            str(out),
            "--review",
            str(private),
            "--seed",
            "3",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    errors = captured.err.strip().splitlines()
    assert len(errors) == 1 and str(tmp_path / "b.png") in errors[0]
    assert captured.out.strip().splitlines()[-1] == "2 of 3 photos anonymized, 1 failed"
    assert {p: digest(tmp_path / f"{p}.png") for p in "ac"} == before
    # The export folder is safe to share: photos and the manifest, nothing else.
    assert names(out) == ["a_fuzzy.png", "c_fuzzy.png", MANIFEST_NAME]
    assert names(private) == [
        f"{p}_fuzzy.png{s}" for p in "ac" for s in (".people.png", ".record.json")
    ]
    assert (private.stat().st_mode & 0o777) == 0o700
    for name, img, lab in (("a", image, labels), ("c", image_c, labels_c)):
        written = np.asarray(Image.open(out / f"{name}_fuzzy.png"))
        record = json.loads((private / f"{name}_fuzzy.png.record.json").read_text())
        margin = {int(k): v for k, v in record["method"]["margin"].items()}
        region = grow(lab, margin) > 0
        np.testing.assert_array_equal(written[~region], img[~region])
        assert np.any(written != img, axis=-1)[lab > 0].mean() > 0.5
        assert [p["status"] for p in record["people"]] == ["approved", "approved"]
        assert record["seed"] == 3 and record["settings"]["relative"]
    assert "seed" not in (out / MANIFEST_NAME).read_text()


def test_apply_chosen_people_with_a_fixed_radius(tmp_path):
    out = tmp_path / "out"
    image, labels = make_pair(tmp_path, "a", 0)
    code = main(
        [
            *("apply", str(tmp_path / "a.png"), "--masks", str(tmp_path / "a.labels.png")),
            *("-o", str(out), "--people", "2", "--radius", "3", "--margin", "0"),
        ]
    )
    assert code == 0
    written = np.asarray(Image.open(out / "a_fuzzy.png"))
    np.testing.assert_array_equal(written[labels != 2], image[labels != 2])
    item = json.loads((out / MANIFEST_NAME).read_text())["outputs"]["a_fuzzy.png"]
    assert item == {"method": "scramble", "parameters": {"source": "background", "radius": 3,
                                                         "margin": 0}}  # fmt: skip
    assert names(out) == ["a_fuzzy.png", MANIFEST_NAME]  # no --review: nothing private kept


@pytest.mark.parametrize("fmt", ["png", "jpg", "tif"])
@pytest.mark.parametrize("method", METHODS)
def test_every_method_exports_every_format(tmp_path, method, fmt, capsys):
    image, labels = make_pair(tmp_path, "a", 0, fmt)
    out = tmp_path / "out"
    code = main(
        [
            *("apply", str(tmp_path / f"a.{fmt}"), "--masks", str(tmp_path / "a.labels.png")),
            *("-o", str(out), "--review", str(tmp_path / "r"), "--method", method),
        ]
    )
    assert code == 0, capsys.readouterr().err
    written = out / f"a_fuzzy.{fmt}"
    back = tifffile.imread(written) if fmt == "tif" else np.asarray(Image.open(written))
    original = tifffile.imread(tmp_path / "a.tif") if fmt == "tif" else image
    if fmt != "jpg":  # lossless: everyone else is exact, each person changed
        region = grow(labels, 4) > 0
        np.testing.assert_array_equal(back[~region], original[~region])
        assert np.any(back != original, axis=-1)[labels > 0].mean() > 0.5
    item = json.loads((out / MANIFEST_NAME).read_text())["outputs"][written.name]
    assert item["method"] == method


def test_help_works_for_every_command():
    result = run("--help")
    assert result.returncode == 0 and "apply" in result.stdout
    commands = _parser()._subparsers._group_actions[0].choices
    assert commands  # new commands are covered as they come
    for command in commands:
        result = run(command, "--help")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"usage: fuzzy-people {command}")
        assert "Traceback" not in result.stderr
    assert "%" in run("apply", "--help").stdout  # "5% of each person's height"
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("fuzzy-people ")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--radius", "-5"], "--radius: must be 1 or more, not -5"),
        (["--radius", "0"], "--radius: must be 1 or more"),
        (["--radius", "2.5"], "--radius: expected a whole number"),
        (["--margin", "-1"], "--margin: must be 0 or more"),
        (["--seed", "-1"], "--seed: must be 0 or more"),
        (["--people", "0"], "--people labels are 1 or more"),
        (["--method", "smudge"], "invalid choice: 'smudge'"),
        (["--masks", "x.png", "y.png"], "1 images but 2 masks"),
        (["--review", "{out}/private"], "must not be the export folder"),
    ],
)
def test_usage_errors_stop_before_anything_is_written(tmp_path, extra, message):
    make_pair(tmp_path, "a", 0)
    out = tmp_path / "out"
    out.mkdir()
    extra = [e.format(out=out) for e in extra]
    masks = [] if "--masks" in extra else ["--masks", tmp_path / "a.labels.png"]
    result = run("apply", tmp_path / "a.png", *masks, "-o", out, *extra)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert names(out) in ([], ["private"])
    assert not any(out.rglob("*.*"))


def test_the_output_folder_is_created(tmp_path):
    make_pair(tmp_path, "a", 0)
    out = tmp_path / "new" / "out"
    result = run("apply", tmp_path / "a.png", "--masks", tmp_path / "a.labels.png", "-o", out)
    assert result.returncode == 0, result.stderr
    assert names(out) == ["a_fuzzy.png", MANIFEST_NAME]


def test_per_file_problems_are_one_line_each(tmp_path):
    make_pair(tmp_path, "a", 0)
    make_pair(tmp_path, "b", 1)
    make_pair(tmp_path, "c", 2)
    make_pair(tmp_path, "d", 3)
    tifffile.imwrite(tmp_path / "b.labels.tif", np.full((50, 70), -3, np.int16))
    tifffile.imwrite(tmp_path / "c.labels.tif", np.full((50, 70), 2_000_000_000, np.uint32))
    result = run(
        "apply",
        *(tmp_path / f"{p}.png" for p in "abcd"),
        "--masks",
        tmp_path / "a.labels.png",
        tmp_path / "b.labels.tif",
        tmp_path / "c.labels.tif",
        tmp_path / "missing.png",
        "-o",
        tmp_path / "out",
        "--people",
        "1",
    )
    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 3 and "Traceback" not in result.stderr
    assert f"{tmp_path / 'b.labels.tif'}: label image holds negative labels" in errors[0]
    assert f"{tmp_path / 'c.labels.tif'}: largest label is 2000000000" in errors[1]
    assert str(tmp_path / "missing.png") in errors[2]
    assert all(
        e.startswith(f"fuzzy-people: {tmp_path / p}.png")
        for e, p in zip(errors, "bcd", strict=True)
    )
    assert "1 of 4 photos anonymized, 3 failed" in result.stdout


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_links_planted_in_the_export_folder_are_never_followed(tmp_path, overwrite):
    make_pair(tmp_path, "a", 0)
    make_pair(tmp_path, "b", 1)
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"precious")
    (out / "a_fuzzy.png").symlink_to(victim)
    (out / "b_fuzzy.png").symlink_to(tmp_path / "planted.png")  # dangling: would create it
    result = run(
        "apply",
        *(tmp_path / f"{p}.png" for p in "ab"),
        "--masks",
        *(tmp_path / f"{p}.labels.png" for p in "ab"),
        "-o",
        out,
        *overwrite,
    )
    assert result.returncode == 1
    assert result.stderr.count("is a symbolic link; refusing to write through it") == 2
    assert victim.read_bytes() == b"precious"
    assert not (tmp_path / "planted.png").exists()
    assert (out / "a_fuzzy.png").is_symlink() and (out / "b_fuzzy.png").is_symlink()


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_no_input_of_a_batch_is_ever_overwritten(tmp_path, overwrite):
    make_pair(tmp_path, "a", 0)
    out = tmp_path / "out"
    make_pair(out, "a_fuzzy", 1)  # an input named like a's output
    before = digest(out / "a_fuzzy.png")
    result = run(
        "apply",
        tmp_path / "a.png",
        out / "a_fuzzy.png",
        "--masks",
        tmp_path / "a.labels.png",
        out / "a_fuzzy.labels.png",
        "-o",
        out,
        *overwrite,
    )
    assert result.returncode == 2
    assert f"would write {out / 'a_fuzzy.png'}, which is an input" in result.stderr
    assert digest(out / "a_fuzzy.png") == before
    assert names(out) == ["a_fuzzy.labels.png", "a_fuzzy.png"]


def test_two_inputs_with_one_output_name_are_refused_up_front(tmp_path):
    make_pair(tmp_path / "p", "a", 0)
    make_pair(tmp_path / "q", "a", 1)
    make_pair(tmp_path / "r", "a", 2, fmt="jpg")
    make_pair(tmp_path / "s", "a", 3, fmt="jpg")
    (tmp_path / "s" / "a.jpg").rename(tmp_path / "s" / "a.png")  # a JPEG named .png
    for first, second, target in [("p", "q", "a_fuzzy.png"), ("r", "s", "a_fuzzy.jpg")]:
        first_photo = tmp_path / first / ("a.png" if first == "p" else "a.jpg")
        result = run(
            "apply",
            first_photo,
            tmp_path / second / "a.png",
            "--masks",
            tmp_path / first / "a.labels.png",
            tmp_path / second / "a.labels.png",
            "-o",
            tmp_path / "out",
        )
        assert result.returncode == 2
        assert (
            f"{first_photo} and {tmp_path / second / 'a.png'} would both be exported as "
            f"{tmp_path / 'out' / target}"
        ) in " ".join(result.stderr.split())
        assert names(tmp_path / "out") == []


def test_the_format_follows_the_content_not_the_name(tmp_path):
    image, labels = make_pair(tmp_path, "a", 0)
    (tmp_path / "a.png").rename(tmp_path / "a.jpg")  # a PNG named .jpg
    out = tmp_path / "out"
    result = run("apply", tmp_path / "a.jpg", "--masks", tmp_path / "a.labels.png", "-o", out)
    assert result.returncode == 0, result.stderr
    assert names(out) == ["a_fuzzy.png", MANIFEST_NAME]
    with Image.open(out / "a_fuzzy.png") as im:
        assert im.format == "PNG"
        back = np.asarray(im)
    region = grow(labels, 4) > 0
    np.testing.assert_array_equal(back[~region], image[~region])  # lossless, as it came


def test_running_again_skips_what_is_exported(tmp_path):
    make_pair(tmp_path, "a", 0)
    make_pair(tmp_path, "b", 1)
    args = ["apply", tmp_path / "a.png", tmp_path / "b.png", "--masks"]
    args += [tmp_path / "a.labels.png", tmp_path / "b.labels.png", "-o", tmp_path / "out"]
    assert run(*args).returncode == 0
    before = {p: digest(p) for p in (tmp_path / "out").iterdir()}
    result = run(*args)
    assert result.returncode == 0
    assert result.stdout.count("(already exported)") == 2
    assert "2 of 2 photos anonymized (2 already exported earlier)" in result.stdout
    assert {p: digest(p) for p in (tmp_path / "out").iterdir()} == before
    result = run(*args, "--overwrite")
    assert result.returncode == 0 and "already" not in result.stdout


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (MemoryError(), "not enough memory to process this photo"),
        (RuntimeError("a bug of ours"), "unexpected RuntimeError: a bug of ours"),
        (KeyError("x"), "unexpected KeyError: 'x'"),
    ],
)
def test_any_exception_is_one_line_and_the_batch_goes_on(
    tmp_path, monkeypatch, capsys, error, shown
):
    import napari_fuzzy_people.batch.tasks as cli

    make_pair(tmp_path, "a", 0)
    make_pair(tmp_path, "b", 1)
    real = cli.read_photo

    def flaky(path, **kwargs):
        if Path(path).name == "a.png":
            raise error
        return real(path, **kwargs)

    monkeypatch.setattr(cli, "read_photo", flaky)
    images = [str(tmp_path / f"{p}.png") for p in "ab"]
    masks = [str(tmp_path / f"{p}.labels.png") for p in "ab"]
    code = main(["apply", *images, "--masks", *masks, "-o", str(tmp_path / "o")])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.strip() == f"fuzzy-people: {tmp_path / 'a.png'}: {shown}"
    assert names(tmp_path / "o") == ["b_fuzzy.png", MANIFEST_NAME]
