"""What the leak check makes of detections: findings, owners, dismissals, the record."""

import numpy as np
import pytest

from napari_fuzzy_people.core.leaks import (
    Detection,
    Dismissal,
    LeakReport,
    LeakReview,
    Problem,
    check_leaks,
    find_leaks,
    iou,
    skipped_check,
)


@pytest.fixture
def labels():
    lab = np.zeros((100, 120), np.uint16)
    lab[10:60, 10:40] = 1  # approved
    lab[10:60, 60:90] = 2  # rejected: the reviewer said leave them
    return lab


def face(x0, y0, x1, y1, score=0.9):
    return Detection("face", (x0, y0, x1, y1), score, "double")


def test_each_detection_is_judged_by_whose_mask_covers_it(labels):
    hits = [
        face(15, 15, 30, 30),  # on person 1, approved: still detectable
        face(65, 15, 80, 30),  # on person 2, not approved: the reviewer's call
        face(95, 70, 115, 95),  # nobody's: missed by the review
        Detection("person", (0, 0, 120, 100), 0.8, "double"),  # 12.5% person 1: nobody's
        face(200, 200, 220, 220),  # outside the image: ignored
    ]
    found = find_leaks(hits, labels, approved=[1])
    assert [(f.detection, f.problem, f.label) for f in found] == [
        (hits[0], Problem.STILL_DETECTABLE, 1),
        (hits[2], Problem.NOT_MASKED, None),
        (hits[3], Problem.NOT_MASKED, None),
    ]
    # A box mostly on person 1 but partly on 2 belongs to 1.
    (f,) = find_leaks([face(20, 20, 70, 40)], labels, approved=[1, 2])
    assert f.label == 1


def test_cover_sets_how_much_of_a_box_a_mask_must_hold(labels):
    box = Detection("person", (0, 0, 120, 100), 0.8, "double")  # 12.5% person 1
    assert find_leaks([box], labels, [1], cover=0.1)[0].problem is Problem.STILL_DETECTABLE
    assert find_leaks([box], labels, [1], cover=0.2)[0].problem is Problem.NOT_MASKED


def test_detections_reject_bad_boxes_and_kinds():
    with pytest.raises(ValueError, match="kind"):
        Detection("cat", (0, 0, 1, 1), 0.5, "d")
    with pytest.raises(ValueError, match="four finite"):
        Detection("face", (0, 0, float("nan"), 1), 0.5, "d")


def test_a_dismissal_follows_its_finding_not_another(labels):
    (finding,) = find_leaks([face(95, 70, 115, 95)], labels, [1])
    dismissal = Dismissal.of(finding, "a poster on the wall")
    moved = find_leaks([face(96, 71, 116, 96)], labels, [1])[0]  # settings moved it a pixel
    elsewhere = find_leaks([face(0, 70, 20, 95)], labels, [1])[0]
    as_person = find_leaks([Detection("person", (95, 70, 115, 95), 0.9, "d")], labels, [1])[0]
    assert dismissal.matches(moved)
    assert not dismissal.matches(elsewhere) and not dismissal.matches(as_person)
    assert Dismissal.from_dict(dismissal.to_dict()) == dismissal
    with pytest.raises(ValueError, match="reason"):
        Dismissal.of(finding, "   ")
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)


class Fixed:
    """A detector double returning set detections whatever the image."""

    def __init__(self, *found):
        self.found = list(found)

    def find(self, image):
        return list(self.found)

    def describe(self):
        return {"name": "fixed", "kind": "face"}


def test_a_report_keeps_findings_dismissals_and_what_looked(labels):
    image = np.zeros((100, 120, 3), np.uint8)
    report = check_leaks(
        image,
        labels,
        [1],
        [Fixed(face(15, 15, 30, 30), face(95, 70, 115, 95))],
        dismissals=[Dismissal("face", (95, 70, 115, 95), "a poster")],
    )
    assert [f.label for f in report.open] == [1]
    data = report.to_dict()
    assert data["run"] is True and data["detections"] == 2
    assert data["detectors"] == [{"name": "fixed", "kind": "face"}]
    assert [f["dismissed"] for f in data["findings"]] == [None, "a poster"]
    assert data["findings"][0]["problem"] == "still detectable"


def test_a_check_never_passes_by_looking_with_nothing(labels):
    with pytest.raises(ValueError, match="at least one detector"):
        check_leaks(np.zeros((100, 120)), labels, [1], [])
    skipped = skipped_check("--no-leak-check")
    assert skipped.open == [] and skipped.to_dict() == {"run": False, "skipped": "--no-leak-check"}
    with pytest.raises(ValueError, match="reason"):
        skipped_check("")
    assert LeakReport().open == []


def test_the_review_of_a_photos_leaks(labels):
    review = LeakReview()
    report = check_leaks(
        np.zeros((100, 120, 3)), labels, [1], [Fixed(face(15, 15, 30, 30), face(95, 70, 115, 95))]
    )
    review.checked(report)
    assert len(review.open) == 2 and review.still_detectable() == {1: 1}
    missed = review.open[1]
    review.dismiss(missed, "a statue")
    assert review.open == [report.findings[0]]
    assert review.to_list() == [{"kind": "face", "box": [95.0, 70.0, 115.0, 95.0],
                                 "reason": "a statue"}]  # fmt: skip
    review.undismiss(missed)
    assert len(review.open) == 2
    review.forget()
    assert review.report is None and review.dismissals == [] and review.open == []
