"""The results the plugin keeps are plain data: they survive a trip through JSON (as they
cross from an xdist worker to the controller)."""

from __future__ import annotations

import json

from pytest_memray.backends.interface import AllocationSite, Measurement
from pytest_memray.reporting.results import MarkedLimit, MemoryResult
from pytest_memray.stack import StackFrame

SITES = [
    AllocationSite(
        size=10 * 1024 * 1024,
        allocations=1,
        stack=(StackFrame("helper", "/src/mod.py", 12), StackFrame("test_x", "/t/test.py", 3)),
        thread_id=1,
    ),
    AllocationSite(size=512, allocations=4, stack=(), thread_id=None),
]


def test_record_round_trips_and_keeps_only_the_top_frames() -> None:
    measurement = Measurement(
        peak_bytes=10 * 1024 * 1024, allocation_count=5, peak_sites=SITES, notes=["partial"]
    )
    record = MemoryResult.from_measurement(
        "t.py::test_x", measurement, limit=MarkedLimit(1024, "memory")
    )
    again = MemoryResult.from_dict(json.loads(json.dumps(record.to_dict())))
    assert again == record
    assert again.notes == ("partial",)
    assert again.top_sites[0].stack == (StackFrame("helper", "/src/mod.py", 12),)
    assert again.limit == (1024, "memory")
