from __future__ import annotations

from collections.abc import Iterator

import pytest

from openrouter_rotator.sandbox import Sandbox


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as box:
        yield box
