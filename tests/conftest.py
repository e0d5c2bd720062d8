"""Shared fixtures. ``tests/`` is on ``sys.path`` (this file's folder), so test
modules can ``from doubles import ...``."""

import pytest

from doubles import build_tiny_sam


@pytest.fixture
def tiny_sam():
    """The real SAM architecture at toy size, random weights."""
    return build_tiny_sam()
