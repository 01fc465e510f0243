"""Shared fixtures: the ``backend`` parameter and a runner bound to it."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import Runner, requires_memray


@pytest.fixture(params=[pytest.param("memray", marks=requires_memray), pytest.param("tracemalloc")])
def backend(request: pytest.FixtureRequest) -> str:
    """Each backend in turn; memray is skipped where it cannot run."""
    return str(request.param)


@pytest.fixture
def runner(pytester: pytest.Pytester, backend: str) -> Runner:
    return Runner(pytester, backend)


@pytest.fixture
def trackers(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every memray Tracker made from now on, in this process."""
    import memray

    made: list[object] = []
    real = memray.Tracker

    def counting(*args: Any, **kwargs: Any) -> object:
        tracker = real(*args, **kwargs)
        made.append(tracker)
        return tracker

    monkeypatch.setattr(memray, "Tracker", counting)
    return made
