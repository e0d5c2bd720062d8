"""The leak check in the panel, as a reviewer meets it: held back, fixed, dismissed, exported.

The detector is the marker double (tests/leak_doubles.py): it "finds" each
intact magenta square as a face, so the check reacts to the pixels an
export would write. Photos are PNGs: the markers stay pure magenta.
"""

import json

import numpy as np
import pytest
from PIL import Image
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QFileDialog, QInputDialog

from leak_doubles import put_marker
from napari_fuzzy_people.batch.leakcheck import LeakCheck
from napari_fuzzy_people.core.people import Proposals
from napari_fuzzy_people.io.manifest import MANIFEST_NAME as MANIFEST
from napari_fuzzy_people.io.read import read_photo
from napari_fuzzy_people.io.workfolder import PhotoStatus, WorkFolder
from scenes import idle, street

SKIPPED = "skipped in the panel by the reviewer"
ON_PERSON = (60, 45)  # inside person 1 (rows 48-192, columns 40-80)
NOBODY = (20, 250)  # on the street: a person the review missed


def click(qtbot, button):
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def status(widget, label):
    table = widget.people.table
    for r in range(table.rowCount()):
        if int(table.item(r, 0).text()) == label:
            return table.item(r, 1).text()
    raise AssertionError(f"no row for person {label}")


def findings_layer(viewer):
    return next((layer for layer in viewer.layers if layer.name.endswith("leak check")), None)


def set_method(widget, method, strength):
    view = widget.anonymize
    view.method.setCurrentIndex(view.method.findData(method))
    view.method.activated.emit(view.method.currentIndex())
    view.relative.setChecked(False)  # the strength as given, not grown with the person
    view.strength.setValue(strength)
    view.strength.editingFinished.emit()


@pytest.fixture
def marked(panel, qtbot, tmp_path):
    """The panel on a PNG with a marker face on person 1 and one on the street, both
    people approved; returns (viewer, widget, controller, photo path)."""
    viewer, widget = panel
    image, labels = street()
    put_marker(image, *ON_PERSON)
    put_marker(image, *NOBODY)
    path = tmp_path / "photos" / "street.png"
    path.parent.mkdir()
    Image.fromarray(image).save(path)
    viewer.open(path)
    viewer.add_labels(labels, name="masks")
    c = widget.controller
    click(qtbot, widget.photo.adopt_button)
    idle(qtbot, c)
    click(qtbot, widget.people.approve_all_button)
    return viewer, widget, c, path


def test_findings_hold_the_export_back_until_fixed_or_dismissed(marked, qtbot, monkeypatch):
    viewer, widget, c, path = marked
    shared = path.parent.parent / "shared"
    shared.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a: str(shared))
    set_method(widget, "pixelate", 1)  # 1-pixel blocks: the face on person 1 stays

    click(qtbot, widget.anonymize.export_button)
    idle(qtbot, c)
    text = widget.job.status.text()
    assert "Export held back by the leak check: 2 findings open" in text, text
    assert "Nothing was written" in text
    assert list(shared.iterdir()) == []
    assert not (path.parent / "fuzzy-people-review").exists()  # no masks, no record, no folder
    # On the canvas: a rectangle round each, named; in the lists: which, and who.
    layer = findings_layer(viewer)
    assert len(layer.data) == 2
    assert sorted(layer.features["finding"]) == [
        "face in nobody's mask",
        "face still detectable (person 1)",
    ]
    assert status(widget, 1) == "approved, still detectable"
    assert status(widget, 2) == "approved"
    items = [widget.leaks.list.item(r).text() for r in range(widget.leaks.list.count())]
    assert any("face still detectable on person 1" in t for t in items), items
    assert "2 open" in widget.leaks.state.text()

    # Fix the one on person 1: stronger blocks, then check again (nothing written).
    set_method(widget, "pixelate", 12)
    click(qtbot, widget.leaks.check_button)
    idle(qtbot, c)
    assert status(widget, 1) == "approved"
    assert len(findings_layer(viewer).data) == 1
    assert widget.leaks.list.count() == 1 and list(shared.iterdir()) == []
    assert "1 open" in widget.leaks.state.text()

    # Dismiss the other: a reason is required, and goes into the record.
    widget.leaks.list.setCurrentRow(0)
    assert widget.leaks.list.selectedItems()
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("  ", True))
    click(qtbot, widget.leaks.dismiss_button)
    assert "needs a reason" in widget.job.status.text()
    assert c.leaks.open
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("a poster on the wall", True))
    click(qtbot, widget.leaks.dismiss_button)
    assert not c.leaks.open
    assert widget.leaks.list.item(0).text().endswith("dismissed: a poster on the wall")
    assert findings_layer(viewer).features["finding"][0].endswith(", dismissed")
    # Taken back, it blocks again; dismissed again, it passes.
    widget.leaks.list.setCurrentRow(0)
    click(qtbot, widget.leaks.undismiss_button)
    assert c.leaks.open
    widget.leaks.list.setCurrentRow(0)
    click(qtbot, widget.leaks.dismiss_button)

    click(qtbot, widget.anonymize.export_button)
    idle(qtbot, c)
    assert "Exported 2 people" in widget.job.status.text(), widget.job.status.text()
    assert (shared / "street_fuzzy.png").is_file()
    record = path.parent / "fuzzy-people-review" / "street_fuzzy.png.record.json"
    check = json.loads(record.read_text())["leak_check"]
    assert check["run"] is True
    assert check["detectors"] == [{"name": "marker-double", "kind": "face"}]
    assert [(f["problem"], f["dismissed"]) for f in check["findings"]] == [
        ("in nobody's mask", "a poster on the wall")
    ]


