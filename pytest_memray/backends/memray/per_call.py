"""A test call measured with a memray Tracker of its own, and reading its aggregated file.

Used for requests whose outcome is ``needed_at_once`` (limit markers, pytest-html, a
baseline), for ``limit_leaks`` (which needs native frames and Python-allocator tracing), with
``--memray-bin-path`` (whose users want one capture file per test), and wherever a batch
cannot take the call. The Tracker starts right before the test code and stops right after;
memray aggregates the file as it writes it, and it is read back at once. A capture that ended
at the file-size limit or on a full disk is not trusted (:mod:`.storage`).
"""

from __future__ import annotations

import gc
from pathlib import Path

import memray

from pytest_memray.backends.interface import (
    ActiveTracking,
    AllocationSite,
    Backend,
    LastStep,
    Measurement,
    NotMeasured,
    Outcome,
    TrackingRequest,
)
from pytest_memray.backends.memray.hooks import (
    HOOK_NOT_OURS,
    enter_tracker,
    exit_tracker,
    foreign_profiler,
)
from pytest_memray.backends.memray.records import sites_of
from pytest_memray.backends.memray.storage import capture_problem


class TrackerPerCall(ActiveTracking):
    """A Tracker of its own, started right before the test code and stopped right after."""

    def __init__(
        self, request: TrackingRequest, scratch_dir: Path, handle: int, backend: Backend
    ) -> None:
        super().__init__(handle)
        self._request = request
        self._backend = backend
        self._failed: str | None = None
        if request.capture_file is not None:
            self._path = request.capture_file
            self._keep = True
        else:
            scratch_dir.mkdir(parents=True, exist_ok=True)
            self._path = scratch_dir / f"call-{handle}.bin"
            self._keep = False
        self._path.unlink(missing_ok=True)  # memray refuses to overwrite
        # Precise leak grouping needs native frames and every small-object allocation.
        self._tracker = memray.Tracker(
            # Uncompressed, so that its end tells whether it is complete (see .storage).
            destination=memray.FileDestination(self._path, compress_on_exit=False),
            native_traces=request.show_native_frames or request.want_leaks,
            trace_python_allocators=request.trace_python_allocators or request.want_leaks,
            file_format=memray.FileFormat.AGGREGATED_ALLOCATIONS,
        )
        self._open = False
        #: Another profiler held the profile hook when the test started.
        self._foreign = False

    def open(self) -> LastStep | None:
        try:
            self._foreign = foreign_profiler() is not None
            if self._foreign:
                enter_tracker(self._tracker)
                self._open = True
                return None
        except Exception as exc:
            self._failed = f"memray could not start tracking ({exc})"
            return None
        # Entered by the caller, in the frame that calls the test (see LastStep): memray takes
        # the Python stack it starts on as the base of every stack it records.
        self._open = True
        return LastStep(self._tracker.__enter__, self._not_started)

    def _not_started(self, exc: Exception) -> None:
        self._open = False
        self._failed = f"memray could not start tracking ({exc})"

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        if self._request.want_leaks:
            gc.collect()  # unreachable cycles are garbage, not leaks
        try:
            exit_tracker(self._tracker)
        except Exception as exc:
            self._failed = f"memray could not finish its capture file ({exc})"

    def stop(self) -> None:
        self.close()
        outcome: Outcome
        if self._failed is None:
            self._failed = capture_problem(self._path)
        if self._failed is not None:
            outcome = NotMeasured(self._failed)
        else:
            try:
                outcome = self._read()
            except (OSError, RuntimeError, ValueError) as exc:
                outcome = NotMeasured(f"memray could not read its capture file ({exc})")
        if not self._keep:
            self._path.unlink(missing_ok=True)
        self._backend.hand_over(self.handle, outcome)

    def _read(self) -> Measurement:
        request = self._request
        reader = memray.FileReader(self._path)
        try:
            metadata = reader.metadata
            # Native traces may be on for precise leak grouping without the user asking to see
            # native frames; they are shown only on request (--native).
            native = request.show_native_frames and bool(metadata.has_native_traces)
            peak_sites, own_bytes = sites_of(
                reader.get_high_watermark_allocation_records(merge_threads=False),
                request.stack_depth,
                native,
            )
            leaked: list[AllocationSite] | None = None
            if request.want_leaks:
                leaked, _ = sites_of(
                    reader.get_leaked_allocation_records(merge_threads=False),
                    request.stack_depth,
                    native,
                )
            return Measurement(
                peak_bytes=max(0, int(metadata.peak_memory) - own_bytes),
                allocation_count=sum(site.allocations for site in peak_sites),
                peak_sites=peak_sites,
                leaked_sites=leaked,
                test_thread_id=int(metadata.main_thread_id),
                capture_file=str(self._path) if self._keep else None,
                notes=[HOOK_NOT_OURS] if self._foreign else [],
            )
        finally:
            reader.close()
