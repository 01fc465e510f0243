"""The JSON outputs: the full report (``--memray-json``) and the benchmark feed.

Both are written once, at the end of the session, by the process that prints the report
(the xdist controller, under xdist), to a temporary file beside the target that then replaces
it, so a reader never sees half a document.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Sequence
from typing import Any

from pytest_memray import __version__
from pytest_memray.backends.registry import BackendChoice
from pytest_memray.gates.format import SCHEMA_VERSION
from pytest_memray.reporting.results import MemoryResult


def report_document(
    choice: BackendChoice, results: Sequence[tuple[MemoryResult, str]]
) -> dict[str, Any]:
    """The ``--memray-json`` document (see ``json_schema.json``)."""
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
        },
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": sys.platform,
        },
        "tests": [
            {
                "nodeid": result.nodeid,
                "outcome": outcome,
                "peak_bytes": result.peak_bytes,
                "not_measured": result.not_measured,
                "allocations": result.allocation_count,
                "limit_bytes": result.limit_bytes,
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
            }
            for result, outcome in results
        ],
    }


def benchmark_document(
    choice: BackendChoice, results: Sequence[tuple[MemoryResult, str]]
) -> list[dict[str, Any]]:
    """Peaks of passing, measured tests in github-action-benchmark's ``customSmallerIsBetter``
    format (the format has no way to say "not measured": such tests are left out)."""
    backend = f"{choice.backend.name} {choice.backend.version}"
    return [
        {
            "name": result.nodeid,
            "unit": "bytes",
            "value": result.peak_bytes,
            "extra": f"peak memory of the test call ({backend})",
        }
        for result, outcome in results
        if outcome == "passed" and result.peak_bytes is not None
    ]
