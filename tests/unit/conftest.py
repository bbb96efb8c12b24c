"""Fixtures of the unit tests."""

from pathlib import Path

import pytest

from .recipe_mirror import make_mirror


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    return make_mirror(tmp_path / "mirror")
