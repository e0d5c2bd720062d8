"""The review model's test scene, clock and event recorder, shared by its tests."""

from datetime import datetime, timedelta, timezone

import numpy as np

from napari_fuzzy_people.core.people import ProposedPerson
from napari_fuzzy_people.core.review import ReviewModel

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
