"""Hand-written version 2 JSON reports for the gate, compare and merge tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

Peak = int | None | tuple[None, str]


def make_entry(nodeid: str, peak: Peak, outcome: str = "passed") -> dict[str, Any]:
    """An entry; ``peak`` is bytes, or ``(None, reason)`` for a test not measured."""
    not_measured: str | None = None
    peak_bytes: int | None
    if isinstance(peak, tuple):
        peak_bytes, not_measured = peak
    else:
        peak_bytes = peak
    return {
        "nodeid": nodeid,
        "outcome": outcome,
        "peak_bytes": peak_bytes,
        "not_measured": not_measured,
        "allocations": None,
        "limit_bytes": None,
        "capture_file": None,
        "top_locations": [],
    }


def document(
    peaks: dict[str, Peak], backend: str = "memray", version: int = 2, python: str = "3.12.1"
) -> dict[str, Any]:
    return {
        "version": version,
        "plugin_version": "2.0.0",
        "backend": {
            "name": backend,
            "version": "1.14.0" if backend == "memray" else python,
            "native_allocations": backend == "memray",
            "thread_ids": backend == "memray",
            "exact_peak": True,
            "fallback_reason": None,
        },
        "python": {"version": python, "implementation": "CPython", "platform": "linux"},
        "tests": [make_entry(nodeid, peak) for nodeid, peak in peaks.items()],
    }


def write(path: Path, data: object) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)
