"""The tracemalloc backend: standard library only, so it runs on every platform."""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_memray.backends.interface import ActiveTracking, Backend, Capabilities, TrackingRequest
from pytest_memray.backends.tracemalloc.page import write_page
from pytest_memray.backends.tracemalloc.sampler import SAMPLE_INTERVAL, Sampler, start_sampler
from pytest_memray.backends.tracemalloc.tracing import TRACING, Tracing
from pytest_memray.backends.tracemalloc.tracking import TracemallocTracking

CAPABILITIES = Capabilities(
    native_allocations=False,
    native_frames=False,
    thread_ids=False,
    allocation_counts=True,
    python_allocator_tracing=False,
    exact_peak=True,
    allocation_sites=True,
    leaked_sites=True,
    capture_suffix=".tracemalloc",
    capture_reader="tracemalloc.Snapshot.load",
    flamegraphs=True,
)


#: What :meth:`TracemallocBackend._make_first_calls` measures, compiled under a name of no
#: file of the plugin's, so that the hook takes it for a test: a picture at a return, and long
#: enough for the sampler thread to read (and picture) too.
_FIRST_CALL_SOURCE = """
import time

def grow():
    return bytearray(256 * 1024)

def nothing():
    pass

def first_call(pause):
    held = grow()
    for _ in range(40):  # past the hook's share of the events: the sampler reads the rest
        nothing()
    time.sleep(pause)
    held += grow()
    time.sleep(pause)
    del held
"""


#: Whether this process made them already (once is enough: the frames are the functions').
_first_calls_made = False


def _first_call() -> Callable[[float], None]:
    namespace: dict[str, Any] = {}
    exec(compile(_FIRST_CALL_SOURCE, "<pytest-memray first calls>", "exec"), namespace)
    function: Callable[[float], None] = namespace["first_call"]
    return function


class TracemallocBackend(Backend):
    name = "tracemalloc"
    capabilities = CAPABILITIES

    def __init__(
        self, clock: Callable[[], float] = time.perf_counter, tracing: Tracing | None = None
    ) -> None:
        """``clock`` times the pictures, to keep them within their share of the test's time;
        ``tracing`` is the hold on tracemalloc's tracing (the process's own by default, which
        keeps tracing on between calls on a free-threaded build: see :mod:`.tracing`)."""
        super().__init__()
        self.version = platform.python_version()
        self._clock = clock
        self._sampler: Sampler | None = None
        self._sampler_tried = False
        self.tracing = TRACING if tracing is None else tracing

    def start(self, request: TrackingRequest) -> ActiveTracking:
        global _first_calls_made
        if not self._sampler_tried:
            self._sampler_tried = True
            self._sampler = start_sampler()
            # Not under a profiler: it would see the calls, which are not the test's.
            if not _first_calls_made and not sys.getprofile():
                _first_calls_made = True
                self._make_first_calls()
        return TracemallocTracking(
            request, self._sampler, self.next_handle(), self, self._clock, self.tracing
        )

    def _make_first_calls(self) -> None:
        """Measure one call of :data:`_FIRST_CALL_SOURCE` and drop its outcome, before the
        first test of the process.

        The interpreter makes objects of its own at a function's first call and keeps them
        for the next ones: Python 3.10 the function's frame object, 3.12 some 72 bytes. The
        backend's own functions called for the first time inside a test's window (the
        hook's, the pictures', the sampler's) charged them to the first test of each process:
        5.9 KiB to an empty test on 3.10, 288 bytes on 3.12. Here they are made, and kept,
        before it. Should this fail, that test is charged them as before; nothing else
        changes.
        """
        handle = self.next_handle()
        try:
            tracking = TracemallocTracking(
                TrackingRequest(stack_depth=1),
                self._sampler,
                handle,
                self,
                self._clock,
                self.tracing,
            )
            call = _first_call()
            try:
                # Inside: should open() fail once tracing began, close() still ends it.
                tracking.open()
                call(4 * SAMPLE_INTERVAL)
            finally:
                tracking.close()
                tracking.stop()
        except Exception:  # only the first test's figure depends on it
            pass
        self._ready = [ready for ready in self._ready if ready[0] != handle]

    def write_flamegraph(self, capture_file: Path, target: Path, title: str) -> str | None:
        return write_page(capture_file, target, title)

    def close(self) -> None:
        self.tracing.close()
