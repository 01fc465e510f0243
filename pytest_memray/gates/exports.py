"""A ``--memray-json`` document in formats other tools read: Bencher's BMF, and CSV.

Bencher Metric Format (BMF) is a JSON object: benchmark name -> measure -> ``{"value": n}``.
Each test that passed and was measured becomes a benchmark named by its node id, with the
measure ``peak-memory`` (bytes) and, where the backend counts them, ``allocations`` (alive at
the peak). BMF has no way to say "not measured", and a failed or skipped test's peak is no
reference (it may have stopped early), so such tests are left out of it, never written as 0;
:func:`bmf_document` returns them with the reason, for the command line to print.

CSV has a row for every test of the document, in its order: a test that was not measured
has an empty ``peak_bytes`` cell and the reason in ``not_measured``.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from pytest_memray.gates.documents import REFERENCE_OUTCOMES, Document

PEAK_MEASURE = "peak-memory"
ALLOCATIONS_MEASURE = "allocations"
#: Bencher's longest benchmark name.
BMF_NAME_LIMIT = 1024

CSV_COLUMNS = (
    "nodeid",
    "outcome",
    "peak_bytes",
    "not_measured",
    "allocations",
    "limit_bytes",
    "backend",
)


def bmf_document(document: Document) -> tuple[dict[str, dict[str, dict[str, int]]], list[str]]:
    """The BMF object for ``document``, and one line per test left out of it, saying why."""
    metrics: dict[str, dict[str, dict[str, int]]] = {}
    left_out: list[str] = []
    for nodeid, entry in document.entries.items():
        if entry.peak_bytes is None:
            left_out.append(f"{nodeid}: not measured ({entry.not_measured})")
            continue
        if entry.outcome not in REFERENCE_OUTCOMES:
            left_out.append(f"{nodeid}: its outcome was {entry.outcome}")
            continue
        if len(nodeid) > BMF_NAME_LIMIT:
            left_out.append(f"{nodeid[:80]}...: its id is longer than {BMF_NAME_LIMIT} characters")
            continue
        measures = {PEAK_MEASURE: {"value": entry.peak_bytes}}
        allocations = entry.raw.get("allocations")
        if isinstance(allocations, int) and not isinstance(allocations, bool):
            measures[ALLOCATIONS_MEASURE] = {"value": allocations}
        metrics[nodeid] = measures
    return metrics, left_out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return str(value)


def csv_text(document: Document) -> str:
    """Every test of ``document`` as CSV (RFC 4180: a header row, CRLF line ends)."""
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for nodeid, entry in document.entries.items():
        writer.writerow(
            [
                nodeid,
                entry.outcome,
                _cell(entry.peak_bytes),
                _cell(entry.not_measured),
                _cell(entry.raw.get("allocations")),
                _cell(entry.raw.get("limit_bytes")),
                document.backend,
            ]
        )
    return stream.getvalue()
