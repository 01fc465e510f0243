"""Documents for the HTML report tests: a run, its baseline and a history, with hostile ids."""

from __future__ import annotations

from typing import Any

from pytest_memray.gates.allowance import DEFAULT_ALLOWANCE
from pytest_memray.gates.documents import parse_document
from pytest_memray.gates.history import Run, build_history
from pytest_memray.gates.html import render_html, report_data

from .documents import document, make_entry

MB = 1024**2
#: A test id that would run script if it were ever put into the page as HTML.
HOSTILE = 'tests/test_x.py::test_esc[</script><img src=x onerror="window.pwned=1">&amp;\'"]'
GROWN = "tests/test_io.py::test_reads_big_file"
CRASHED = "tests/test_io.py::test_export"


def _entry(nodeid: str, peak: Any, **extra: Any) -> dict[str, Any]:
    entry = make_entry(nodeid, peak, outcome=extra.pop("outcome", "passed"))
    entry.update(extra)
    return entry


def run_document(scale: int = 1, grown: int = 30) -> dict[str, Any]:
    data = document({})
    data["tests"] = [
        _entry(
            GROWN,
            grown * MB,
            allocations=3,
            limit_bytes=64 * MB,
            limit_kind="memory",
            top_locations=[
                {
                    "function": "read_all",
                    "file": "src/io.py",
                    "line": 12,
                    "bytes": grown * MB,
                    "count": 1,
                }
            ],
            flamegraph="flamegraphs/test_reads_big_file.html",
        ),
        _entry(HOSTILE, 2 * MB * scale, allocations=1, flamegraph="javascript:alert(1)"),
        _entry(
            CRASHED, (None, "the xdist worker gw1 crashed before handing this test's figures over")
        ),
        _entry("tests/test_leak.py::test_no_leak", 4 * MB, limit_bytes=1 * MB, limit_kind="leaks"),
        _entry("tests/test_io.py::test_small", 12 * 1024, outcome="failed", limit_bytes=8 * 1024),
    ] + [_entry(f"tests/test_many.py::test_case[{i}]", (i + 1) * 100 * 1024) for i in range(20)]
    return data


def baseline_document() -> dict[str, Any]:
    data = run_document(grown=10)
    data["tests"] = [t for t in data["tests"] if "case[19]" not in t["nodeid"]]
    data["tests"][5]["peak_bytes"] = 5 * MB  # test_case[0] improved since
    data["tests"].append(_entry("tests/test_old.py::test_removed", 1 * MB))
    return data


def report_html() -> str:
    run = parse_document("run.json", run_document())
    base = parse_document("base.json", baseline_document())
    runs = [
        Run("#1 aaaaaaa", parse_document("1.json", run_document(grown=10)), "aaaaaaa00001"),
        Run("#2 bbbbbbb", parse_document("2.json", baseline_document()), "bbbbbbb00002"),
        Run("#3 ccccccc", run, "ccccccc00003"),
    ]
    history = build_history(runs, DEFAULT_ALLOWANCE)
    return render_html(report_data(run, baseline=base, history=history))
