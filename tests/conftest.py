"""Shared fixtures: the ``backend`` parameter and a runner bound to it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
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


@pytest.fixture
def fresh_flaky_report() -> Iterator[None]:
    """For a test whose in-process run uses flaky: flaky keeps its report, and whether it saw
    a flaky test, in one module-level object, so every later in-process run of the worker
    would print that report again (lines with tabs, after the output those runs check).
    Both are reset afterwards (flaky has no public way to)."""
    flaky_plugin = pytest.importorskip("flaky.flaky_pytest_plugin")
    yield
    plugin = flaky_plugin.PLUGIN
    plugin.stream.seek(0)
    plugin.stream.truncate()
    plugin._had_flaky_tests = False


@pytest.fixture(autouse=True)
def _inner_runs_keep_file_order(request: pytest.FixtureRequest) -> None:
    """The runs pytester starts keep their tests in file order: where pytest-randomly is
    installed it would shuffle them too, and their expectations are written for that order.
    (The suite itself may run in any order.) Set once pytester exists: it clears
    PYTEST_ADDOPTS when it is made."""
    if "pytester" not in request.fixturenames:
        return
    request.getfixturevalue("pytester")
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    addopts = os.environ.get("PYTEST_ADDOPTS", "")
    monkeypatch.setenv("PYTEST_ADDOPTS", f"{addopts} -p no:randomly".strip())
    # No bytecode cached for the inner runs' files: a test that rewrites its file within the
    # same second at the same size would run the old code (pytest checks mtime in seconds).
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
