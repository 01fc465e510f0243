"""What the plugin asks the backend for one test: whether it is measured, and the request.

The request says how deep the stacks go (one frame more than a failure shows, or just the
newest for the report), whether leaks or native frames are wanted, where a capture file is
kept (``--memray-bin-path``, or to draw a flamegraph), and whether the outcome is needed right
after the call (a limit or an output judges it then) or may come later (a batch).
"""

from __future__ import annotations

import pytest

from pytest_memray.backends.interface import Backend, TrackingRequest
from pytest_memray.per_test.capture_files import capture_file_name
from pytest_memray.per_test.limits import Limit
from pytest_memray.settings import Settings


class Requests:
    """Makes each test's request, for one session's settings and backend."""

    def __init__(self, settings: Settings, backend: Backend, results_at_once: bool) -> None:
        self.settings = settings
        self.backend = backend
        #: An output reads every test's figures as it is reported (pytest-html, the gate).
        self._results_at_once = results_at_once

    def measures(self, limit: Limit | None) -> bool:
        """Whether a test with ``limit`` (or none) is measured."""
        return self.settings.measures_every_test or (limit is not None and limit.needs_measurement)

    def request_for(self, item: pytest.Item, limit: Limit | None) -> TrackingRequest:
        settings = self.settings
        caps = self.backend.capabilities
        capture = None
        folder = settings.bin_path
        if folder is None and self._draws_flamegraph(limit):
            assert settings.flamegraph_dir is not None
            folder = settings.flamegraph_dir / "captures"  # removed once drawn
        if folder is not None:
            name = capture_file_name(settings.bin_prefix, item.nodeid, caps.capture_suffix)
            capture = folder / name
        if limit is None and capture is None:
            # Only the report and the JSON show this test's sites: the newest frame of each.
            # Every frame more costs the tracemalloc backend time on every allocation.
            depth = 1
        else:
            # One frame more than a failure shows, so that it can tell a stack was cut ("...").
            depth = (settings.stacks if limit is None else limit.stack_depth(settings.stacks)) + 1
        return TrackingRequest(
            test_id=item.nodeid,
            stack_depth=depth,
            show_native_frames=caps.native_frames and settings.native,
            trace_python_allocators=caps.python_allocator_tracing
            and settings.trace_python_allocators,
            want_leaks=limit is not None and limit.needs_leaks,
            capture_file=capture,
            needed_at_once=self._results_at_once or (limit is not None and limit.needs_measurement),
        )

    def _draws_flamegraph(self, limit: Limit | None) -> bool:
        """Whether a test with ``limit`` may get a flamegraph: every measured test with
        ``--memray-flamegraphs=all``, else those that can fail on their memory."""
        settings = self.settings
        if settings.flamegraph_dir is None or not self.backend.capabilities.flamegraphs:
            return False
        gated = settings.baseline is not None or settings.compare is not None
        judged = limit is not None and limit.needs_measurement
        return settings.flamegraphs_for_all or gated or judged
