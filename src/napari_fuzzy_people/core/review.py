"""Review state of one image: who is proposed, approved, rejected, or edited.

The state lives in a :class:`ReviewModel`. A napari panel is a view of it that
forwards user actions; scripts use it directly. The label image itself belongs
to the caller (a Labels layer or a numpy array); the model keeps one
fingerprint per label of the last image it saw (see :mod:`._fingerprints`),
and :meth:`ReviewModel.sync` tells it about the image now.

Privacy is the product, so the model fails closed: only APPROVED people are to
be anonymized, and an approval never survives a change of the pixels it was
given for.

Undo and the image
------------------
The model undoes its own actions; the image's undo is napari's. Changes made
by :meth:`~ReviewModel.sync` are not undoable, and three rules keep the two
histories consistent:

1. Every image the model sees (``sync``, ``adopt``, ``add_proposals``) drops
   from the undo and redo history every label absent from it: undo never
   brings back a person whose pixels are gone. If the pixels come back, the
   next sync makes them a new PROPOSED "manual" person.
2. A sync that changes anything clears the redo history, as any new edit does.
3. Undo and redo restore people records exactly, with two facts taken from
   the last image seen: ``area``, and pixel changes. A person restored as
   APPROVED whose pixels changed since the undone action (or were first seen
   after it) is restored as EDITED.

Events
------
Every change emits exactly one event, ``callback(event, labels)``, once the
state is consistent; no-ops emit nothing. Every subscriber is called even if
one raises; the first exception is then re-raised to the caller of the action,
whose change stands (and can be undone as usual).
"""

from __future__ import annotations

import operator
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from ._fingerprints import fingerprints
from ._person import Person, Status, _as_label, _person_to_dict

if TYPE_CHECKING:
    from .people import Proposals

__all__ = ["Person", "ReviewModel", "Status"]

#: ``to_dict`` identifies its output with these, so that a reader can refuse others.
FORMAT = "napari-fuzzy-people/review"
VERSION = 1

Callback = Callable[[str, tuple[int, ...]], object]


@dataclass
class _Entry:
    """One undoable action: the records it replaced and those it wrote.

    ``generation`` holds each label's pixel generation for each side, so that
    undo and redo can tell whether the pixels changed since. The two differ
    only for actions that also took in a new image.
    """

    before: dict[int, Person | None]
    after: dict[int, Person | None]
    generation: dict[str, dict[int, int]]

    @property
    def labels(self) -> tuple[int, ...]:
        return tuple(sorted(self.after))

    def keep_only(self, present) -> None:
        for label in [lab for lab in self.after if lab not in present]:
            del self.before[label], self.after[label]
            del self.generation["before"][label], self.generation["after"][label]


