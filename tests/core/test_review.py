import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from review_helpers import Clock, Recorder, proposed, reviewed, scene, statuses

from napari_fuzzy_people.core.people import Proposals
from napari_fuzzy_people.core.review import Person, ReviewModel, Status

# -- records -----------------------------------------------------------------------


def test_person_coerces_json_and_numpy_values():
    p = Person(np.uint16(3), status="approved", box=[1, 2, 3, 4], score=np.float32(0.5))
    assert p == Person(3, Status.APPROVED, box=(1.0, 2.0, 3.0, 4.0), score=0.5)
    assert type(p.label) is int and type(p.score) is float
    for bad in ({"label": 0}, {"label": 1, "box": (1, 2)}, {"label": 1, "area": -1}):
        with pytest.raises(ValueError):
            Person(**bad)
    with pytest.raises(ValueError):
        Person(1, status="maybe")


def test_people_is_a_read_only_snapshot_in_label_order():
    model = ReviewModel()
    for label in (5, 2):
        model.add_person(label, origin="manual")
    people = model.people
    assert list(people) == [2, 5]
    with pytest.raises(TypeError):
        people[7] = Person(7)
    model.remove(2)
    assert list(people) == [2, 5] and list(model.people) == [5]


# -- adding people ---------------------------------------------------------------------


def test_adopt_makes_every_label_a_proposed_person_replacing_current_ones():
    model = ReviewModel(clock=Clock())
    events = Recorder()
    model.subscribe(events)
    model.adopt(scene())
    assert model.people == {
        1: Person(1, origin="imported", area=6),
        2: Person(2, origin="imported", area=6),
        3: Person(3, origin="imported", area=9),
    }
    model.approve(1)
    other = np.zeros((6, 8), np.uint8)
    other[0, 0] = 1
    other[5, 7] = 7
    model.adopt(other, origin="detector")
    assert model.people == {
        1: Person(1, origin="detector", area=1),
        7: Person(7, origin="detector", area=1),
    }
    assert events[-1] == ("adopted", (1, 2, 3, 7))
    assert model.undo()
    assert set(model.people) == {1, 2, 3}
    # Person 1's pixels differ in `other`: its approval is not restored as such.
    assert model.people[1].status is Status.EDITED


def test_add_proposals_records_each_person_and_reconciles_the_rest():
    model, events = reviewed()
    model.approve(1, 2)
    model.reject(3)
    labels = scene()
    labels[labels == 3] = 0  # person 3 gone
    labels[0, 7] = 4  # proposed
    labels[1, 7] = 5  # in the image, not listed
    ghost = proposed(6)  # listed, but lost all its pixels to overlaps
    model.add_proposals(Proposals(labels, [proposed(2, "prompt"), proposed(4), ghost]))
    people = model.people
    assert statuses(model) == {
        1: Status.APPROVED,  # untouched pixels, not listed: kept
        2: Status.PROPOSED,  # listed again: a new proposal needs a new review
        4: Status.PROPOSED,
        5: Status.PROPOSED,
    }
    assert people[2] == Person(
        2, origin="prompt", box=(1, 2, 3, 4), score=0.9, mask_score=0.8, area=6
    )
    assert people[4].origin == "detector" and people[4].area == 1
    assert people[5] == Person(5, origin="manual", area=1)
    assert events[-1] == ("proposed", (2, 3, 4, 5))
    assert model.undo()
    assert statuses(model) == {1: Status.APPROVED, 2: Status.APPROVED, 3: Status.REJECTED}


def test_add_proposals_on_a_fresh_model():
    model = ReviewModel()
    model.add_proposals(Proposals(scene(), [proposed(1), proposed(2), proposed(3)]))
    assert model.unreviewed_labels() == [1, 2, 3]
    assert model.people[3].area == 9 and model.people[3].box == (1, 2, 3, 4)


def test_add_person_adds_or_replaces_and_takes_the_area_from_the_image():
    model, events = reviewed()
    model.approve(3)
    model.add_person(3, origin="prompt", box=(0, 0, 2, 2), mask_score=0.7, area=99)
    assert model.people[3] == Person(3, origin="prompt", box=(0, 0, 2, 2), mask_score=0.7, area=9)
    model.add_person(8, origin="prompt", score=0.4, area=5)  # pixels not seen yet
    assert model.people[8] == Person(8, origin="prompt", score=0.4, area=5)
    assert events == [("approved", (3,)), ("added", (3,)), ("added", (8,))]
    assert model.undo() and 8 not in model.people
    assert model.undo() and model.people[3].status is Status.APPROVED
    with pytest.raises(ValueError):
        model.add_person(0, origin="manual")


