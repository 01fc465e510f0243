"""The baseline gate in a pytest session (``--memray-baseline``).

Each measured test that passed its own code and its markers is judged against its peak in an
earlier ``--memray-json`` document (:class:`~pytest_memray.gates.baseline.Baseline` decides);
at the end, the process that reports lists what could not be compared. The gate reads what
the tracking put on the call report (the peak, or why there is none), so it judges the
test's own measurement once, on the report made after its call.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from pytest_memray.gates.baseline import Baseline
from pytest_memray.per_test.failures import MEMORY_SECTION, Failure, mark_failed
from pytest_memray.reporting.collector import ResultCollector
from pytest_memray.reporting.wire import HANDLE_ATTR, NOT_MEASURED_ATTR, PEAK_ATTR


class BaselineGate:
    """Fails the tests whose peak grew past the allowance, and lists the rest at the end."""

    def __init__(self, baseline: Baseline, collector: ResultCollector | None) -> None:
        self.baseline = baseline
        #: Where the session's results are gathered: only on the process that reports.
        self._collector = collector

    # tryfirst: the outer wrapper, so that the tracking's verdict is on the report already.
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if report.when == "call" and report.passed and hasattr(report, HANDLE_ATTR):
            failure = self.judge(
                report.nodeid,
                getattr(report, PEAK_ATTR, None),
                getattr(report, NOT_MEASURED_ATTR, None),
            )
            if failure is not None:
                mark_failed(report, failure)
        return report

    def judge(self, nodeid: str, peak: int | None, not_measured: str | None) -> Failure | None:
        """The failure of a test measured at ``peak`` (None: not measured, because
        ``not_measured``); None when it passes or has no baseline peak to compare with."""
        baseline = self.baseline
        if baseline.peak_of(nodeid) is None:
            return None  # a new test, or no reference peak: listed at the end
        if peak is None:
            return Failure(
                summary=(
                    f"Test has a baseline peak in {baseline.path}, but its memory could not "
                    f"be measured: {not_measured}"
                ),
                section=MEMORY_SECTION,
                details="",
            )
        grown = baseline.check(nodeid, peak)
        return None if grown is None else Failure(grown.summary, grown.section, grown.details)

    @pytest.hookimpl(tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self._collector is None:
            return
        final = self._collector.final()
        peaks = {result.nodeid: result.peak_bytes for result, _ in final}
        reasons = {
            result.nodeid: result.not_measured
            for result, _ in final
            if result.not_measured is not None
        }
        lines = self.baseline.listing(peaks, reasons).lines()
        terminalreporter.write_sep(
            "=",
            f"memray baseline {self.baseline.path} (allowed increase {self.baseline.allowance})",
        )
        for line in lines or ["Every test ran against a baseline peak."]:
            terminalreporter.write_line(line)
