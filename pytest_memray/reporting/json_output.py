"""The JSON outputs: the full report (``--memray-json``) and the benchmark feed.

Both are written once, at the end of the session, by the process that prints the report
(the xdist controller, under xdist), through :func:`pytest_memray.files.write_file`.

The benchmark feed is read by github-action-benchmark, which alerts when ``value`` divided by
the previous run's ``value`` passes a threshold: a peak of 0 B would make the next run's
ratio infinite, and a peak of a few bytes makes noise look like a tenfold growth. So ``value``
is the measured peak when it is at least the noise floor's size (``--memray-noise-floor``,
1 MiB by default), and that size when the peak is below it: below the floor a peak is noise
to a ratio. ``extra`` always gives the measured peak in bytes, and says when ``value`` is the
floor.
"""

from __future__ import annotations

import dataclasses
import platform
import sys
from collections.abc import Sequence
from typing import Any

from pytest_memray import __version__
from pytest_memray.backends.registry import BackendChoice
from pytest_memray.gates.format import SCHEMA_VERSION
from pytest_memray.reporting.results import MemoryResult
from pytest_memray.sizes import format_size


def report_document(
    choice: BackendChoice,
    results: Sequence[tuple[MemoryResult, str]],
    rootdir: str | None = None,
    workers: Sequence[str] = (),
) -> dict[str, Any]:
    """The ``--memray-json`` document (see ``json_schema.json``); ``rootdir`` is pytest's,
    which the test ids are relative to, and ``workers`` the xdist workers that ran tests."""
    backend = choice.backend
    caps = backend.capabilities
    return {
        "version": SCHEMA_VERSION,
        "plugin_version": __version__,
        "backend": {
            "name": backend.name,
            "version": backend.version,
            "native_allocations": caps.native_allocations,
            "thread_ids": caps.thread_ids,
            "exact_peak": caps.exact_peak,
            "fallback_reason": choice.fallback_reason,
            "capabilities": dataclasses.asdict(caps),
        },
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": sys.platform,
        },
        "run": {"rootdir": rootdir, "workers": sorted(workers)},
        "tests": [
            {
                "nodeid": result.nodeid,
                "outcome": outcome,
                "peak_bytes": result.peak_bytes,
                "not_measured": result.not_measured,
                "allocations": result.allocation_count,
                "limit_bytes": None if result.limit is None else result.limit.bytes,
                "limit_kind": None if result.limit is None else result.limit.kind,
                "capture_file": result.capture_file,
                "top_locations": [
                    {
                        "function": site.stack[0].function if site.stack else "",
                        "file": site.stack[0].filename if site.stack else "",
                        "line": site.stack[0].lineno if site.stack else 0,
                        "bytes": site.size,
                        "count": site.allocations,
                    }
                    for site in result.top_sites
                ],
                "notes": list(result.notes),
                "flamegraph": result.flamegraph,
            }
            for result, outcome in results
        ],
    }


def benchmark_document(
    choice: BackendChoice, results: Sequence[tuple[MemoryResult, str]], floor_bytes: int = 1
) -> list[dict[str, Any]]:
    """Peaks of passing, measured tests in github-action-benchmark's ``customSmallerIsBetter``
    format (the format has no way to say "not measured": such tests are left out); a peak
    below ``floor_bytes`` (at least 1) is written as ``floor_bytes``, as the module says."""
    backend = f"{choice.backend.name} {choice.backend.version}"
    floor = max(1, floor_bytes)
    entries = []
    for result, outcome in results:
        peak = result.peak_bytes
        if outcome != "passed" or peak is None:
            continue
        extra = f"peak memory of the test call: {peak} bytes ({backend})"
        if peak < floor:
            extra += (
                f"; written as {format_size(floor)}, the noise floor, since the measured "
                f"{format_size(peak)} is below it"
            )
        entries.append(
            {"name": result.nodeid, "unit": "bytes", "value": max(peak, floor), "extra": extra}
        )
    return entries