# -- statuses --------------------------------------------------------------------------


def test_approve_reject_reset_and_approval_history():
    model, _ = reviewed()
    model.approve(1, 2)
    stamp = model.people[1].approved_at
    assert stamp == "2024-05-01T12:00:01.000+00:00" == model.people[2].approved_at
    model.reject(1)
    model.reset(2)
    assert statuses(model) == {1: Status.REJECTED, 2: Status.PROPOSED, 3: Status.PROPOSED}
    # approved_at is the last approval, kept as history.
    assert model.people[1].approved_at == stamp == model.people[2].approved_at
    model.approve(1)
    assert model.people[1].approved_at == "2024-05-01T12:00:02.000+00:00"


def test_default_clock_stamps_utc_iso_8601():
    model = ReviewModel()
    model.add_person(1, origin="manual")
    before = datetime.now(timezone.utc)
    model.approve(1)
    stamp = datetime.fromisoformat(model.people[1].approved_at)
    assert stamp.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= stamp <= datetime.now(timezone.utc)


def test_a_naive_clock_is_refused():
    model = ReviewModel(clock=datetime.now)
    model.add_person(1, origin="manual")
    with pytest.raises(ValueError, match="aware"):
        model.approve(1)
    assert model.people[1].status is Status.PROPOSED


@pytest.mark.parametrize("action", ["approve", "reject", "reset", "remove"])
def test_unknown_labels_raise_and_change_nothing(action):
    model, events = reviewed()
    with pytest.raises(KeyError, match="7"):
        getattr(model, action)(1, 7)
    assert statuses(model) == dict.fromkeys((1, 2, 3), Status.PROPOSED)
    assert events == [] and not model.undo()


def test_repeating_a_status_is_a_no_op():
    model, events = reviewed()
    model.approve(1)
    stamp = model.people[1].approved_at
    model.approve(1)
    model.approve_all([1])
    model.reset(2)
    model.reject(3)
    model.reject(3)
    assert model.people[1].approved_at == stamp
    assert events == [("approved", (1,)), ("rejected", (3,))]
    assert model.undo() and model.undo() and not model.undo()


def test_remove_forgets_people_and_undo_brings_them_back():
    model, events = reviewed()
    model.approve(2)
    before = model.people[2]
    model.remove(2, 3, 2)
    assert list(model.people) == [1]
    assert events[-1] == ("removed", (2, 3))
    assert model.undo()
    assert model.people[2] == before and model.people[3].status is Status.PROPOSED


def test_approve_all_default_scope_is_proposed_and_edited():
    model, events = reviewed()
    model.add_person(4, origin="manual")
    model.approve(1)
    model.reject(2)
    labels = scene()
    labels[0, 3] = 1
    labels[5, 7] = 4
    model.sync(labels)  # 1 becomes EDITED
    model.approve_all()
    assert statuses(model) == {
        1: Status.APPROVED,
        2: Status.REJECTED,
        3: Status.APPROVED,
        4: Status.APPROVED,
    }
    assert events[-1] == ("approved", (1, 3, 4))  # one event for all
    model.approve_all([2])
    assert model.approved_labels() == [1, 2, 3, 4]
    assert model.undo() and model.undo()
    assert statuses(model)[3] is Status.PROPOSED and statuses(model)[1] is Status.EDITED


def test_queries_and_counts_keep_edited_out_of_approved():
    model, _ = reviewed()
    model.add_person(4, origin="manual")
    model.approve(1, 2)
    model.reject(4)
    labels = scene()
    labels[5, 7] = 4
    labels[3, 0] = 0  # erase a pixel of person 2
    model.sync(labels)
    assert model.approved_labels() == [1]
    assert model.unreviewed_labels() == [2, 3]
    assert model.counts() == {
        Status.PROPOSED: 1,
        Status.APPROVED: 1,
        Status.REJECTED: 1,
        Status.EDITED: 1,
    }
    assert repr(model) == "ReviewModel(4 people: 1 proposed, 1 approved, 1 rejected, 1 edited)"
    assert ReviewModel().counts() == dict.fromkeys(Status, 0)


def test_next_to_review_wraps_and_skips_approved_and_rejected():
    model = ReviewModel()
    for label in (2, 4, 6, 8, 10):
        model.add_person(label, origin="manual")
    model.approve(4)
    model.reject(8)
    assert model.next_to_review() == 2
    assert model.next_to_review(2) == 6
    assert model.next_to_review(4) == 6  # from an approved person
    assert model.next_to_review(7) == 10  # from a label nobody has
    assert model.next_to_review(10) == 2  # wraps
    model.approve(2, 10)
    assert model.next_to_review(6) == 6  # the only one left
    model.approve(6)
    assert model.next_to_review() is None
    assert ReviewModel().next_to_review(3) is None


