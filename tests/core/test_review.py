import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_fuzzy_people.core.people import Proposals, ProposedPerson
from napari_fuzzy_people.core.review import Person, ReviewModel, Status

START = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


class Clock:
    """One second later at every call, so that each approval has its own stamp."""

    def __init__(self):
        self.now = START

    def __call__(self):
        self.now += timedelta(seconds=1)
        return self.now


class Recorder(list):
    def __call__(self, event, labels):
        self.append((event, labels))


def scene():
    labels = np.zeros((6, 8), np.uint16)
    labels[0:2, 0:3] = 1  # 6 px
    labels[3:6, 0:2] = 2  # 6 px
    labels[2:5, 5:8] = 3  # 9 px
    return labels


def reviewed(labels=None):
    """A model synced with ``scene()`` (nothing to undo), and a recorder of its events."""
    model = ReviewModel(clock=Clock())
    model.sync(scene() if labels is None else labels)
    events = Recorder()
    model.subscribe(events)
    return model, events


def proposed(label, origin="detector"):
    return ProposedPerson(label, (1, 2, 3, 4), score=0.9, mask_score=0.8, area=0, origin=origin)


def statuses(model):
    return {label: p.status for label, p in model.people.items()}


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


# -- sync --------------------------------------------------------------------------------


def test_one_pixel_painted_on_an_approved_person_makes_it_edited():
    model, events = reviewed()
    model.approve(1, 2)
    stamp = model.people[1].approved_at
    labels = scene()
    labels[2, 0] = 1
    assert model.sync(labels) == (1,)
    assert model.people[1] == Person(1, Status.EDITED, origin="manual", area=7, approved_at=stamp)
    assert model.people[2].status is Status.APPROVED
    assert events[-1] == ("synced", (1,))


def test_a_pixel_moved_between_two_people_keeping_both_areas_makes_both_edited():
    model, _ = reviewed()
    model.approve(1, 2)
    labels = scene()
    labels[0, 0], labels[3, 0] = 2, 1  # swap one pixel of each
    assert model.sync(labels) == (1, 2)
    assert statuses(model) == {1: Status.EDITED, 2: Status.EDITED, 3: Status.PROPOSED}
    assert (model.people[1].area, model.people[2].area) == (6, 6)


def test_a_pixel_moved_within_one_person_makes_it_edited():
    model, _ = reviewed()
    model.approve(3)
    labels = scene()
    labels[2, 5], labels[5, 7] = 0, 3  # same area, other pixels
    assert model.sync(labels) == (3,)
    assert model.people[3].status is Status.EDITED


def test_edits_that_keep_index_sums_are_caught():
    # Flat indices {1, 5, 6} and {2, 3, 7} have equal sums and sums of squares.
    labels = np.zeros((1, 9), np.uint8)
    labels[0, [1, 5, 6]] = 1
    model, _ = reviewed(labels)
    model.approve(1)
    labels[:] = 0
    labels[0, [2, 3, 7]] = 1
    assert model.sync(labels) == (1,)
    assert model.people[1].status is Status.EDITED


def test_a_far_single_pixel_edit_in_a_large_image_is_caught():
    labels = np.zeros((1500, 1500), np.uint32)  # over one pass of the fingerprint
    labels[:, 700:] = 1
    model, _ = reviewed(labels)
    model.approve(1)
    labels[-1, -1], labels[0, 0] = 0, 1
    assert model.sync(labels) == (1,)
    assert model.people[1].status is Status.EDITED


def test_sync_keeps_other_statuses_and_updates_every_area():
    model, events = reviewed()
    model.reject(2)
    model.approve(3)
    model.approve(3)
    labels = scene()
    labels[0:2, 3] = 1  # grow the proposed person
    labels[3:6, 2] = 2  # grow the rejected person
    assert model.sync(labels) == (1, 2)
    assert statuses(model) == {1: Status.PROPOSED, 2: Status.REJECTED, 3: Status.APPROVED}
    assert [p.area for p in model.people.values()] == [8, 9, 9]
    labels[0, 5] = 1
    model.approve(2)
    model.sync(labels)
    labels[0, 6] = 1
    model.sync(labels)  # already EDITED stays EDITED
    assert model.people[1].status is Status.PROPOSED
    assert events[-1] == ("synced", (1,))


def test_sync_adds_manual_people_and_removes_vanished_ones():
    model, events = reviewed()
    model.approve(2)
    labels = scene()
    labels[labels == 2] = 0
    labels[0, 7] = 9
    assert model.sync(labels) == (2, 9)
    assert model.people == {
        1: Person(1, origin="manual", area=6),
        3: Person(3, origin="manual", area=9),
        9: Person(9, origin="manual", area=1),
    }
    assert events == [("approved", (2,)), ("synced", (2, 9))]


