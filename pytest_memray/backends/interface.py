"""What every measuring backend provides, and the plain data it hands back.

The layer above (markers, report, result collection across processes, pytest wiring) talks to
a backend only through :class:`Backend` and :class:`ActiveTracking`, reads what it can do from
:class:`Capabilities`, and gets :class:`Measurement` objects back. A measurement is plain data:
it holds no open file and no object of a backend's library, so it can cross processes as a dict.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Optional

from ..stack import StackFrame


@dataclass(frozen=True)
class Capabilities:
    """What a backend can observe and do. The plugin reads these instead of guessing."""

    #: Sees allocations made by C, C++ or Rust code with ``malloc`` and friends.
    native_allocations: bool
    #: Can show native (C) frames in stacks (``--native``).
    native_frames: bool
    #: Knows which thread made each allocation (``current_thread_only=True``).
    thread_ids: bool
    #: Counts the allocations alive at the peak.
    allocation_counts: bool
    #: Can record each allocation of Python's small-object allocator
    #: (``--trace-python-allocators``).
    python_allocator_tracing: bool
    #: Peak figures are exact high-water marks, not samples.
    exact_peak: bool
    #: Suffix of the capture files it writes with ``--memray-bin-path``.
    capture_suffix: str
    #: The tool that opens those capture files, for the report's last line.
    capture_reader: str
    #: Can record many calls in one go and hand their results over later, through
    #: :meth:`Backend.collect`; much cheaper per test where starting a tracker is costly.
    deferred_results: bool = False


@dataclass(frozen=True)
class TrackingRequest:
    """How to track one test call."""

    #: Frames to keep per allocation stack.
    stack_depth: int
    #: Record native frames (only where ``Capabilities.native_frames``); makes leak
    #: grouping precise.
    native_traces: bool = False
    #: Put native frames in the stacks handed back (``--native``); else Python frames only.
    show_native_frames: bool = False
    #: Record each small-object allocation (only where ``Capabilities.python_allocator_tracing``).
    trace_python_allocators: bool = False
    #: Also report what was allocated during the call and is still alive at its end.
    want_leaks: bool = False
    #: Where to keep a capture file of this call, or None for no file beyond what tracking needs.
    capture_file: Optional[Path] = None
    #: The caller can wait for the result until :meth:`Backend.collect`: no marker needs it
    #: right after the call. Backends with ``deferred_results`` may then batch the call.
    deferrable: bool = False


class AllocationSite(NamedTuple):
    """Allocations made from one call stack: their total size, how many, and by which thread.

    A named tuple, as the plugin keeps a few of these for every test of a session.
    """

    size: int
    count: int  # type: ignore[assignment]  # shadows tuple.count on purpose
    stack: tuple[StackFrame, ...]
    #: Backend's id of the allocating thread, or None where the backend does not know threads.
    thread_id: Optional[int] = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "count": self.count,
            "thread_id": self.thread_id,
            "stack": [list(frame) for frame in self.stack],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AllocationSite:
        return cls(
            size=int(data["size"]),
            count=int(data["count"]),
            thread_id=data["thread_id"],
            stack=tuple(StackFrame(str(f), str(n), int(line)) for f, n, line in data["stack"]),
        )


@dataclass
class Measurement:
    """What a backend measured during one test call."""

    #: High-water mark of memory allocated during the call and not yet freed, in bytes.
    peak_bytes: int
    #: Number of allocations alive at the peak, or None where the backend cannot count them.
    allocation_count: Optional[int]
    #: Allocations alive at (or, for sampling backends, near) the peak, largest first.
    peak_sites: list[AllocationSite] = field(default_factory=list)
    #: Allocations made during the call and still alive at its end, largest first;
    #: None unless ``TrackingRequest.want_leaks`` was set.
    leaked_sites: Optional[list[AllocationSite]] = None
    #: Backend's id of the thread that ran the test, where the backend knows threads.
    test_thread_id: Optional[int] = None
    #: The capture file kept for this call, if one was asked for and written.
    capture_file: Optional[str] = None
    #: Things the user should know about this measurement (it is partial, and why).
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "peak_bytes": self.peak_bytes,
            "allocation_count": self.allocation_count,
            "peak_sites": [site.to_dict() for site in self.peak_sites],
            "leaked_sites": (
                None
                if self.leaked_sites is None
                else [site.to_dict() for site in self.leaked_sites]
            ),
            "test_thread_id": self.test_thread_id,
            "capture_file": self.capture_file,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        leaked = data.get("leaked_sites")
        return cls(
            peak_bytes=int(data["peak_bytes"]),
            allocation_count=data["allocation_count"],
            peak_sites=[AllocationSite.from_dict(site) for site in data["peak_sites"]],
            leaked_sites=None if leaked is None else [AllocationSite.from_dict(s) for s in leaked],
            test_thread_id=data.get("test_thread_id"),
            capture_file=data.get("capture_file"),
            notes=list(data.get("notes", [])),
        )


class ActiveTracking(abc.ABC):
    """Tracking of one test call in progress."""

    #: Identifies a deferred result in what :meth:`Backend.collect` returns.
    key: int = 0

    def settle(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """The test function has returned: stop what works alongside the test (hooks).

        Called before the plugin's own checks that run inside the tracked window (the object
        census), so that the backend does not record them. :meth:`stop` follows.
        """

    @abc.abstractmethod
    def stop(self) -> Optional[Measurement]:
        """Stop tracking and return what was measured. Called exactly once.

        Returns None only for a ``deferrable`` request that the backend deferred: the
        measurement then comes from :meth:`Backend.collect` under this tracking's ``key``.
        """


class Backend(abc.ABC):
    """A way of measuring memory. One instance serves a whole pytest session."""

    #: Short name: ``"memray"`` or ``"tracemalloc"``.
    name: str
    #: Version of the measuring library (memray's, or Python's for tracemalloc).
    version: str
    capabilities: Capabilities

    @abc.abstractmethod
    def start(self, request: TrackingRequest) -> ActiveTracking:
        """Start tracking the calling thread's test call."""

    def collect(self, finish: bool = False) -> list[tuple[int, Measurement]]:
        """Deferred results that are ready and not yet handed over, as ``(key, measurement)``.

        With ``finish`` (at the end of the session), what is still being recorded is closed
        first, so every deferred tracking stopped so far is handed over. The plugin also
        calls it without ``finish`` as the session goes, so that it keeps only compact
        records. Backends without ``deferred_results`` never defer: nothing to hand over.
        """
        return []

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Release what the backend holds for the session."""
