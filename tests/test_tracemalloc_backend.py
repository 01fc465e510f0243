"""What is particular to the tracemalloc backend: tracing state, profile hook, no threads."""

from __future__ import annotations

import sys
import threading
import tracemalloc

import pytest

from pytest_memray.backends.interface import Measurement, TrackingRequest
from pytest_memray.backends.tracemalloc_backend import TracemallocBackend

from .helpers import report_blocks, tracked

SPIKE = """
def spike():
    scratch = bytearray(10 * 1024 * 1024)
    return len(scratch)

def test_spike():
    assert spike()
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--memray", "--memray-backend=tracemalloc", *args)


def test_tracing_is_off_again_after_the_session(pytester: pytest.Pytester) -> None:
    assert not tracemalloc.is_tracing()
    pytester.makepyfile(test_spike=SPIKE)
    assert _run(pytester).ret == 0
    assert not tracemalloc.is_tracing()


def test_users_own_tracing_is_left_running(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_spike=SPIKE)
    tracemalloc.start(2)
    try:
        result = _run(pytester)
        assert tracemalloc.is_tracing()
        assert tracemalloc.get_traceback_limit() == 2
    finally:
        tracemalloc.stop()
    assert result.ret == 0
    block = "\n".join(report_blocks(result.outlines)["test_spike.py::test_spike"])
    assert "Total memory allocated: 10.0MiB" in block
    assert "spike:" in block


def test_a_test_that_starts_and_stops_tracemalloc(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_uses_tracemalloc="""
import tracemalloc
import pytest

@pytest.mark.limit_memory("100 MB")
def test_uses_tracemalloc():
    tracemalloc.start()
    data = bytearray(1024 * 1024)
    assert tracemalloc.take_snapshot().statistics("lineno")
    tracemalloc.stop()

def test_after():
    data = bytearray(2 * 1024 * 1024)
"""
    )
    result = _run(pytester, "-rA")
    assert result.ret == 0
    result.assert_outcomes(passed=2)
    assert "INTERNALERROR" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*the test stopped tracemalloc*"])
    blocks = report_blocks(result.outlines)
    assert "Total memory allocated: 2.0MiB" in "\n".join(
        blocks["test_uses_tracemalloc.py::test_after"]
    )
    assert not tracemalloc.is_tracing()


def test_peak_between_two_events_is_charged_to_the_running_frame(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_gap="""
def helper():
    blob = b"a" * (10 * 1024 * 1024)
    del blob
    return 1

def test_gap():
    assert helper() == 1
"""
    )
    result = _run(pytester)
    block = "\n".join(report_blocks(result.outlines)["test_gap.py::test_gap"])
    assert "Total memory allocated: 10.0MiB" in block
    assert "helper:" in block


def test_a_python_profiler_keeps_working_beside_the_hook(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
import sys
import pytest

EVENTS = []

@pytest.fixture(autouse=True)
def other_profiler():
    sys.setprofile(lambda frame, event, arg: EVENTS.append(event))
    yield
    sys.setprofile(None)
"""
    )
    pytester.makepyfile(
        test_holds="""
from conftest import EVENTS

def helper():
    return bytearray(10 * 1024 * 1024)

def test_holds():
    data = helper()
    assert "call" in EVENTS
"""
    )
    result = _run(pytester)
    assert result.ret == 0
    block = "\n".join(report_blocks(result.outlines)["test_holds.py::test_holds"])
    assert "Total memory allocated: 10.0MiB" in block
    assert "helper:" in block
    assert sys.getprofile() is None


def test_coarser_when_a_c_profiler_holds_the_hook(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
import sys
import pytest

class NotCallable:
    pass

@pytest.fixture(autouse=True)
def other_profiler(monkeypatch):
    # What sys.getprofile() returns for a profiler installed from C.
    monkeypatch.setattr(sys, "getprofile", lambda: NotCallable())
    yield
"""
    )
    pytester.makepyfile(
        test_over="""
import pytest

@pytest.mark.limit_memory("5 MB")
def test_over():
    data = bytearray(10 * 1024 * 1024)
"""
    )
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Test was limited to 5.0MiB but allocated 10.0MiB*"])
    result.stdout.fnmatch_lines(["*another profiler holds the profile hook*"])


def test_works_where_threads_cannot_start(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    pytester.makepyfile(test_spike=SPIKE)
    result = _run(pytester)
    assert result.ret == 0
    block = "\n".join(report_blocks(result.outlines)["test_spike.py::test_spike"])
    assert "Total memory allocated: 10.0MiB" in block
    assert "spike:" in block


def test_backend_measures_an_allocation_directly() -> None:
    backend = TracemallocBackend()
    with tracked(backend, TrackingRequest(stack_depth=3, want_leaks=True)) as outcome:
        kept = bytearray(3 * 1024 * 1024)
    measurement = outcome[0]
    assert isinstance(measurement, Measurement)
    assert measurement.peak_bytes >= 3 * 1024 * 1024
    assert (
        measurement.peak_sites[0].stack[0].function
        == "test_backend_measures_an_allocation_directly"
    )
    assert measurement.leaked_sites is not None
    assert measurement.leaked_sites[0].size >= 3 * 1024 * 1024
    assert measurement.test_thread_id is None
    assert not tracemalloc.is_tracing()
    del kept


def test_own_summaries_are_left_out_of_the_peak() -> None:
    """Many snapshots while growing must not add the backend's own memory to the peak."""
    backend = TracemallocBackend()
    with tracked(backend, TrackingRequest(stack_depth=1)) as outcome:
        chunks = [bytearray(100 * 1024) for _ in range(100)]  # 100 snapshots' worth of growth
        total = sum(len(chunk) for chunk in chunks)
        del chunks
    measurement = outcome[0]
    assert isinstance(measurement, Measurement)
    assert total <= measurement.peak_bytes < total * 1.05
