"""napari-fuzzy-people: human-in-the-loop anonymization of people in photos.

Importing the package loads nothing heavy (no Qt, napari or torch); import
:mod:`napari_fuzzy_people.core` for the anonymization functions.
"""

__version__ = "0.1.0"
