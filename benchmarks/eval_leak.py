"""How often an independent detector still finds people after anonymization.

For each photo of the coco-people set (real COCO photos with one hand-drawn
mask per person, see its README), the detectors below run on the original and
on the photo anonymized with each setting; the table says how many of the
labelled people the detectors find on the originals and how many of those
they still find afterwards.

    python benchmarks/eval_leak.py [--data PATH] [--seed N]

Needs ``opencv-python-headless<5`` (OpenCV 5 no longer ships the HOG people
detector nor the Haar cascades). Only the models inside the OpenCV wheel are
used; nothing is downloaded.

Detectors (parameters tuned once, on the originals, then fixed)
---------------------------------------------------------------
* HOG + linear SVM people detector (Dalal-Triggs, ``cv2.HOGDescriptor``
  with ``getDefaultPeopleDetector``): ``winStride=(8, 8)``,
  ``padding=(8, 8)``, ``scale=1.05``, ``hitThreshold=-0.7``,
  ``groupThreshold=1``. OpenCV's default threshold (0) found only 2 people
  on the originals; -0.7 finds 24 of them. Its 64x128 window misses people
  under about 100 px tall; upscaling the photo 1.5-2x added few people at
  2-4x the cost.
* Haar cascade ``haarcascade_frontalface_default.xml`` on the equalized
  grey image: ``scaleFactor=1.1``, ``minNeighbors=3``. (``alt2`` added 3
  people for about a third more runtime; left out.)
* Haar cascade ``haarcascade_profileface.xml``: ``scaleFactor=1.1``,
  ``minNeighbors=2`` (unmirrored only: one side of the face).
* ``haarcascade_upperbody.xml`` and ``haarcascade_fullbody.xml`` were tried
  and left out: on the originals they matched 3 and 2 people, adding 2 to the
  union for about 70% more runtime.

Matching rule
-------------
* A HOG box matches the labelled person whose bounding box it overlaps most,
  if that IoU is >= 0.3 (boxes are ``[x0, y0, x1, y1)``).
* A face box matches the person whose label is under the box centre.
* A person is *found* if any detector matches them. Each detection matches at
  most one person. Crowd regions (label 255) are anonymized with everyone
  else but never scored.
* *still*: people found on the original and on the anonymized photo (the
  percentage is of those found on the originals); the per-detector columns
  split it by the detector that finds them afterwards (a detector may find,
  after, someone only another detector found before); *new*: found only after
  anonymization; *stray*: detections matching no labelled person whose box
  lies at least 20% inside the anonymized (mask) pixels, i.e. detections that
  the anonymized region itself triggers. The "original" row gives the same
  counts before anonymization, for reference.

Caveats
-------
* HOG and Haar cascades are weak, old detectors: on the originals they find
  only about a third of the people (most misses are small, seated, occluded
  or turned away). Modern CNN detectors find far more, and one trained on
  anonymized images would do better still, so these numbers are a lower
  bound of what an attacker could find, not evidence that a setting is safe.
* HOG looks at silhouettes: a method that keeps the outline (fill, or any
  method without a margin) can still be found by shape alone.
* A match can be chance: a loose detector on a busy photo produces boxes that
  happen to overlap a person. Compare with the stray counts and the "new"
  column, which give the order of magnitude of chance matches.
* 30 photos, 133 people: differences of a few people are noise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from napari_fuzzy_people.core import anonymize, default_params

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco-people"

IOU_MIN = 0.3  # HOG box vs person bbox
STRAY_INSIDE = 0.2  # fraction of an unmatched box inside the mask to count as stray

HOG_PARAMS = {
    "winStride": (8, 8),
    "padding": (8, 8),
    "scale": 1.05,
    "hitThreshold": -0.7,
    "groupThreshold": 1,
}
CASCADES = {  # name: (file, detectMultiScale keywords)
    "face": ("haarcascade_frontalface_default.xml", {"scaleFactor": 1.1, "minNeighbors": 3}),
    "profile": ("haarcascade_profileface.xml", {"scaleFactor": 1.1, "minNeighbors": 2}),
}
DETECTORS = ("hog", *CASCADES)

# name: anonymize keywords (``rng`` is added per photo; default_params per photo)
SETTINGS: dict[str, dict | None] = {
    "scramble any r=4": {"method": "scramble", "radius": 4},
    "scramble any r=8": {"method": "scramble", "radius": 8},
    "scramble any r=16": {"method": "scramble", "radius": 16},
    "scramble bg r=8 m=0": {"method": "scramble", "radius": 8, "source": "background"},
    "scramble bg r=8 m=4": {
        "method": "scramble",
        "radius": 8,
        "source": "background",
        "margin": 4,
    },
    "scramble bg r=16 m=0": {"method": "scramble", "radius": 16, "source": "background"},
    "scramble bg r=16 m=4": {
        "method": "scramble",
        "radius": 16,
        "source": "background",
        "margin": 4,
    },
    "pixelate 8": {"method": "pixelate", "block": 8},
    "pixelate 16": {"method": "pixelate", "block": 16},
    "blur 4": {"method": "blur", "sigma": 4},
    "blur 8": {"method": "blur", "sigma": 8},
    "fill": {"method": "fill"},
    "panel defaults": None,
}


def load_cv2():
    try:
        import cv2
    except ImportError:
        sys.exit("eval_leak: needs OpenCV: pip install 'opencv-python-headless<5'")
    if not hasattr(cv2, "HOGDescriptor") or not hasattr(cv2, "CascadeClassifier"):
        sys.exit(
            f"eval_leak: OpenCV {cv2.__version__} lacks HOG/Haar detectors: "
            "pip install 'opencv-python-headless<5'"
        )
    return cv2


class Detectors:
    def __init__(self, cv2):
        self.cv2 = cv2
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.cascades = {}
        for name, (file, kwargs) in CASCADES.items():
            cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / file))
            if cascade.empty():
                sys.exit(f"eval_leak: could not load {file} from {cv2.data.haarcascades}")
            self.cascades[name] = (cascade, kwargs)

    def __call__(self, bgr) -> dict[str, np.ndarray]:
        """Boxes ``(k, 4)`` as ``[x0, y0, x1, y1)`` per detector."""
        cv2 = self.cv2
        boxes = {}
        found, _ = self.hog.detectMultiScale(bgr, **HOG_PARAMS)
        boxes["hog"] = found
        grey = cv2.equalizeHist(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
        for name, (cascade, kwargs) in self.cascades.items():
            boxes[name] = cascade.detectMultiScale(grey, **kwargs)
        out = {}
        for name, b in boxes.items():
            b = np.asarray(b, dtype=np.int64).reshape(-1, 4)
            out[name] = np.column_stack([b[:, :2], b[:, :2] + b[:, 2:]])
        return out


def iou(box, bboxes):
    """IoU of one ``[x0, y0, x1, y1)`` box with each row of ``bboxes``."""
    ix = np.clip(np.minimum(box[2], bboxes[:, 2]) - np.maximum(box[0], bboxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], bboxes[:, 3]) - np.maximum(box[1], bboxes[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (bboxes[:, 2] - bboxes[:, 0]) * (bboxes[:, 3] - bboxes[:, 1])
    return inter / (area + areas - inter)


def match(detections, people, labels):
    """Labels found per detector, and the number of stray detections."""
    h, w = labels.shape
    ids = np.array([p["label"] for p in people], dtype=np.int64)
    bboxes = np.array([p["bbox"] for p in people], dtype=np.int64).reshape(-1, 4)
    masked = labels > 0
    found = {name: set() for name in detections}
    stray = 0
    for name, boxes in detections.items():
        for box in boxes:
            hit = None
            if name == "hog":
                if len(ids):
                    overlaps = iou(box, bboxes)
                    best = int(np.argmax(overlaps))
                    if overlaps[best] >= IOU_MIN:
                        hit = int(ids[best])
            else:
                cx = min(max((box[0] + box[2]) // 2, 0), w - 1)
                cy = min(max((box[1] + box[3]) // 2, 0), h - 1)
                if int(labels[cy, cx]) in ids:
                    hit = int(labels[cy, cx])
            if hit is not None:
                found[name].add(hit)
                continue
            x0, y0 = max(box[0], 0), max(box[1], 0)
            x1, y1 = min(box[2], w), min(box[3], h)
            if x1 > x0 and y1 > y0:
                inside = masked[y0:y1, x0:x1].mean()
                stray += bool(inside >= STRAY_INSIDE)
    return found, stray


def params_for(setting, labels, seed):
    params = default_params(labels) if SETTINGS[setting] is None else dict(SETTINGS[setting])
    if params["method"] == "scramble":
        params["rng"] = seed
    return params


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="coco-people folder")
    parser.add_argument("--seed", type=int, default=0, help="scramble seed of the first photo")
    args = parser.parse_args(argv)
    data = args.data
    if not (data / "annotations.json").is_file():
        sys.exit(f"eval_leak: no coco-people data at {data} (need annotations.json); use --data")
    cv2 = load_cv2()
    t_start = time.perf_counter()
    detect = Detectors(cv2)
    photos = json.loads((data / "annotations.json").read_text())["images"]

    names = ["original", *SETTINGS]
    found = {name: {d: set() for d in DETECTORS} for name in names}  # {(photo, label)}
    stray = dict.fromkeys(names, 0)
    n_people = 0
    t_anon = t_detect = 0.0
    for index, photo in enumerate(photos):
        bgr = cv2.imread(str(data / photo["image"]), cv2.IMREAD_COLOR)
        labels = cv2.imread(str(data / photo["mask"]), cv2.IMREAD_UNCHANGED)
        if bgr is None or labels is None or labels.shape != bgr.shape[:2]:
            sys.exit(f"eval_leak: cannot read {photo['image']} / {photo['mask']} in {data}")
        rgb = np.ascontiguousarray(bgr[..., ::-1])
        people = photo["people"]
        n_people += len(people)
        for name in names:
            t0 = time.perf_counter()
            if name == "original":
                image = bgr
            else:
                out = anonymize(rgb, labels, **params_for(name, labels, args.seed + index))
                image = np.ascontiguousarray(out[..., ::-1])
            t1 = time.perf_counter()
            per_detector, strays = match(detect(image), people, labels)
            t_detect += time.perf_counter() - t1
            t_anon += t1 - t0
            stray[name] += strays
            for d, hits in per_detector.items():
                found[name][d] |= {(index, label) for label in hits}

    def union(name):
        return set().union(*found[name].values())

    base = union("original")
    n_base = len(base)
    print(
        f"{len(photos)} photos, {n_people} labelled people; "
        f"found on the originals: {n_base} "
        + ", ".join(f"{d} {len(found['original'][d])}" for d in DETECTORS)
    )
    header = (
        f"{'setting':22s} {'orig':>4s} {'still':>5s} {'%':>5s} "
        + " ".join(f"{d:>7s}" for d in DETECTORS)
        + f" {'new':>4s} {'stray':>5s}"
    )
    print(header)
    print("-" * len(header))
    for name in names:
        after = union(name)
        still = after & base
        pct = 100.0 * len(still) / n_base if n_base else float("nan")
        per_det = " ".join(f"{len(found[name][d] & base):7d}" for d in DETECTORS)
        print(
            f"{name:22s} {n_base:4d} {len(still):5d} {pct:5.1f} {per_det} "
            f"{len(after - base):4d} {stray[name]:5d}"
        )
    print(
        "orig: people found on the originals; still: of those, found after anonymization "
        "(hog/face/profile: by that detector after); new: found only after; stray: unmatched "
        f"detections >= {STRAY_INSIDE:.0%} inside the masks."
    )
    print(
        f"OpenCV {cv2.__version__}; total {time.perf_counter() - t_start:.1f} s "
        f"(detection {t_detect:.1f} s, anonymization {t_anon:.1f} s)"
    )


if __name__ == "__main__":
    main()
