"""What the plugin keeps of each tracked test, in a form that crosses processes.

Only what the report and the JSON output need is kept (peak, count, histogram, the largest
locations), so the plugin's own memory does not grow with what tests allocate.
"""

from __future__ import annotations

import sys
from typing import Any, Optional

from .backends.interface import AllocationSite, Measurement
from .report import ReportEntry, histogram, top_sites
from .stack import StackFrame

_FRAMES: dict[StackFrame, StackFrame] = {}


class TestRecord:
    """One tracked test: its figures, the limit a marker set, and its final outcome."""

    __test__ = False  # not a test class, whatever pytest's collection rules say
    # Slots: one of these is kept for every tracked test of the session.
    __slots__ = (
        "allocation_count",
        "capture_file",
        "histogram",
        "limit_bytes",
        "nodeid",
        "outcome",
        "peak_bytes",
        "top_sites",
    )

    def __init__(
        self,
        nodeid: str,
        peak_bytes: int,
        allocation_count: Optional[int],
        histogram: str,
        top_sites: tuple[AllocationSite, ...],
        limit_bytes: Optional[int] = None,
        capture_file: Optional[str] = None,
        outcome: str = "passed",
    ) -> None:
        self.nodeid = nodeid
        self.peak_bytes = peak_bytes
        self.allocation_count = allocation_count
        # Many tests share a histogram and their locations: keep one copy of each.
        self.histogram = sys.intern(histogram)
        self.top_sites = tuple(
            site._replace(stack=tuple(_FRAMES.setdefault(frame, frame) for frame in site.stack))
            for site in top_sites
        )
        self.limit_bytes = limit_bytes
        self.capture_file = capture_file
        self.outcome = outcome

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TestRecord):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TestRecord({self.nodeid!r}, peak_bytes={self.peak_bytes})"

    @classmethod
    def from_measurement(
        cls, nodeid: str, measurement: Measurement, limit_bytes: Optional[int]
    ) -> TestRecord:
        return cls(
            nodeid=nodeid,
            peak_bytes=measurement.peak_bytes,
            allocation_count=measurement.allocation_count,
            histogram=histogram(measurement.peak_sites),
            top_sites=top_sites(measurement.peak_sites),
            limit_bytes=limit_bytes,
            capture_file=measurement.capture_file,
        )

    def report_entry(self) -> ReportEntry:
        return ReportEntry(
            nodeid=self.nodeid,
            peak_bytes=self.peak_bytes,
            allocation_count=self.allocation_count,
            histogram=self.histogram,
            top_sites=self.top_sites,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "peak_bytes": self.peak_bytes,
            "allocation_count": self.allocation_count,
            "histogram": self.histogram,
            "top_sites": [site.to_dict() for site in self.top_sites],
            "limit_bytes": self.limit_bytes,
            "capture_file": self.capture_file,
            "outcome": self.outcome,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestRecord:
        return cls(
            nodeid=str(data["nodeid"]),
            peak_bytes=int(data["peak_bytes"]),
            allocation_count=data["allocation_count"],
            histogram=str(data["histogram"]),
            top_sites=tuple(AllocationSite.from_dict(site) for site in data["top_sites"]),
            limit_bytes=data["limit_bytes"],
            capture_file=data["capture_file"],
            outcome=str(data["outcome"]),
        )