def test_without_the_weights_the_panel_asks_and_never_passes_silently(marked, qtbot, monkeypatch):
    _, widget, c, path = marked
    # Offline with an empty cache: the real detectors cannot be had.
    monkeypatch.setenv("NAPARI_FUZZY_PEOPLE_CACHE", str(path.parent.parent / "empty-cache"))
    for proxy in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(proxy, "http://127.0.0.1:9")
    c.leak_check = LeakCheck()
    shared = path.parent.parent / "shared"
    shared.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a: str(shared))
    assert not widget.leaks.ask.isVisibleTo(widget)

    click(qtbot, widget.anonymize.export_button)
    idle(qtbot, c, timeout=300_000)
    text = widget.job.status.text()
    assert "leak check cannot run: 2 weights files missing" in text, text
    assert "Nothing was written" in text
    assert list(shared.iterdir()) == []
    assert widget.leaks.ask.isVisibleTo(widget)
    missing = widget.leaks.unavailable.toolTip()  # the label's text, unwrapped
    for name in ("fasterrcnn_resnet50_fpn_v2_coco", "face_detection_yunet_2023mar.onnx"):
        assert name in missing  # every missing file, at once
    assert widget.leaks.weights_button.isVisibleTo(widget)

    # Export without the check: the same export, on the record as unchecked.
    click(qtbot, widget.leaks.skip_button)
    idle(qtbot, c)
    assert (shared / "street_fuzzy.png").is_file(), widget.job.status.text()
    assert "The leak check did not run" in widget.job.status.text()
    record = path.parent / "fuzzy-people-review" / "street_fuzzy.png.record.json"
    assert json.loads(record.read_text())["leak_check"] == {
        "run": False,
        "skipped": SKIPPED,
    }
    # It was this export only: the next one checks again.
    assert c.leak_check == LeakCheck()

    # Or choose the files: the check uses them from now on.
    person, face = path.parent / "person.pth", path.parent / "yunet.onnx"
    chosen = iter([(str(person), ""), (str(face), "")])
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: next(chosen))
    click(qtbot, widget.leaks.weights_button)
    assert c.leak_check.person_weights == str(person)
    assert c.leak_check.face_weights == str(face)
    assert "will use person.pth, yunet.onnx" in widget.job.status.text()
    assert not widget.leaks.ask.isVisibleTo(widget)


