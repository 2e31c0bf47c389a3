"""The vendored OpenAPI descriptions are the official ones."""

from __future__ import annotations

import pytest

from .contract import GITHUB_SPEC, OPENROUTER_SPEC, SHARED_SPECS, SPECS, openapi


@pytest.mark.parametrize("name", [OPENROUTER_SPEC, GITHUB_SPEC])
def test_specs_are_current(name: str) -> None:
    official = SHARED_SPECS / name
    if not official.exists():
        pytest.skip("shared/specs is not beside this clone")
    assert (SPECS / name).read_bytes() == official.read_bytes(), (
        f"tests/specs/{name} differs from shared/specs: copy the official one over"
    )


@pytest.mark.parametrize("name", [OPENROUTER_SPEC, GITHUB_SPEC])
def test_specs_load(name: str) -> None:
    assert openapi(name).spec is not None