def test_sync_of_an_unchanged_image_changes_nothing():
    model, events = reviewed()
    model.approve(1)
    assert model.sync(scene()) == ()
    assert events == [("approved", (1,))]


def test_sync_handles_large_sparse_labels_and_empty_images():
    labels = np.zeros((3, 3), np.uint64)
    labels[0, 0] = 2**40
    labels[2, 2] = 2**63 + 5
    model = ReviewModel()
    assert model.sync(labels) == (2**40, 2**63 + 5)
    assert model.sync(np.zeros((0, 4), np.int32)) == (2**40, 2**63 + 5)
    assert model.people == {}


def test_sync_refuses_what_is_not_a_label_image():
    model = ReviewModel()
    with pytest.raises(TypeError, match="integer"):
        model.sync(np.zeros((2, 2), float))
    with pytest.raises(ValueError, match="negative"):
        model.sync(np.array([[0, -1]]))


def test_a_new_image_shape_makes_every_approval_edited():
    model, _ = reviewed()
    model.approve(1, 2)
    labels = np.zeros((6, 9), np.uint16)
    labels[:6, :8] = scene()
    assert model.sync(labels) == (1, 2, 3)
    assert model.approved_labels() == []


def test_an_approval_given_before_the_pixels_were_seen_is_not_trusted():
    model, _ = reviewed()
    model.add_person(4, origin="prompt")
    model.approve(4)
    labels = scene()
    labels[0, 7] = 4
    assert model.sync(labels) == (4,)
    assert model.people[4].status is Status.EDITED


def test_sync_is_not_undoable():
    model, _ = reviewed()
    labels = scene()
    labels[0, 7] = 4
    model.sync(labels)
    assert not model.undo()
    assert 4 in model.people


# -- undo, redo and the image -----------------------------------------------------------


def test_undo_and_redo_of_review_actions():
    model, events = reviewed()
    model.approve(1)
    first = model.people[1]
    model.reject(1)
    assert model.undo() and model.people[1] == first
    assert model.undo() and model.people[1].status is Status.PROPOSED
    assert model.redo() and model.people[1] == first
    assert model.redo() and model.people[1].status is Status.REJECTED
    assert not model.redo()
    assert [e for e, _ in events[2:]] == ["undo", "undo", "redo", "redo"]
    assert events[2:] == [("undo", (1,))] * 2 + [("redo", (1,))] * 2


def test_undo_never_resurrects_a_person_whose_pixels_vanished():
    model, _ = reviewed()
    model.approve(2)
    model.remove(2)
    labels = scene()
    labels[labels == 2] = 0  # the panel erases the pixels
    model.sync(labels)
    assert not model.undo()
    assert 2 not in model.people
    model.sync(scene())  # napari's undo paints them back: a new person to review
    assert model.people[2] == Person(2, origin="manual", area=6)


def test_undo_after_a_sync_that_removed_a_person_undoes_the_rest():
    model, _ = reviewed()
    model.approve(1, 3)
    model.reject(3)
    labels = scene()
    labels[labels == 3] = 0
    model.sync(labels)
    assert model.undo()  # the approval of 1 (3's part of it went with its pixels)
    assert statuses(model) == {1: Status.PROPOSED, 2: Status.PROPOSED}
    assert not model.undo()


def test_undo_restores_an_approval_as_edited_when_the_pixels_changed_since():
    model, _ = reviewed()
    model.approve(1)
    model.reject(1)
    labels = scene()
    labels[0, 3] = 1
    model.sync(labels)
    assert model.undo()
    assert model.people[1].status is Status.EDITED
    assert model.people[1].area == 7  # from the image, not the old record


def test_undo_restores_an_approval_when_the_pixels_did_not_change():
    model, _ = reviewed()
    model.approve(1)
    model.reject(1)
    labels = scene()
    labels[0, 7] = 5
    model.sync(labels)  # changes someone else
    assert model.undo()
    assert model.people[1].status is Status.APPROVED


def test_a_sync_that_changes_something_clears_redo():
    model, _ = reviewed()
    model.approve(1)
    model.undo()
    model.sync(scene())  # nothing changed: redo kept
    labels = scene()
    labels[0, 7] = 2
    model.sync(labels)
    assert not model.redo()
    assert model.people[1].status is Status.PROPOSED


def test_a_new_action_clears_redo():
    model, _ = reviewed()
    model.approve(1)
    model.undo()
    model.reject(2)
    assert not model.redo()


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