def test_the_folder_export_holds_a_photo_back_until_its_finding_is_dismissed(
    panel, qtbot, tmp_path, monkeypatch
):
    viewer, widget = panel
    c = widget.controller
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, marker in (("a.png", None), ("b.png", NOBODY)):
        image, _ = street()
        if marker is not None:
            put_marker(image, *marker)  # on the street of a photo "with nobody"
        Image.fromarray(image).save(photos / name)
    work = WorkFolder.create(photos / "fuzzy-people-work", photos)
    for name in ("a.png", "b.png"):
        info = {"sha256": read_photo(photos / name).sha256}
        work.save_proposals(name, info, Proposals(np.zeros((240, 320), np.uint8), []))
    c.open_folder(work.path)
    idle(qtbot, c)
    for _ in range(2):  # the reviewer misses the face on b.png
        click(qtbot, widget.folder.no_people_button)
        if c.position == 0:
            click(qtbot, widget.folder.next_button)
            idle(qtbot, c)
    qtbot.waitUntil(lambda: not c.saving, timeout=30_000)
    shared = tmp_path / "shared"
    shared.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a: str(shared))

    click(qtbot, widget.folder.export_button)
    idle(qtbot, c)
    text = widget.job.status.text()
    assert "Exported 1 of 2 done photos" in text and "Held back by the leak check" in text
    assert "b.png" in text and "face in nobody's mask" in text
    assert sorted(p.name for p in shared.iterdir()) == ["a_fuzzy.png", MANIFEST]
    assert c.statuses["b.png"] == PhotoStatus.NO_PEOPLE

    # On b.png: check, see the face, dismiss it; the work folder keeps the reason.
    assert c.queue[c.position] == "b.png"
    click(qtbot, widget.leaks.check_button)
    idle(qtbot, c)
    assert len(findings_layer(viewer).data) == 1
    widget.leaks.list.setCurrentRow(0)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("a face on a T-shirt", True))
    click(qtbot, widget.leaks.dismiss_button)
    qtbot.waitUntil(lambda: not c.saving, timeout=30_000)
    assert [d["reason"] for d in work.leak_dismissals("b.png")] == ["a face on a T-shirt"]
    # Away and back: the dismissal is still there.
    click(qtbot, widget.folder.previous_button)
    idle(qtbot, c)
    assert not c.leaks.dismissals and findings_layer(viewer) is None
    click(qtbot, widget.folder.next_button)
    idle(qtbot, c)
    assert [d.reason for d in c.leaks.dismissals] == ["a face on a T-shirt"]

    click(qtbot, widget.folder.export_button)
    idle(qtbot, c)
    assert (shared / "b_fuzzy.png").is_file(), widget.job.status.text()
    record = next(work.records_for(shared).glob("b_fuzzy.png.record.json"))
    findings = json.loads(record.read_text())["leak_check"]["findings"]
    assert [f["dismissed"] for f in findings] == ["a face on a T-shirt"]


def test_when_check_for_leaks_cannot_run_export_without_it_asks_where(marked, qtbot, monkeypatch):
    _, widget, c, path = marked
    monkeypatch.setenv("NAPARI_FUZZY_PEOPLE_CACHE", str(path.parent.parent / "empty-cache"))
    for proxy in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(proxy, "http://127.0.0.1:9")
    c.leak_check = LeakCheck()
    click(qtbot, widget.leaks.check_button)
    idle(qtbot, c, timeout=300_000)
    assert "leak check cannot run" in widget.job.status.text()
    assert widget.leaks.ask.isVisibleTo(widget)
    # No export to repeat: the panel asks for the folder, as Export does.
    shared = path.parent.parent / "shared"
    shared.mkdir()
    asked = []
    monkeypatch.setattr(
        QFileDialog, "getExistingDirectory", lambda *a: asked.append(a[1]) or str(shared)
    )
    click(qtbot, widget.leaks.skip_button)
    idle(qtbot, c)
    assert len(asked) == 1 and (shared / "street_fuzzy.png").is_file()
    record = path.parent / "fuzzy-people-review" / "street_fuzzy.png.record.json"
    assert json.loads(record.read_text())["leak_check"]["skipped"] == SKIPPED


def test_a_person_found_by_the_person_detector_points_to_vanish(marked, qtbot):
    # An outline survives every strength of scramble, pixelate and blur: when the
    # person detector finds an approved person, the panel says what removes it.
    _, widget, c, _ = marked
    c.leak_check = LeakCheck(factory="leak_doubles:person_marker_detectors")
    set_method(widget, "pixelate", 1)
    notices = []
    c.notice.connect(notices.append)
    click(qtbot, widget.leaks.check_button)
    idle(qtbot, c)
    text = notices[-1].text
    assert "open" in text and "Vanish" in text
    set_method(widget, "vanish", 1)
    click(qtbot, widget.leaks.check_button)
    idle(qtbot, c)
    assert c.leaks.still_detectable() == {}  # the marker on person 1 went with them
    assert "Vanish" not in notices[-1].text
