"""The tracemalloc backend: standard library only, so it runs on every platform."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from pathlib import Path

from pytest_memray.backends.interface import ActiveTracking, Backend, Capabilities, TrackingRequest
from pytest_memray.backends.tracemalloc.page import write_page
from pytest_memray.backends.tracemalloc.sampler import Sampler, start_sampler
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
        if not self._sampler_tried:
            self._sampler_tried = True
            self._sampler = start_sampler()
        return TracemallocTracking(
            request, self._sampler, self.next_handle(), self, self._clock, self.tracing
        )

    def write_flamegraph(self, capture_file: Path, target: Path, title: str) -> str | None:
        return write_page(capture_file, target, title)

    def close(self) -> None:
        self.tracing.close()
