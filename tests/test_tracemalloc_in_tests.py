"""Tests that use tracemalloc themselves (issue 18, item 3): reading it leaves the figures
right on both backends; resetting it leaves them right where the tracemalloc backend can keep
them so, and makes the test "not measured", with what the test did, where it cannot."""

from __future__ import annotations

import json

import pytest

from .helpers import Runner

MIB = 1024 * 1024

USES_TRACEMALLOC = """
import tracemalloc
from tracemalloc import clear_traces as bound_early
import pytest

MIB = 1024 * 1024

@pytest.fixture(autouse=True)
def tracing_as_it_was():
    # A test that starts tracing leaves it on; a well-kept suite turns it off again (left on,
    # it makes the memray backend's next batched test not measured: reported separately).
    was_tracing = tracemalloc.is_tracing()
    yield
    if not was_tracing and tracemalloc.is_tracing():
        tracemalloc.stop()

def spike():
    data = bytearray(4 * MIB)
    del data

def noop():
    pass

@pytest.mark.limit_memory("1 MB")
def test_reads_only():
    data = bytearray(4 * MIB)
    tracemalloc.get_traced_memory()
    if tracemalloc.is_tracing():
        tracemalloc.take_snapshot()

@pytest.mark.limit_memory("1 MB")
def test_reset_peak():
    spike()
    if tracemalloc.is_tracing():
        tracemalloc.reset_peak()

@pytest.mark.limit_memory("1 MB")
def test_reset_peak_later():
    for _ in range(100):  # past the profile hook's events: the sampler thread watches
        noop()
    spike()
    if tracemalloc.is_tracing():
        tracemalloc.reset_peak()

@pytest.mark.limit_memory("1 MB")
def test_clear_traces():
    data = bytearray(4 * MIB)
    tracemalloc.clear_traces()

@pytest.mark.limit_memory("1 MB")
def test_stop():
    data = bytearray(4 * MIB)
    tracemalloc.stop()

@pytest.mark.limit_memory("1 MB")
def test_stop_then_start():
    spike()
    tracemalloc.stop()
    tracemalloc.start()

@pytest.mark.limit_memory("1 MB")
def test_clear_bound_early():
    data = bytearray(4 * MIB)
    bound_early()

def test_after():
    data = bytearray(2 * MIB)
"""

REASONS = {
    "test_clear_traces": "the test reset tracemalloc (it called tracemalloc.clear_traces(), "
    "which forgets what was traced)",
    "test_stop": "the test stopped tracemalloc (it called tracemalloc.stop())",
    "test_stop_then_start": "the test reset tracemalloc (it called tracemalloc.stop(), "
    "then start())",
    "test_clear_bound_early": "the test reset tracemalloc (its traces were cleared, or tracing "
    "was stopped and started again)",
}


def _records(runner: Runner) -> dict[str, dict[str, object]]:
    document = json.loads(runner.pytester.path.joinpath("out.json").read_text())
    return {test["nodeid"].split("::")[1]: test for test in document["tests"]}


def test_a_test_that_uses_tracemalloc_is_right_or_not_measured(runner: Runner) -> None:
    result = runner.run_source(
        USES_TRACEMALLOC, "--memray", "--memray-json=out.json", "-p", "no:randomly"
    )
    records = _records(runner)
    outcomes = {name: record["outcome"] for name, record in records.items()}
    assert outcomes == {
        "test_reads_only": "failed",
        "test_reset_peak": "failed",
        "test_reset_peak_later": "failed",
        "test_clear_traces": "failed",
        "test_stop": "failed",
        "test_stop_then_start": "failed",
        "test_clear_bound_early": "failed",
        "test_after": "passed",
    }
    assert "INTERNALERROR" not in result.stdout.str()
    measured = ["test_reads_only", "test_reset_peak", "test_reset_peak_later", "test_after"]
    if runner.backend == "memray":
        measured += list(REASONS)  # memray does not use tracemalloc: nothing to reset
    for name in measured:
        peak = records[name]["peak_bytes"]
        assert isinstance(peak, int), (name, records[name])
        expected = 2 * MIB if name == "test_after" else 4 * MIB
        assert expected <= peak < expected + 64 * 1024, (name, peak)
    if runner.backend == "tracemalloc":
        for name, reason in REASONS.items():
            assert records[name]["peak_bytes"] is None
            result.stdout.fnmatch_lines(
                [
                    f"*_ {name} _*",
                    "Test was limited to 1.0MiB, but the memory of this test could not be "
                    f"measured: {reason}",
                ]
            )
        result.stdout.fnmatch_lines(["Not measured (4 tests)*"])


def test_the_test_gets_tracemalloc_back_as_it_was(pytester: pytest.Pytester) -> None:
    import tracemalloc

    functions = {name: getattr(tracemalloc, name) for name in dir(tracemalloc)}
    pytester.makepyfile(
        test_it="""
import tracemalloc
import _tracemalloc

def test_replaced_only_while_the_test_runs():
    # the test sees functions that behave as tracemalloc's own
    tracemalloc.reset_peak()
    assert tracemalloc.is_tracing()
    assert tracemalloc.reset_peak.__name__ == "reset_peak"
"""
    )
    result = pytester.runpytest("--memray", "--memray-backend=tracemalloc")
    result.assert_outcomes(passed=1)
    assert {name: getattr(tracemalloc, name) for name in dir(tracemalloc)} == functions
    assert not tracemalloc.is_tracing()


def test_the_replacements_do_what_tracemalloc_does(pytester: pytest.Pytester) -> None:
    """While the test runs, stop, start and clear_traces are the backend's, told to it; they
    still do what tracemalloc's own do for the test."""
    import tracemalloc

    pytester.makepyfile(
        test_it="""
import tracemalloc

def test_stop_start_clear():
    kept = bytearray(1024 * 1024)
    tracemalloc.clear_traces()
    assert tracemalloc.get_traced_memory()[0] < 1024 * 1024
    tracemalloc.stop()
    assert not tracemalloc.is_tracing()
    tracemalloc.start(5)
    assert tracemalloc.is_tracing()
    assert tracemalloc.get_traceback_limit() == 5
    tracemalloc.stop()
"""
    )
    result = pytester.runpytest("--memray", "--memray-backend=tracemalloc")
    result.assert_outcomes(passed=1)
    assert not tracemalloc.is_tracing()