# -- events -------------------------------------------------------------------------------


def test_every_change_emits_one_event_named_after_it():
    model = ReviewModel(clock=Clock())
    events = Recorder()
    model.subscribe(events)
    model.subscribe(events)  # once only
    model.adopt(scene())
    model.adopt(scene())  # no-op
    model.add_proposals(Proposals(scene(), [proposed(3)]))
    model.add_person(4, origin="prompt")
    model.approve(1, 2)
    model.reject(2)
    model.reset(2)
    model.remove(4)
    model.approve_all()
    model.undo()
    model.redo()
    labels = scene()
    labels[0, 7] = 5
    model.sync(labels)
    model.sync(labels)  # no-op
    model.undo()
    model.unsubscribe(events)
    model.unsubscribe(events)  # not subscribed: ignored
    model.reset(1)
    assert events == [
        ("adopted", (1, 2, 3)),
        ("proposed", (3,)),
        ("added", (4,)),
        ("approved", (1, 2)),
        ("rejected", (2,)),
        ("reset", (2,)),
        ("removed", (4,)),
        ("approved", (2, 3)),
        ("undo", (2, 3)),
        ("redo", (2, 3)),
        ("synced", (5,)),
        ("undo", (2, 3)),
    ]


def test_events_come_after_the_state_is_consistent():
    model, _ = reviewed()
    seen = []
    model.subscribe(lambda event, labels: seen.append((event, model.approved_labels())))
    model.approve(1, 3)
    model.undo()
    assert seen == [("approved", [1, 3]), ("undo", [])]


def test_a_raising_subscriber_does_not_break_the_model():
    model, events = reviewed()

    def broken(event, labels):
        raise RuntimeError(f"broken on {event}")

    model.subscribe(broken)
    model.subscribe(events)  # after the broken one: still called
    with pytest.raises(RuntimeError, match="broken on approved"):
        model.approve(1)
    assert model.approved_labels() == [1]
    assert events == [("approved", (1,))]
    model.unsubscribe(broken)
    assert model.undo() and model.approved_labels() == []


def test_a_subscriber_may_unsubscribe_or_act_on_the_model():
    model, events = reviewed()

    def once(event, labels):
        model.unsubscribe(once)
        model.reject(2)  # nested change: its own event

    model.subscribe(once)
    model.approve(1)
    model.approve(3)
    # The recorder subscribed first, so it hears of the approval before the rejection.
    assert events == [("approved", (1,)), ("rejected", (2,)), ("approved", (3,))]


# -- serialization --------------------------------------------------------------------------


def test_to_dict_round_trips_through_json():
    model, _ = reviewed()
    model.add_proposals(Proposals(scene(), [proposed(2, "prompt")]))
    model.approve(1, 2)
    model.reject(3)
    labels = scene()
    labels[0, 3] = 1
    labels[0, 7] = 9
    model.sync(labels)
    data = model.to_dict()
    assert data["people"][0]["status"] == "edited"
    assert data["format"] == "napari-fuzzy-people/review" and data["version"] == 1
    again = ReviewModel.from_dict(json.loads(json.dumps(data)))
    assert again.people == model.people
    assert again.to_dict() == data
    # The fingerprints came along: the same image is no change, an edit is.
    assert again.sync(labels) == ()
    labels[1, 0] = 2
    assert again.sync(labels) == (1, 2)
    assert again.people[2].status is Status.EDITED


def test_to_dict_of_a_model_that_never_saw_an_image():
    model = ReviewModel()
    model.add_person(4, origin="manual", box=(1, 2, 3.5, 4), score=0.25, area=3)
    data = json.loads(json.dumps(model.to_dict()))
    assert data["image"] is None
    assert data["people"] == [
        {
            "label": 4,
            "status": "proposed",
            "origin": "manual",
            "box": [1.0, 2.0, 3.5, 4.0],
            "score": 0.25,
            "mask_score": None,
            "area": 3,
            "approved_at": None,
        }
    ]
    assert ReviewModel.from_dict(data).to_dict() == model.to_dict()


def test_from_dict_refuses_other_records():
    data = ReviewModel().to_dict()
    for key, value in (("format", "something else"), ("version", 2)):
        with pytest.raises(ValueError, match="version"):
            ReviewModel.from_dict({**data, key: value})
