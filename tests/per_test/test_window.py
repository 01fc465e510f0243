"""The wrapper around a test's own code: the last step of opening is made in its frame."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

from pytest_memray.backends.interface import LastStep
from pytest_memray.per_test.window import wrap_call


def _test_function(log: list[Any]) -> str:
    log.append("test")
    return "result"


async def _test_coroutine(log: list[Any]) -> str:
    log.append("test")
    return "result"


#: asyncio.run needs stack switching, which Pyodide's Node.js runner does not have.
COROUTINE = pytest.param(
    _test_coroutine,
    marks=pytest.mark.skipif(
        sys.platform == "emscripten", reason="no event loop on WebAssembly under Node.js"
    ),
)


def _run(func: Any, log: list[Any]) -> Any:
    result = func(log)
    return asyncio.run(result) if asyncio.iscoroutine(result) else result


@pytest.mark.parametrize("func", [_test_function, COROUTINE])
def test_the_last_step_runs_in_the_frame_that_calls_the_test(func: Any) -> None:
    log: list[Any] = []
    callers: list[str] = []

    def run() -> None:
        callers.append(sys._getframe(1).f_code.co_name)
        log.append("step")

    wrapped = wrap_call(func, lambda: LastStep(run, lambda exc: log.append("failed")), log.append)
    assert _run(wrapped, log) == "result"
    assert log == ["step", "test", True]
    # Made by the wrapper itself, not by a helper frame that returns before the test.
    assert callers in (["wrapped"], ["wrapped_coroutine"])


@pytest.mark.parametrize("func", [_test_function, COROUTINE])
def test_a_last_step_that_fails_is_reported_and_the_test_still_runs(func: Any) -> None:
    log: list[Any] = []

    def run() -> None:
        raise RuntimeError("no tracker today")

    wrapped = wrap_call(func, lambda: LastStep(run, lambda exc: log.append(str(exc))), log.append)
    assert _run(wrapped, log) == "result"
    assert log == ["no tracker today", "test", True]
