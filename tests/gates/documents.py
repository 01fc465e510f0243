"""Hand-written JSON reports (layout version 3 unless asked) for the gate, compare and merge
tests."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

Peak = int | None | tuple[None, str]


def make_entry(
    nodeid: str, peak: Peak, outcome: str = "passed", version: int = 3
) -> dict[str, Any]:
    """An entry; ``peak`` is bytes, or ``(None, reason)`` for a test not measured."""
    not_measured: str | None = None
    peak_bytes: int | None
    if isinstance(peak, tuple):
        peak_bytes, not_measured = peak
    else:
        peak_bytes = peak
    entry: dict[str, Any] = {
        "nodeid": nodeid,
        "outcome": outcome,
        "peak_bytes": peak_bytes,
        "not_measured": not_measured,
        "allocations": None,
        "limit_bytes": None,
        "capture_file": None,
        "top_locations": [],
    }
    if version >= 3:
        entry["notes"] = []
    return entry


def document(
    peaks: Mapping[str, Peak],
    backend: str = "memray",
    version: int = 3,
    python: str = "3.12.1",
    rootdir: str | None = "/project",
) -> dict[str, Any]:
    data: dict[str, Any] = {
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
    }
    if version >= 3:
        data["run"] = {"rootdir": rootdir, "workers": []}
    data["tests"] = [make_entry(nodeid, peak, version=version) for nodeid, peak in peaks.items()]
    return data


def write(path: Path, data: object) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)