class ReviewModel:
    """The review state of one image, with undo, events and a JSON form.

    Parameters
    ----------
    clock : callable, optional
        Returns the current time as an aware ``datetime``; approvals are
        stamped with it. Defaults to the system clock in UTC.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.array([[0, 1, 1], [2, 2, 0]])
    >>> model = ReviewModel()
    >>> model.adopt(labels)
    >>> model.approve(1)
    >>> model.approved_labels(), model.unreviewed_labels()
    ([1], [2])
    >>> labels[0, 0] = 1  # paint one more pixel of person 1
    >>> model.sync(labels)
    (1,)
    >>> model.people[1].status
    <Status.EDITED: 'edited'>
    >>> model.approved_labels()
    []
    """

    def __init__(self, *, clock: Callable[[], datetime] | None = None):
        self._clock = clock or _utc_now
        self._people: dict[int, Person] = {}
        self._subscribers: list[Callback] = []
        self._undo: list[_Entry] = []
        self._redo: list[_Entry] = []
        # The last image seen: its shape, each label's (area, hash), and a
        # per-label counter bumped whenever the label's pixels change.
        self._shape: tuple[int, ...] | None = None
        self._prints: dict[int, tuple[int, int]] = {}
        self._generation: dict[int, int] = {}

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {s.value}" for s, n in self.counts().items() if n)
        return f"ReviewModel({len(self._people)} people{': ' if counts else ''}{counts})"

    # -- reading -------------------------------------------------------------

    @property
    def people(self) -> Mapping[int, Person]:
        """A read-only snapshot of the people, in label order."""
        return MappingProxyType(dict(sorted(self._people.items())))

    def approved_labels(self) -> list[int]:
        """Labels of APPROVED people (EDITED ones are not), ascending."""
        return self._with_status(Status.APPROVED)

    def unreviewed_labels(self) -> list[int]:
        """Labels of PROPOSED and EDITED people, ascending."""
        return self._with_status(Status.PROPOSED, Status.EDITED)

    def counts(self) -> dict[Status, int]:
        """How many people have each status (every status present)."""
        counts = dict.fromkeys(Status, 0)
        for person in self._people.values():
            counts[person.status] += 1
        return counts

    def next_to_review(self, after: int | None = None) -> int | None:
        """The first unreviewed label above ``after``, wrapping around.

        Examples
        --------
        >>> model = ReviewModel()
        >>> for label in (2, 5, 9):
        ...     model.add_person(label, origin="manual")
        >>> model.approve(5)
        >>> model.next_to_review(), model.next_to_review(2), model.next_to_review(9)
        (2, 9, 2)
        """
        pending = self.unreviewed_labels()
        if not pending:
            return None
        if after is None:
            return pending[0]
        return pending[bisect_right(pending, after) % len(pending)]

    # -- events --------------------------------------------------------------

    def subscribe(self, callback: Callback) -> None:
        """Call ``callback(event, labels)`` after every change (once per callback)."""
        if callback not in self._subscribers:
            self._subscribers.append(callback)

    def unsubscribe(self, callback: Callback) -> None:
        """Stop calling ``callback``; a callback not subscribed is ignored."""
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    # -- review actions (undoable) -------------------------------------------

    def approve(self, *labels: int) -> None:
        """Approve people for anonymization, stamping ``approved_at``.

        Raises ``KeyError`` (changing nothing) if a label is not a person.
        """
        self._set_status(labels, Status.APPROVED, "approved")

    def reject(self, *labels: int) -> None:
        """Mark people as not to be anonymized (e.g. not a person)."""
        self._set_status(labels, Status.REJECTED, "rejected")

    def reset(self, *labels: int) -> None:
        """Put people back to PROPOSED."""
        self._set_status(labels, Status.PROPOSED, "reset")

    def approve_all(self, labels: Iterable[int] | None = None) -> None:
        """Approve ``labels``, by default every PROPOSED or EDITED person.

        REJECTED people are left alone unless named.
        """
        self._set_status(
            self.unreviewed_labels() if labels is None else tuple(labels),
            Status.APPROVED,
            "approved",
        )

    def remove(self, *labels: int) -> None:
        """Forget people entirely; their pixels are the caller's to erase.

        Pixels left in the image come back as new PROPOSED "manual" people at
        the next sync. Raises ``KeyError`` (changing nothing) for unknown labels.
        """
        self._commit("removed", dict.fromkeys(self._known(labels)))

    def add_person(
        self,
        label: int,
        *,
        origin: str,
        box: tuple[float, float, float, float] | None = None,
        score: float | None = None,
        mask_score: float | None = None,
        area: int = 0,
    ) -> None:
        """Add a PROPOSED person, e.g. one segmented from prompts.

        Write the label's pixels first: a sync that does not find them
        removes the person. An existing person under ``label`` is replaced
        (new pixels need a new review); ``area`` is used only until the label
        is in an image the model has seen.
        """
        label = _as_label(label)
        if label in self._prints:
            area = self._prints[label][0]
        person = Person(
            label, origin=origin, box=box, score=score, mask_score=mask_score, area=area
        )
        self._commit("added", {label: person})

    def adopt(self, labels: np.ndarray, origin: str = "imported") -> None:
        """Review ``labels`` afresh: every nonzero label becomes a PROPOSED person.

        Current people are replaced. Undo restores them (and, rule 3 above,
        makes APPROVED ones whose pixels differ in ``labels`` EDITED).
        """
        prints, moved = self._observe(labels)
        updates: dict[int, Person | None] = dict.fromkeys(self._people)
        updates.update({lab: Person(lab, origin=origin, area=fp[0]) for lab, fp in prints.items()})
        self._commit("adopted", updates, touched=moved & prints.keys(), moved=moved)

    def add_proposals(self, proposals: Proposals) -> None:
        """Take ``proposals.labels`` as the image under review, with its people.

        Each listed person becomes PROPOSED with its record, replacing any
        person under the same label; listed people with no pixels are skipped.
        Other labels are reconciled as by :meth:`sync`. Undoable as one step.
        """
        prints, moved = self._observe(proposals.labels)
        updates = self._reconcile(prints, moved)
        for proposed in proposals.people:
            label = _as_label(proposed.label)
            if label in prints:
                updates[label] = Person(
                    label,
                    origin=getattr(proposed, "origin", "detector"),
                    box=proposed.box,
                    score=proposed.score,
                    mask_score=proposed.mask_score,
                    area=prints[label][0],
                )
        self._commit("proposed", updates, touched=moved & prints.keys(), moved=moved)

    # -- the image -----------------------------------------------------------

    def sync(self, labels: np.ndarray) -> tuple[int, ...]:
        """Reconcile with the label image after the user painted or erased.

        Unknown labels become PROPOSED "manual" people; people whose label is
        gone are removed; APPROVED people whose pixels changed become EDITED
        (as do those approved before their pixels were first seen); every
        area is updated. Not undoable (see the module notes).

        Returns
        -------
        tuple of int
            Labels whose person or pixels changed, ascending.
        """
        prints, moved = self._observe(labels)
        return self._commit(
            "synced", self._reconcile(prints, moved), touched=moved & prints.keys(), undoable=False
        )

    # -- history -------------------------------------------------------------

    def undo(self) -> bool:
        """Undo the last review action; ``False`` if there is none."""
        return self._step(self._undo, self._redo, "undo", "before")

    def redo(self) -> bool:
        """Redo the last undone action; ``False`` if there is none."""
        return self._step(self._redo, self._undo, "redo", "after")

    # -- serialization -------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able record of the people and the fingerprints of the last image.

        The undo history is not part of it.

        Examples
        --------
        >>> import json
        >>> model = ReviewModel()
        >>> model.add_person(4, origin="manual", area=12)
        >>> ReviewModel.from_dict(json.loads(json.dumps(model.to_dict()))).people[4]
        Person(label=4, status=<Status.PROPOSED: 'proposed'>, origin='manual', box=None, score=None, mask_score=None, area=12, approved_at=None)
        """  # noqa: E501
        image = None
        if self._shape is not None:
            image = {
                "shape": list(self._shape),
                # Hex: JSON readers outside Python may round integers past 2**53.
                "fingerprints": [
                    [label, area, f"{digest:016x}"]
                    for label, (area, digest) in sorted(self._prints.items())
                ],
            }
        return {
            "format": FORMAT,
            "version": VERSION,
            "people": [_person_to_dict(p) for _, p in sorted(self._people.items())],
            "image": image,
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, clock: Callable[[], datetime] | None = None
    ) -> ReviewModel:
        """Rebuild a model from :meth:`to_dict` output, e.g. to reopen a review."""
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise ValueError(
                f"not a {FORMAT} version {VERSION} record: "
                f"{data.get('format')!r} version {data.get('version')!r}"
            )
        model = cls(clock=clock)
        for record in data["people"]:
            person = Person(**record)
            model._people[person.label] = person
        image = data.get("image")
        if image is not None:
            model._shape = tuple(int(n) for n in image["shape"])
            model._prints = {
                int(label): (int(area), int(digest, 16))
                for label, area, digest in image["fingerprints"]
            }
        return model

    # -- internals -----------------------------------------------------------

    def _with_status(self, *statuses: Status) -> list[int]:
        return sorted(lab for lab, p in self._people.items() if p.status in statuses)

    def _known(self, labels: Iterable[int]) -> list[int]:
        labels = list(dict.fromkeys(operator.index(lab) for lab in labels))
        for label in labels:
            if label not in self._people:
                raise KeyError(f"no person with label {label}")
        return labels

    def _now(self) -> str:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the clock must return an aware datetime")
        return now.astimezone(timezone.utc).isoformat(timespec="milliseconds")

    def _set_status(self, labels: Iterable[int], status: Status, event: str) -> None:
        updates: dict[int, Person | None] = {}
        stamp = None
        for label in self._known(labels):
            person = self._people[label]
            if person.status is status:
                continue  # idempotent: no event, no undo entry
            if status is Status.APPROVED:
                stamp = stamp or self._now()
                updates[label] = replace(person, status=status, approved_at=stamp)
            else:
                updates[label] = replace(person, status=status)
        self._commit(event, updates)

    def _observe(self, labels: np.ndarray) -> tuple[dict[int, tuple[int, int]], set[int]]:
        """Take in a new image; returns its fingerprints and the labels whose pixels changed."""
        image = np.asarray(labels)
        prints = fingerprints(image)
        if self._shape == image.shape:
            moved = {
                label
                for label in prints.keys() | self._prints.keys()
                if prints.get(label) != self._prints.get(label)
            }
        else:  # flat indices mean other pixels now: nothing can be trusted
            moved = prints.keys() | self._prints.keys()
        for label in moved:
            self._generation[label] = self._generation.get(label, 0) + 1
        self._shape, self._prints = image.shape, prints
        for stack in (self._undo, self._redo):
            for entry in stack:
                entry.keep_only(prints)
            stack[:] = [entry for entry in stack if entry.after]
        return prints, moved

    def _reconcile(
        self, prints: dict[int, tuple[int, int]], moved: set[int]
    ) -> dict[int, Person | None]:
        updates: dict[int, Person | None] = {}
        for label, person in self._people.items():
            if label not in prints:
                updates[label] = None
                continue
            status = person.status
            if status is Status.APPROVED and label in moved:
                status = Status.EDITED
            updates[label] = replace(person, status=status, area=prints[label][0])
        for label in prints.keys() - self._people.keys():
            updates[label] = Person(label, origin="manual", area=prints[label][0])
        return updates

    def _commit(
        self,
        event: str,
        updates: Mapping[int, Person | None],
        touched: Iterable[int] = (),
        undoable: bool = True,
        moved: set[int] | frozenset[int] = frozenset(),
    ) -> tuple[int, ...]:
        """Apply ``updates``, record them for undo, and emit ``event``.

        ``moved`` are labels whose pixels changed in an image taken in by this
        same action: the records they replace belong to the pixels before.
        """
        before: dict[int, Person | None] = {}
        after: dict[int, Person | None] = {}
        for label, person in updates.items():
            old = self._people.get(label)
            if old != person:
                before[label], after[label] = old, person
        self._apply(after)
        labels = tuple(sorted(after.keys() | set(touched)))
        if not labels:
            return labels
        if undoable and after:
            now = {label: self._generation.get(label, 0) for label in after}
            then = {label: g - (label in moved) for label, g in now.items()}
            self._undo.append(_Entry(before, after, {"before": then, "after": now}))
        self._redo.clear()
        self._emit(event, labels)
        return labels

    def _step(self, source: list[_Entry], target: list[_Entry], event: str, side: str) -> bool:
        if not source:
            return False
        entry = source.pop()
        restored: dict[int, Person | None] = {}
        for label, person in getattr(entry, side).items():
            if person is not None:
                if label in self._prints:
                    person = replace(person, area=self._prints[label][0])
                changed = self._generation.get(label, 0) != entry.generation[side][label]
                if person.status is Status.APPROVED and changed:
                    person = replace(person, status=Status.EDITED)
            restored[label] = person
        self._apply(restored)
        target.append(entry)
        self._emit(event, entry.labels)
        return True

    def _apply(self, records: Mapping[int, Person | None]) -> None:
        for label, person in records.items():
            if person is None:
                self._people.pop(label, None)
            else:
                self._people[label] = person

    def _emit(self, event: str, labels: tuple[int, ...]) -> None:
        error = None
        for callback in list(self._subscribers):  # a callback may unsubscribe
            try:
                callback(event, labels)
            except Exception as exc:
                error = error or exc
        if error is not None:
            raise error


# -- helpers ---------------------------------------------------------------------


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)
