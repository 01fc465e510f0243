"""The collector on the reporting process: what it keeps of each test, and that a tracked
test whose figures never came is listed as not measured, never dropped."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_memray.backends.interface import AllocationSite
from pytest_memray.reporting.collector import ResultCollector, outcome_of
from pytest_memray.reporting.results import MarkedLimit, MemoryResult
from pytest_memray.reporting.wire import HANDLE_ATTR, LIMIT_ATTR, RESULTS_ATTR
from pytest_memray.stack import StackFrame


def _report(
    nodeid: str, when: str = "call", outcome: str = "passed", attrs: dict[str, Any] | None = None
) -> Any:
    report = pytest.TestReport(nodeid, ("t.py", 1, "test"), {}, outcome, None, when)  # type: ignore[arg-type]
    for name, value in (attrs or {}).items():
        setattr(report, name, value)
    return report


def test_a_result_holds_no_dictionary_of_its_own() -> None:
    """One result is kept for every test of a session: its fields are slots."""
    result = MemoryResult(nodeid="t.py::test", peak_bytes=1)
    assert not hasattr(result, "__dict__")


def test_a_tracked_test_without_figures_is_listed_as_not_measured() -> None:
    collector = ResultCollector("memray")
    collector.pytest_runtest_logreport(
        _report("t.py::waiting", attrs={HANDLE_ATTR: 7, LIMIT_ATTR: [5, "memory"]})
    )
    final = collector.final()
    assert len(final) == 1
    result, outcome = final[0]
    assert result.nodeid == "t.py::waiting"
    assert result.peak_bytes is None
    assert result.not_measured == "the memray backend handed no figures back"
    assert result.limit == (5, "memory")
    assert outcome == "passed"


def test_a_lost_workers_pending_test_says_why() -> None:
    collector = ResultCollector("memray")
    report = _report("t.py::on_gw0", attrs={HANDLE_ATTR: 1})
    report.node = type("Node", (), {"gateway": type("Gateway", (), {"id": "gw0"})()})()
    collector.pytest_runtest_logreport(report)
    collector.worker_lost("gw0", "the xdist worker gw0 crashed")
    ((result, _),) = collector.final()
    assert result.not_measured == "the xdist worker gw0 crashed"


def test_results_on_reports_are_taken_and_the_final_list_is_made_once() -> None:
    collector = ResultCollector("memray")
    measured = MemoryResult(nodeid="t.py::a", peak_bytes=10)
    report = _report("t.py::a", attrs={HANDLE_ATTR: 1, RESULTS_ATTR: [measured.to_dict()]})
    collector.pytest_runtest_logreport(report)
    assert not hasattr(report, RESULTS_ATTR)  # not kept twice
    first = collector.final()
    assert first == [(measured, "passed")]
    assert collector.final() is first


def test_results_share_their_frames_stacks_and_histograms() -> None:
    """Sites of many tests at the same line hold one stack between them, not one each."""
    collector = ResultCollector("tracemalloc")
    for name, size in (("a", 300), ("b", 500)):
        frames = (StackFrame("test_" + name, "t.py", 1000), StackFrame("helper", "h.py", 1001))
        sites = (
            AllocationSite(size, 2, frames[:1]),
            AllocationSite(size, 3, frames[1:]),
            AllocationSite(size, 4, ()),
        )
        result = MemoryResult(
            f"t.py::{name}", size, histogram="".join(["\u2581"] * 3), top_sites=sites
        )
        report = _report(result.nodeid, attrs={HANDLE_ATTR: 1, RESULTS_ATTR: [result.to_dict()]})
        collector.pytest_runtest_logreport(report)
    a, b = (result for result, _ in collector.final())
    assert [site.size for site in a.top_sites] == [300] * 3  # the figures are each test's own
    assert [site.size for site in b.top_sites] == [500] * 3
    assert a.top_sites[0].stack == (StackFrame("test_a", "t.py", 1000),)
    assert a.top_sites[1].stack is b.top_sites[1].stack  # helper's stack, once
    assert a.top_sites[1].stack[0] is b.top_sites[1].stack[0]
    assert a.top_sites[2].stack == b.top_sites[2].stack == ()
    assert a.histogram is b.histogram


def test_an_unmeasured_result_keeps_its_reason_across_processes() -> None:
    """Results travel from xdist workers as plain dicts."""
    result = MemoryResult.unmeasured(
        "t.py::a", "its capture file hit ulimit -f", MarkedLimit(1024, "leaks")
    )
    again = MemoryResult.from_dict(result.to_dict())
    assert again == result
    assert again.peak_bytes is None
    assert again.not_measured == "its capture file hit ulimit -f"


@pytest.mark.parametrize(
    ("when", "outcome", "expected"),
    [
        ("call", "passed", "passed"),
        ("call", "failed", "failed"),
        ("setup", "failed", "error"),
        ("teardown", "failed", "error"),
        ("setup", "passed", None),
        ("???", "failed", "failed"),  # xdist's report for a test whose worker crashed
    ],
)
def test_outcomes(when: str, outcome: str, expected: str | None) -> None:
    assert outcome_of(_report("t.py::a", when=when, outcome=outcome)) == expected
