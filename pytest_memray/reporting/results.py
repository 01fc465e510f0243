"""What the plugin keeps of each tracked test, in a form that crosses processes.

Only what the report and the JSON output need is kept (peak, count, histogram, the largest
locations), so the plugin's own memory does not grow with what tests allocate. A test whose
figures are missing keeps the reason instead: it is never given a made-up number.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from pytest_memray.backends.interface import AllocationSite, Measurement, NotMeasured, Outcome
from pytest_memray.reporting.summary import histogram, top_sites
from pytest_memray.stack import StackFrame


def no_figures(backend_name: str) -> str:
    """Why a tracked test has no figures when its backend handed none back."""
    return f"the {backend_name} backend handed no figures back"


#: Why a measured test has no figures when its own code never ran inside the plugin's window
#: (another plugin ran it without calling the test function the plugin wrapped).
NOT_SEEN_RUNNING = "its code was not run through the test function the plugin wraps"


class MarkedLimit(NamedTuple):
    """The size a marker set on a test, and on what: ``memory`` (the peak: ``limit_memory``,
    ``--memray-limit``) or ``leaks`` (per call stack: ``limit_leaks``)."""

    bytes: int
    kind: str


@dataclass(frozen=True, slots=True)
class MemoryResult:
    """One tracked test: its figures (or why there are none) and the limit a marker set."""

    nodeid: str
    #: High-water mark of the call in bytes; None when it was not measured.
    peak_bytes: int | None
    allocation_count: int | None = None
    histogram: str = ""
    top_sites: tuple[AllocationSite, ...] = ()
    limit: MarkedLimit | None = None
    capture_file: str | None = None
    #: Why the figures are missing; None when they were measured.
    not_measured: str | None = None
    notes: tuple[str, ...] = ()
    #: The page drawing where the test's memory went (--memray-flamegraphs), if one was drawn.
    flamegraph: str | None = None

    @classmethod
    def from_outcome(cls, nodeid: str, outcome: Outcome, limit: MarkedLimit | None) -> MemoryResult:
        if isinstance(outcome, NotMeasured):
            return cls.unmeasured(nodeid, outcome.reason, limit)
        return cls.from_measurement(nodeid, outcome, limit)

    @classmethod
    def from_measurement(
        cls, nodeid: str, measurement: Measurement, limit: MarkedLimit | None
    ) -> MemoryResult:
        return cls(
            nodeid=nodeid,
            peak_bytes=measurement.peak_bytes,
            allocation_count=measurement.allocation_count,
            histogram=histogram(measurement.peak_sites),
            top_sites=top_sites(measurement.peak_sites),
            limit=limit,
            capture_file=measurement.capture_file,
            notes=tuple(measurement.notes),
        )

    @classmethod
    def unmeasured(cls, nodeid: str, reason: str, limit: MarkedLimit | None = None) -> MemoryResult:
        return cls(nodeid=nodeid, peak_bytes=None, limit=limit, not_measured=reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "peak_bytes": self.peak_bytes,
            "allocation_count": self.allocation_count,
            "histogram": self.histogram,
            "top_sites": [_site_to_dict(site) for site in self.top_sites],
            "limit": None if self.limit is None else list(self.limit),
            "capture_file": self.capture_file,
            "not_measured": self.not_measured,
            "notes": list(self.notes),
            "flamegraph": self.flamegraph,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemoryResult:
        peak = data["peak_bytes"]
        return cls(
            nodeid=str(data["nodeid"]),
            peak_bytes=None if peak is None else int(peak),
            allocation_count=data["allocation_count"],
            histogram=str(data["histogram"]),
            top_sites=tuple(_site_from_dict(site) for site in data["top_sites"]),
            limit=None if data["limit"] is None else MarkedLimit(*data["limit"]),
            capture_file=data["capture_file"],
            not_measured=data["not_measured"],
            notes=tuple(data["notes"]),
            flamegraph=data["flamegraph"],
        )


def _site_to_dict(site: AllocationSite) -> dict[str, Any]:
    return {
        "size": site.size,
        "allocations": site.allocations,
        "thread_id": site.thread_id,
        "stack": [list(frame) for frame in site.stack],
    }


def _site_from_dict(data: dict[str, Any]) -> AllocationSite:
    return AllocationSite(
        size=int(data["size"]),
        allocations=int(data["allocations"]),
        thread_id=data["thread_id"],
        stack=tuple(StackFrame(str(f), str(n), int(line)) for f, n, line in data["stack"]),
    )


class InternTable:
    """One copy of each frame, stack and histogram across a session's results.

    A suite's tests allocate at the same few thousand lines, so most kept sites repeat a
    stack that an earlier test's site holds already: sharing it saves a tuple per site
    (about 300 bytes per test where tests keep five sites).
    """

    def __init__(self) -> None:
        self._frames: dict[StackFrame, StackFrame] = {}
        self._stacks: dict[tuple[StackFrame, ...], tuple[StackFrame, ...]] = {}
        self._texts: dict[str, str] = {}

    def __call__(self, result: MemoryResult) -> MemoryResult:
        frames, stacks = self._frames, self._stacks
        sites = []
        for site in result.top_sites:
            stack = tuple(frames.setdefault(frame, frame) for frame in site.stack)
            sites.append(site._replace(stack=stacks.setdefault(stack, stack)))
        text = self._texts.setdefault(result.histogram, result.histogram)
        return replace(result, top_sites=tuple(sites), histogram=text)
