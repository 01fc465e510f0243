"""Shared fixtures: the ``backend`` parameter and a runner bound to it."""

from __future__ import annotations

import pytest

from .helpers import Runner, requires_memray


@pytest.fixture(params=[pytest.param("memray", marks=requires_memray), pytest.param("tracemalloc")])
def backend(request: pytest.FixtureRequest) -> str:
    """Each backend in turn; memray is skipped where it cannot run."""
    return str(request.param)


@pytest.fixture
def runner(pytester: pytest.Pytester, backend: str) -> Runner:
    return Runner(pytester, backend)
