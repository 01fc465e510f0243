"""When the tracemalloc backend has a sampler thread, and when it leaves a call to the hook."""

from __future__ import annotations

import cProfile
import sys

import pytest

from pytest_memray.backends.interface import TrackingRequest
from pytest_memray.backends.tracemalloc import sampler
from pytest_memray.backends.tracemalloc.backend import TracemallocBackend
from pytest_memray.backends.tracemalloc.sampler import (
    profiler_registered,
    profilers_see_other_threads_safely,
    start_sampler,
)
from pytest_memray.backends.tracemalloc.tracking import TracemallocTracking

from ...helpers import requires_sampler, requires_thread_safe_cprofile, requires_threads


@pytest.mark.parametrize(
    ("version", "gil_enabled", "safe"),
    [
        ((3, 10), True, True),
        ((3, 13), True, True),  # a free-threaded build with the GIL turned back on
        ((3, 13), False, False),  # gh-125165: cProfile beside another thread
        ((3, 14), False, False),
        ((3, 15), False, True),  # fixed in 3.15
        ((3, 16), False, True),
    ],
)
def test_a_sampler_runs_where_profilers_bear_another_thread(
    version: tuple[int, int], gil_enabled: bool, safe: bool
) -> None:
    assert profilers_see_other_threads_safely(version, gil_enabled) is safe


@requires_threads
def test_no_sampler_where_a_profiler_would_not_bear_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sampler, "profilers_see_other_threads_safely", lambda: False)
    assert start_sampler() is None
    monkeypatch.setattr(sampler, "profilers_see_other_threads_safely", lambda: True)
    assert start_sampler() is not None


@requires_thread_safe_cprofile
@pytest.mark.skipif(sys.version_info < (3, 12), reason="cProfile uses sys.monitoring from 3.12")
def test_a_running_cprofile_is_seen_as_registered() -> None:
    assert not profiler_registered()
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        registered = profiler_registered()
    finally:
        profiler.disable()
    assert registered
    assert not profiler_registered()


@requires_sampler
@pytest.mark.skipif(sys.version_info < (3, 12), reason="cProfile uses sys.monitoring from 3.12")
def test_the_sampler_declines_a_call_that_a_profiler_watches() -> None:
    """With a profiler on, the sampler does not take the call (its readings would be in the
    profile); without one it does, and the hand-over is told."""
    backend = TracemallocBackend()
    tracking = backend.start(TrackingRequest(stack_depth=1))
    assert isinstance(tracking, TracemallocTracking)
    try:
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            declined = tracking.hand_to_sampler()
        finally:
            profiler.disable()
        assert declined is False
        assert tracking.hand_to_sampler() is True
        assert tracking.hand_to_sampler() is True  # already watching
    finally:
        tracking.close()
        tracking.stop()


@requires_sampler
def test_a_tracking_closed_unopened_leaves_the_sampler_idle() -> None:
    """A tracking handed to the sampler is let go when it closes, opened or not: a sampler
    left reading would read on in every later test (and show in their profiles)."""
    backend = TracemallocBackend()
    tracking = backend.start(TrackingRequest(stack_depth=1))
    assert isinstance(tracking, TracemallocTracking)
    assert tracking.hand_to_sampler()
    tracking.close()
    tracking.stop()
    assert backend._sampler is not None
    assert backend._sampler._tracking is None