# -- properties -----------------------------------------------------------------------------

MODEL_ACTIONS = st.one_of(
    st.tuples(
        st.sampled_from(["approve", "reject", "reset", "remove"]),
        st.lists(st.integers(1, 5), max_size=3),
    ),
    st.tuples(st.just("approve_all"), st.none() | st.lists(st.integers(1, 5), max_size=3)),
    st.tuples(st.just("add_person"), st.integers(1, 3)),
    st.tuples(st.just("adopt"), st.none()),
    st.tuples(st.just("add_proposals"), st.sets(st.integers(1, 3))),
)


def act(model, labels, action):
    name, arg = action
    if name in ("approve", "reject", "reset", "remove"):
        getattr(model, name)(*arg)
    elif name == "approve_all":
        model.approve_all(arg)
    elif name == "add_person":
        model.add_person(arg, origin="prompt", score=arg / 10, area=arg)
    elif name == "adopt":
        model.adopt(labels)
    elif name == "add_proposals":
        model.add_proposals(Proposals(labels, [proposed(label) for label in sorted(arg)]))


@settings(deadline=None, max_examples=150)
@given(actions=st.lists(MODEL_ACTIONS, max_size=15))
def test_undo_all_restores_the_start_and_redo_all_the_end(actions):
    labels = scene()
    model = ReviewModel(clock=Clock())
    model.sync(labels)
    events = Recorder()
    model.subscribe(events)
    states = [dict(model.people)]
    for action in actions:
        try:
            act(model, labels, action)
        except KeyError:
            assert dict(model.people) == states[-1]  # refused as a whole
            continue
        if dict(model.people) != states[-1]:
            states.append(dict(model.people))
        assert len(events) == len(states) - 1  # one event per change, none for no-ops
    for state in reversed(states[:-1]):
        assert model.undo()
        assert dict(model.people) == state
    assert not model.undo()
    for state in states[1:]:
        assert model.redo()
        assert dict(model.people) == state
    assert not model.redo()


PEOPLE = st.lists(st.integers(1, 5), min_size=1, max_size=2)
# Flat branches, so that approvals, edits and undo each come often.
STEPS = st.one_of(
    st.tuples(st.just("approve"), PEOPLE),
    st.tuples(st.just("approve_all"), st.none()),
    st.tuples(st.sampled_from(["reject", "reset", "remove"]), PEOPLE),
    st.tuples(st.just("add_person"), st.integers(1, 6)),  # 4-6: pixels painted later, or never
    st.tuples(
        st.just("paint"),
        st.tuples(
            st.integers(0, 5),
            st.integers(0, 7),
            st.integers(0, 6),
            st.sampled_from(["sync", "adopt", "propose"]),  # how the model sees the image
        ),
    ),
    st.tuples(st.just("swap"), st.tuples(*[st.integers(0, 5), st.integers(0, 7)] * 2)),
    st.tuples(st.just("erase"), st.integers(1, 6)),
    st.tuples(st.just("undo"), st.none()),
    st.tuples(st.just("redo"), st.none()),
)


@settings(deadline=None, max_examples=500)
@given(steps=st.lists(STEPS, max_size=25))
def test_no_approval_outlives_a_change_of_its_pixels(steps):
    """Whatever the mix of actions, paint, sync, undo and redo, fail closed."""
    labels = scene()
    model = ReviewModel(clock=Clock())
    model.sync(labels)
    approved_pixels = {}  # (approved_at, label) -> mask when approved
    for name, arg in steps:
        if name == "paint":
            y, x, label, how = arg
            labels[y, x] = label
        elif name == "swap":
            y0, x0, y1, x1 = arg
            labels[y0, x0], labels[y1, x1] = labels[y1, x1], labels[y0, x0]
        elif name == "erase":
            if arg in model.people:
                model.remove(arg)
            labels[labels == arg] = 0
        elif name in ("undo", "redo"):
            getattr(model, name)()
        else:
            try:
                act(model, labels, (name, arg))
            except KeyError:
                pass
        if name in ("paint", "swap", "erase"):
            if name == "paint" and how == "adopt":
                model.adopt(labels)
            elif name == "paint" and how == "propose":
                model.add_proposals(Proposals(labels, [proposed(label)] if label else []))
            else:
                model.sync(labels)
            present = set(np.unique(labels).tolist()) - {0}
            assert set(model.people) == present
        for label in model.approved_labels():
            key = (model.people[label].approved_at, label)
            mask = approved_pixels.setdefault(key, labels == label)
            np.testing.assert_array_equal(labels == label, mask)
