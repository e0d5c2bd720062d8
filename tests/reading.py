"""Reading a file in a test: the reader's result or refusal, and the file left as it was."""

import pytest

from napari_fuzzy_people.io.errors import ImageReadError


def read_untouched(reader, path, **kwargs):
    """``reader(path)``, checking that the file is left exactly as it was."""
    before = path.read_bytes()
    try:
        return reader(path, **kwargs)
    finally:
        assert path.read_bytes() == before


def refused_by(reader, path, *phrases, **kwargs) -> str:
    """The message of the ImageReadError that ``reader(path)`` raises, naming the file."""
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(ImageReadError) as info:
        reader(path, **kwargs)
    message = str(info.value)
    assert message.startswith(str(path)), message
    for phrase in phrases:
        assert phrase in message, message
    if before is not None:
        assert path.read_bytes() == before
    return message
