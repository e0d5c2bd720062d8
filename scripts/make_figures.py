"""Draw the docs' pictures into docs/images/ (run by `make screenshots`).

- before_after.png: the sample photo, its person mask, the panel's default result
- methods.png: each method at several strengths on the sample's head, and vanish
- step1_review.png ... step4_applied.png: a real napari window with the panel
  at each step of the workflow (needs a display, so it runs the demo under
  xvfb-run when none is set)

Seeds are fixed so the pictures only change when the code does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from napari_fuzzy_people._napari._sample_data import astronaut_people
from napari_fuzzy_people.core import anonymize, default_params, dilate_disk

OUT = Path(__file__).resolve().parents[1] / "docs" / "images"
FONT = ImageFont.load_default(size=15)


def caption(tile: np.ndarray, text: str) -> Image.Image:
    im = Image.fromarray(tile)
    canvas = Image.new("RGB", (im.width, im.height + 24), "white")
    canvas.paste(im, (0, 24))
    ImageDraw.Draw(canvas).text((4, 3), text, fill="black", font=FONT)
    return canvas


def grid(rows: list[list[Image.Image]], gap: int = 6) -> Image.Image:
    w = max(sum(t.width for t in row) + gap * (len(row) - 1) for row in rows)
    h = sum(max(t.height for t in row) for row in rows) + gap * (len(rows) - 1)
    sheet = Image.new("RGB", (w, h), "white")
    y = 0
    for row in rows:
        x = 0
        for tile in row:
            sheet.paste(tile, (x, y))
            x += tile.width + gap
        y += max(t.height for t in row) + gap
    return sheet


def outline(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    person = labels > 0
    edge = dilate_disk(person, 2) & ~person
    out = image.copy()
    out[person] = (0.6 * out[person] + 0.4 * np.array([255, 200, 0])).astype(np.uint8)
    out[edge] = (255, 200, 0)
    return out


def before_after(image, labels):
    params = default_params(labels)
    result = anonymize(image, labels, rng=1, **params)
    r, m = params["radius"][1], params["margin"][1]
    row = [
        caption(image, "original"),
        caption(outline(image, labels), "person mask"),
        caption(result, f"scrambled (background, radius {r}, margin {m})"),
    ]
    grid([row]).save(OUT / "before_after.png", optimize=True)


def methods(image, labels):
    crop = (slice(0, 300), slice(110, 370))
    image, labels = image[crop], labels[crop]
    rows = []
    strengths = [4, 8, 16, 32]
    specs = [
        ("scramble", "radius", {"source": "any"}),
        ("scramble", "radius", {"source": "background"}),
        ("pixelate", "block", {}),
        ("blur", "sigma", {}),
    ]
    for method, key, extra in specs:
        name = method if not extra else f"{method} ({extra['source']})"
        row = []
        for s in strengths:
            seed = {"rng": 1} if method == "scramble" else {}
            out = anonymize(image, labels, method=method, **{key: s}, **extra, **seed)
            row.append(caption(out, f"{name}, {key} {s}"))
        rows.append(row)
    rows.append(
        [
            caption(image, "original"),
            caption(anonymize(image, labels, method="fill"), "fill (ring mean)"),
            caption(
                anonymize(image, labels, method="scramble", radius=8, margin=4, rng=1),
                "scramble (any), radius 8, margin 4",
            ),
            caption(
                anonymize(
                    image,
                    labels,
                    method="scramble",
                    radius=16,
                    margin=4,
                    source="background",
                    rng=1,
                ),
                "scramble (background), 16, margin 4",
            ),
            caption(
                anonymize(image, labels, method="vanish", margin=4, rng=1),
                "vanish, margin 4",
            ),
        ]
    )
    grid(rows).save(OUT / "methods.png", optimize=True)


def panel_screenshots():
    cmd = [sys.executable, "-m", "napari_fuzzy_people._napari.demo", "--screenshots", str(OUT)]
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        if not shutil.which("xvfb-run"):
            print("skipping the panel pictures: no display and no xvfb-run", file=sys.stderr)
            return
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1920x1080x24", *cmd]
    subprocess.run(cmd, check=True)
    folder = [*cmd[: cmd.index("--screenshots")], "--folder-screenshot", str(OUT / "queue.png")]
    subprocess.run(folder, check=True)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    image, labels = astronaut_people()
    before_after(image, labels)
    methods(image, labels)
    panel_screenshots()
    print(f"wrote {sorted(p.name for p in OUT.glob('*.png'))} to {OUT}")


if __name__ == "__main__":
    main()
