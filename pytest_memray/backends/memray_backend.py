"""The memray backend: sees every allocation, native ones included (Linux and macOS, CPython).

Each test call runs under its own ``memray.Tracker`` writing an aggregated capture file; the
file is read back into a :class:`~pytest_memray.backends.interface.Measurement` and removed
unless the user asked to keep capture files.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional

import memray

from ..stack import StackFrame
from .interface import (
    ActiveTracking,
    AllocationSite,
    Backend,
    Capabilities,
    Measurement,
    TrackingRequest,
)

CAPABILITIES = Capabilities(
    native_allocations=True,
    native_frames=True,
    thread_ids=True,
    allocation_counts=True,
    python_allocator_tracing=True,
    exact_peak=True,
    capture_suffix=".bin",
    capture_reader="memray flamegraph / memray stats",
)


def _sites(records: Iterable[Any], depth: int, native: bool) -> list[AllocationSite]:
    """Neutral sites from memray records; native frames only when ``native`` is set."""
    sites = []
    for record in records:
        if native:
            raw = record.hybrid_stack_trace(max_stacks=depth)
        else:
            raw = record.stack_trace(max_stacks=depth)
        stack = tuple(StackFrame(str(func), str(file), int(line)) for func, file, line in raw)
        sites.append(
            AllocationSite(
                size=int(record.size),
                count=int(record.n_allocations),
                stack=stack,
                thread_id=int(record.tid),
            )
        )
    sites.sort(key=lambda site: site.size, reverse=True)
    return sites


class _MemrayTracking(ActiveTracking):
    def __init__(self, request: TrackingRequest, scratch_dir: Path) -> None:
        self._request = request
        if request.capture_file is not None:
            self._path = request.capture_file
            self._keep = True
        else:
            fd, name = tempfile.mkstemp(suffix=".bin", dir=scratch_dir)
            os.close(fd)
            self._path = Path(name)
            self._keep = False
        self._path.unlink(missing_ok=True)  # memray refuses to overwrite
        self._tracker = memray.Tracker(
            self._path,
            native_traces=request.native_traces,
            trace_python_allocators=request.trace_python_allocators,
            file_format=memray.FileFormat.AGGREGATED_ALLOCATIONS,
        )
        self._tracker.__enter__()

    def stop(self) -> Measurement:
        self._tracker.__exit__(None, None, None)
        try:
            return self._read()
        finally:
            if not self._keep:
                self._path.unlink(missing_ok=True)

    def _read(self) -> Measurement:
        request = self._request
        reader = memray.FileReader(self._path)
        try:
            metadata = reader.metadata
            # Native traces may be on for precise leak grouping without the user asking to see
            # native frames; they are shown only on request (--native).
            native = request.show_native_frames and bool(metadata.has_native_traces)
            peak_sites = _sites(
                reader.get_high_watermark_allocation_records(merge_threads=False),
                request.stack_depth,
                native,
            )
            leaked: Optional[list[AllocationSite]] = None
            if request.want_leaks:
                leaked = _sites(
                    reader.get_leaked_allocation_records(merge_threads=False),
                    request.stack_depth,
                    native,
                )
            return Measurement(
                peak_bytes=int(metadata.peak_memory),
                allocation_count=sum(site.count for site in peak_sites),
                peak_sites=peak_sites,
                leaked_sites=leaked,
                test_thread_id=int(metadata.main_thread_id),
                capture_file=str(self._path) if self._keep else None,
            )
        finally:
            reader.close()


class MemrayBackend(Backend):
    name = "memray"
    capabilities = CAPABILITIES

    def __init__(self) -> None:
        self.version = str(getattr(memray, "__version__", "unknown"))
        self._scratch = tempfile.TemporaryDirectory(prefix="pytest-memray-")

    def start(self, request: TrackingRequest) -> ActiveTracking:
        return _MemrayTracking(request, Path(self._scratch.name))

    def close(self) -> None:
        self._scratch.cleanup()
