"""The JSON outputs: the full report (``--memray-json``) and the benchmark feed.

Both are written once, at the end of the session, by the process that prints the report
(the xdist controller, under xdist), to a temporary file beside the target that then replaces
it, so a reader never sees half a document.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .backends.selection import Choice
from .results import TestRecord

SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).with_name("json_schema.json")


def report_document(choice: Choice, records: Sequence[TestRecord]) -> dict[str, Any]:
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
                "nodeid": record.nodeid,
                "outcome": record.outcome,
                "peak_bytes": record.peak_bytes,
                "allocations": record.allocation_count,
                "limit_bytes": record.limit_bytes,
                "capture_file": record.capture_file,
                "top_locations": [
                    {
                        "function": site.stack[0].function if site.stack else "",
                        "file": site.stack[0].filename if site.stack else "",
                        "line": site.stack[0].lineno if site.stack else 0,
                        "bytes": site.size,
                        "count": site.count,
                    }
                    for site in record.top_sites
                ],
            }
            for record in records
        ],
    }


def benchmark_document(choice: Choice, records: Sequence[TestRecord]) -> list[dict[str, Any]]:
    """Peaks in github-action-benchmark's ``customSmallerIsBetter`` format."""
    backend = f"{choice.backend.name} {choice.backend.version}"
    return [
        {
            "name": record.nodeid,
            "unit": "bytes",
            "value": record.peak_bytes,
            "extra": f"peak memory of the test call ({backend})",
        }
        for record in records
        if record.outcome == "passed"
    ]


def write_atomically(path: Path, document: object) -> None:
    """Write ``document`` as JSON to ``path`` through a temporary file in the same folder."""
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(document, stream, indent=2)
            stream.write("\n")
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
