"""Review state against the image: sync, undo and redo, and their invariants."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from review_helpers import Clock, Recorder, proposed, reviewed, scene, statuses

from napari_fuzzy_people.core.people import Proposals
from napari_fuzzy_people.core.review import Person, ReviewModel, Status

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
