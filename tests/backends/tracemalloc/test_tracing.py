"""Tracing kept on between calls (as on a free-threaded build, where starting and stopping it
while other threads allocate can crash CPython): each call still counts from what it traced
itself, the user can take tracing over, and the session's end stops it. Run here on every
build, with a hold on tracing that keeps it, so that the GIL builds check it too."""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Iterator

import pytest

from pytest_memray.backends.interface import Measurement, NotMeasured, TrackingRequest
from pytest_memray.backends.tracemalloc.backend import TracemallocBackend
from pytest_memray.backends.tracemalloc.own_use import real_start
from pytest_memray.backends.tracemalloc.tracing import CUT_STACKS_NOTE, Tracing

from ...helpers import requires_threads

MIB = 1024 * 1024


@pytest.fixture
def kept() -> Iterator[Tracing]:
    assert not tracemalloc.is_tracing()
    tracing = Tracing(keep=True)
    yield tracing
    tracing.close()
    if tracemalloc.is_tracing():  # the user's, in a test that took it over
        tracemalloc.stop()


def _block(size: int) -> bytearray:
    return bytearray(size)


def _measure(backend: TracemallocBackend, size: int, depth: int = 1) -> Measurement:
    tracking = backend.start(TrackingRequest(stack_depth=depth))
    tracking.open()
    block = _block(size)
    tracking.close()
    tracking.stop()
    del block
    outcome = dict(backend.take_results())[tracking.handle]
    assert isinstance(outcome, Measurement)
    return outcome


def _next_call_traces_for_itself(backend: TracemallocBackend) -> bool:
    """Whether the backend's next call counts the tracing as its own (not the user's)."""
    tracking = backend.start(TrackingRequest(stack_depth=1))
    tracking.open()
    ours: bool = tracking._ours  # type: ignore[attr-defined]
    tracking.close()
    tracking.stop()
    return ours


def test_tracing_stays_on_between_calls_and_each_call_counts_its_own(kept: Tracing) -> None:
    backend = TracemallocBackend(tracing=kept)
    first = _measure(backend, 2 * MIB)
    assert tracemalloc.is_tracing()
    between = bytearray(4 * MIB)  # traced between the calls, alive during the next one
    second = _measure(backend, 1 * MIB)
    assert 2 * MIB <= first.peak_bytes < 2 * MIB + 4096
    assert 1 * MIB <= second.peak_bytes < 1 * MIB + 4096
    assert all(site.size < 2 * MIB for site in second.peak_sites)
    backend.close()
    assert not tracemalloc.is_tracing()
    del between


def test_a_backend_made_later_goes_on_with_the_tracing_kept(kept: Tracing) -> None:
    _measure(TracemallocBackend(tracing=kept), 1 * MIB)
    later = TracemallocBackend(tracing=kept)
    assert _next_call_traces_for_itself(later)  # not taken for the user's tracing
    later.close()
    assert not tracemalloc.is_tracing()


def test_the_user_starting_tracing_takes_it_over(
    kept: Tracing, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = TracemallocBackend(tracing=kept)
    _measure(backend, 1 * MIB)
    monkeypatch.setattr(kept, "_alone", lambda: True)
    tracemalloc.start(3)  # the user's now, started afresh with the frames it asks for
    assert tracemalloc.get_traceback_limit() == 3
    assert tracemalloc.get_traced_memory()[0] < 4096
    assert not _next_call_traces_for_itself(backend)
    backend.close()
    assert tracemalloc.is_tracing()  # left running, as the user's own always is
    assert tracemalloc.start is real_start  # the real one again


def test_the_user_taking_tracing_over_while_threads_run_gets_it_as_it_is(
    kept: Tracing, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = TracemallocBackend(tracing=kept)
    _measure(backend, 1 * MIB)
    monkeypatch.setattr(kept, "_alone", lambda: False)
    tracemalloc.start(3)  # not restarted: only what was traced is forgotten
    assert tracemalloc.get_traceback_limit() == 1
    assert tracemalloc.get_traced_memory()[0] < 4096
    backend.close()
    assert tracemalloc.is_tracing()


def test_more_frames_restart_tracing_only_where_no_other_thread_runs(
    kept: Tracing, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = TracemallocBackend(tracing=kept)
    _measure(backend, 1 * MIB, depth=1)
    monkeypatch.setattr(kept, "_alone", lambda: True)
    more = _measure(backend, 1 * MIB, depth=3)  # restarted with 3 frames
    assert tracemalloc.get_traceback_limit() == 3
    assert not any("frame(s) per allocation" in note for note in more.notes)
    monkeypatch.setattr(kept, "_alone", lambda: False)
    cut = _measure(backend, 1 * MIB, depth=5)  # another thread runs: not restarted
    assert tracemalloc.get_traceback_limit() == 3
    assert CUT_STACKS_NOTE.format(frames=3) in cut.notes
    assert 1 * MIB <= cut.peak_bytes < 1 * MIB + 4096
    fewer = _measure(backend, 1 * MIB, depth=2)  # fewer than recorded: as it is
    assert not any("frame(s) per allocation" in note for note in fewer.notes)


@requires_threads
def test_alone_means_no_thread_but_the_samplers() -> None:
    tracing = Tracing(keep=True)
    TracemallocBackend(tracing=tracing).start(TrackingRequest(stack_depth=1)).stop()
    try:
        assert tracing._alone()  # this thread, and the backend's sampler waiting
        release = threading.Event()
        other = threading.Thread(target=release.wait)
        other.start()
        try:
            assert not tracing._alone()
        finally:
            release.set()
            other.join()
    finally:
        tracing.close()


def test_tracing_begins_when_the_test_code_starts() -> None:
    """Not when the tracking is made: what the plugin does in between is never traced, so
    CPython before 3.13 leaks none of its tracebacks (gh-121390: stop() keeps every one,
    some 32 bytes per allocating line at each call, 1.2 MiB per 1,000 trivial tests)."""
    tracing = Tracing()  # kept on between calls where starting and stopping is unsafe
    try:
        backend = TracemallocBackend(tracing=tracing)
        tracking = backend.start(TrackingRequest(stack_depth=1))
        assert not tracemalloc.is_tracing()
        tracking.open()
        assert tracemalloc.is_tracing()
        tracking.close()
        tracking.stop()
        assert tracemalloc.is_tracing() is tracing.keep
        assert isinstance(dict(backend.take_results())[tracking.handle], Measurement)
    finally:
        tracing.close()
    assert not tracemalloc.is_tracing()


def test_a_tracking_never_opened_is_not_measured() -> None:
    backend = TracemallocBackend(tracing=Tracing(keep=False))
    tracking = backend.start(TrackingRequest(stack_depth=1))
    tracking.stop()
    outcome = dict(backend.take_results())[tracking.handle]
    assert isinstance(outcome, NotMeasured)
    assert "never opened" in outcome.reason
    assert not tracemalloc.is_tracing()
